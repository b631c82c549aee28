"""The Markdown report has the shape of report 000 and reads back."""

from __future__ import annotations

import re

import pytest

from audits.engine.grading import grade
from audits.engine.issues import Dimension, Step
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


# Text an attacker controls: a table or column name in the audited database,
# a path in the scanned repository, a report's title, a project's name.
HOSTILE = (
    "[click](javascript:alert(1)) <img src=x onerror=alert(1)> **b** &lt; www.evil.test"
)


def hostile_result() -> ScanResult:
    base = next(i for i in sample_issues() if i.check == "fk-conflicting-declarations")
    issue = base.with_changes(
        title=f"Bad {HOSTILE}",
        object="t`x.[c](javascript:y)",
        file="app/[x](javascript:z)<i>.py",
        evidence="line one\n```\n<script>alert(1)</script>\n[a](javascript:b)",
        remediation=f"Declare `users.id` then {HOSTILE}",
        fix_sql="```\n<b>x</b>",
        trace=(Step("app/<b>.py", 3, f"reads {HOSTILE}"),),
        related=(Step("app/x.py", 9, "![pixel](https://evil.test/p.png)"),),
    )
    return ScanResult((), (issue,))


def rendered_html(text: str) -> list[str]:
    """Return the HTML of ``text`` by two real Markdown renderers."""
    import markdown as python_markdown

    pages = [python_markdown.markdown(text, extensions=["tables", "fenced_code"])]
    markdown_it = pytest.importorskip("markdown_it")
    pages.append(markdown_it.MarkdownIt("commonmark").enable("table").render(text))
    return pages


def tags(html: str) -> set[str]:
    from html.parser import HTMLParser

    found: set[str] = set()

    class Collect(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list) -> None:
            found.add(tag)
            for _, value in attrs:
                assert "javascript" not in (value or "")

    Collect().feed(html)
    return found


def test_text_from_users_and_reports_renders_as_text_not_markup() -> None:
    text = markdown.render(
        hostile_result(),
        project=f"P {HOSTILE}",
        title=f"T {HOSTILE}",
        date="2026-01-01",
    )
    for html in rendered_html(text):
        used = tags(html)
        assert not used & {"a", "img", "script", "i", "em", "b"}, used
        # Users' ** never becomes bold; the report's own labels do.
        assert "<strong>b</strong>" not in html
    # Outside code blocks and spans (where nothing is markup), scheme colons
    # and www are escaped against renderers that autolink bare addresses too.
    prose = re.sub(r"(?ms)^(`{3,})\w*$.*?^\1$", "", text)
    prose = re.sub(r"(`+).+?\1", "", prose)
    assert "javascript:" not in prose.replace("javascript\\:", "")
    assert "www.evil" not in prose


def test_escaped_text_still_reads_as_written() -> None:
    text = markdown.render(hostile_result(), date="2026-01-01")
    html = rendered_html(text)[1]  # CommonMark reads every escape
    from html import unescape

    plain = unescape(re.sub(r"<[^>]+>", "", html))
    assert f"Bad {HOSTILE}" in plain
    # Code spans the engine writes stay code; the evidence's fence cannot end
    # its block early, so the script tag is shown inside it.
    assert "<code>users.id</code>" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    section = text.split("## 1. Critical Findings", 1)[1]
    assert "````text\nline one\n```\n<script>" in section


def test_escaped_titles_and_objects_read_back_unchanged() -> None:
    parser = pytest.importorskip("audits.engine.reports.markdown")
    issue = sample_issues()[3].with_changes(
        title="Timestamp user_created_at [legacy] <v2> *draft*: mixed names"
    )
    text = markdown.render(ScanResult((), (issue,)), date="2026-01-01")
    assert "user\\_created\\_at \\[legacy\\] \\<v2\\> \\*draft\\*\\:" in text
    parsed = parser.parse_markdown(text, filename="plumbline.md")
    (item,) = parsed.items
    assert item.title.startswith(
        "Timestamp user_created_at [legacy] <v2> *draft*: mixed names"
    )
    assert item.object == "schedules.created"


@pytest.mark.parametrize(
    "raw",
    ["plain", "a`b", "``x``", "`", "a|b", "tab\tand\nnewline", "`lead", "trail`"],
)
def test_a_code_span_holds_exactly_its_text(raw: str) -> None:
    import markdown as python_markdown

    html = python_markdown.markdown(markdown.code(raw).replace("\\|", "|"))
    from html import unescape

    inner = re.search(r"<code>(.*)</code>", html, re.S)
    assert inner and unescape(inner.group(1)) == " ".join(raw.split())
