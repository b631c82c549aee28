"""The quality gate: each audit passes or fails on what it brought in."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from audits import services
from findings.models import Finding

CLEAN = (
    "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);\n"
    "CREATE TABLE notes (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id),"
    " body TEXT);\n"
)
# A table with no primary key: a high finding (table-no-primary-key).
NO_KEY = "CREATE TABLE events (id INTEGER, kind TEXT NOT NULL);\n"
WITH_KEY = "CREATE TABLE events (id INTEGER PRIMARY KEY, kind TEXT NOT NULL);\n"


def audit_with(project, schema_file, text):
    schema_file.write_text(text)
    audit = services.start_audit(project, enqueue=False)
    return services.execute_audit(audit.pk)


def test_a_new_high_finding_fails_the_gate_and_its_fix_passes(project, schema_file):
    first = audit_with(project, schema_file, CLEAN)
    assert first.gate_passed is True
    assert first.gate["rules"] == ["a new finding at high or above", "a regression"]

    second = audit_with(project, schema_file, CLEAN + NO_KEY)
    assert second.gate_passed is False
    assert second.gate["failed"] == 1
    [failed] = second.gate["findings"]
    assert failed["check"] == "table-no-primary-key"
    assert failed["reason"] == "new"
    assert failed["location"] == "schema.sql:3"

    third = audit_with(project, schema_file, CLEAN + WITH_KEY)
    assert third.gate_passed is True
    # Still open medium findings from before never fail it.
    assert Finding.objects.filter(project=project, status="open").exists()


def test_the_first_audit_sets_the_baseline(project, schema_file):
    first = audit_with(project, schema_file, CLEAN + NO_KEY)
    assert first.gate_passed is True
    assert first.gate["baseline"] == 1
    assert [c["failed"] for c in first.gate["checks"]] == [0, 0]
    # The same finding seen again is not new; a new one is.
    again = audit_with(project, schema_file, CLEAN + NO_KEY)
    assert (again.gate_passed, again.gate["baseline"]) == (True, 0)
    worse = audit_with(
        project, schema_file, CLEAN + NO_KEY + NO_KEY.replace("events", "clicks")
    )
    assert worse.gate_passed is False
    assert [f["location"] for f in worse.gate["findings"]] == ["schema.sql:4"]


def test_a_target_added_later_sets_its_own_baseline(project, schema_file, tmp_path):
    audit_with(project, schema_file, CLEAN)
    other = tmp_path / "billing.sql"
    other.write_text(NO_KEY)
    project.targets.create(kind="ddl", location=str(other), name="billing")
    audit = audit_with(project, schema_file, CLEAN)
    assert (audit.gate_passed, audit.gate["baseline"]) == (True, 1)
    other.write_text(NO_KEY + NO_KEY.replace("events", "clicks"))
    audit = audit_with(project, schema_file, CLEAN)
    assert audit.gate_passed is False
    assert [f["check"] for f in audit.gate["findings"]] == ["table-no-primary-key"]


def test_a_regression_fails_the_gate(project, schema_file):
    audit_with(project, schema_file, CLEAN + NO_KEY)
    audit_with(project, schema_file, CLEAN + WITH_KEY)
    back = audit_with(project, schema_file, CLEAN + NO_KEY)
    assert back.gate_passed is False
    assert [f["reason"] for f in back.gate["findings"]] == ["regression"]


def test_rules_can_be_turned_off_or_tightened(project, schema_file):
    project.gate_new_severity = ""
    project.gate_regressions = False
    project.save()
    audit = audit_with(project, schema_file, CLEAN + NO_KEY)
    assert audit.gate_passed is True
    assert audit.gate["rules"] == []
    project.gate_new_severity = "medium"
    project.save()
    schema_file.write_text(
        CLEAN
        + NO_KEY
        + "CREATE TABLE t (a INTEGER PRIMARY KEY, b_id INTEGER REFERENCES notes(id));\n"
    )
    audit = services.execute_audit(services.start_audit(project, enqueue=False).pk)
    assert audit.gate_passed is False
    assert {f["severity"] for f in audit.gate["findings"]} == {"medium"}


def test_overdue_criticals_fail_the_gate_when_asked(project, schema_file):
    project.gate_overdue_critical = True
    project.save()
    audit_with(project, schema_file, CLEAN)
    # An imported finding: engine audits neither refresh nor fix it.
    finding = Finding.objects.create(
        project=project,
        fingerprint="imported-1",
        check_id="report",
        origin="markdown",
        severity="critical",
        title="Backups are never restored",
        due_date=timezone.localdate() - timedelta(days=1),
    )
    audit = audit_with(project, schema_file, CLEAN)
    assert audit.gate_passed is False
    assert [(f["id"], f["reason"]) for f in audit.gate["findings"]] == [
        (finding.pk, "overdue")
    ]


def test_a_failed_audit_has_no_verdict(project, schema_file, tmp_path):
    target = project.targets.get()
    target.location = str(tmp_path / "missing.sql")
    target.save()
    audit = services.execute_audit(services.start_audit(project, enqueue=False).pk)
    assert audit.status == "failed"
    assert audit.gate_passed is None


def test_an_imported_report_is_gated_too(project, owner, schema_file):
    from audits.imports import import_report
    from tests.api.conftest import SARIF

    audit_with(project, schema_file, CLEAN)
    audit = import_report(project, data=SARIF, filename="lint.sarif", user=owner)
    # The SARIF "error" level is a high finding, new with this import.
    assert audit.gate_passed is False
    assert audit.gate["findings"][0]["title"] == "Raw SQL built from user input"


@pytest.mark.parametrize("fragment", [False, True])
def test_the_overview_shows_the_latest_gate(
    client, owner, project, schema_file, fragment
):
    audit_with(project, schema_file, CLEAN)
    audit_with(project, schema_file, CLEAN + NO_KEY)
    client.force_login(owner)
    if fragment:
        response = client.get(
            f"/projects/{project.pk}/?fragment=summary", HTTP_HX_REQUEST="true"
        )
    else:
        response = client.get(f"/projects/{project.pk}/")
    text = response.content.decode()
    assert "Quality gate:" in text and ">failed<" in text
    assert "Table has no primary key" in text or "events" in text


def test_the_audit_page_lists_every_finding_that_failed_it(
    client, owner, project, schema_file
):
    audit_with(project, schema_file, CLEAN)
    audit = audit_with(project, schema_file, CLEAN + NO_KEY)
    client.force_login(owner)
    text = client.get(f"/audits/{audit.pk}/").content.decode()
    assert 'id="gate"' in text
    assert re.search(r"A new finding at high or above:\s*<strong>1 found", text)
