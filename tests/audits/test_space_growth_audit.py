"""Audits of a live database compare its space with the last successful audit.

Each audit runs as the product runs it (``services.execute_audit``) against
a database of the session's private PostgreSQL, with rows written for real
between audits. The overview is read as the user reads it.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from audits import services
from audits.engine.checks import upkeep
from audits.models import Audit
from audits.runs import earlier_spaces
from findings.models import Finding
from projects.models import Project, Target
from tests.engine.health_helpers import growing_database, write_events

pytestmark = pytest.mark.postgres


@pytest.fixture
def live(private_pg, settings):
    """Yield a database's URL and an autocommit connection, tables made."""
    settings.ALLOW_PRIVATE_TARGETS = True
    with growing_database(private_pg) as (url, conn):
        yield url, conn


@pytest.fixture
def target(team, live):
    url, _conn = live
    project = Project.objects.create(team=team, name="Shop", slug="shop")
    return Target.objects.create(
        project=project, kind=Target.Kind.POSTGRESQL, location=url
    )


def run_audit(project: Project) -> Audit:
    return services.execute_audit(services.start_audit(project, enqueue=False).pk)


def outcome(audit: Audit) -> dict:
    (row,) = audit.summary["targets"]
    return row


def overview(client, project: Project) -> str:
    return client.get(reverse("projects:overview", args=[project.pk])).content.decode()


def test_first_audit_stores_the_space_and_says_there_is_no_growth_yet(
    client, owner, target
):
    audit = run_audit(target.project)
    assert audit.status == Audit.Status.SUCCEEDED, audit.error
    row = outcome(audit)
    assert set(row["space"]["tables"]) == {"events", "users"}
    assert "growth" not in row
    assert not Finding.objects.filter(check_id="space-growth-fast").exists()
    client.force_login(owner)
    page = overview(client, target.project)
    assert 'id="space-growth"' in page
    assert "First reading of its size: no growth to show yet" in page


def test_second_audit_reports_the_growth_since_the_first(
    client, owner, target, live, monkeypatch
):
    _url, conn = live
    monkeypatch.setattr(upkeep, "GROWTH_MIN_HOURS", 0)
    run_audit(target.project)
    write_events(conn, 12_000)
    audit = run_audit(target.project)
    assert audit.status == Audit.Status.SUCCEEDED, audit.error
    growth = outcome(audit)["growth"]
    assert growth["label"] == "audit #1"
    assert growth["now"] - growth["before"] > 10 * 1024**2
    assert [t["table"] for t in growth["tables"]] == ["events"]  # users did not grow
    found = Finding.objects.get(check_id="space-growth-fast", object="events")
    assert "since audit #1" in found.evidence
    client.force_login(owner)
    page = overview(client, target.project)
    assert "First reading" not in page
    assert "since audit #1" in page
    assert "fastest: events +" in page


def test_a_failed_audit_is_never_the_base(client, owner, target, live, monkeypatch):
    url, conn = live
    monkeypatch.setattr(upkeep, "GROWTH_MIN_HOURS", 0)
    run_audit(target.project)
    Target.objects.filter(pk=target.pk).update(location=url + "_gone")
    failed = run_audit(target.project)
    assert failed.status == Audit.Status.FAILED
    Target.objects.filter(pk=target.pk).update(location=url)
    write_events(conn, 12_000)
    audit = run_audit(target.project)
    assert audit.number == 3
    assert outcome(audit)["growth"]["label"] == "audit #1"
    first = Audit.objects.get(project=target.project, number=1)
    assert earlier_spaces(audit) == {
        target.pk: {**outcome(first)["space"], "label": "audit #1"}
    }


def test_a_partial_audit_is_a_base_only_for_the_targets_it_read(team, live):
    url, _conn = live
    project = Project.objects.create(team=team, name="Two", slug="two")
    good = Target.objects.create(
        project=project, kind=Target.Kind.POSTGRESQL, location=url
    )
    bad = Target.objects.create(
        project=project, kind=Target.Kind.POSTGRESQL, location=url + "_gone"
    )
    partial = run_audit(project)
    assert partial.status == Audit.Status.PARTIAL
    later = Audit.objects.start(project)
    assert set(earlier_spaces(later)) == {good.pk}
    assert bad.pk not in earlier_spaces(later)
