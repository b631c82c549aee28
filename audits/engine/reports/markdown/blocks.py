"""Split Markdown into the blocks the reader walks: headings, tables, list
items and paragraph lines, code and blanks, each with its line number."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .text import ID_TITLE, clean

# Longer lines are cut before matching: no report needs them and it keeps
# every regular expression linear on hostile input.
MAX_LINE = 4000

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_SETEXT = re.compile(r"^(=+|-+)\s*$")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
LIST_ITEM = re.compile(r"^(\s*)(?:([-*+])|(\d{1,3})[.)])\s+(.*)$")
BOLD_LINE = re.compile(r"^\s*(\*\*|__)(.+?)\1\s*:?\s*$")
_HR = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_HTML_ONLY = re.compile(r"^\s*(<[^>]{1,200}>\s*)+$")


@dataclass
class Heading:
    """A heading; level 7 is a bold line that names a finding by its id."""

    level: int
    text: str
    line: int = 0


@dataclass
class Table:
    """A pipe table: its header cells, rows, and each row's line number."""

    header: list[str]
    rows: list[list[str]]
    line: int = 0
    row_lines: list[int] = field(default_factory=list)


@dataclass
class Text:
    """A paragraph line or list item (``marker`` is "-" or the number)."""

    text: str
    indent: int = 0
    marker: str = ""
    line: int = 0


@dataclass
class Code:
    """A fenced code block."""

    text: str
    line: int = 0


@dataclass
class Blank:
    """An empty line, rule or HTML-only line."""

    line: int = 0


Block = Heading | Table | Text | Code | Blank


def split_row(line: str) -> list[str]:
    """Return the cells of one table row, honouring ``\\|`` and code spans."""
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    if "`" not in line and "\\" not in line:
        return [cell.strip() for cell in line.split("|")]
    cells: list[str] = []
    current: list[str] = []
    in_code = False
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == "\\" and i + 1 < len(line) and line[i + 1] == "|":
            current.append("|")
            i += 2
            continue
        if ch == "`":
            in_code = not in_code
        if ch == "|" and not in_code:
            cells.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
        i += 1
    cells.append("".join(current).strip())
    return cells


class _Splitter:
    def __init__(self, text: str) -> None:
        self.lines = [line[:MAX_LINE] for line in text.split("\n")]
        self.blocks: list[Block] = []

    def run(self) -> list[Block]:
        i = 0
        while i < len(self.lines):
            i = self.step(i)
        return self.blocks

    def step(self, i: int) -> int:
        line = self.lines[i]
        number = i + 1
        fence = _FENCE.match(line)
        if fence:
            return self.code(i, fence.group(1))
        if not line.strip():
            self.blocks.append(Blank(number))
            return i + 1
        heading = _HEADING.match(line)
        if heading and line.startswith("#"):
            self.blocks.append(Heading(len(heading.group(1)), heading.group(2), number))
            return i + 1
        if self.is_table(i):
            return self.table(i)
        if self.is_setext(i):
            level = 1 if self.lines[i + 1].startswith("=") else 2
            self.blocks.append(Heading(level, line.strip(), number))
            return i + 2
        if _HR.match(line) or _HTML_ONLY.match(line):
            self.blocks.append(Blank(number))
            return i + 1
        self.text(line, number)
        return i + 1

    def code(self, i: int, marker: str) -> int:
        body: list[str] = []
        start = i + 1
        i += 1
        while i < len(self.lines) and not self.lines[i].strip().startswith(marker):
            body.append(self.lines[i])
            i += 1
        self.blocks.append(Code("\n".join(body), start))
        return i + 1

    def is_table(self, i: int) -> bool:
        line = self.lines[i]
        return (
            "|" in line
            and i + 1 < len(self.lines)
            and bool(_TABLE_SEP.match(self.lines[i + 1]))
            and "|" in self.lines[i + 1] + line.strip()[1:]
        )

    def table(self, i: int) -> int:
        table = Table(split_row(self.lines[i]), [], i + 1)
        i += 2
        while i < len(self.lines) and "|" in self.lines[i] and self.lines[i].strip():
            table.rows.append(split_row(self.lines[i]))
            table.row_lines.append(i + 1)
            i += 1
        self.blocks.append(table)
        return i

    def is_setext(self, i: int) -> bool:
        if i + 1 >= len(self.lines) or not _SETEXT.match(self.lines[i + 1]):
            return False
        line = self.lines[i]
        if LIST_ITEM.match(line) or _HR.match(line):
            return False
        after_blank = bool(self.blocks) and isinstance(self.blocks[-1], Blank)
        return self.lines[i + 1].startswith("=") or after_blank

    def text(self, line: str, number: int) -> None:
        bold = BOLD_LINE.match(line)
        if bold and ID_TITLE.match(clean(bold.group(2))):
            self.blocks.append(Heading(7, bold.group(2), number))
            return
        item = LIST_ITEM.match(line)
        if item:
            indent = len(item.group(1).expandtabs(4))
            marker = item.group(3) or item.group(2)
            self.blocks.append(Text(item.group(4), indent, marker, number))
        else:
            indent = len(line) - len(line.lstrip())
            self.blocks.append(Text(line.strip(), indent, "", number))


def split_blocks(text: str) -> list[Block]:
    """Return the blocks of ``text`` (LF line endings) in document order."""
    return _Splitter(text).run()
