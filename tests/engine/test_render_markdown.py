"""The Markdown report has the shape of report 000 and reads back."""

from __future__ import annotations

import re

import pytest

from audits.engine.grading import grade
from audits.engine.issues import Dimension
from audits.engine.render import markdown
from audits.engine.scan import ScanResult

from .render_fixtures import sample_issues, sample_result


def report() -> str:
    return markdown.render(sample_result(), project="Demo", date="2026-02-25")


def test_report_starts_with_title_project_targets_and_date() -> None:
    lines = report().splitlines()
    assert lines[0] == "# Database Audit Report"
    text = "\n".join(lines[:8])
    assert "**Project:** Demo" in text
    assert "**Date:** 2026-02-25" in text
    assert "`sqlite:var/app.db`" in text
    assert "s3cret" not in report()


def test_executive_summary_has_every_dimension_bold_grades_and_overall() -> None:
    text = report()
    grades = grade(sample_result().issues)
    assert "| Dimension | Grade | Summary |" in text
    for dimension in Dimension:
        letter = grades[dimension].letter
        assert f"| {dimension.label} | **{letter}** |" in text
    assert f"**Overall: {grades.overall.letter}**" in text
    assert f"{grades.score:.1f}/10" in text


def test_critical_findings_have_location_risk_evidence_and_fix() -> None:
    text = report()
    section = text.split("## 1. Critical Findings", 1)[1].split("---", 1)[0]
    assert "### CRIT-2: Column has conflicting foreign key declarations" in section
    assert "**File:** `schema.sql:12` | **Location:** `schedules.user_id`" in section
    assert "**Risk:**" in section
    assert "column-level CASCADE vs table-level NO ACTION" in section
    assert "**Fix:**" in section
    assert "```sql\nALTER TABLE schedules DROP CONSTRAINT" in section


def test_findings_by_severity_use_report_ids_in_four_column_tables() -> None:
    text = report()
    assert "| ID | Finding | Location | Status |" in text
    ids = re.findall(r"^\| ((?:CRIT|HIGH|MED|LOW|INFO)-\d+) \|", text, re.MULTILINE)
    assert ids == ["CRIT-1", "CRIT-2", "MED-1", "LOW-1", "INFO-1"]
    assert "### Critical (2)" in text
    assert "`app/db.py:40`" in text


def test_pipes_in_evidence_and_titles_never_break_a_table() -> None:
    issue = sample_issues()[0].with_changes(title="a | b", object="t.c|d")
    text = markdown.render(ScanResult((), (issue,)), date="2026-01-01")
    row = next(line for line in text.splitlines() if line.startswith("| MED-1"))
    assert len(re.split(r"(?<!\\)\|", row)) == 6


def test_recommendations_are_grouped_by_priority_with_effort() -> None:
    text = report().split("## 3. Recommendations", 1)[1]
    assert "### Priority 1 — Fix Now" in text
    assert "### Priority 2 — Improve Soon" in text
    assert "| # | Action | Effort |" in text
    assert re.search(r"\| 1 \| .*\(CRIT-1\) \| hours \|", text)


def test_statuses_fill_the_status_column() -> None:
    issue = sample_issues()[0]
    text = markdown.render(
        ScanResult((), (issue,)), statuses={issue.fingerprint: "documented"}
    )
    assert "| Documented |" in text


def test_empty_scan_reports_no_findings() -> None:
    text = markdown.render(ScanResult((), ()), date="2026-01-01")
    assert "No critical findings." in text
    assert "**Overall: A+**" in text


def test_report_reads_back_through_the_markdown_importer() -> None:
    parser = pytest.importorskip("audits.engine.reports.markdown")
    parsed = parser.parse_markdown(report(), filename="plumbline.md")
    refs = {item.ref: item for item in parsed.items}
    assert {"CRIT-1", "CRIT-2", "MED-1", "LOW-1", "INFO-1"} <= set(refs)
    issues = {i.check: i for i in sample_issues()}
    crit = next(
        item for item in parsed.items if item.check == "fk-conflicting-declarations"
    )
    assert crit.severity.value == "critical"
    assert crit.file == "schema.sql"
    assert issues["txn-lost-update"].severity == refs["CRIT-2"].severity
