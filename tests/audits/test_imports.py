"""Importing Markdown reports and SARIF logs as audits: the service, the
upload view, the form and the importreport command."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from io import BytesIO, StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile, UploadedFile
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from audits import services
from audits.forms import ReportUploadForm
from audits.imports import UNMAPPED_CHECK, ReportError, import_report
from audits.models import Audit
from audits.summary import stated_totals
from findings.models import Finding, FindingEvent
from projects.models import Project, Target
from tests.shared import REPORTS_DIR as REPORTS  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "engine" / "fixtures" / "reports"
BIN = Path(sys.executable).parent


def shared_report(number: str) -> Path:
    (path,) = REPORTS.glob(f"{number}_*.txt")
    return path


def import_file(project, path: Path, user=None, **kwargs) -> Audit:
    return import_report(
        project, data=path.read_bytes(), filename=path.name, user=user, **kwargs
    )


def stored() -> tuple[int, int, int]:
    return (
        Audit.objects.count(),
        Finding.objects.count(),
        FindingEvent.objects.count(),
    )


def findings_state(project) -> list[tuple]:
    return list(
        project.findings.order_by("pk").values_list(
            "pk",
            "fingerprint",
            "status",
            "severity",
            "title",
            "check_id",
            "ref",
            "file",
            "line",
            "due_date",
            "fixed_by_audit_id",
            "regression",
        )
    )


def synthetic_report(n: int) -> bytes:
    """Return a Markdown report with ``n`` findings in sections."""
    parts = ["# Synthetic audit\n"]
    for i in range(1, n + 1):
        parts.append(
            f"\n### SYN-{i}: Table t{i} has a problem number {i}\n"
            f"**File:** `app/models_{i}.py:{i}` | **Severity:** Medium\n\n"
            f"Something is wrong with t{i}.\n\n**Fix:** Repair t{i}.\n"
        )
    return "".join(parts).encode()


# --- the shared reports -------------------------------------------------------


def test_report_000_becomes_its_28_findings(project, owner):
    audit = import_file(project, shared_report("000"), user=owner)

    assert (audit.trigger, audit.origin, audit.status) == (
        "import",
        "markdown",
        "succeeded",
    )
    assert audit.requested_by == owner
    findings = project.findings.all()
    assert findings.count() == 28
    assert Counter(findings.values_list("severity", flat=True)) == {
        "critical": 5,
        "medium": 11,
        "low": 12,
    }
    assert set(findings.values_list("status", flat=True)) == {"open"}
    assert set(findings.values_list("origin", flat=True)) == {"markdown"}
    crit1 = findings.get(ref="CRIT-1")
    assert crit1.title == "Leaderboard Upsert Race Condition"
    assert (crit1.file, crit1.line) == ("db.py", 1982)
    assert crit1.check_id == "txn-lost-update"  # mapped to a Plumbline check
    assert crit1.dimension == "integrity"
    assert crit1.effort == "minutes"
    assert "Lost update problem" in crit1.evidence
    assert "ON CONFLICT DO UPDATE" in crit1.remediation
    assert crit1.due_date is not None  # the project's SLA applies
    assert findings.get(ref="LOW-4").check_id == UNMAPPED_CHECK
    # The audit summary: the usual snapshot plus what the report said.
    s = audit.summary
    assert (s["new"], s["fixed"], s["reopened"], s["still_open"]) == (28, 0, 0, 0)
    assert s["open"] == 28
    assert s["by_severity"] == {"critical": 5, "medium": 11, "low": 12}
    assert set(s["grades"]) >= {"schema", "integrity", "overall"}
    assert s["imported"]["kind"] == "markdown"
    assert s["imported"]["title"] == "Database Evaluation Report"
    assert s["imported"]["items"] == 28
    assert s["imported"]["filename"] == shared_report("000").name
    assert s["imported"]["grades"]["overall"] == "B-"
    assert s["imported"]["grades"]["SQL Injection Safety"] == "A"
    assert s["targets"][0]["issues"] == 28
    # The report itself is what the audit page shows.
    assert audit.report_markdown.startswith("# Database Evaluation Report")
    assert FindingEvent.objects.filter(audit=audit, kind="created").count() == 28


def test_report_004_keeps_its_fixed_and_documented_statuses(project, owner):
    audit = import_file(project, shared_report("004"), user=owner)

    findings = project.findings.all()
    assert findings.count() == 7
    assert Counter(findings.values_list("severity", flat=True)) == {
        "critical": 2,
        "high": 3,
        "medium": 2,
    }
    assert Counter(findings.values_list("status", flat=True)) == {
        "fixed": 5,
        "documented": 2,
    }
    fixed = findings.filter(status="fixed")
    # Fixed on the report's word: no audit verified it.
    assert set(fixed.values_list("fixed_by_audit_id", flat=True)) == {None}
    assert set(fixed.values_list("due_date", flat=True)) == {None}
    assert (audit.summary["fixed"], audit.summary["reported_fixed"]) == (0, 5)
    assert findings.get(ref="MED-TX-001").status == "documented"
    assert audit.summary["open"] == 0
    assert audit.summary["by_status"] == {"fixed": 5, "documented": 2}
    assert audit.summary["imported"]["grades"]["score"] == "9.6"


def test_report_002_has_no_findings_and_stores_nothing(project, owner):
    before = stored()

    with pytest.raises(ReportError) as caught:
        import_file(project, shared_report("002"), user=owner)

    message = str(caught.value)
    assert "has no findings to import" in message
    assert "nothing was stored" in message
    assert "describe a system" in message  # the parser's explanation
    assert stored() == before


@pytest.mark.parametrize("number", ["000", "004"])
def test_importing_the_same_report_twice_changes_nothing(project, owner, number):
    import_file(project, shared_report(number), user=owner)
    state, events = findings_state(project), FindingEvent.objects.count()

    again = import_file(project, shared_report(number), user=owner)

    assert findings_state(project) == state
    assert FindingEvent.objects.count() == events
    s = again.summary
    assert (s["new"], s["fixed"], s["reopened"], s["severity_changed"]) == (0, 0, 0, 0)
    assert again.number == 2
    # Still listed, so seen again; items the report calls fixed are not.
    seen = project.findings.exclude(status="fixed")
    assert set(seen.values_list("sighting__audit_number", flat=True)) == {again.number}


def test_a_finding_missing_from_the_next_report_is_marked_fixed(project, owner):
    first = import_file(project, shared_report("000"), user=owner)
    text = shared_report("000").read_bytes()
    without = b"".join(
        line for line in text.splitlines(keepends=True) if b"| LOW-12 |" not in line
    )

    second = import_report(project, data=without, filename="000-v2.md", user=owner)

    assert second.summary["fixed"] == 1
    assert second.summary["still_open"] == 27
    fixed = project.findings.get(status="fixed")
    assert fixed.ref == "LOW-12"
    assert fixed.fixed_by_audit == second
    assert project.findings.filter(status="open").count() == 27
    event = fixed.events.get(kind="fixed")
    assert (event.audit, event.from_value, event.to_value) == (second, "open", "fixed")
    assert first.pk != second.pk


def test_a_finding_the_next_report_marks_fixed_is_fixed(project, owner):
    report = (
        "# Review\n\n| ID | Severity | Title | Status |\n|---|---|---|---|\n"
        "| REV-1 | High | Orders table has no primary key | Open |\n"
        "| REV-2 | Low | Notes column named badly | Open |\n"
    )
    import_report(project, data=report.encode(), filename="r.md", user=owner)
    later = report.replace("| Open |\n| REV-2", "| Fixed |\n| REV-2")

    audit = import_report(project, data=later.encode(), filename="r.md", user=owner)

    assert (audit.summary["fixed"], audit.summary["reported_fixed"]) == (0, 1)
    rev1 = project.findings.get(ref="REV-1")
    assert (rev1.status, rev1.fixed_by_audit) == ("fixed", None)
    event = rev1.events.get(kind="status")
    assert (event.audit, event.from_value, event.to_value) == (audit, "open", "fixed")
    assert event.note == "Imported from r.md, line 5, reported as Fixed."
    assert rev1.status_reason == (
        "Reported as Fixed in r.md, line 5. No audit has verified it yet."
    )
    assert project.findings.get(ref="REV-2").status == "open"
    # Imported once more, the fixed finding is not reopened as a regression.
    again = import_report(project, data=later.encode(), filename="r.md", user=owner)
    assert again.summary["reopened"] == 0
    assert project.findings.get(ref="REV-1").status == "fixed"


def test_an_import_keeps_decisions_made_in_plumbline(project, owner):
    import_file(project, shared_report("000"), user=owner)
    finding = project.findings.get(ref="CRIT-1")
    finding.change_status("documented", by=owner, reason="Single writer in practice.")

    audit = import_file(project, shared_report("000"), user=owner)

    finding.refresh_from_db()
    assert finding.status == "documented"
    assert audit.summary["new"] == 0


def test_imports_never_fix_engine_findings_and_engine_audits_keep_imports(
    project, owner
):
    engine = services.start_audit(project, enqueue=False)
    services.execute_audit(engine.pk)
    engine_open = set(
        project.findings.filter(origin="engine").values_list("pk", "status")
    )
    assert engine_open

    import_file(project, FIXTURES / "priority_table.md", user=owner)

    assert (
        set(project.findings.filter(origin="engine").values_list("pk", "status"))
        == engine_open
    )


def test_imports_number_audits_after_engine_audits(project, owner):
    engine = services.start_audit(project, enqueue=False)
    services.execute_audit(engine.pk)
    scheduled = Project.objects.get(pk=project.pk).next_audit_at
    assert scheduled is not None

    audit = import_file(project, FIXTURES / "sections_links.md", user=owner)

    assert audit.number == engine.number + 1
    # An import is not a scheduled audit: it leaves the schedule alone.
    assert Project.objects.get(pk=project.pk).next_audit_at == scheduled


# --- mapping to Plumbline's checks -------------------------------------------


MAPPED_REPORT = """# Orders database review

