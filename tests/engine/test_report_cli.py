"""``plumbline parse-report``: what a user sees for good and bad files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from audits.engine.reports import cli

REPO = Path(__file__).resolve().parents[2]
from tests.shared import REPORTS_DIR as SHARED_REPORTS  # noqa: E402

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "reports"


def _report(number: str) -> Path:
    matches = sorted(SHARED_REPORTS.glob(f"{number}_*.txt"))
    assert matches, f"report {number} is missing from {SHARED_REPORTS}"
    return matches[0]


def _main(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="plumbline parse-report")
    cli.add_arguments(parser)
    args = parser.parse_args(argv)
    status: int = args.handler(args)
    return status


def test_json_output_lists_every_field_and_the_grades(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = _main(str(_report("004")), "--format", "json")

    out = json.loads(capsys.readouterr().out)
    assert status == 0
    assert out["kind"] == "markdown"
    assert len(out["items"]) == 7
    first = out["items"][0]
    for key in (
        "ref",
        "title",
        "severity",
        "status",
        "effort",
        "file",
        "line",
        "object",
        "description",
        "remediation",
        "check",
    ):
        assert key in first
    assert first["ref"] == "CRIT-ORM-001"
    assert first["line"] == 74
    assert out["grades"]["score"] == "9.6"


def test_text_output_is_a_readable_table(capsys: pytest.CaptureFixture[str]) -> None:
    status = _main(str(_report("000")))

    out = capsys.readouterr().out
    assert status == 0
    assert "28 finding(s)" in out
    header = next(line for line in out.splitlines() if line.startswith("REF"))
    assert header.split() == [
        "REF",
        "SEVERITY",
        "STATUS",
        "EFFORT",
        "LOCATION",
        "CHECK",
        "TITLE",
    ]
    assert "CRIT-2" in out and "fk-conflicting-declarations" in out
    assert "db.py:295" in out
    assert "overall" in out and "B-" in out


def test_a_report_without_findings_exits_zero_and_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = _main(str(_report("002")))

    out = capsys.readouterr().out
    assert status == 0
    assert "No findings" in out


def test_sarif_is_printed_with_its_tool(capsys: pytest.CaptureFixture[str]) -> None:
    status = _main(str(FIXTURES / "handwritten.sarif"), "--format", "json")

    out = json.loads(capsys.readouterr().out)
    assert status == 0
    assert out["tool"] == "schema-guard"
    assert [i["check"] for i in out["items"]][0] == "schema-guard:SG100"


def test_missing_file_is_a_clear_error_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = _main(str(tmp_path / "nope.md"))

    captured = capsys.readouterr()
    assert status == 2
    assert captured.out == ""
    assert "nope.md: No such file." in captured.err


def test_folder_binary_and_empty_files_are_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty.md").write_bytes(b"")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00" * 50)

    assert _main(str(tmp_path)) == 2
    assert "folder" in capsys.readouterr().err
    assert _main(str(tmp_path / "empty.md")) == 2
    assert "empty" in capsys.readouterr().err
    assert _main(str(tmp_path / "image.png")) == 2
    assert "binary" in capsys.readouterr().err


def test_over_size_file_is_refused_naming_the_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = tmp_path / "big.md"
    big.write_bytes(b"# Big\n" + b"x" * 3000)

    status = _main(str(big), "--max-bytes", "2048")

    assert status == 2
    assert "limit of 2 KB" in capsys.readouterr().err


def test_truncated_sarif_is_an_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cut = tmp_path / "cut.sarif"
    cut.write_bytes((FIXTURES / "handwritten.sarif").read_bytes()[:500])

    status = _main(str(cut))

    assert status == 2
    assert "not valid JSON" in capsys.readouterr().err


def test_plumbline_command_line_routes_parse_report(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from audits.engine.cli import main

    status = main(["parse-report", str(FIXTURES / "recommendations.md")])

    assert status == 0
    assert "6 finding(s)" in capsys.readouterr().out


def test_explain_prints_every_place_with_its_lines_and_fate(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = _main(str(FIXTURES / "styles" / "category_summary.md"), "--explain")

    out = capsys.readouterr().out
    assert status == 0
    assert "How each place was read:" in out
    assert "line 10       KEPT    Fact tables are joined" in out
    assert "line 12       SKIPPED Daily base backups" in out
    assert "its severity says 'None found'" in out
    assert "line 22       MERGED  Index sales.store_id -> Fact tables are joined" in out


def test_stated_totals_are_shown_beside_the_imported_ones_with_a_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status = _main(str(FIXTURES / "styles" / "category_summary.md"))

    out = capsys.readouterr().out
    assert status == 0
    assert "Totals per severity (stated by the report / imported):" in out
    assert "  medium       2 / 1     <- differs" in out
    assert "  high         2 / 2" in out
    assert "Note: The report states 2 medium finding(s); 1 was imported." in out


def test_json_keeps_its_items_and_adds_explanations_on_request(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _main(str(FIXTURES / "styles" / "issue_numbers.md"), "--format", "json")
    plain = json.loads(capsys.readouterr().out)
    _main(
        str(FIXTURES / "styles" / "issue_numbers.md"), "--format", "json", "--explain"
    )
    explained = json.loads(capsys.readouterr().out)

    assert "explain" not in plain
    assert plain["items"] == explained["items"]
    assert plain["items"][0]["source_line"] == 5
    assert {e["action"] for e in explained["explain"]} == {"kept", "merged"}
    assert explained["explain"][5] == {
        "action": "merged",
        "line": 37,
        "end": 37,
        "text": "Lock the seat row while confirming (see #1)",
        "reason": "it points at #1",
        "finding": "#1",
    }
