"""Reports written in other teams' styles import as those teams meant them.

Each report under ``fixtures/reports/styles`` was written by hand, and what a
careful reader imports from it (findings per severity and status, and the
totals the report states) was written down in ``EXPECTED.json`` before the
parser ever read it.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audits.engine.issues import Severity
from audits.engine.reports import ParsedReport, ReportItem, parse_report
from audits.engine.reports.decode import decode_text

STYLES = Path(__file__).resolve().parent / "fixtures" / "reports" / "styles"
EXPECTED = {
    name: counts
    for name, counts in json.loads((STYLES / "EXPECTED.json").read_text()).items()
    if not name.startswith("_")
}


def _parse(name: str) -> ParsedReport:
    return parse_report((STYLES / name).read_bytes(), name)


def _by_ref(report: ParsedReport) -> dict[str, ReportItem]:
    return {item.ref: item for item in report.items}


def test_every_style_report_has_written_expectations() -> None:
    on_disk = {p.name for p in STYLES.glob("*.md")}
    assert on_disk == set(EXPECTED)
    assert len(on_disk) >= 12


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_style_report_imports_exactly_what_a_careful_reader_would(name: str) -> None:
    want = EXPECTED[name]
    report = _parse(name)

    assert len(report.items) == want["findings"]
    assert dict(Counter(i.severity.value for i in report.items)) == want["severity"]
    assert dict(Counter(i.status for i in report.items)) == want["status"]
    assert report.stated == want.get("stated")


# --- shapes -------------------------------------------------------------------


def test_bracketed_category_headings_keep_ids_and_whole_titles() -> None:
    report = _parse("bracket_category.md")
    items = _by_ref(report)

    assert list(items) == [f"PAY-0{n}" for n in range(1, 7)]
    assert items["PAY-01"].title == "Payslip totals: computed in two transactions"
    # "Risk: Low" is about the fix; the finding says Critical.
    assert items["PAY-01"].severity is Severity.CRITICAL
    assert (items["PAY-01"].file, items["PAY-01"].line) == ("payroll/slips.py", 142)
    assert items["PAY-04"].status == "documented"
    assert "codes come from the HR system" in items["PAY-04"].status_note
    assert "all servers run in UTC" in items["PAY-06"].status_note
    assert items["PAY-02"].status == "fixed"
    assert items["PAY-02"].status_note.startswith("FIXED in release 4.2")


def test_issue_number_headings_take_severity_from_the_impact_line() -> None:
    report = _parse("issue_numbers.md")
    items = _by_ref(report)

    assert list(items) == ["1", "2", "3", "4", "5"]
    assert [i.severity for i in report.items] == [
        Severity.CRITICAL,
        Severity.MEDIUM,
        Severity.HIGH,
        Severity.LOW,
        Severity.MEDIUM,
    ]
    assert items["5"].title == "Seat map cache: never invalidated after a refund"
    assert (items["1"].file, items["1"].line) == ("bookings/views.py", 88)


def test_cross_references_merge_recommendations_into_their_findings() -> None:
    report = _parse("issue_numbers.md")
    merged = [e for e in report.explanations if e.action == "merged"]

    assert {(e.line, e.finding) for e in merged} >= {
        (37, "#1"),
        (38, "#3"),
        (39, "#2"),
        (40, "#4"),
        (44, "#1"),
        (45, "#5"),
    }
    assert all(e.reason == f"it points at {e.finding}" for e in merged)
    by_ref = _by_ref(report)
    assert by_ref["1"].source_lines == (5, 37, 44)
    assert by_ref["1"].source_line == 5


def test_location_impact_recommendation_tables_are_findings_tables() -> None:
    report = _parse("location_impact_table.md")

    assert [(i.ref, i.severity.value, i.file, i.line) for i in report.items] == [
        ("1", "high", "crm/importer.py", 77),
        ("2", "high", "crm/search.py", 31),
        ("3", "medium", "migrations/0005.sql", 18),
        ("4", "medium", "crm/export.py", 12),
        ("5", "low", "migrations/0002.sql", 9),
    ]
    first = report.items[0]
    assert first.remediation == "Wrap the import in one transaction"
    assert "half the file" in first.description
    # The technical-debt register restates; its effort joins the finding.
    assert first.effort == "2h"


def test_category_keyed_summary_skips_passing_rows_and_warns_on_totals() -> None:
    report = _parse("category_summary.md")

    assert [i.title for i in report.items] == [
        "Fact tables are joined on sales.store_id, which has no index",
        "Nightly load committed per row; now batched",
        "Autovacuum disabled on events_raw, so it bloats",
        "Raw events kept for 5 years on legal advice",
    ]
    assert report.items[0].description.startswith("Indexing")
    assert report.items[0].effort == "10 min"
    assert report.totals_differences() == [("medium", 2, 1)]
    assert any("states 2 medium" in w for w in report.warnings)
    skipped = [e for e in report.explanations if e.action == "skipped"]
    assert {e.line for e in skipped} >= {12, 13, 15}


@pytest.mark.parametrize(
    ("name", "title"),
    [
        ("russian.md", "Пароли хранятся в открытом виде"),
        ("german.md", "Bestandsbuchungen ohne Transaktion"),
        ("spanish.md", "Los pedidos se confirman sin transacción"),
        ("french.md", "Les mots de passe sont stockés en clair"),
        ("portuguese.md", "Pagamentos gravados em duas transações"),
        ("chinese.md", "订单金额使用 FLOAT 类型存储"),
    ],
)
def test_reports_in_other_languages_read_severity_status_and_place(
    name: str, title: str
) -> None:
    report = _parse(name)
    first = report.items[0]

    assert first.title == title
    assert first.severity is Severity.CRITICAL
    assert first.file and first.line
    assert report.warnings == ()


def test_non_problems_are_skipped_and_the_right_signal_sets_severity() -> None:
    report = _parse("non_problems.md")

    assert [(i.title, i.severity) for i in report.items] == [
        ("Form submissions lost under concurrent writes", Severity.CRITICAL),
        ("Webhook payloads stored in plaintext with API tokens", Severity.HIGH),
        ("Missing CHECK on forms.state", Severity.MEDIUM),
    ]
    reasons = {e.line: e.reason for e in report.explanations if e.action == "skipped"}
    assert "OK" in reasons[16]
    assert "PASS" in reasons[32]


def test_a_report_with_nothing_wrong_imports_nothing_and_agrees_with_itself() -> None:
    report = _parse("no_findings.md")

    assert report.items == ()
    assert report.totals_differences() == []
    skipped = {e.text for e in report.explanations if e.action == "skipped"}
    assert "Connection handling" in skipped


def test_when_only_a_checklist_has_ids_the_detailed_sections_still_count() -> None:
    report = _parse("checklist_ids.md")

    assert [(i.ref, i.title) for i in report.items] == [
        ("KS-1", "Cart totals recalculated outside a transaction"),
        ("KS-2", "Product search concatenates user input into SQL"),
        ("KS-3", "Order lines have no foreign key to products"),
        ("KS-4", "Sessions table is never cleaned up"),
        ("KS-5", "Coupons can be applied twice"),
    ]
    assert report.items[1].severity is Severity.CRITICAL
    assert report.items[1].file == "shop/search.py"


def test_titles_lose_markup_and_severity_lead_ins_but_not_their_colons() -> None:
    report = _parse("titles.md")

    assert [(i.title, i.severity.value, i.status) for i in report.items] == [
        ("Ticket scans write to scans without a primary key", "critical", "open"),
        (
            "Event search: the city filter is concatenated into SQL",
            "high",
            "open",
        ),
        ("Venue capacity is not checked against sold tickets", "medium", "open"),
        (
            "Timezone handling: events.starts is stored without time zone",
            "low",
            "open",
        ),
        ("Plaintext passwords in staff.password", "high", "fixed"),
    ]
    assert (report.items[0].file, report.items[0].line) == ("scans/models.py", 10)


# --- encodings ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "broken"),
    [
        ("crlf_cp1252.md", "\u00f0\u0178\u201d\u00b4"),  # red circle read as cp1252
        ("macroman.md", "\uf8ff\u00fc\u00ee\u00a5"),  # red circle read as Mac Roman
        ("latin1.md", "\u00f0\u009f\u0094\u00b4"),  # red circle read as Latin-1
    ],
)
def test_mojibake_fixtures_really_are_broken(name: str, broken: str) -> None:
    raw = (STYLES / name).read_bytes()

    assert broken.encode("utf-8") in raw
    assert "\U0001f534".encode() not in raw
    assert "\U0001f534" in decode_text(raw)


def test_crlf_cp1252_report_recovers_its_emoji_severity_tags() -> None:
    raw = (STYLES / "crlf_cp1252.md").read_bytes()
    report = _parse("crlf_cp1252.md")

    assert raw.count(b"\r\n") > 20
    assert report.title == "Wren Ledger \u2014 storage review \U0001f50d"
    assert [i.severity.value for i in report.items] == [
        "critical",
        "high",
        "medium",
        "low",
    ]
    assert "\u201ctrial balance\u201d" in report.items[0].description
    assert not any("\r" in i.description for i in report.items)


def test_mac_roman_report_recovers_accents_and_emoji_groups() -> None:
    report = _parse("macroman.md")

    assert report.title == "Puffin Tickets \u2013 database audit"
    assert report.items[-1].title == "Caf\u00e9 names stored with trailing spaces"
    assert [i.severity.value for i in report.items] == [
        "critical",
        "high",
        "medium",
        "medium",
        "low",
    ]


def test_a_hundred_findings_with_a_restating_appendix_stay_a_hundred() -> None:
    report = _parse("hundred.md")

    assert [i.ref for i in report.items] == [f"TL-{n:03d}" for n in range(1, 101)]
    assert len({i.fingerprint for i in report.items}) == 100
    merged = [e for e in report.explanations if e.action == "merged"]
    assert len(merged) == 110  # the appendix row and ten action items


# --- reordering and reformatting changes nothing --------------------------------


def _sections(text: str) -> tuple[str, list[str]]:
    parts = re.split(r"(?m)^(?=## )", text)
    return parts[0], parts[1:]


def _reformat(section: str, choice: int) -> str:
    if choice & 1:
        section = re.sub(r"(?m)^- ", "* ", section)
    if choice & 2:
        section = re.sub(r"\n\n+", "\n\n\n", section)
    if choice & 4:
        section = re.sub(r"(?m)^(#{2,4} .*)$", r"\1 ##", section)
    if choice & 8:
        section = re.sub(r"(?m)([^|\s])$", r"\1  ", section)
    return section if section.endswith("\n") else section + "\n"


def _essence(report: ParsedReport) -> list[tuple[object, ...]]:
    return sorted(
        (
            i.ref,
            i.title,
            i.severity.value,
            i.status,
            i.file,
            i.line or 0,
            i.effort,
            i.fingerprint,
        )
        for i in report.items
    )


_TEXT_STYLES = sorted(
    name for name in EXPECTED if name not in ("macroman.md", "latin1.md")
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    name=st.sampled_from(_TEXT_STYLES),
    seed=st.integers(0, 2**32 - 1),
    choices=st.lists(st.integers(0, 15), min_size=30, max_size=30),
    crlf=st.booleans(),
)
def test_reordering_or_reformatting_sections_changes_nothing_imported(
    name: str, seed: int, choices: list[int], crlf: bool
) -> None:
    text = decode_text((STYLES / name).read_bytes())
    head, sections = _sections(text)
    shuffled = list(sections)
    random.Random(seed).shuffle(shuffled)
    body = "".join(
        _reformat(s, choices[k % len(choices)]) for k, s in enumerate(shuffled)
    )
    changed = head.rstrip("\n") + "\n\n" + body
    if crlf:
        changed = changed.replace("\n", "\r\n")

    original = parse_report(text.encode(), name)
    again = parse_report(changed.encode(), name)

    assert _essence(again) == _essence(original)
    assert again.stated == original.stated


def test_a_bold_lead_in_is_a_severity_label_only_when_it_is_just_one() -> None:
    text = (
        "# Notes\n\n## Problems\n\n"
        "- **High:** Orders table has no primary key\n"
        "- **High availability:** the cluster has three nodes\n"
        "- **Critical issue**: invoices can be paid twice\n"
    )
    report = parse_report(text.encode())

    assert [(i.title, i.severity.value) for i in report.items] == [
        ("Orders table has no primary key", "high"),
        ("invoices can be paid twice", "critical"),
    ]


def test_a_checklist_group_heading_never_overrides_a_tables_severity() -> None:
    text = (
        "# Review\n\n## Findings\n\n"
        "| ID | Finding | Severity |\n|---|---|---|\n"
        "| R-1 | Orders table has no primary key | Critical |\n"
        "| R-2 | Notes column named unlike the others | Low |\n\n"
        "## Remediation checklist\n\n### High priority\n\n"
        "- [ ] R-1 Orders table has no primary key\n"
        "- [ ] R-2 Notes column named unlike the others\n"
    )
    report = parse_report(text.encode())

    assert [(i.ref, i.severity.value) for i in report.items] == [
        ("R-1", "critical"),
        ("R-2", "low"),
    ]
