"""Import existing audit reports (Markdown) and other tools' SARIF logs.

:func:`parse_report` takes the uploaded bytes and returns a
:class:`ParsedReport` of :class:`ReportItem` findings, or raises
:class:`ReportError` with a message fit to show the person who uploaded it.
"""

from __future__ import annotations

import json
from typing import Any

from .decode import DEFAULT_MAX_BYTES, check_size, decode_text
from .markdown import parse_markdown
from .sarif import parse_sarif
from .types import ParsedReport, ReportError, ReportItem

__all__ = [
    "DEFAULT_MAX_BYTES",
    "ParsedReport",
    "ReportError",
    "ReportItem",
    "parse_report",
]


def parse_report(
    data: bytes,
    filename: str = "",
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    root: str = "",
) -> ParsedReport:
    """Return the findings of a Markdown audit report or a SARIF log.

    SARIF is recognised by its content (a JSON object with ``runs``), not by
    the file name. ``root`` makes absolute SARIF paths under it relative.
    Raise ReportError for empty, binary, over-size or malformed input.
    """
    check_size(len(data), max_bytes)
    text = decode_text(data, max_bytes=max_bytes)
    stripped = text.lstrip()
    name = filename.lower()
    # A Markdown file may start with "[" (a link), so only "{" or a SARIF
    # name insists on JSON; "[" or ".json" merely tries it.
    strict = stripped.startswith("{") or name.endswith((".sarif", ".sarif.json"))
    if strict or stripped.startswith("[") or name.endswith(".json"):
        document = _load_json(text, filename, strict)
        if document is not None:
            return parse_sarif(document, root=root)
    return parse_markdown(text, filename=filename)


def _load_json(text: str, filename: str, strict: bool) -> Any:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        if not strict:
            return None
        raise ReportError(
            f"The file is not valid JSON (line {exc.lineno}, column {exc.colno}: "
            f"{exc.msg}); a SARIF file may have been cut short."
        ) from exc
    except RecursionError as exc:
        raise ReportError("The JSON is nested too deeply to be a SARIF file.") from exc
    if not isinstance(document, dict) or "runs" not in document:
        name = f" {filename}" if filename else ""
        raise ReportError(
            f"The JSON file{name} is not SARIF: a SARIF 2.1.0 log is an object "
            "with a 'runs' list."
        )
    return document
