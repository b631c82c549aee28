"""Reconciling findings a person changed: a manual fix the audit still sees,
and a severity set by hand."""

from audits.models import Audit
from findings.models import Finding, FindingEvent
from findings.reconcile import reconcile
from tests.findings.test_reconcile import det, new_audit, scope


def test_a_manual_fix_the_audit_still_sees_returns_to_open_not_a_regression(
    project, owner
):
    target = project.targets.first()
    first = new_audit(project)
    reconcile(first, [det(1, target)], scope(target))
    finding = Finding.objects.get(fingerprint="fp-1")
    finding.change_status(Finding.Status.FIXED, by=owner)

    second = new_audit(project)
    outcome = reconcile(second, [det(1, target)], scope(target))
    finding.refresh_from_db()
    assert finding.status == Finding.Status.OPEN
    assert finding.regression is False
    assert outcome.reopened == 0
    event = FindingEvent.objects.filter(finding=finding, audit=second).get()
    assert event.kind == FindingEvent.Kind.STATUS
    assert (event.from_value, event.to_value) == ("fixed", "open")
    assert "still sees it" in event.note


def test_a_finding_an_audit_fixed_that_comes_back_is_still_a_regression(project):
    target = project.targets.first()
    reconcile(new_audit(project), [det(1, target)], scope(target))
    fixer = new_audit(project)
    reconcile(fixer, [], scope(target))
    assert Finding.objects.get(fingerprint="fp-1").fixed_by_audit == fixer
    outcome = reconcile(new_audit(project), [det(1, target)], scope(target))
    finding = Finding.objects.get(fingerprint="fp-1")
    assert finding.status == "open" and finding.regression is True
    assert outcome.reopened == 1


def test_a_severity_set_by_hand_outlives_the_next_audit(project, owner):
    target = project.targets.first()
    reconcile(new_audit(project), [det(1, target, severity="high")], scope(target))
    finding = Finding.objects.get(fingerprint="fp-1")
    finding.override_severity("low", by=owner, reason="Internal tool, two users.")
    audit = new_audit(project)
    outcome = reconcile(audit, [det(1, target, severity="critical")], scope(target))
    finding.refresh_from_db()
    assert finding.severity == "low" and finding.severity_overridden
    assert outcome.severity_changed == 0
    assert not FindingEvent.objects.filter(
        finding=finding, audit=audit, kind="severity"
    ).exists()
    assert Audit.objects.filter(pk=audit.pk).exists()
