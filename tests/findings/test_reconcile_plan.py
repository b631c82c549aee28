"""Reconciliation's plan: the decisions alone, with no database at all."""

import datetime as dt

from findings.reconcile import (
    Detection,
    Event,
    Reopen,
    Reported,
    Scope,
    Stored,
    plan,
)

DUE = dt.date(2030, 1, 1)


def due(severity):
    return DUE if severity != "info" else None


def det(n, check="fk-missing", severity="medium", **kw):
    return Detection(
        fingerprint=f"fp-{n}",
        check_id=check,
        severity=severity,
        title=f"Problem {n}",
        target_id=1,
        **kw,
    )


def stored(n, status="open", check="fk-missing", severity="medium", **kw):
    row = {
        "id": n,
        "status": status,
        "severity": severity,
        "target_id": 1,
        "check_id": check,
        "origin": "engine",
        "fixed_by_audit_id": None,
        "file": "",
        "line": None,
        "effort": "",
        "text_length": len(f"Problem {n}"),
    }
    row.update(kw)
    return Stored(**row)


ENGINE = Scope(origin="engine", checks_by_target={1: frozenset({"fk-missing"})})


def test_a_plan_names_new_seen_fixed_and_reopened_rows():
    findings = {
        "fp-1": stored(1),
        "fp-2": stored(2),
        "fp-3": stored(3, status="fixed", fixed_by_audit_id=7),
        "fp-4": stored(4, status="documented"),
    }
    p = plan(findings, [det(1), det(3), det(4), det(5)], ENGINE, due=due)
    assert [n.detection.fingerprint for n in p.new] == ["fp-5"]
    assert p.new[0].status == "open" and p.new[0].due == DUE
    assert p.seen == (1, 3, 4) and p.refreshed == ()
    assert p.reopened == (Reopen(3, DUE),)
    assert p.fixed == (2,)
    assert (p.still_open, p.accepted_seen) == (1, 1)
    assert [e.kind for e in p.events] == ["reopened", "fixed"]
    assert p.outcome.new == 1 and p.outcome.fixed == 1 and p.outcome.reopened == 1


def test_a_changed_severity_refreshes_the_row_and_records_an_event():
    p = plan({"fp-1": stored(1)}, [det(1, severity="high")], ENGINE, due=due)
    assert [r.id for r in p.refreshed] == [1] and p.severity_changed == (1,)
    assert p.events == (Event(1, "severity", "medium", "high", p.events[0].note),)


def test_findings_outside_the_scope_are_left_alone():
    findings = {"fp-1": stored(1, check="other"), "fp-2": stored(2, target_id=9)}
    p = plan(findings, [], ENGINE, due=due)
    assert p.fixed == () and p.events == ()


def test_an_engine_audit_verifies_an_imported_finding_of_a_check_it_ran():
    imported = stored(1, origin="markdown")
    assert plan({"fp-1": imported}, [], ENGINE, due=due).fixed == (1,)
    # ...but not when the check found something elsewhere.
    seen_elsewhere = plan({"fp-1": imported}, [det(2)], ENGINE, due=due)
    assert seen_elsewhere.fixed == ()


def test_a_sarif_import_covers_only_the_findings_of_its_tools():
    findings = {
        "fp-1": stored(1, check="ruff:E501", origin="sarif"),
        "fp-2": stored(2, check="bandit:B101", origin="sarif"),
    }
    p = plan(findings, [], Scope.of_import("sarif", ["ruff"]), due=due)
    assert p.fixed == (1,)


def test_an_item_reported_fixed_is_reported_fixed_and_never_reopens_one():
    findings = {"fp-1": stored(1, origin="markdown"), "fp-2": stored(2, "fixed")}
    report = [
        det(1, status="fixed", status_reason="Reported as FIXED.", note="From r.md"),
        det(2, status="fixed"),
        det(3, status="fixed"),
    ]
    p = plan(findings, report, Scope.of_import("markdown"), due=due)
    # Fixed on the report's word: not verified, so not among the fixed.
    assert p.fixed == () and p.reopened == () and p.seen == ()
    assert p.reported == (Reported(1, "Reported as FIXED."),)
    assert p.events == (Event(1, "status", "open", "fixed", "From r.md"),)
    # A new item the report marks fixed is created fixed, with no due date.
    assert [(n.detection.fingerprint, n.status, n.due) for n in p.new] == [
        ("fp-3", "fixed", None)
    ]
    assert (p.outcome.fixed, p.outcome.reported_fixed) == (0, 2)


def test_an_engine_audit_verifies_what_a_report_said_was_fixed():
    claimed = stored(1, status="fixed", origin="markdown")
    p = plan({"fp-1": claimed}, [], ENGINE, due=due)
    assert p.fixed == (1,)
    assert p.events[0].kind == "fixed" and p.events[0].note.startswith("Verified")
    # Verified once, it is not verified again; seen elsewhere, it stays claimed.
    verified = stored(1, status="fixed", origin="markdown", fixed_by_audit_id=7)
    assert plan({"fp-1": verified}, [], ENGINE, due=due).fixed == ()
    assert plan({"fp-1": claimed}, [det(2)], ENGINE, due=due).fixed == ()
    # Another import does not verify anything.
    assert plan({"fp-1": claimed}, [], Scope.of_import("markdown"), due=due).fixed == ()


def test_the_first_detection_of_a_fingerprint_wins():
    p = plan({}, [det(1, severity="high"), det(1, severity="low")], ENGINE, due=due)
    assert [n.detection.severity for n in p.new] == ["high"]


def test_a_finding_marked_fixed_by_hand_and_still_seen_goes_back_to_open():
    findings = {"fp-1": stored(1, status="fixed")}  # no audit verified it
    p = plan(findings, [det(1)], ENGINE, due=due)
    assert p.reopened == () and p.still_seen == (1,)
    assert p.outcome.reopened == 0 and p.still_open == 1
    (event,) = p.events
    assert (event.kind, event.from_value, event.to_value) == ("status", "fixed", "open")
    assert "still sees it" in event.note


def test_a_severity_set_by_hand_is_neither_refreshed_nor_changed():
    findings = {"fp-1": stored(1, severity="low", severity_overridden=True)}
    p = plan(findings, [det(1, severity="critical")], ENGINE, due=due)
    assert p.severity_changed == () and p.refreshed == () and p.events == ()
