"""Audit runs end to end through the engine, on real targets."""

import sqlite3
from datetime import timedelta

import pytest
from django.utils import timezone

from audits import services
from audits.models import Audit
from findings.models import Finding
from projects.models import Project, Target

FLAWED = """
CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);
CREATE TABLE notes (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id), body TEXT);
CREATE TABLE tags (id INTEGER PRIMARY KEY, note_id INTEGER REFERENCES notes(id), name TEXT);
"""


@pytest.fixture
def flawed(tmp_path, team, owner):
    ddl = tmp_path / "schema.sql"
    ddl.write_text(FLAWED)
    project = Project.objects.create(team=team, name="Notes", slug="notes")
    Target.objects.create(project=project, kind=Target.Kind.DDL, location=str(ddl))
    return project, ddl


def run(project):
    audit = services.start_audit(project, enqueue=False)
    return services.execute_audit(audit.pk)


def test_an_audit_of_a_ddl_target_stores_findings_and_a_summary(flawed):
    project, _ = flawed
    audit = run(project)
    assert audit.status == Audit.Status.SUCCEEDED
    assert (
        Finding.objects.filter(project=project, check_id="fk-missing-index").count()
        == 2
    )
    s = audit.summary
    assert s["new"] == Finding.objects.filter(project=project).count() > 0
    assert s["open"] == s["new"] and s["fixed"] == 0
    assert set(s["grades"]) >= {"schema", "performance", "overall"}
    assert s["targets"][0]["ok"] is True
    assert audit.report_markdown.startswith("#")


def test_fixing_the_schema_marks_findings_fixed_by_the_next_audit(flawed):
    project, ddl = flawed
    run(project)
    ddl.write_text(FLAWED + "CREATE INDEX notes_user ON notes(user_id);\n")
    audit = run(project)
    fixed = Finding.objects.get(
        project=project, check_id="fk-missing-index", object__startswith="notes"
    )
    assert fixed.status == "fixed" and fixed.fixed_by_audit == audit
    assert audit.summary["fixed"] >= 1


def test_a_failing_target_makes_the_audit_partial_and_fixes_none_of_its_findings(
    flawed, tmp_path
):
    project, ddl = flawed
    db = tmp_path / "live.sqlite3"
    conn = sqlite3.connect(db)
    conn.executescript(FLAWED)
    conn.close()
    live = Target.objects.create(
        project=project, kind=Target.Kind.SQLITE, location=str(db)
    )
    run(project)
    live_findings = set(
        Finding.objects.filter(target=live).values_list("pk", flat=True)
    )
    assert live_findings
    db.write_bytes(b"this is not a database any more")
    audit = run(project)
    assert audit.status == Audit.Status.PARTIAL
    assert "live.sqlite3" in audit.error
    statuses = set(
        Finding.objects.filter(pk__in=live_findings).values_list("status", flat=True)
    )
    assert statuses == {"open"}


def test_an_audit_whose_every_target_fails_is_failed_and_changes_nothing(flawed):
    project, ddl = flawed
    run(project)
    before = list(Finding.objects.values_list("pk", "status"))
    ddl.unlink()
    audit = run(project)
    assert audit.status == Audit.Status.FAILED
    assert "No target could be scanned" in audit.error
    assert list(Finding.objects.values_list("pk", "status")) == before


def test_an_audit_is_claimed_once(flawed):
    project, _ = flawed
    audit = services.start_audit(project, enqueue=False)
    assert services.claim_audit(audit.pk) is True
    assert services.claim_audit(audit.pk) is False
    assert services.execute_audit(audit.pk) is None  # already running elsewhere


def test_the_sweeper_fails_stuck_audits_and_touches_no_finding(flawed, settings):
    project, _ = flawed
    run(project)
    before = list(Finding.objects.values_list("pk", "status", "sighting__audit_number"))
    stuck = services.start_audit(project, enqueue=False)
    services.claim_audit(stuck.pk)
    Audit.objects.filter(pk=stuck.pk).update(
        started_at=timezone.now() - timedelta(seconds=settings.AUDIT_TIME_LIMIT + 60)
    )
    fresh = services.start_audit(project, enqueue=False)
    services.claim_audit(fresh.pk)
    assert services.sweep_stuck_audits() == 1
    stuck.refresh_from_db()
    assert stuck.status == Audit.Status.FAILED and "time limit" in stuck.error
    assert Audit.objects.get(pk=fresh.pk).status == Audit.Status.RUNNING
    assert (
        list(Finding.objects.values_list("pk", "status", "sighting__audit_number"))
        == before
    )


def test_due_projects_get_exactly_one_scheduled_audit(flawed):
    project, _ = flawed
    Project.objects.filter(pk=project.pk).update(
        next_audit_at=timezone.now() - timedelta(minutes=1)
    )
    started = services.enqueue_due_audits()
    assert [a.project_id for a in started] == [project.pk]
    assert started[0].trigger == Audit.Trigger.SCHEDULE
    assert services.enqueue_due_audits() == []  # next time moved an interval ahead
    project.refresh_from_db()
    assert project.next_audit_at > timezone.now() + timedelta(hours=23)


def test_a_project_with_the_schedule_off_is_never_due(flawed):
    project, _ = flawed
    Project.objects.filter(pk=project.pk).update(
        audit_interval_hours=0, next_audit_at=timezone.now() - timedelta(days=1)
    )
    assert services.enqueue_due_audits() == []


def test_an_audit_without_targets_fails_with_a_clear_message(team, owner):
    project = Project.objects.create(team=team, name="Empty", slug="empty")
    audit = run(project)
    assert audit.status == Audit.Status.FAILED
    assert "no enabled targets" in audit.error
