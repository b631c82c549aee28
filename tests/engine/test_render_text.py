"""The terminal view: readable text, colour only for terminals."""

from __future__ import annotations

import io

from audits.engine.render import text
from audits.engine.scan import ScanResult

from .render_fixtures import sample_result

ESC = "\033["


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_text_lists_grades_findings_worst_first_and_targets() -> None:
    out = text.render(sample_result())
    assert ESC not in out
    assert "Overall" in out and "/10" in out
    first_critical = out.index("CRITICAL")
    assert first_critical < out.index("MEDIUM") < out.index("LOW ") < out.index("INFO")
    assert "schedules.user_id (schema.sql:12)" in out
    assert "error postgresql:postgresql://app:***@db.example:5432/app" in out
    assert "s3cret" not in out
    assert "note: sqlite_stat1 is empty" in out


def test_text_uses_ansi_colour_only_when_asked() -> None:
    coloured = text.render(sample_result(), color=True)
    assert ESC in coloured
    assert "\033[1;31mCRITICAL" in coloured


def test_use_color_needs_a_terminal() -> None:
    assert text.use_color(FakeTerminal(), environ={}) is True
    assert text.use_color(io.StringIO(), environ={}) is False


def test_use_color_respects_no_color() -> None:
    assert text.use_color(FakeTerminal(), environ={"NO_COLOR": "1"}) is False
    assert text.use_color(FakeTerminal(), environ={"NO_COLOR": ""}) is True


def test_text_of_an_empty_scan_says_a_plus() -> None:
    out = text.render(ScanResult((), ()))
    assert "A+" in out and "0 finding(s)" in out
