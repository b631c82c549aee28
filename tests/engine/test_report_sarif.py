"""The SARIF importer, fed by real tools run at test time and by hand."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audits.engine.issues import Dimension, Severity
from audits.engine.reports import ParsedReport, ReportError, parse_report
from audits.engine.reports.sarif import security_severity, tool_slug

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "reports"
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    path = BIN / name
    assert path.exists(), f"{name} is a dev dependency and must be installed"
    return str(path)


@pytest.fixture
def scan_target(tmp_path: Path) -> Path:
    target = tmp_path / "target"
    shutil.copytree(FIXTURES / "scan_target", target)
    return target


def _run(args: list[str], cwd: Path) -> bytes:
    # Both tools exit 1 when they find something, which is the point here.
    done = subprocess.run(args, cwd=cwd, capture_output=True, check=False)
    assert done.returncode in (0, 1), done.stderr.decode()
    assert done.stdout, done.stderr.decode()
    return done.stdout


def _places(report: ParsedReport) -> list[tuple[str, str, int | None]]:
    return sorted((i.check, i.file, i.line) for i in report.items)


def test_bandit_sarif_imports_with_rule_ids_files_and_lines(scan_target: Path) -> None:
    data = _run([_tool("bandit"), "-q", "-f", "sarif", "-r", "."], scan_target)

    report = parse_report(data, "bandit.sarif")

    assert report.kind == "sarif"
    assert report.tool == "bandit"
    assert _places(report) == [
        ("bandit:B105", "settings.py", 3),
        ("bandit:B404", "queries.py", 4),
        ("bandit:B602", "queries.py", 17),
        ("bandit:B608", "queries.py", 8),
        ("bandit:B608", "queries.py", 13),
    ]
    by_line = {(i.file, i.line): i for i in report.items}
    assert by_line["queries.py", 17].severity is Severity.HIGH  # level error
    assert by_line["queries.py", 8].severity is Severity.MEDIUM  # issue_severity
    assert by_line["settings.py", 3].severity is Severity.LOW  # level note
    assert all(i.dimension is Dimension.SECURITY for i in report.items)
    assert all(i.remediation.startswith("https://bandit") for i in report.items)
    assert len({i.fingerprint for i in report.items}) == 5


def test_ruff_sarif_imports_with_relative_paths(scan_target: Path) -> None:
    data = _run(
        [_tool("ruff"), "check", "--isolated", "--select", "S", "--output-format"]
        + ["sarif", "."],
        scan_target,
    )
    assert b"file://" in data  # ruff writes absolute file URIs

    report = parse_report(data, "ruff.sarif", root=str(scan_target))

    assert report.tool == "ruff"
    assert _places(report) == [
        ("ruff:S105", "settings.py", 3),
        ("ruff:S602", "queries.py", 17),
        ("ruff:S608", "queries.py", 8),
        ("ruff:S608", "queries.py", 13),
    ]
    assert Counter(i.severity for i in report.items) == {Severity.HIGH: 4}
    # Two S608 results with the same message stay two findings.
    assert len({i.fingerprint for i in report.items}) == 4
    sql = next(i for i in report.items if i.check == "ruff:S608")
    assert "SQL injection" in sql.title
    assert sql.description  # the rule's full description


def test_ruff_fingerprints_survive_code_moving_down(scan_target: Path) -> None:
    args = [_tool("ruff"), "check", "--isolated", "--select", "S"]
    args += ["--output-format", "sarif", "."]
    before = parse_report(_run(args, scan_target), root=str(scan_target))
    queries = scan_target / "queries.py"
    queries.write_text("# moved\n\n\n" + queries.read_text())
    after = parse_report(_run(args, scan_target), root=str(scan_target))

    assert [i.line for i in after.items] != [i.line for i in before.items]
    assert {i.fingerprint for i in after.items} == {i.fingerprint for i in before.items}


def test_handwritten_sarif_covers_security_severity_and_logical_locations() -> None:
    path = FIXTURES / "handwritten.sarif"
    report = parse_report(path.read_bytes(), path.name)

    assert report.tool == "schema-guard"
    assert [i.check for i in report.items] == [
        "schema-guard:SG100",
        "schema-guard:SG200",
        "schema-guard:SG300",
    ]
    secret, fk, status = report.items
    assert secret.severity is Severity.CRITICAL  # security-severity 9.1
    assert (secret.file, secret.line) == ("db/schema.sql", 12)
    assert secret.object == "public.users.api_token"
    assert secret.description.startswith("Columns that hold secrets")
    assert "salted hash" in secret.remediation
    assert secret.dimension is Dimension.SECURITY

    assert fk.severity is Severity.LOW  # the rule's default level: note
    assert fk.title == "Foreign key orders.customer_id has no index."
    assert (fk.file, fk.line) == ("db/schema.sql", 30)  # under SRCROOT
    assert fk.object == "public.orders.customer_id"  # run.logicalLocations[0]

    assert status.severity is Severity.MEDIUM  # 5.5 beats level error
    assert status.status == "documented"  # suppressed as accepted
    assert status.file == "db/schema.sql"
    assert any("merged" in w for w in report.warnings)


def test_partial_fingerprints_decide_the_fingerprint() -> None:
    document = json.loads((FIXTURES / "handwritten.sarif").read_bytes())
    result = document["runs"][0]["results"][0]
    result["locations"][0]["physicalLocation"]["region"]["startLine"] = 99
    result["message"]["text"] = "Reworded message."
    original = parse_report((FIXTURES / "handwritten.sarif").read_bytes())
    moved = parse_report(json.dumps(document).encode())

    assert moved.items[0].fingerprint == original.items[0].fingerprint
    result["partialFingerprints"] = {"columnHash/v1": "c0ffee", "schemaGuard/v1": "x"}
    changed = parse_report(json.dumps(document).encode())
    assert changed.items[0].fingerprint != original.items[0].fingerprint


@pytest.mark.parametrize(
    ("score", "severity"),
    [
        ("9.8", Severity.CRITICAL),
        (9.0, Severity.CRITICAL),
        ("7.0", Severity.HIGH),
        (4, Severity.MEDIUM),
        ("0.1", Severity.LOW),
        ("0", Severity.INFO),
        ("n/a", None),
        (None, None),
    ],
)
def test_security_severity_maps_like_cvss(score: object, severity: object) -> None:
    assert security_severity(score) is severity


def test_tool_names_become_check_prefixes() -> None:
    assert tool_slug("Bandit") == "bandit"
    assert tool_slug("Schema Guard") == "schema-guard"


def test_empty_runs_give_no_findings_and_say_so() -> None:
    report = parse_report(b'{"version": "2.1.0", "runs": []}')

    assert report.items == ()
    assert any("no results" in w for w in report.warnings)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"version": "2.1.0", "runs": [', "not valid JSON"),
        (b'{"version": "2.1.0"}', "not SARIF"),
        (b"[1, 2, 3]", "not SARIF"),
        (b'{"runs": 5}', "not a list"),
    ],
)
def test_bad_sarif_is_refused_clearly(data: bytes, message: str) -> None:
    with pytest.raises(ReportError, match=message):
        parse_report(data, "x.sarif")


def test_malformed_parts_are_skipped_with_warnings() -> None:
    document = {
        "runs": [
            "nonsense",
            {"tool": {"driver": {"name": "t"}}, "results": [1, {"ruleId": 5}]},
            {"tool": {"driver": {"name": "t"}}, "results": {"not": "a list"}},
        ]
    }
    report = parse_report(json.dumps(document).encode())

    assert [i.check for i in report.items] == ["t:unknown"]
    assert len(report.warnings) >= 3


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(
        st.sampled_from(
            [
                "runs",
                "results",
                "tool",
                "driver",
                "name",
                "rules",
                "ruleId",
                "ruleIndex",
                "level",
                "message",
                "text",
                "locations",
                "physicalLocation",
                "artifactLocation",
                "uri",
                "region",
                "startLine",
                "properties",
                "security-severity",
                "partialFingerprints",
                "logicalLocations",
                "index",
                "suppressions",
            ]
        ),
        children,
        max_size=5,
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.just("runs"), _JSON, min_size=1))
def test_arbitrary_sarif_shaped_json_never_crashes(document: dict[str, object]) -> None:
    try:
        report = parse_report(json.dumps(document).encode(), "x.sarif")
    except ReportError as exc:
        assert str(exc)
    else:
        assert report.kind == "sarif"


@settings(max_examples=100, deadline=None)
@given(st.floats(min_value=0.0, max_value=1.0))
def test_truncated_sarif_never_crashes(fraction: float) -> None:
    data = (FIXTURES / "handwritten.sarif").read_bytes()
    cut = data[: int(len(data) * fraction)]
    try:
        parse_report(cut, "cut.sarif")
    except ReportError as exc:
        assert str(exc)
