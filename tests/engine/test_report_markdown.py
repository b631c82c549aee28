"""The Markdown report importer: real reports, our own fixtures, hostile input."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audits.engine.issues import Effort, Severity
from audits.engine.reports import ParsedReport, ReportError, ReportItem, parse_report
from audits.engine.reports.decode import decode_text, repair_mojibake
from audits.engine.reports.values import (
    parse_effort,
    parse_location,
    parse_status,
    severity_in_cell,
)

REPO = Path(__file__).resolve().parents[2]
from tests.shared import REPORTS_DIR as SHARED_REPORTS  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "reports"


def _shared(number: str) -> Path:
    matches = sorted(SHARED_REPORTS.glob(f"{number}_*.txt"))
    assert matches, f"report {number} is missing from {SHARED_REPORTS}"
    return matches[0]


def _parse(path: Path) -> ParsedReport:
    return parse_report(path.read_bytes(), path.name)


def _by_ref(report: ParsedReport) -> dict[str, ReportItem]:
    return {item.ref: item for item in report.items}


def _by_title(report: ParsedReport) -> dict[str, ReportItem]:
    return {item.title: item for item in report.items}


# --- the real reports -------------------------------------------------------


def test_report_000_gives_its_28_findings_by_severity() -> None:
    report = _parse(_shared("000"))

    assert report.kind == "markdown"
    assert len(report.items) == 28
    assert Counter(i.severity for i in report.items) == {
        Severity.CRITICAL: 5,
        Severity.MEDIUM: 11,
        Severity.LOW: 12,
    }
    refs = [i.ref for i in report.items]
    assert refs[:5] == [f"CRIT-{n}" for n in range(1, 6)]
    assert set(refs) == (
        {f"CRIT-{n}" for n in range(1, 6)}
        | {f"MED-{n}" for n in range(1, 12)}
        | {f"LOW-{n}" for n in range(1, 13)}
    )
    assert all(i.status == "open" for i in report.items)


def test_report_000_merges_sections_appendix_and_action_plan() -> None:
    items = _by_ref(_parse(_shared("000")))

    crit1 = items["CRIT-1"]
    assert crit1.title == "Leaderboard Upsert Race Condition"
    assert (crit1.file, crit1.line) == ("db.py", 1982)
    assert "INSERT ... ON CONFLICT DO UPDATE" in crit1.remediation
    assert "Connection 2" in crit1.description
    # The effort comes from the recommendations table, matched by its words.
    assert (crit1.effort, crit1.effort_minutes) == ("30 min", 30)
    assert items["CRIT-5"].effort_bucket is Effort.HOURS
    assert items["CRIT-5"].file == "routers/tool_eval.py"
    assert items["MED-8"].effort_bucket is Effort.DAYS
    assert items["MED-10"].file == ""
    assert items["LOW-12"].file == "tests/"


def test_report_000_maps_findings_to_plumbline_checks() -> None:
    items = _by_ref(_parse(_shared("000")))

    assert items["CRIT-2"].check == "fk-conflicting-declarations"
    assert items["CRIT-3"].check == "sqlite-busy-timeout-missing"
    assert items["CRIT-4"].check == "cleanup-never-called"
    assert items["CRIT-1"].check == "txn-lost-update"
    assert items["CRIT-5"].check == "txn-not-atomic"
    assert items["MED-7"].check == "query-n-plus-one"
    assert items["MED-11"].check == "check-incomplete-enum"
    assert items["LOW-1"].check == "index-redundant"
    assert items["LOW-4"].check == ""
    assert items["CRIT-2"].dimension is not None


def test_report_000_reads_its_grade_table() -> None:
    grades = _parse(_shared("000")).grades

    assert grades["Schema Design & Normalization"] == "B"
    assert grades["Query Performance"] == "C+"
    assert grades["SQL Injection Safety"] == "A"
    assert grades["overall"] == "B-"
    assert len(grades) == 7


def test_report_004_gives_7_findings_5_fixed_2_documented() -> None:
    report = _parse(_shared("004"))

    assert len(report.items) == 7
    assert Counter(i.severity for i in report.items) == {
        Severity.CRITICAL: 2,
        Severity.HIGH: 3,
        Severity.MEDIUM: 2,
    }
    assert Counter(i.status for i in report.items) == {"fixed": 5, "documented": 2}
    items = _by_ref(report)
    assert items["MED-TX-001"].status == "documented"
    assert items["HIGH-ORM-002"].status == "fixed"


def test_report_004_takes_locations_from_links_and_effort_from_the_table() -> None:
    items = _by_ref(_parse(_shared("004")))

    crit = items["CRIT-ORM-001"]
    assert (crit.file, crit.line) == ("backend/database/models/exercise.py", 74)
    assert (crit.effort, crit.effort_minutes, crit.effort_bucket) == (
        "5 min",
        5,
        Effort.MINUTES,
    )
    assert crit.check == "index-missing-soft-delete"
    assert "Index('idx_exercises_deleted'" in crit.remediation
    assert items["MED-TX-001"].file == "backend/database/config.py"
    assert items["MED-TX-001"].line == 229
    assert items["HIGH-ORM-002"].file == ""
    assert items["MED-REPO-002"].effort_minutes is None


def test_report_004_reads_scores_out_of_ten() -> None:
    grades = _parse(_shared("004")).grades

    assert grades["ORM Model Design"] == "9.8/10"
    assert grades["score"] == "9.6"
    assert "overall" not in grades


def test_report_002_schema_description_has_no_findings_and_says_so() -> None:
    report = _parse(_shared("002"))

    assert report.items == ()
    assert report.grades == {}
    assert any("No findings" in w for w in report.warnings)


def test_fingerprints_are_stable_and_distinct() -> None:
    first = _parse(_shared("000"))
    again = _parse(_shared("000"))

    assert [i.fingerprint for i in first.items] == [i.fingerprint for i in again.items]
    assert len({i.fingerprint for i in first.items}) == 28


def test_crlf_and_utf16_copies_of_a_report_parse_the_same() -> None:
    text = _shared("004").read_text(encoding="utf-8")
    original = parse_report(text.encode("utf-8"))

    for data in (
        text.replace("\n", "\r\n").encode("utf-8"),
        b"\xef\xbb\xbf" + text.encode("utf-8"),
        text.encode("utf-16"),
        text.encode("utf-16-le"),
    ):
        assert parse_report(data).items == original.items


# --- our own fixtures -------------------------------------------------------


def test_priority_table_report_gives_one_finding_per_row() -> None:
    report = _parse(FIXTURES / "priority_table.md")

    assert len(report.items) == 8
    assert [i.severity for i in report.items] == [
        Severity.CRITICAL,
        Severity.CRITICAL,
        Severity.HIGH,
        Severity.HIGH,
        Severity.MEDIUM,
        Severity.MEDIUM,
        Severity.LOW,
        Severity.LOW,
    ]
    assert [i.status for i in report.items] == [
        "open",
        "in_progress",
        "fixed",
        "open",
        "open",
        "documented",
        "open",
        "open",
    ]
    assert [i.effort_minutes for i in report.items] == [
        120,
        30,
        15,
        180,
        20,
        480,
        5,
        120,
    ]
    assert [i.effort_bucket for i in report.items] == [
        Effort.HOURS,
        Effort.MINUTES,
        Effort.MINUTES,
        Effort.HOURS,
        Effort.MINUTES,
        Effort.DAYS,
        Effort.MINUTES,
        Effort.HOURS,
    ]
    assert [(i.file, i.line) for i in report.items] == [
        ("billing/ledger.py", 88),
        ("migrations/0007_payments.sql", 14),
        ("migrations/0003_line_items.sql", 9),
        ("hooks/dispatch.py", 40),
        ("migrations/0002_customers.sql", 22),
        ("jobs/purge.py", 12),
        ("migrations/0005_notes.sql", 6),
        ("api/export.py", 77),
    ]


def test_priority_table_details_merge_into_their_rows() -> None:
    report = _parse(FIXTURES / "priority_table.md")
    first, purge = report.items[0], report.items[5]

    assert first.title == "Invoice totals updated in two transactions"
    assert "FOR UPDATE" in first.remediation
    assert first.check == "txn-lost-update"
    assert "keep carts for analytics" in purge.description
    assert purge.check == "cleanup-never-called"
    assert report.items[1].check == "fk-conflicting-declarations"
    assert report.items[1].object == "payments.invoice_id"
    assert report.grades == {
        "Schema": "B+",
        "Integrity": "C",
        "Performance": "B",
        "Operations": "D",
        "overall": "C+",
    }


def test_numbered_recommendations_merge_with_the_priority_matrix() -> None:
    report = _parse(FIXTURES / "recommendations.md")
    items = _by_title(report)

    assert report.title == "Tidepool Notes: SQLite storage health check"
    assert list(items) == [
        "Turn on foreign key enforcement",
        "Set a busy timeout on the sync worker connection",
        "Batch the attachment inserts",
        "Add a retention window for sync_events",
        "Rename notes.modified to updated_at",
        "Write down the restore procedure",
    ]
    assert [i.severity for i in report.items] == [
        Severity.CRITICAL,
        Severity.HIGH,
        Severity.MEDIUM,
        Severity.MEDIUM,
        Severity.LOW,
        Severity.LOW,
    ]
    assert [i.status for i in report.items] == [
        "fixed",
        "open",
        "in_progress",
        "open",
        "documented",
        "open",
    ]
    assert [i.effort_minutes for i in report.items] == [10, 30, 120, 480, 180, 240]
    fk = items["Turn on foreign key enforcement"]
    assert (fk.file, fk.line) == ("store/db.py", 31)
    assert fk.remediation == "execute the pragma inside the connection factory."
    assert fk.check == "sqlite-foreign-keys-off"
    busy = items["Set a busy timeout on the sync worker connection"]
    assert (busy.file, busy.line) == ("store/sync_worker.py", 58)
    assert busy.check == "sqlite-busy-timeout-missing"
    batch = items["Batch the attachment inserts"]
    assert (batch.file, batch.line) == ("sync/attachments.py", 102)
    assert report.grades == {"overall": "B-"}


def test_broken_encoding_fixture_really_is_broken() -> None:
    data = (FIXTURES / "broken_encoding.md").read_bytes()

    assert b"\r\n" in data
    assert "ðŸ”´".encode() in data  # a red circle read as cp1252
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # raw cp1252 bytes typed afterwards


def test_broken_encoding_report_is_repaired_and_parsed() -> None:
    report = _parse(FIXTURES / "broken_encoding.md")
    items = _by_ref(report)

    assert report.title == "Kestrel Inventory \u2014 storage audit \U0001f50d"
    assert list(items) == ["KI-01", "KI-02", "KI-03", "KI-04"]
    assert [i.severity for i in report.items] == [
        Severity.CRITICAL,
        Severity.HIGH,
        Severity.MEDIUM,
        Severity.LOW,
    ]
    assert [i.status for i in report.items] == [
        "open",
        "fixed",
        "in_progress",
        "open",
    ]
    race = items["KI-01"]
    assert race.title == (
        "Stock reservation race \u2014 two workers decrement the same row"
    )
    assert "\u201cCaf\u00e9-Cr\u00e8me\u201d" in race.description
    assert (race.file, race.line) == ("inventory/reserve.py", 44)
    assert race.check == "txn-lost-update"
    assert "Zo\u00eb \u2013 the whole file" in items["KI-02"].description
    assert items["KI-02"].effort_minutes == 120
    assert "\u201cwh\u201d" in items["KI-04"].title
    assert not any("\r" in i.description for i in report.items)


def test_sections_with_link_locations_merge_summary_and_action_list() -> None:
    report = _parse(FIXTURES / "sections_links.md")
    items = _by_ref(report)

    assert list(items) == [f"LCM-DB-{n}" for n in range(1, 6)]
    assert [i.severity for i in report.items] == [
        Severity.HIGH,
        Severity.CRITICAL,
        Severity.MEDIUM,
        Severity.CRITICAL,
        Severity.LOW,
    ]
    assert [i.status for i in report.items] == [
        "open",
        "in_progress",
        "open",
        "fixed",
        "documented",
    ]
    assert [(i.file, i.line) for i in report.items] == [
        ("src/lantern/repo/articles.py", 120),
        ("src/lantern/models/session.py", 18),
        ("src/lantern/db/pool.py", 9),
        ("src/lantern/repo/search.py", 44),
        ("src/lantern/models/media.py", 61),
    ]
    assert items["LCM-DB-1"].effort == "2-3 hours"
    assert items["LCM-DB-1"].effort_minutes == 180
    assert items["LCM-DB-1"].check == "tenant-scope-missing"
    assert items["LCM-DB-2"].check == "secret-stored-plaintext"
    assert items["LCM-DB-4"].check == "sql-injection"
    assert "site_id = :site_id" in items["LCM-DB-1"].remediation
    assert report.grades["Multi-Tenant Isolation"] == "C"
    assert report.grades["overall"] == "B-"
    assert report.grades["score"] == "7.4"


def test_findings_table_columns_are_found_by_header_name() -> None:
    text = (
        "# Review\n\n"
        "| Status | Where | What | Sev | Key |\n"
        "|---|---|---|---|---|\n"
        "| fixed | `a/b.py:3` | Missing index on orders.customer_id FK | LOW | R-1 |\n"
        "| open | c.sql:9 | Orders table grows without retention | high | R-2 |\n"
    )
    report = parse_report(text.encode())

    assert [(i.ref, i.severity, i.status, i.file, i.line) for i in report.items] == [
        ("R-1", Severity.LOW, "fixed", "a/b.py", 3),
        ("R-2", Severity.HIGH, "open", "c.sql", 9),
    ]


def test_emoji_sets_severity_under_group_headings_but_optional_is_no_severity() -> None:
    text = (
        "# Notes\n\n## 🔴 Critical\n\n- **Backups never tested** - restore drill\n\n"
        "## Optional\n\n1. Rename `t.created` to created_at\n\n"
        "## Thanks\n\n- Alice for the access\n"
    )
    report = parse_report(text.encode())

    assert [(i.title, i.severity) for i in report.items] == [
        ("Backups never tested", Severity.CRITICAL),
    ]


# --- small values ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "minutes", "bucket"),
    [
        ("5 min", 5, Effort.MINUTES),
        ("30m", 30, Effort.MINUTES),
        ("1-2h", 120, Effort.HOURS),
        ("2-3 hours", 180, Effort.HOURS),
        ("4 hr", 240, Effort.HOURS),
        ("1 day", 480, Effort.DAYS),
        ("half a day", 240, Effort.HOURS),
        ("2 weeks", 4800, Effort.DAYS),
        ("-", None, None),
        ("", None, None),
    ],
)
def test_effort_strings_become_minutes_and_buckets(
    text: str, minutes: int | None, bucket: Effort | None
) -> None:
    assert parse_effort(text) == (minutes, bucket)


@pytest.mark.parametrize(
    ("text", "file", "line"),
    [
        ("`db.py:295-306`", "db.py", 295),
        ("path/file.py:12-34", "path/file.py", 12),
        ("[label](path/x.py#L12-L34)", "path/x.py", 12),
        ("[x.py:7](./src/x.py)", "src/x.py", 7),
        ("tool_eval.py:626-661, 926-963", "tool_eval.py", 626),
        ("see app/models.py line 42", "app/models.py", 42),
        ("Various", "", None),
        ("N/A", "", None),
        ("9.6/10", "", None),
    ],
)
def test_locations_become_file_and_first_line(
    text: str, file: str, line: int | None
) -> None:
    found = parse_location(text)
    assert (found.file, found.line) == (file, line)


@pytest.mark.parametrize(
    ("text", "severity"),
    [
        ("CRITICAL", Severity.CRITICAL),
        ("P1", Severity.HIGH),
        ("🟡", Severity.MEDIUM),
        ("Low-Medium", Severity.LOW),
        ("optional", None),
        ("required", None),
        ("recommended", None),
        ("Important", None),
        ("By design", None),
        ("Критическая", Severity.CRITICAL),
        ("Hoch", Severity.HIGH),
        ("Media", Severity.MEDIUM),
        ("Élevée", Severity.HIGH),
        ("Baixa", Severity.LOW),
        ("高危", Severity.HIGH),
        ("严重", Severity.CRITICAL),
        ("中", Severity.MEDIUM),
    ],
)
def test_severity_cells_are_understood(text: str, severity: Severity | None) -> None:
    assert severity_in_cell(text) is severity


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("**FIXED** (in 2.1)", "fixed"),
        ("✅", "fixed"),
        ("DOCUMENTED", "documented"),
        ("Accepted", "documented"),
        ("False positive", "false_positive"),
        ("In progress", "in_progress"),
        ("Open", "open"),
        ("Исправлено", "fixed"),
        ("не исправлено", "open"),
        ("Behoben", "fixed"),
        ("Corregido", "fixed"),
        ("Corrigé", "fixed"),
        ("已修复", "fixed"),
        ("未修复", "open"),
        ("-", None),
    ],
)
def test_statuses_are_understood(text: str, status: str | None) -> None:
    assert parse_status(text) == status


def test_mojibake_is_repaired_but_real_accents_are_kept() -> None:
    original = "Caf\u00e9 \u2014 \U0001f7e0 \u2705 na\u00efve"
    garbled = original.encode("utf-8").decode("cp1252", errors="ignore")

    assert repair_mojibake(garbled) == original
    assert (
        repair_mojibake("na\u00efve r\u00e9sum\u00e9") == "na\u00efve r\u00e9sum\u00e9"
    )
    assert decode_text("d\u00e9j\u00e0 vu".encode("cp1252")) == "d\u00e9j\u00e0 vu"


# --- hostile input ----------------------------------------------------------


def test_empty_input_is_refused() -> None:
    for data in (b"", b"   \n\r\n", "\ufeff".encode()):
        with pytest.raises(ReportError, match="empty"):
            parse_report(data)


def test_binary_input_is_refused() -> None:
    with pytest.raises(ReportError, match="binary|text"):
        parse_report(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))


def test_over_size_input_is_refused_naming_the_limit() -> None:
    with pytest.raises(ReportError, match=r"limit of 1 KB"):
        parse_report(b"# x\n" * 400, max_bytes=1024)
    with pytest.raises(ReportError, match=r"limit of 5 MB"):
        parse_report(b"a" * (5 * 1024 * 1024 + 1))


def _assert_parses_or_explains(data: bytes, **kwargs: int) -> None:
    try:
        report = parse_report(data, **kwargs)
    except ReportError as exc:
        assert str(exc).strip()
        assert str(exc)[0].isupper()
    else:
        assert isinstance(report, ParsedReport)
        for item in report.items:
            assert item.title
            assert isinstance(item.severity, Severity)


_SAMPLES = [_shared("000"), _shared("004"), *sorted(FIXTURES.glob("*.md"))]


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=4096))
def test_random_bytes_never_crash(data: bytes) -> None:
    _assert_parses_or_explains(data)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=3000))
def test_random_text_never_crashes(text: str) -> None:
    _assert_parses_or_explains(text.encode("utf-8"))


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(_SAMPLES), st.floats(min_value=0.0, max_value=1.0))
def test_truncated_reports_never_crash(path: Path, fraction: float) -> None:
    data = path.read_bytes()
    _assert_parses_or_explains(data[: int(len(data) * fraction)])


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(_SAMPLES),
    st.lists(
        st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), min_size=1, max_size=40
    ),
)
def test_garbled_reports_never_crash(
    path: Path, edits: list[tuple[float, int]]
) -> None:
    data = bytearray(path.read_bytes())
    for where, byte in edits:
        data[min(int(where * len(data)), len(data) - 1)] = byte
    _assert_parses_or_explains(bytes(data))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "# T\n",
                "## Critical\n",
                "### A-1: x\n",
                "| ID | Severity | Title |\n",
                "|---|---|---|\n",
                "| A-1 | high | y |\n",
                "1. **z** (low)\n",
                "```\n",
                "**File:** `a.py:1`\n",
                "- [x] A-1 - done\n",
                "\n",
                "| |\n",
                "Title\n===\n",
            ]
        ),
        max_size=60,
    )
)
def test_markdown_made_of_report_fragments_never_crashes(parts: list[str]) -> None:
    _assert_parses_or_explains("".join(parts).encode())


@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.integers(min_value=1, max_value=4 * 1024 * 1024))
def test_huge_inputs_parse_or_are_refused(size: int) -> None:
    block = _shared("000").read_bytes()
    data = (block * (size // len(block) + 1))[:size]
    _assert_parses_or_explains(data, max_bytes=2 * 1024 * 1024)
    if size > 2 * 1024 * 1024:
        with pytest.raises(ReportError, match="limit of 2 MB"):
            parse_report(data, max_bytes=2 * 1024 * 1024)


def test_one_huge_line_parses_quickly() -> None:
    data = b"| a | b |\n|---|---|\n" + b"| " + b"x" * 3_000_000 + b" | y |\n"
    report = parse_report(data)
    assert report.items == ()


def test_engine_reports_import_without_django() -> None:
    code = (
        "import sys, audits.engine.reports, audits.engine.reports.cli; "
        "assert 'django' not in sys.modules, 'django was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
