"""Plumbline's own code passes its own scan: nothing at high or above."""

from __future__ import annotations

from pathlib import Path

from audits.engine.issues import Severity
from audits.engine.scan import Target, scan

REPO = Path(__file__).resolve().parents[2]


def test_plumbline_scan_of_its_own_repository_reports_nothing_high() -> None:
    result = scan([Target("folder", str(REPO))])
    assert result.ok, [t.error for t in result.targets]
    serious = [
        (i.severity.value, i.check, i.file, i.line)
        for i in result.issues
        if i.severity.rank >= Severity.HIGH.rank
    ]
    assert serious == []
    # The deliberately flawed demo application is left out by the project's
    # own settings, which say why in pyproject.toml.
    assert result.config is not None
    assert result.config.source == "pyproject.toml [tool.plumbline]"
    assert "demo/flawed_app" in result.config.exclude
    for item in result.suppressed:
        assert item.reason.strip(), item.issue.check