### ORD-1: Foreign key orders.customer_id has no index
**File:** `schema.sql:2` | **Severity:** High

Deleting a customer scans the orders table.

### ORD-2: Order totals are rounded by hand in the view
**File:** `views.py:40` | **Severity:** Low

Rounding belongs in one place.
"""


def _ddl_project(team, tmp_path, *, indexed: bool) -> Project:
    ddl = tmp_path / "schema.sql"
    ddl.write_text(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE);\n"
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL"
        " REFERENCES customers(id) ON DELETE CASCADE, total INTEGER NOT NULL);\n"
        + (
            "CREATE INDEX orders_customer_idx ON orders(customer_id);\n"
            if indexed
            else ""
        )
    )
    project = Project.objects.create(team=team, name="Orders", slug="orders")
    Target.objects.create(project=project, kind=Target.Kind.DDL, location=str(ddl))
    return project


def test_an_engine_audit_verifies_an_imported_finding_mapped_to_its_check(
    team, owner, tmp_path
):
    project = _ddl_project(team, tmp_path, indexed=True)
    import_report(
        project, data=MAPPED_REPORT.encode(), filename="review.md", user=owner
    )
    mapped = project.findings.get(ref="ORD-1")
    assert mapped.check_id == "fk-missing-index"
    assert project.findings.get(ref="ORD-2").check_id == UNMAPPED_CHECK

    engine = services.start_audit(project, enqueue=False)
    services.execute_audit(engine.pk)

    mapped.refresh_from_db()
    assert mapped.status == "fixed"
    assert mapped.fixed_by_audit_id == engine.pk
    # A problem no check looks for stays as the report left it.
    assert project.findings.get(ref="ORD-2").status == "open"


def test_a_report_says_fixed_and_only_an_engine_audit_verifies_it(
    team, owner, tmp_path
):
    project = _ddl_project(team, tmp_path, indexed=True)
    claimed = MAPPED_REPORT.replace(
        "**Severity:** High", "**Severity:** High | **Status:** FIXED in 2.3"
    )
    audit = import_report(project, data=claimed.encode(), filename="review.md")
    mapped = project.findings.get(ref="ORD-1")
    assert (mapped.status, mapped.fixed_by_audit) == ("fixed", None)
    created = mapped.events.get(kind="created")
    assert created.note == "Imported from review.md, line 3, reported as FIXED in 2.3."
    assert (audit.summary["fixed"], audit.summary["reported_fixed"]) == (0, 1)

    engine = services.start_audit(project, enqueue=False)
    services.execute_audit(engine.pk)

    mapped.refresh_from_db()
    assert (mapped.status, mapped.fixed_by_audit_id) == ("fixed", engine.pk)
    verified = mapped.events.get(kind="fixed")
    assert verified.audit_id == engine.pk
    assert verified.note.startswith("Verified fixed")


def test_history_says_where_each_imported_finding_came_from(project, owner):
    import_file(project, FIXTURES / "styles" / "bracket_category.md", user=owner)

    notes = dict(
        FindingEvent.objects.filter(kind="created").values_list("finding__ref", "note")
    )
    assert notes["PAY-01"] == (
        "Imported from bracket_category.md, line 9, reported as open."
    )
    assert notes["PAY-02"] == (
        "Imported from bracket_category.md, line 21, reported as FIXED in release 4.2."
    )
    assert notes["PAY-04"] == (
        "Imported from bracket_category.md, line 37, reported as ACCEPTED."
    )


def test_the_banner_and_the_audit_page_agree_on_what_was_fixed(client, project, owner):
    client.force_login(owner)
    path = FIXTURES / "styles" / "bracket_category.md"
    response = client.post(
        reverse("audits:import", args=[project.pk]),
        {"report": SimpleUploadedFile(path.name, path.read_bytes())},
        HTTP_HX_REQUEST="true",
    )
    banner = response.content.decode()
    assert "6 new, 0 fixed, 1 reported fixed (not verified)" in banner

    audit = Audit.objects.get(project=project)
    page = client.get(reverse("audits:detail", args=[audit.pk])).content.decode()
    assert re.search(r"Fixed <span class=\"muted\">\(0\)</span>", page)
    assert re.search(r"Reported fixed <span class=\"muted\">\(1\)</span>", page)
    assert "Bank account numbers stored in plaintext" in page


def test_an_engine_audit_that_finds_the_problem_leaves_the_import_open(
    team, owner, tmp_path
):
    project = _ddl_project(team, tmp_path, indexed=False)
    import_report(
        project, data=MAPPED_REPORT.encode(), filename="review.md", user=owner
    )

    engine = services.start_audit(project, enqueue=False)
    services.execute_audit(engine.pk)

    assert project.findings.filter(origin="engine", check_id="fk-missing-index")
    assert project.findings.get(ref="ORD-1").status == "open"


# --- SARIF from real tools ----------------------------------------------------


@pytest.fixture
def code_folder(tmp_path) -> Path:
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "queries.py").write_text(
        "import sqlite3\n"
        "import subprocess\n"
        "\n"
        "\n"
        "def find_user(conn: sqlite3.Connection, name: str) -> list:\n"
        "    return conn.execute(\"SELECT * FROM users WHERE name = '%s'\" % name).fetchall()\n"
        "\n"
        "\n"
        "def run(command: str) -> None:\n"
        "    subprocess.call(command, shell=True)\n"
    )
    (folder / "settings.py").write_text('DEBUG = False\nPASSWORD = "hunter2"\n')
    return folder


@pytest.fixture
def code_project(team, owner, code_folder) -> Project:
    project = Project.objects.create(team=team, name="App", slug="app")
    Target.objects.create(
        project=project, kind=Target.Kind.CODE, location=str(code_folder)
    )
    return project


def run_tool(args: list[str], cwd: Path) -> bytes:
    tool = BIN / args[0]
    assert tool.exists(), f"{args[0]} is a dev dependency and must be installed"
    done = subprocess.run(
        [str(tool), *args[1:]], cwd=cwd, capture_output=True, check=False
    )
    assert done.returncode in (0, 1), done.stderr.decode()  # 1: it found something
    return done.stdout


def bandit(folder: Path) -> bytes:
    return run_tool(["bandit", "-q", "-f", "sarif", "-r", "."], folder)


def ruff(folder: Path) -> bytes:
    return run_tool(
        [
            "ruff",
            "check",
            "--isolated",
            "--select",
            "S",
            "--output-format",
            "sarif",
            ".",
        ],
        folder,
    )


def places(project, tool: str) -> list[tuple]:
    return sorted(
        project.findings.filter(check_id__startswith=f"{tool}:").values_list(
            "check_id", "file", "line", "severity"
        )
    )


def test_bandit_and_ruff_sarif_import_with_counts_and_locations(
    code_project, code_folder, owner
):
    first = import_report(
        code_project, data=bandit(code_folder), filename="bandit.sarif", user=owner
    )
    second = import_report(
        code_project, data=ruff(code_folder), filename="ruff.sarif", user=owner
    )

    assert (first.origin, second.origin) == ("sarif", "sarif")
    assert places(code_project, "bandit") == [
        ("bandit:B105", "settings.py", 2, "low"),
        ("bandit:B404", "queries.py", 2, "low"),
        ("bandit:B602", "queries.py", 10, "high"),
        ("bandit:B608", "queries.py", 6, "medium"),
    ]
    # ruff writes absolute file URIs; the code target's folder is stripped.
    assert places(code_project, "ruff") == [
        ("ruff:S105", "settings.py", 2, "high"),
        ("ruff:S602", "queries.py", 10, "high"),
        ("ruff:S608", "queries.py", 6, "high"),
    ]
    assert second.summary["new"] == 3
    # Importing ruff's log did not fix bandit's findings.
    assert second.summary["fixed"] == 0
    assert code_project.findings.filter(status="open").count() == 7
    assert second.summary["imported"]["tool"] == "ruff"
    assert "| high | ruff:S602 | queries.py:10 |" in second.report_markdown
    b602 = code_project.findings.get(check_id="bandit:B602")
    assert b602.dimension == "security"
    assert b602.ref == "B602"
    assert "bandit" in b602.remediation


def test_a_clean_tool_run_fixes_only_that_tools_findings(
    code_project, code_folder, owner
):
    import_report(
        code_project, data=bandit(code_folder), filename="b.sarif", user=owner
    )
    import_report(code_project, data=ruff(code_folder), filename="r.sarif", user=owner)
    (code_folder / "settings.py").write_text(
        'import os\n\nDEBUG = False\nPASSWORD = os.environ["PASSWORD"]\n'
    )

    audit = import_report(
        code_project, data=ruff(code_folder), filename="r.sarif", user=owner
    )

    assert audit.summary["fixed"] == 1
    assert list(
        code_project.findings.filter(status="fixed").values_list("check_id", flat=True)
    ) == ["ruff:S105"]
    assert code_project.findings.get(check_id="bandit:B105").status == "open"


def test_re_importing_a_sarif_log_changes_nothing(code_project, code_folder, owner):
    data = bandit(code_folder)
    import_report(code_project, data=data, filename="b.sarif", user=owner)
    state, events = findings_state(code_project), FindingEvent.objects.count()

    import_report(code_project, data=data, filename="b.sarif", user=owner)

    assert findings_state(code_project) == state
    assert FindingEvent.objects.count() == events


def test_an_explicit_root_strips_absolute_sarif_paths(project, code_folder, owner):
    # The project has no code target: the root comes from the caller.
    import_report(
        project,
        data=ruff(code_folder),
        filename="ruff.sarif",
        user=owner,
        root=str(code_folder),
    )

    assert set(project.findings.values_list("file", flat=True)) == {
        "queries.py",
        "settings.py",
    }


# --- bad input: never a crash, a clear message, nothing stored ---------------


def assert_refused_or_imported(project, data: bytes, filename: str) -> None:
    """Import ``data``; on refusal, check the message and that nothing changed."""
    with transaction.atomic():
        before = stored()
        try:
            import_report(project, data=data, filename=filename)
        except ReportError as exc:
            message = str(exc)
            assert message.strip()
            assert len(message) < 1000
            assert "Traceback" not in message
            assert stored() == before
        else:
            assert stored()[0] == before[0] + 1
        # Every example starts from the same state.
        transaction.set_rollback(True)


HYPOTHESIS = hsettings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
REPORT_000 = shared_report("000").read_bytes()
SARIF = (FIXTURES / "handwritten.sarif").read_bytes()


@HYPOTHESIS
@given(cut=st.integers(min_value=0, max_value=len(REPORT_000)))
def test_truncated_reports_never_crash(project, cut):
    assert_refused_or_imported(project, REPORT_000[:cut], "000.md")


@HYPOTHESIS
@given(cut=st.integers(min_value=0, max_value=len(SARIF)))
def test_truncated_sarif_never_crashes(project, cut):
    assert_refused_or_imported(project, SARIF[:cut], "tool.sarif")


@HYPOTHESIS
@given(
    source=st.sampled_from([REPORT_000, SARIF]),
    flips=st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)),
        min_size=1,
        max_size=40,
    ),
    name=st.sampled_from(["report.md", "log.sarif", "data.json", "", "x.txt"]),
)
def test_garbled_files_never_crash(project, source, flips, name):
    data = bytearray(source)
    for where, byte in flips:
        data[int(where * len(data))] = byte
    assert_refused_or_imported(project, bytes(data), name)


@HYPOTHESIS
@given(data=st.binary(max_size=2048), name=st.sampled_from(["a.md", "a.sarif", ""]))
def test_random_bytes_never_crash(project, data, name):
    assert_refused_or_imported(project, data, name)


@HYPOTHESIS
@given(
    text=st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=600
    )
)
def test_random_text_and_json_never_crash(project, text):
    assert_refused_or_imported(project, text.encode(), "notes.md")
    hostile = json.dumps(
        {
            "version": "2.1.0",
            "runs": [
                {
                    "tool": {"driver": {"name": text[:40] or "t"}},
                    "results": [
                        {
                            "ruleId": text[:30] + "\x00\ud800",
                            "message": {"text": text + "\x00"},
                            "locations": [
                                {
                                    "physicalLocation": {
                                        "artifactLocation": {"uri": text[:50]},
                                        "region": {"startLine": 10**12},
                                    }
                                }
                            ],
                        }
                    ],
                }
            ],
        }
    )
    assert_refused_or_imported(project, hostile.encode(), "hostile.sarif")


@HYPOTHESIS
@given(
    extra=st.integers(min_value=1, max_value=5000),
    pattern=st.sampled_from([b"| A | B |\n", b"\x00", b"{", b"### X-1: y\n"]),
)
def test_files_over_the_limit_are_refused_politely(project, settings, extra, pattern):
    settings.IMPORT_MAX_BYTES = 4096
    data = (pattern * (4096 // len(pattern) + extra))[: 4096 + extra]
    before = stored()

    with pytest.raises(ReportError, match="over the size limit of 4 KB"):
        import_report(project, data=data, filename="big.md")

    assert stored() == before


def test_a_file_over_the_default_limit_is_refused(project):
    data = REPORT_000 * (settings.IMPORT_MAX_BYTES // len(REPORT_000) + 1)
    before = stored()

    with pytest.raises(ReportError, match="over the size limit of 5 MB"):
        import_report(project, data=data, filename="huge.md")

    assert stored() == before


def test_a_parser_bug_becomes_a_message_and_stores_nothing(project, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("audits.imports.parse_report", broken)
    before = stored()

    with pytest.raises(ReportError, match="could not read this file"):
        import_file(project, shared_report("000"))

    assert stored() == before


def test_a_failure_while_storing_rolls_everything_back(project, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr("audits.imports.reconcile", broken)
    before = stored()

    with pytest.raises(RuntimeError):
        import_file(project, shared_report("000"))

    assert stored() == before


# --- the form -----------------------------------------------------------------


class UnreadableUpload(UploadedFile):
    """An upload that fails the test if anything reads its content."""

    def __init__(self, size: int):
        super().__init__(BytesIO(), name="big.md", size=size)

    def read(self, *args, **kwargs):
        raise AssertionError("the form read the file")

    def chunks(self, *args, **kwargs):
        raise AssertionError("the form read the file")


def test_form_refuses_an_oversize_file_without_reading_it(settings):
    form = ReportUploadForm(
        files={"report": UnreadableUpload(settings.IMPORT_MAX_BYTES + 1)}
    )

    assert not form.is_valid()
    assert "over the size limit of 5 MB" in form.errors["report"][0]


def test_form_refuses_an_empty_file():
    form = ReportUploadForm(files={"report": SimpleUploadedFile("e.md", b"")})

    assert not form.is_valid()
    assert form.errors["report"] == ["The file is empty."]


def test_form_asks_for_a_file():
    form = ReportUploadForm(data={}, files={})

    assert not form.is_valid()
    assert "Choose a Markdown report" in form.errors["report"][0]


# --- the upload view ----------------------------------------------------------


def upload(path: Path) -> SimpleUploadedFile:
    return SimpleUploadedFile(path.name, path.read_bytes())


def test_owner_imports_a_report_and_is_sent_to_its_audit(client, project, owner):
    client.force_login(owner)

    response = client.post(
        reverse("audits:import", args=[project.pk]),
        {"report": upload(shared_report("000"))},
        follow=True,
    )

    audit = Audit.objects.get(project=project, trigger="import")
    assert response.redirect_chain == [(audit.get_absolute_url(), 302)]
    assert project.findings.count() == 28
    assert "28 new, 0 fixed, 0 reopened, 0 still open" in response.content.decode()


def test_member_may_import(client, project, member):
    client.force_login(member)

    response = client.post(
        reverse("audits:import", args=[project.pk]),
        {"report": upload(FIXTURES / "sections_links.md")},
    )

    assert response.status_code == 302
    assert project.findings.count() == 5
    assert Audit.objects.get(trigger="import").requested_by == member


def test_htmx_import_returns_the_form_fragment_with_the_result(client, project, owner):
    client.force_login(owner)

    response = client.post(
        reverse("audits:import", args=[project.pk]),
        {"report": upload(FIXTURES / "sections_links.md")},
        headers={"HX-Request": "true"},
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert body.lstrip().startswith('<details class="import-report" id="import-report"')
    assert "as <a href=" in body and "audit #1</a>" in body
    assert "5 new, 0 fixed" in body
    assert reverse("findings:list", args=[project.pk]) in body
    assert response["HX-Trigger"] == "audit-finished, findings-changed"


def test_htmx_import_of_a_document_without_findings_shows_why(client, project, owner):
    client.force_login(owner)
    before = stored()

    response = client.post(
        reverse("audits:import", args=[project.pk]),
        {"report": upload(shared_report("002"))},
        headers={"HX-Request": "true"},
    )

    body = response.content.decode()
    assert response.status_code == 200  # htmx swaps only successful responses
    assert 'class="errorlist"' in body
    assert "has no findings to import, so nothing was stored" in body
    assert "HX-Trigger" not in response
    assert stored() == before


def test_plain_import_of_a_bad_file_redirects_with_the_message(client, project, owner):
    client.force_login(owner)
    before = stored()

    response = client.post(
        reverse("audits:import", args=[project.pk]),
        {"report": SimpleUploadedFile("cut.sarif", SARIF[:200])},
        follow=True,
    )

    assert response.redirect_chain == [
        (reverse("projects:overview", args=[project.pk]), 302)
    ]
    assert "not valid JSON" in response.content.decode()
    assert stored() == before


def test_an_oversize_upload_is_refused_politely(client, project, owner, settings):
    settings.IMPORT_MAX_BYTES = 1024
    client.force_login(owner)

    response = client.post(
        reverse("audits:import", args=[project.pk]),
        {"report": upload(shared_report("000"))},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    assert "over the size limit of 1 KB" in response.content.decode()
    assert not Audit.objects.exists()


def test_an_empty_upload_is_refused(client, project, owner):
    client.force_login(owner)

    response = client.post(
        reverse("audits:import", args=[project.pk]),
        {"report": SimpleUploadedFile("e.md", b"")},
        headers={"HX-Request": "true"},
    )

    assert "The file is empty." in response.content.decode()
    assert not Audit.objects.exists()


def test_get_is_not_allowed_on_import(client, project, owner):
    client.force_login(owner)

    response = client.get(reverse("audits:import", args=[project.pk]))

    assert response.status_code == 405


def test_anonymous_import_redirects_to_login(client, project):
    response = client.post(
        reverse("audits:import", args=[project.pk]),
        {"report": upload(shared_report("000"))},
    )

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    assert not Audit.objects.exists()


def test_outsider_gets_404_on_import(client, project, outsider):
    client.force_login(outsider)

    response = client.post(
        reverse("audits:import", args=[project.pk]),
        {"report": upload(shared_report("000"))},
    )

    assert response.status_code == 404
    assert not Finding.objects.exists()


def test_viewer_gets_403_on_import(client, project, viewer):
    client.force_login(viewer)

    response = client.post(
        reverse("audits:import", args=[project.pk]),
        {"report": upload(shared_report("000"))},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 403
    assert not Audit.objects.exists()


def test_import_queries_do_not_grow_with_the_findings(
    client, team, owner, django_assert_num_queries
):
    client.force_login(owner)
    small = Project.objects.create(team=team, name="Small", slug="small")
    large = Project.objects.create(team=team, name="Large", slug="large")

    def post(project, n):
        return client.post(
            reverse("audits:import", args=[project.pk]),
            {"report": SimpleUploadedFile("r.md", synthetic_report(n))},
            headers={"HX-Request": "true"},
        )

    with CaptureQueriesContext(connection) as baseline:
        assert post(small, 3).status_code == 200
    assert small.findings.count() == 3

    with django_assert_num_queries(len(baseline.captured_queries)):
        assert post(large, 120).status_code == 200
    assert large.findings.count() == 120


def test_overview_offers_the_import_form_to_writers_only(
    client, project, owner, viewer
):
    url = reverse("projects:overview", args=[project.pk])
    client.force_login(owner)
    body = client.get(url).content.decode()
    assert 'id="import-form"' in body
    assert 'hx-encoding="multipart/form-data"' in body
    assert f'action="{reverse("audits:import", args=[project.pk])}"' in body

    client.force_login(viewer)
    assert 'id="import-form"' not in client.get(url).content.decode()


# --- the importreport command -------------------------------------------------


def test_importreport_prints_the_runaudit_json_shape(project):
    out = StringIO()

    call_command(
        "importreport", "shop", str(shared_report("004")), "--json", stdout=out
    )

    result = json.loads(out.getvalue())
    assert {
        "project",
        "audit",
        "status",
        "error",
        "new",
        "open",
        "fixed",
        "reopened",
        "still_open",
        "by_severity",
        "grades",
        "score",
        "targets",
    } <= set(result)
    assert (result["project"], result["audit"], result["status"]) == (
        "shop",
        1,
        "succeeded",
    )
    assert (result["new"], result["open"]) == (7, 0)
    assert result["imported"]["items"] == 7
    assert result["targets"] == [
        {
            "label": shared_report("004").name,
            "ok": True,
            "error": "",
            "issues": 7,
        }
    ]


def test_importreport_prints_a_line_without_json(project):
    out = StringIO()

    call_command("importreport", str(project.pk), str(shared_report("000")), stdout=out)

    assert "Imported 28 finding(s)" in out.getvalue()
    assert "28 new, 28 open" in out.getvalue()


def test_importreport_fails_clearly_on_a_document_without_findings(project):
    with pytest.raises(CommandError, match="has no findings to import"):
        call_command("importreport", "shop", str(shared_report("002")))
    assert not Audit.objects.exists()


def test_importreport_fails_clearly_on_a_missing_file(project, tmp_path):
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("importreport", "shop", str(tmp_path / "nope.md"))


def test_documented_items_of_a_report_keep_a_reason(project, owner):
    path = shared_report("004")
    import_file(project, path, user=owner)
    documented = project.findings.filter(status="documented")
    assert documented.count() == 2
    assert set(documented.values_list("status_reason", flat=True)) == {
        f"Reported as DOCUMENTED in {path.name}, line 230.",
        f"Reported as DOCUMENTED in {path.name}, line 329.",
    }


def test_accepted_items_keep_the_reports_own_reason_and_line(project, owner):
    import_file(project, FIXTURES / "styles" / "bracket_category.md", user=owner)

    accepted = project.findings.get(ref="PAY-04")
    assert accepted.status == "documented"
    assert accepted.status_reason == (
        "Reported as ACCEPTED in bracket_category.md, line 37: codes come from "
        "the HR system, which validates them."
    )


def test_the_import_records_the_reports_totals_beside_what_it_imported(project, owner):
    audit = import_file(project, FIXTURES / "styles" / "category_summary.md")

    imported = audit.summary["imported"]
    assert imported["stated"] == {"high": 2, "medium": 2, "low": 1}
    assert imported["counts"] == {"high": 2, "medium": 1, "low": 1}
    assert stated_totals(audit.summary) == [
        {"severity": "high", "stated": 2, "imported": 2, "differs": False},
        {"severity": "medium", "stated": 2, "imported": 1, "differs": True},
        {"severity": "low", "stated": 1, "imported": 1, "differs": False},
    ]
    assert (
        "The report states 2 medium finding(s); 1 was imported."
        in (imported["warnings"])
    )


def test_a_huge_upload_is_discarded_as_it_arrives(client, project, owner, settings):
    settings.IMPORT_MAX_BYTES = 1024
    client.force_login(owner)
    huge = SimpleUploadedFile("huge.md", b"# Report\n" + b"x" * 300_000)

    response = client.post(
        reverse("audits:import", args=[project.pk]),
        {"report": huge},
        headers={"HX-Request": "true"},
    )

    body = response.content.decode()
    # The size quoted is the request body's: the file never reached a handler
    # that stores it.
    assert "over the size limit of 1 KB" in body and "293 KB" in body
    assert not Audit.objects.exists()
