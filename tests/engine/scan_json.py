"""The scan's JSON as the command prints it, with what changes run to run held still."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from audits.engine.render import json_out
from audits.engine.scan import ScanResult, Target, scan


def steady_scan_json(location: str) -> str:
    """Return ``plumbline scan LOCATION --format json`` output, durations zeroed.

    The tool's version is written as 0.0.0, so a release does not count as a
    change of what the scan found.
    """
    result = scan([Target("folder", location)])
    steady = ScanResult(
        tuple(replace(target, duration=0.0) for target in result.targets),
        result.issues,
    )
    data = json_out.as_data(steady)
    data["tool"]["version"] = "0.0.0"
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def write_fixture(location: str, path: Path) -> None:
    """Record the steady JSON of ``location`` in ``path``."""
    path.write_text(steady_scan_json(location), encoding="utf-8")
