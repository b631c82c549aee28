"""A web audit of a live database reports its running health, with working check pages.

The audit runs as the product runs it (``services.execute_audit`` through
``audits.runs``) against a private PostgreSQL with states planted for real,
and against the local MariaDB; the findings are then read where a user
reads them: the project's findings list and each check's documentation page.
"""

from __future__ import annotations

import html
import socket
import uuid

import psycopg
import pymysql
import pytest
from django.urls import reverse

from audits import services
from audits.engine.checks import activity, plans, upkeep
from audits.engine.registry import get_check
from audits.models import Audit
from findings.models import Finding
from projects.models import Project, Target

HEALTH_CHECKS = tuple(
    sorted({*activity.TOPIC.specs, *upkeep.TOPIC.specs, *plans.TOPIC.specs})
)


def audit_of(team, kind: str, location: str) -> Audit:
    n = Project.objects.count() + 1
    project = Project.objects.create(team=team, name=f"Live {n}", slug=f"live-{n}")
    Target.objects.create(project=project, kind=kind, location=location)
    return services.execute_audit(services.start_audit(project, enqueue=False).pk)


@pytest.fixture
def planted(private_pg):
    """Yield the URL of a database with dead rows and an inactive slot planted."""
    name = f"plumbline_health_{uuid.uuid4().hex[:8]}"
    slot = f"plumbline_web_{uuid.uuid4().hex[:6]}"
    with (
        private_pg.database(name) as url,
        psycopg.connect(url, autocommit=True) as conn,
    ):
        conn.execute(
            "CREATE TABLE event (id int PRIMARY KEY, seen bool) "
            "WITH (autovacuum_enabled = false)"
        )
        conn.execute(
            "INSERT INTO event SELECT g, false FROM generate_series(1, 20000) g"
        )
        conn.execute("UPDATE event SET seen = true")
        conn.execute("SELECT pg_stat_force_next_flush()")
        conn.execute("SELECT pg_create_physical_replication_slot(%s, true)", (slot,))
        try:
            yield url
        finally:
            conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))


@pytest.mark.postgres
def test_postgresql_audit_stores_and_shows_running_health_findings(
    client, team, owner, settings, planted
):
    settings.ALLOW_PRIVATE_TARGETS = True
    audit = audit_of(team, Target.Kind.POSTGRESQL, planted)
    assert audit.status == Audit.Status.SUCCEEDED, audit.error
    stored = {f.check_id: f for f in Finding.objects.filter(project=audit.project)}
    assert {
        "table-dead-rows",
        "replication-slot-inactive",
        "query-stats-missing",
    } <= set(stored)
    client.force_login(owner)
    page = client.get(
        reverse("findings:list", args=[audit.project.pk])
    ).content.decode()
    assert "Dead rows waiting for vacuum" in page
    assert "Inactive replication slot holds WAL" in page
    detail = client.get(stored["table-dead-rows"].get_absolute_url()).content.decode()
    assert "autovacuum is turned off for this table" in detail


def answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), 1).close()
    except OSError:
        return False
    return True


@pytest.mark.mysql
@pytest.mark.skipif(not answers(3306), reason="no MariaDB on 3306")
def test_mysql_audit_reports_statement_statistics_missing(team, owner, settings):
    settings.ALLOW_PRIVATE_TARGETS = True
    name = f"plumbline_health_{uuid.uuid4().hex[:8]}"
    admin = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
    admin.cursor().execute(f"CREATE DATABASE `{name}`")
    try:
        audit = audit_of(team, Target.Kind.MYSQL, f"mysql://root@127.0.0.1:3306/{name}")
        performance_schema = admin.cursor()
        performance_schema.execute("SELECT @@performance_schema")
        (on,) = performance_schema.fetchone()
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()
    assert audit.status == Audit.Status.SUCCEEDED, audit.error
    checks = set(
        Finding.objects.filter(project=audit.project).values_list("check_id", flat=True)
    )
    # One finding for the cause, whichever id owns it on this server's settings.
    missing = checks & {"query-stats-missing", "slow-query-visibility-missing"}
    assert len(missing) == (0 if on else 1)


@pytest.mark.parametrize("check_id", HEALTH_CHECKS)
def test_each_health_check_has_a_documentation_page(client, check_id):
    response = client.get(reverse("checks:detail", args=[check_id]))
    assert response.status_code == 200
    page = response.content.decode()
    assert f"<code>{check_id}</code>" in page
    assert "a read-only connection to the database" in page
    spec = get_check(check_id)
    assert html.escape(spec.severity_rule, quote=False) in page.replace("&#x27;", "'")


def test_the_check_list_links_every_health_check(client):
    page = client.get(reverse("checks:list")).content.decode()
    for check_id in HEALTH_CHECKS:
        assert reverse("checks:detail", args=[check_id]) in page
