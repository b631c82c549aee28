"""The JSON output: the command-line contract of DESIGN.md."""

from __future__ import annotations

import json
from typing import Any

from audits.engine.grading import Grades, grade
from audits.engine.scan import ScanResult, TargetResult

from ._common import TOOL_NAME, ordered, tool_version


def target_data(result: TargetResult) -> dict[str, Any]:
    """Return one target's outcome as a JSON-ready dictionary."""
    return {
        "target": result.target.label,
        "kind": result.target.kind,
        "ok": result.ok,
        "error": result.error or None,
        "notes": list(result.notes),
        "checks_run": sorted(result.checks_run),
        "findings": len(result.issues),
        "duration": round(result.duration, 3),
    }


def as_data(result: ScanResult, *, grades: Grades | None = None) -> dict[str, Any]:
    """Return the scan result as the JSON contract's top-level object.

    ``findings`` and ``grades`` (``{dimension: letter, ..., "overall": ...}``)
    and ``score`` are the contract; ``grade_details`` says what set each
    grade, ``targets`` and ``checks_run`` what was scanned.
    """
    grades = grades or grade(result.issues)
    return {
        "tool": {"name": TOOL_NAME, "version": tool_version()},
        "findings": [issue.as_dict() for issue in ordered(result.issues)],
        "grades": grades.letters(),
        "score": grades.score,
        "grade_details": grades.as_dict(),
        "targets": [target_data(t) for t in result.targets],
        "checks_run": sorted(result.checks_run),
    }


def render(result: ScanResult, *, grades: Grades | None = None) -> str:
    """Return the scan result as indented JSON text."""
    return json.dumps(as_data(result, grades=grades), indent=2, ensure_ascii=False)
