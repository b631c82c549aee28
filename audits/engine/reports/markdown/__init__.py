"""Read findings out of hand-written Markdown audit reports.

Reports come in many shapes, so the reader looks for the common ones rather
than one layout: sections headed ``ID: Title``, ``[Area] ID: Title`` or
``Issue #3: Title`` with ``**File:**``-style fields, findings tables found
by their header names (in several languages), priority tables, tagged list
items, and grade or score tables.

Parsing runs in three steps: :mod:`.blocks` splits the text, :mod:`.reader`
collects every place that states something like a finding, and
:mod:`.merge` decides which of those are the findings and which only refer
to them. Each finding keeps the report lines it came from, and every
decision is explained.
"""

from __future__ import annotations

from audits.engine.reports.types import ParsedReport

from .blocks import split_blocks
from .items import FINGERPRINT_KIND, build_item
from .merge import resolve
from .reader import Reader
from .totals import stated_totals

__all__ = ["FINGERPRINT_KIND", "parse_markdown"]


def parse_markdown(text: str, *, filename: str = "") -> ParsedReport:
    """Return the findings, grades, stated totals and title of a report."""
    warnings: list[str] = []
    blocks = split_blocks(text)
    reader = Reader(blocks)
    reader.read()
    groups, explanations = resolve(reader.candidates)
    items = tuple(build_item(group, warnings) for group in groups)
    if not items:
        warnings.append(
            "No findings found: the document has no findings table, no sections "
            "headed 'ID: Title' and no prioritised recommendations (it may describe "
            "a system rather than audit it)."
        )
    report = ParsedReport(
        kind="markdown",
        title=reader.title or filename or "Imported report",
        items=items,
        grades=reader.grades,
        warnings=tuple(warnings),
        stated=stated_totals(blocks),
        explanations=tuple(explanations),
    )
    for severity, stated, imported in report.totals_differences():
        verb = "was" if imported == 1 else "were"
        warnings.append(
            f"The report states {stated} {severity} finding(s); "
            f"{imported} {verb} imported."
        )
    return ParsedReport(**{**report.__dict__, "warnings": tuple(warnings)})
