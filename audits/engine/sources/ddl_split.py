"""Split SQL text into statements and find DDL in Markdown and Python files.

The splitter knows enough SQL lexing to keep semicolons inside strings,
quoted identifiers, comments, PostgreSQL dollar-quoted bodies and
``CREATE TRIGGER ... BEGIN ... END`` blocks, and it records the line each
statement starts on so findings can point at the declaration.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Statement:
    """One SQL statement with the line (1-based) its first keyword is on."""

    text: str
    line: int


@dataclass(frozen=True)
class Snippet:
    """A piece of SQL found in a file, with the file line it starts on."""

    text: str
    line: int


_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_DELIMITER = re.compile(r"^[ \t]*DELIMITER[ \t]+(\S+)[ \t]*$", re.IGNORECASE | re.M)
_TRIGGER_HEAD = re.compile(
    r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:DEFINER\s*=\s*\S+\s+)?"
    r"(?:TEMP\s+|TEMPORARY\s+)?TRIGGER\b",
    re.IGNORECASE,
)
# Words that open a block closed by END inside a trigger body.
_BLOCK_OPEN = {"BEGIN", "CASE"}


def split_statements(text: str) -> list[Statement]:
    """Return the statements of ``text`` in order, with their start lines."""
    statements: list[Statement] = []
    delimiter = ";"
    n = len(text)
    i = 0
    line = 1
    start = 0
    start_line: int | None = None
    depth = 0
    word_start = -1
    is_trigger: bool | None = None

    def finish(end: int) -> None:
        nonlocal start, start_line, depth, is_trigger
        chunk = text[start:end].strip()
        if chunk and start_line is not None:
            statements.append(Statement(chunk, start_line))
        start = end + len(delimiter)
        start_line = None
        depth = 0
        is_trigger = None

    while i < n:
        ch = text[i]
        if ch == "\n":
            line += 1
            i += 1
            word_start = -1
            continue
        if start_line is None and ch in " \t\r\f\v":
            i += 1
            continue
        if (ch == "-" and text.startswith("--", i)) or (
            ch == "/" and text.startswith("/*", i)
        ):
            end = _comment_end(text, i)
            line += text.count("\n", i, end)
            i = end
            continue
        if start_line is None:
            # A DELIMITER line (MySQL client syntax) changes the terminator.
            match = _DELIMITER.match(text, i)
            if match and text[i : match.start(1)].strip().upper() == "DELIMITER":
                delimiter = match.group(1)
                i = match.end()
                start = i
                continue
            start_line = line
            start = i
        if ch in "'\"`[" or (ch == "$" and _DOLLAR.match(text, i)):
            end = _quoted_end(text, i)
            line += text.count("\n", i, end)
            i = end
            continue
        if ch.isalnum() or ch == "_":
            if word_start < 0:
                word_start = i
            i += 1
            if i < n and (text[i].isalnum() or text[i] == "_"):
                continue
            word = text[word_start:i].upper()
            word_start = -1
            if word in _BLOCK_OPEN or word == "END":
                if is_trigger is None:
                    is_trigger = bool(_TRIGGER_HEAD.match(text[start:i]))
                if is_trigger:
                    depth = max(0, depth - 1) if word == "END" else depth + 1
            continue
        word_start = -1
        if text.startswith(delimiter, i) and depth == 0:
            finish(i)
            i += len(delimiter)
            continue
        i += 1
    if start_line is not None:
        finish(n)
    return statements


def _comment_end(text: str, i: int) -> int:
    """Return where the comment at ``i`` ends: a ``--`` comment at its newline."""
    if text[i] == "-":
        end = text.find("\n", i)
        return len(text) if end < 0 else end
    end = text.find("*/", i + 2)
    return len(text) if end < 0 else end + 2


def _quoted_end(text: str, i: int) -> int:
    """Return the index just past the quoted text (or ``$tag$`` body) at ``i``."""
    n = len(text)
    ch = text[i]
    if ch == "$":
        match = _DOLLAR.match(text, i)
        assert match is not None
        tag = match.group(0)
        end = text.find(tag, match.end())
        return n if end < 0 else end + len(tag)
    close = {"'": "'", '"': '"', "`": "`", "[": "]"}[ch]
    j = i + 1
    while j < n:
        if text[j] == close:
            if j + 1 < n and text[j + 1] == close and close != "]":
                j += 2
                continue
            break
        if text[j] == "\\" and ch == "'" and j + 1 < n:
            j += 2
            continue
        j += 1
    return j + 1


_FENCE = re.compile(
    r"^([ \t]*)(```|~~~)[ \t]*(sql|sqlite|sqlite3|postgres|postgresql|psql|plpgsql|"
    r"mysql|mariadb|ddl)\b[^\n]*\n(.*?)^[ \t]*\2[ \t]*$",
    re.IGNORECASE | re.M | re.S,
)


def split_outside_quotes(
    text: str, separator: str, quotes: str, *, nested: bool = False
) -> list[str]:
    """Split ``text`` on ``separator`` where it stands outside quotes.

    With ``nested`` a separator inside parentheses does not split either.
    Each part is stripped; empty parts are dropped.
    """
    parts: list[str] = []
    current: list[str] = []
    quote = ""
    depth = 0
    for ch in text:
        if quote:
            current.append(ch)
            if ch == quote:
                quote = ""
            continue
        if ch in quotes:
            quote = ch
        elif nested and ch == "(":
            depth += 1
        elif nested and ch == ")":
            depth -= 1
        elif ch == separator and depth == 0:
            part = "".join(current).strip()
            if part:
                parts.append(part)
            current = []
            continue
        current.append(ch)
    tail = "".join(current).strip()
    if tail:
        parts.append(tail)
    return parts


def markdown_sql_blocks(text: str) -> list[Snippet]:
    """Return the bodies of SQL fenced code blocks in Markdown ``text``."""
    blocks: list[Snippet] = []
    for match in _FENCE.finditer(text):
        body_start = match.start(4)
        line = text.count("\n", 0, body_start) + 1
        blocks.append(Snippet(match.group(4), line))
    return blocks


_DDL_WORDS = re.compile(
    r"\b(?:CREATE|ALTER|DROP)\s+(?:(?:UNIQUE|TEMP|TEMPORARY|OR\s+REPLACE)\s+)*"
    r"(?:TABLE|INDEX|TRIGGER|TYPE|FUNCTION)\b",
    re.IGNORECASE,
)


def looks_like_ddl(text: str) -> bool:
    """Return True when ``text`` contains a CREATE/ALTER/DROP statement."""
    return bool(_DDL_WORDS.search(text))


def python_sql_strings(source: str) -> list[Snippet]:
    """Return the DDL string literals of Python ``source``, in source order.

    Raise SyntaxError (or ValueError for NUL bytes) when the source does not
    parse; the caller turns that into a note.
    """
    tree = ast.parse(source)
    found: list[tuple[int, int, Snippet]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Constant) or not isinstance(node.value, str):
            continue
        value = node.value
        if not looks_like_ddl(value):
            continue
        # A triple-quoted literal usually starts with a newline right after
        # the quotes, so line 1 of its text is the line of the opening quotes.
        found.append((node.lineno, node.col_offset, Snippet(value, node.lineno)))
    found.sort(key=lambda item: (item[0], item[1]))
    return [snippet for _, _, snippet in found]
