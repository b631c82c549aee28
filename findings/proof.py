"""A finding's proof as the page shows it: highlighted source, reasoning, places.

The engine stores the source lines around a code finding as it read them at
scan time, with the chain of reasoning behind it (read here, used there,
written there) and the other places the same cause shows. The page renders
the lines with Pygments on the server, so no script runs in the browser.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from django.utils.safestring import SafeString, mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer, SqlLexer, TextLexer


@dataclass(frozen=True)
class Step:
    file: str
    line: int | None
    message: str

    @property
    def where(self) -> str:
        """Return ``file:line``, or the file alone."""
        if self.file and self.line:
            return f"{self.file}:{self.line}"
        return self.file or ""


@dataclass(frozen=True)
class Proof:
    code: SafeString | None = None  # highlighted source lines, or None
    first_line: int | None = None
    last_line: int | None = None
    trace: list[Step] = field(default_factory=list)
    related: list[Step] = field(default_factory=list)


def _lexer(path: str):
    lower = path.lower()
    # Keep blank first and last lines: the line numbers must stay the file's.
    if lower.endswith(".py"):
        return PythonLexer(stripnl=False)
    if lower.endswith((".sql", ".ddl")):
        return SqlLexer(stripnl=False)
    return TextLexer(stripnl=False)


def _steps(items: object) -> list[Step]:
    if not isinstance(items, list):
        return []
    out = []
    for item in items:
        if isinstance(item, dict) and item.get("message"):
            line = item.get("line")
            out.append(
                Step(
                    str(item.get("file") or ""),
                    line if isinstance(line, int) else None,
                    str(item["message"]),
                )
            )
    return out


def finding_proof(finding) -> Proof | None:
    """Return what the page shows as the finding's proof, or None when it has none."""
    try:
        data = json.loads(finding.proof) if finding.proof else {}
    except ValueError:
        return None
    if not isinstance(data, dict) or not data:
        return None
    context = [
        (c["line"], str(c["text"]))
        for c in data.get("context", [])
        if isinstance(c, dict) and isinstance(c.get("line"), int) and "text" in c
    ]
    code = None
    first = last = None
    if context:
        first, last = context[0][0], context[-1][0]
        marked = [i + 1 for i, (n, _t) in enumerate(context) if n == finding.line]
        formatter = HtmlFormatter(
            linenos="inline",
            linenostart=first,
            hl_lines=marked,
            cssclass="highlight",
            wrapcode=True,
        )
        source = "\n".join(text for _n, text in context) + "\n"
        # Pygments escapes the source; its markup is the only HTML added.
        code = mark_safe(highlight(source, _lexer(finding.file), formatter))  # noqa: S308
    return Proof(
        code=code,
        first_line=first,
        last_line=last,
        trace=_steps(data.get("trace")),
        related=_steps(data.get("related")),
    )
