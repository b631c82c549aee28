"""Renderers: a scan result as JSON, SARIF 2.1.0, a Markdown report or text.

Each module has ``render(result, *, grades=None, ...) -> str``; :func:`render`
picks one by format name. A renderer never runs checks or grading on its
own beyond grading the result's issues when no grades are given.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from audits.engine.grading import Grades
    from audits.engine.scan import ScanResult

FORMATS = ("json", "sarif", "markdown", "text")


def render(
    fmt: str, result: ScanResult, *, grades: Grades | None = None, **options: Any
) -> str:
    """Return ``result`` rendered in format ``fmt`` (one of :data:`FORMATS`)."""
    if fmt == "json":
        from . import json_out

        return json_out.render(result, grades=grades)
    if fmt == "sarif":
        from . import sarif

        return sarif.render(result, **options)
    if fmt == "markdown":
        from . import markdown

        return markdown.render(result, grades=grades, **options)
    if fmt == "text":
        from . import text

        return text.render(result, grades=grades, **options)
    raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
