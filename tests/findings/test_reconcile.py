"""The reconciliation rules, one test each, on the real database."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audits.models import Audit
from findings.models import Finding, FindingEvent
from findings.reconcile import Detection, Scope, reconcile


@pytest.fixture
def target(project):
    return project.targets.first()


def new_audit(project, origin="engine"):
    number = (
        project.audits.order_by("-number").values_list("number", flat=True).first() or 0
    ) + 1
    return Audit.objects.create(
        project=project,
        number=number,
        origin=origin,
        status=Audit.Status.RUNNING,
        started_at=timezone.now(),
    )


def det(n, target, check="fk-missing", severity="medium"):
    return Detection(
        fingerprint=f"fp-{n}",
        check_id=check,
        severity=severity,
        title=f"Problem {n}",
        dimension="schema",
        effort="minutes",
        object=f"t.c{n}",
        target_id=target.pk,
    )


def scope(target, checks=("fk-missing",)):
    return Scope(origin="engine", checks_by_target={target.pk: frozenset(checks)})


def table_state():
    return list(
        Finding.objects.order_by("fingerprint").values_list(
            "fingerprint",
            "status",
            "severity",
            "regression",
            "sighting__audit_number",
            "sighting__seen_at",
            "fixed_by_audit_id",
            "due_date",
            "line",
            "title",
        )
    )


def test_new_fingerprints_become_open_findings_with_a_created_event(project, target):
    audit = new_audit(project)
    outcome = reconcile(
        audit, [det(1, target), det(2, target, severity="critical")], scope(target)
    )
    assert outcome.new == 2
    f = Finding.objects.get(fingerprint="fp-2")
    assert (
        f.status == "open"
        and f.first_seen_audit == audit
        and f.last_seen_number == audit.number
    )
    assert (
        f.due_date
        == (audit.started_at + timedelta(days=project.sla_critical_days)).date()
    )
    assert list(f.events.values_list("kind", "audit_id")) == [("created", audit.pk)]


def test_reconciling_the_same_audit_twice_changes_nothing(project, target):
    audit = new_audit(project)
    reconcile(audit, [det(1, target), det(2, target)], scope(target))
    before, events = table_state(), FindingEvent.objects.count()
    reconcile(audit, [det(1, target), det(2, target)], scope(target))
    assert table_state() == before
    assert FindingEvent.objects.count() == events


def test_an_identical_re_audit_keeps_every_finding_open(project, target):
    reconcile(new_audit(project), [det(1, target), det(2, target)], scope(target))
    second = new_audit(project)
    outcome = reconcile(second, [det(1, target), det(2, target)], scope(target))
    assert (outcome.new, outcome.fixed, outcome.reopened, outcome.still_open) == (
        0,
        0,
        0,
        2,
    )
    assert set(Finding.objects.values_list("status", flat=True)) == {"open"}
    assert set(Finding.objects.values_list("sighting__audit_number", flat=True)) == {
        second.number
    }
    assert FindingEvent.objects.count() == 2  # only the two "created" events


def test_unseen_open_findings_are_fixed_and_verified_by_the_audit(project, target):
    reconcile(new_audit(project), [det(1, target), det(2, target)], scope(target))
    Finding.objects.filter(fingerprint="fp-2").update(status="in_progress")
    second = new_audit(project)
    outcome = reconcile(second, [det(1, target)], scope(target))
    assert outcome.fixed == 1
    f = Finding.objects.get(fingerprint="fp-2")
    assert f.status == "fixed" and f.fixed_by_audit == second
    event = f.events.get(kind="fixed")
    assert (event.from_value, event.to_value, event.audit_id) == (
        "in_progress",
        "fixed",
        second.pk,
    )


def test_a_target_that_failed_fixes_none_of_its_findings(project, target):
    reconcile(new_audit(project), [det(1, target)], scope(target))
    failed_scope = Scope(
        origin="engine", checks_by_target={}
    )  # the target did not scan
    outcome = reconcile(new_audit(project), [], failed_scope)
    assert outcome.fixed == 0
    assert Finding.objects.get().status == "open"


def test_a_check_that_did_not_run_fixes_nothing(project, target):
    reconcile(new_audit(project), [det(1, target)], scope(target))
    outcome = reconcile(
        new_audit(project), [], scope(target, checks=("index-duplicate",))
    )
    assert outcome.fixed == 0
    assert Finding.objects.get().status == "open"


def test_a_fixed_finding_that_comes_back_is_reopened_as_a_regression(project, target):
    reconcile(new_audit(project), [det(1, target, severity="high")], scope(target))
    reconcile(new_audit(project), [], scope(target))
    assert Finding.objects.get().status == "fixed"
    third = new_audit(project)
    outcome = reconcile(third, [det(1, target, severity="high")], scope(target))
    assert outcome.reopened == 1
    f = Finding.objects.get()
    assert f.status == "open" and f.regression and f.fixed_by_audit is None
    assert f.due_date == (timezone.now() + timedelta(days=project.sla_high_days)).date()
    assert f.events.filter(kind="reopened", audit=third).exists()


@pytest.mark.parametrize("status", ["documented", "false_positive"])
def test_accepted_findings_keep_their_status_seen_or_not(project, target, status):
    reconcile(new_audit(project), [det(1, target), det(2, target)], scope(target))
    Finding.objects.update(status=status, status_reason="accepted by the team")
    second = new_audit(project)
    outcome = reconcile(second, [det(1, target)], scope(target))
    assert (outcome.fixed, outcome.reopened) == (0, 0)
    assert set(Finding.objects.values_list("status", flat=True)) == {status}
    assert Finding.objects.get(fingerprint="fp-1").last_seen_number == second.number


def test_a_severity_change_of_a_check_is_applied_and_recorded(project, target):
    reconcile(new_audit(project), [det(1, target, severity="medium")], scope(target))
    reconcile(new_audit(project), [det(1, target, severity="high")], scope(target))
    f = Finding.objects.get()
    assert f.severity == "high"
    event = f.events.get(kind="severity")
    assert (event.from_value, event.to_value) == ("medium", "high")


def test_locations_follow_the_code_while_the_fingerprint_stays(project, target):
    reconcile(new_audit(project), [det(1, target)], scope(target))
    moved = Detection(**{**det(1, target).__dict__, "line": 120, "file": "app/db.py"})
    reconcile(new_audit(project), [moved], scope(target))
    f = Finding.objects.get()
    assert (f.file, f.line) == ("app/db.py", 120)


def test_an_import_only_fixes_findings_of_its_own_kind(project, target):
    reconcile(new_audit(project), [det(1, target)], scope(target))
    imported = new_audit(project, origin="markdown")
    md = Detection(
        fingerprint="md-1",
        check_id="report:CRIT-1",
        severity="critical",
        title="From a report",
    )
    reconcile(imported, [md], Scope(origin="markdown", whole_origin=True))
    assert Finding.objects.get(fingerprint="md-1").origin == "markdown"
    # A later import without CRIT-1 fixes it, but leaves the engine's finding alone.
    reconcile(
        new_audit(project, origin="markdown"),
        [],
        Scope(origin="markdown", whole_origin=True),
    )
    assert Finding.objects.get(fingerprint="md-1").status == "fixed"
    assert Finding.objects.get(fingerprint="fp-1").status == "open"


def test_an_engine_audit_verifies_an_imported_finding_mapped_to_its_check(
    project, target
):
    md = Detection(
        fingerprint="md-9",
        check_id="fk-missing",
        severity="medium",
        title="From a report",
    )
    reconcile(
        new_audit(project, origin="markdown"),
        [md],
        Scope(origin="markdown", whole_origin=True),
    )
    reconcile(new_audit(project), [], scope(target))
    assert Finding.objects.get(fingerprint="md-9").status == "fixed"


def count_queries(project, target, n):
    Finding.objects.all().delete()
    reconcile(new_audit(project), [det(i, target) for i in range(n)], scope(target))
    # Second audit: half seen, half fixed, some new; every statement kind runs.
    detections = [det(i, target) for i in range(n // 2)] + [
        det(n + i, target) for i in range(n // 2)
    ]
    with CaptureQueriesContext(connection) as ctx:
        reconcile(new_audit(project), detections, scope(target))
    return len(ctx.captured_queries)


def test_reconciling_10_or_5000_detections_costs_the_same_queries(project, target):
    assert count_queries(project, target, 10) == count_queries(project, target, 5000)
    assert Finding.objects.count() == 7500
