"""The server's migrations dry run, through a project's git audit.

With ``PLUMBLINE_SCRATCH_DATABASE_URL`` set to the local PostgreSQL, an audit
of a repository holding migrations applies them to a throwaway database and
role, reports what PostgreSQL refuses at the file and line, says on the audit
page that the dry run ran (or why not), and leaves no database or role
behind. Without the setting nothing changes but the sentence saying why.
"""

import psycopg
import pytest
from django.urls import reverse

from audits.engine.sources import scratch_server
from audits.engine.sources.scratch_server import PREFIX
from audits.models import Audit
from findings.models import Finding
from tests.security import test_git
from tests.security.test_git import audit_of, make_repo

ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"
SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
EVENTS = """\
CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
"""
RECENT = """\
SET lock_timeout = '2s';
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_recent ON events (created_at)
    WHERE created_at > now() - interval '7 days';
"""

gitenv = test_git.gitenv


def leftovers():
    with psycopg.connect(ADMIN) as conn:
        return conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s"
            " UNION ALL SELECT rolname FROM pg_roles WHERE rolname LIKE %s",
            (PREFIX + "%", PREFIX + "%"),
        ).fetchall()


@pytest.fixture
def scratch(settings):
    try:
        psycopg.connect(ADMIN).close()
    except psycopg.OperationalError:
        pytest.skip("PostgreSQL does not answer on 127.0.0.1:5432")
    before = len(scratch_server.MADE)
    settings.SCRATCH_DATABASE_URL = SERVER
    yield SERVER
    made = list(scratch_server.MADE)[before:]
    assert made  # the audit made one...
    assert set(made) & {r[0] for r in leftovers()} == set()  # ...and it is gone


def _audit(team, tmp_path, migrations):
    files = {"app.py": "x = 1\n"}
    files.update({f"db/migrations/{k}": v for k, v in migrations.items()})
    bare, _ = make_repo(tmp_path, files)
    audit = audit_of(team, str(bare))
    assert audit.status == Audit.Status.SUCCEEDED, audit.error
    return audit


def _page(client, owner, audit):
    client.force_login(owner)
    page = client.get(reverse("audits:detail", args=[audit.pk]))
    assert page.status_code == 200
    return page.content.decode()


@pytest.mark.postgres
def test_the_dry_run_reports_the_refused_predicate_and_says_it_ran(
    client, team, owner, tmp_path, gitenv, scratch
):
    audit = _audit(team, tmp_path, {"V1__events.sql": EVENTS, "V2__recent.sql": RECENT})
    finding = Finding.objects.get(project=audit.project, check_id="migration-rejected")
    assert (finding.file, finding.line) == ("db/migrations/V2__recent.sql", 2)
    assert "functions in index predicate must be marked IMMUTABLE" in finding.evidence
    assert "127.0.0.1" not in finding.evidence  # the operator's server stays unnamed
    (outcome,) = audit.summary["targets"]
    assert outcome["dry_run"].startswith("ran on a throwaway database, dropped after")
    page = _page(client, owner, audit)
    assert "Migrations’ dry run: ran on a throwaway database" in page
    assert "1 statement refused" in page


@pytest.mark.postgres
def test_a_failing_and_a_reaching_migration_are_reported_not_fatal(
    client, team, owner, tmp_path, gitenv, scratch
):
    audit = _audit(
        team,
        tmp_path,
        {
            "V1__events.sql": EVENTS,
            "V2__reach.sql": "CREATE EXTENSION dblink;\n"
            "SELECT rolpassword FROM pg_authid;\n"
            "ALTER TABLE nowhere ADD COLUMN x int;\n",
        },
    )
    refused = {
        (f.line, f.evidence.split(": ", 1)[1])
        for f in Finding.objects.filter(
            project=audit.project, check_id="migration-rejected"
        )
    }
    assert refused == {
        (1, 'permission denied to create extension "dblink"'),
        (2, "permission denied for table pg_authid"),
        (3, 'relation "nowhere" does not exist'),
    }
    assert "3 statements refused" in _page(client, owner, audit)


@pytest.mark.postgres
def test_an_unreachable_scratch_server_says_why_and_keeps_the_audit(
    client, team, owner, tmp_path, gitenv, settings
):
    settings.SCRATCH_DATABASE_URL = "postgresql://postgres@127.0.0.1:1/postgres"
    audit = _audit(team, tmp_path, {"V1__events.sql": EVENTS, "V2__recent.sql": RECENT})
    assert not Finding.objects.filter(
        project=audit.project, check_id="migration-rejected"
    ).exists()
    page = _page(client, owner, audit)
    assert "Migrations’ dry run: did not run: the scratch server 127.0.0.1:1" in page


def test_without_the_setting_nothing_runs_and_the_pages_say_why(
    client, team, owner, tmp_path, gitenv, settings
):
    settings.SCRATCH_DATABASE_URL = ""
    audit = _audit(team, tmp_path, {"V1__events.sql": EVENTS, "V2__recent.sql": RECENT})
    checks = set(
        Finding.objects.filter(project=audit.project).values_list("check_id", flat=True)
    )
    assert "migration-rejected" not in checks
    page = _page(client, owner, audit)
    assert "Migrations’ dry run: not run: no scratch PostgreSQL is configured" in page
    settings_page = client.get(reverse("projects:settings", args=[audit.project.pk]))
    assert "Migrations’ dry run: off" in settings_page.content.decode()
    assert "PLUMBLINE_SCRATCH_DATABASE_URL" in settings_page.content.decode()


def test_a_repository_without_migrations_says_nothing_of_a_dry_run(
    client, team, owner, tmp_path, gitenv, settings
):
    settings.SCRATCH_DATABASE_URL = SERVER
    bare, _ = make_repo(tmp_path, {"app.py": "x = 1\n"})
    audit = audit_of(team, str(bare))
    assert audit.status == Audit.Status.SUCCEEDED, audit.error
    (outcome,) = audit.summary["targets"]
    assert "dry_run" not in outcome
    assert "dry run" not in _page(client, owner, audit)


def test_the_settings_page_says_when_the_dry_run_is_on(client, team, owner, settings):
    from projects.models import Project

    settings.SCRATCH_DATABASE_URL = SERVER
    project = Project.objects.create(team=team, name="P", slug="p")
    client.force_login(owner)
    page = client.get(reverse("projects:settings", args=[project.pk]))
    text = page.content.decode()
    assert "Migrations’ dry run: on." in text
    assert SERVER not in text  # the operator's URL is never shown


def test_only_code_and_git_targets_carry_the_operators_scratch_server(
    team, tmp_path, gitenv, settings
):
    from projects.models import Project, Target

    settings.SCRATCH_DATABASE_URL = SERVER
    project = Project.objects.create(team=team, name="P", slug="p")
    target = Target.objects.create(
        project=project, kind=Target.Kind.GIT, location=str(tmp_path / "nowhere")
    )
    assert target.engine_target().scratch_server == SERVER
    database = Target(project=project, kind=Target.Kind.POSTGRESQL, location=SERVER)
    assert database.engine_target().scratch_server == ""
