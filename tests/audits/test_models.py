"""An audit's state changes: each one a method on Audit or its QuerySet."""

import ast
from pathlib import Path

from django.conf import settings

from audits.models import STUCK_ERROR, Audit

ROOT = Path(settings.BASE_DIR)


def test_start_numbers_audits_per_project(project):
    first = Audit.objects.start(project)
    second = Audit.objects.start(project, trigger=Audit.Trigger.SCHEDULE)
    assert (first.number, second.number) == (1, 2)
    assert second.status == Audit.Status.QUEUED
    assert second.trigger == Audit.Trigger.SCHEDULE


def test_claim_moves_a_queued_audit_to_running_once(project):
    audit = Audit.objects.start(project)
    assert Audit.objects.claim(audit.pk) is True
    assert Audit.objects.claim(audit.pk) is False
    audit.refresh_from_db()
    assert audit.status == Audit.Status.RUNNING and audit.started_at is not None


def test_finish_stores_the_outcome_and_reads_it_back(project):
    audit = Audit.objects.start(project)
    Audit.objects.claim(audit.pk)
    audit.finish(Audit.Status.PARTIAL, summary={"open": 3}, error="one target failed")
    stored = Audit.objects.get(pk=audit.pk)
    assert stored.status == audit.status == Audit.Status.PARTIAL
    assert stored.summary == {"open": 3} and stored.progress_step == "Done"
    assert stored.error == "one target failed" and stored.finished_at is not None


def test_fail_ends_the_audit_with_the_error(project):
    audit = Audit.objects.start(project)
    audit.fail("broken")
    stored = Audit.objects.get(pk=audit.pk)
    assert (stored.status, stored.error) == (Audit.Status.FAILED, "broken")
    assert audit.status == Audit.Status.FAILED and stored.is_finished


def test_cancel_fails_an_active_audit_but_leaves_a_finished_one(project):
    running = Audit.objects.start(project)
    Audit.objects.claim(running.pk)
    assert running.cancel("Cancelled by olivia.") is True
    assert running.status == Audit.Status.FAILED
    assert running.error == "Cancelled by olivia."
    done = Audit.objects.start(project)
    done.finish(Audit.Status.SUCCEEDED, summary={})
    assert done.cancel("too late") is False
    assert Audit.objects.get(pk=done.pk).status == Audit.Status.SUCCEEDED


def test_stuck_audits_fail_with_the_sweeper_message(project, settings):
    from datetime import timedelta

    from django.utils import timezone

    audit = Audit.objects.start(project)
    Audit.objects.claim(audit.pk)
    later = timezone.now() + timedelta(seconds=settings.AUDIT_TIME_LIMIT + 1)
    assert Audit.objects.stuck(later).fail(STUCK_ERROR, now=later) == 1
    assert Audit.objects.get(pk=audit.pk).error == STUCK_ERROR


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            prefix = "." * node.level + (node.module or "")
            names |= {prefix} | {f"{prefix}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
    return names


def test_the_tasks_never_import_the_services_that_queue_them():
    tasks = _imports(ROOT / "audits" / "tasks.py")
    runs = _imports(ROOT / "audits" / "runs.py")
    assert not {n for n in tasks | runs if "services" in n}
    assert "services" not in (ROOT / "audits" / "models.py").read_text()


def test_project_views_do_not_reach_into_audit_services():
    assert not {
        n for n in _imports(ROOT / "projects" / "views.py") if "audits.services" in n
    }
