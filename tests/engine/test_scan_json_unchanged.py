"""Reshaping the engine changes nothing it reports.

``fixtures/flawed_app_scan.json`` is the JSON of ``plumbline scan
demo/flawed_app`` recorded before the engine was reorganised into topic
modules and packages (durations zeroed, version held at 0.0.0). Any
difference must be a deliberate change to a check, made together with this
fixture, never a side effect of moving code.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .scan_json import steady_scan_json

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path(__file__).parent / "fixtures" / "flawed_app_scan.json"


def test_sample_app_scan_json_is_byte_identical(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(ROOT)
    assert steady_scan_json("demo/flawed_app") == FIXTURE.read_text(encoding="utf-8")
