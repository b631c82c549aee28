"""Find the totals per severity a report states about itself ("4 critical,
2 medium", a table of counts, headings such as "Critical (5)")."""

from __future__ import annotations

import re

from audits.engine.reports.values import WORDS, word_severity

from .blocks import Block, Heading, Table, Text
from .tables import header_of
from .text import clean

_COUNT_FIRST = re.compile(rf"(?<![\w.])(\d{{1,4}})\s+({WORDS})(?![\w-])", re.IGNORECASE)
# "High: 3", a line that starts "Totals:", and a heading "Critical (5)".
_WORD_FIRST, _LABEL, _HEADING_COUNT = (
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        rf"(?<![\w-])({WORDS})(?:\s+(?:findings?|issues?|severity))?\s*[:=]\s*"
        r"(\d{1,4})(?![\w.])",
        r"^\W*(totals?|findings|issues|summary|counts?|by severity|итого|gesamt)\b",
        rf"^\W*({WORDS})(?:\s+(?:severity|priority|findings?|issues?))?\s*"
        r"\((\d{1,4})\)\s*$",
    )
)
_COUNT_HEADER = ("count", "number", "findings", "issues", "total", "#", "n", "qty")


def _pairs(text: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for match in _COUNT_FIRST.finditer(text):
        found.setdefault(word_severity(match.group(2)).value, int(match.group(1)))
    for match in _WORD_FIRST.finditer(text):
        found.setdefault(word_severity(match.group(1)).value, int(match.group(2)))
    return found


_MAYBE_COUNT = re.compile(r"\d\s*[^\W\d_]|[^\W\d_]\s*[:=]\s*\d")


def _line_totals(text: str) -> dict[str, int] | None:
    if not _MAYBE_COUNT.search(text):
        return None
    text = clean(text)
    pairs = _pairs(text)
    if len(pairs) >= 2 or (pairs and _LABEL.match(text)):
        return pairs
    return None


def _table_totals(table: Table) -> dict[str, int] | None:
    header = header_of(table)
    if len(header) < 2 or not re.search(r"severity|priority|level", header[0]):
        return None
    count_col = next(
        (i for i, h in enumerate(header) if i and h in _COUNT_HEADER), None
    )
    if count_col is None:
        return None
    found: dict[str, int] = {}
    for row in table.rows:
        if len(row) <= count_col:
            continue
        label, value = clean(row[0]), clean(row[count_col])
        if re.fullmatch(rf"\W*({WORDS})\W*", label, re.IGNORECASE) and value.isdigit():
            word = re.search(WORDS, label, re.IGNORECASE)
            if word:
                found[word_severity(word.group(0)).value] = int(value)
    return found or None


def stated_totals(blocks: list[Block]) -> dict[str, int] | None:
    """Return the findings per severity the report says it holds, or None.

    An explicit statement (a totals line or a table of counts) wins; without
    one, headings that count their findings ("Critical (5)") are added up.
    """
    from_headings: dict[str, int] = {}
    for block in blocks:
        if isinstance(block, Text):
            found = _line_totals(block.text)
            if found is not None:
                return found
        elif isinstance(block, Table):
            found = _table_totals(block)
            if found is not None:
                return found
        elif isinstance(block, Heading):
            match = _HEADING_COUNT.match(clean(block.text))
            if match:
                severity = word_severity(match.group(1)).value
                from_headings[severity] = from_headings.get(severity, 0) + int(
                    match.group(2)
                )
    return from_headings or None
