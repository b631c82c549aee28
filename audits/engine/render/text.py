"""The terminal view: grades, then findings worst first, then the targets.

Colour is used only when asked for; :func:`use_color` says whether a stream
should get it (a terminal, and ``NO_COLOR`` unset or empty).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, TextIO

from audits.engine.grading import Grades, grade
from audits.engine.issues import Dimension, Issue, Severity
from audits.engine.scan import ScanResult

from ._common import ordered, place

RESET = "\033[0m"
BOLD = "\033[1m"
DIM = "\033[2m"
COLORS = {
    Severity.CRITICAL: "\033[1;31m",
    Severity.HIGH: "\033[31m",
    Severity.MEDIUM: "\033[33m",
    Severity.LOW: "\033[36m",
    Severity.INFO: "\033[2m",
}
GREEN = "\033[32m"
BAND_COLORS = {"A": GREEN, "B": GREEN, "C": "\033[33m", "D": "\033[31m"}


def use_color(stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """Return True when ``stream`` is a terminal and ``NO_COLOR`` is not set."""
    env = os.environ if environ is None else environ
    if env.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class _Paint:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def __call__(self, text: str, style: str) -> str:
        return f"{style}{text}{RESET}" if self.enabled and style else text

    def letter(self, letter: str) -> str:
        return self(letter, BAND_COLORS.get(letter[0], "\033[1;31m"))


def _finding(issue: Issue, paint: _Paint) -> list[str]:
    tag = paint(f"{issue.severity.value.upper():<8}", COLORS[issue.severity])
    lines = [f"{tag} {paint(issue.check, BOLD)}  {place(issue)}"]
    lines.append(f"         {issue.title}")
    if issue.evidence:
        for line in issue.evidence.strip().splitlines()[:3]:
            lines.append(f"         {paint(line, DIM)}")
    for step in issue.trace[:6]:
        where = f"{step.file}:{step.line}" if step.line else step.file
        lines.append(f"         {paint('- ' + where + ': ' + step.message, DIM)}")
    if issue.related:
        lines.append(f"         also at {len(issue.related)} other place(s)")
    if issue.remediation:
        lines.append(f"         fix: {issue.remediation}")
    if issue.fix_sql:
        for line in issue.fix_sql.strip().splitlines():
            lines.append(f"              {line}")
    return lines


def render(
    result: ScanResult,
    *,
    grades: Grades | None = None,
    color: bool = False,
    **_: Any,
) -> str:
    """Return the scan result as plain text, with ANSI colour if ``color``."""
    grades = grades or grade(result.issues)
    paint = _Paint(color)
    counts = dict.fromkeys(Severity, 0)
    for issue in result.issues:
        counts[issue.severity] += 1
    tally = ", ".join(
        paint(f"{n} {s.value}", COLORS[s]) for s, n in counts.items() if n
    )
    lines = [
        paint("Plumbline scan", BOLD)
        + f": {len(result.targets)} target(s), {len(result.issues)} finding(s)"
        + (f" ({tally})" if tally else "")
        + f", {len(result.checks_run)} check(s) run",
        "",
        paint("Grades", BOLD),
    ]
    width = max(len(d.label) for d in Dimension)
    for dimension in Dimension:
        g = grades[dimension]
        lines.append(
            f"  {dimension.label:<{width}}  {paint.letter(f'{g.letter:<2}')}  "
            f"{g.summary}"
        )
    overall = grades.overall
    lines.append(
        f"  {'Overall':<{width}}  {paint.letter(f'{overall.letter:<2}')}  "
        f"score {grades.score:.1f}/10"
    )
    if result.issues:
        lines += ["", paint("Findings", BOLD)]
        for issue in ordered(result.issues):
            lines += _finding(issue, paint)
    if result.targets:
        lines += ["", paint("Targets", BOLD)]
        for t in result.targets:
            if t.ok:
                state = paint("ok   ", GREEN)
                lines.append(
                    f"  {state} {t.target.label} ({len(t.issues)} finding(s), "
                    f"{t.duration:.2f} s)"
                )
            else:
                state = paint("error", COLORS[Severity.CRITICAL])
                lines.append(f"  {state} {t.target.label}: {t.error}")
            for note in t.notes:
                lines.append(f"        {paint('note: ' + note, DIM)}")
    if result.suppressed:
        lines += ["", paint(f"Suppressed ({len(result.suppressed)})", BOLD)]
        for item in result.suppressed:
            lines.append(f"  {item.issue.check}  {place(item.issue)}: {item.reason}")
    return "\n".join(lines) + "\n"
