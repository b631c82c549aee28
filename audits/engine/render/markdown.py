"""The Markdown audit report, in the shape of the hand-written reports.

Title and scope, an executive summary table of grades per dimension with the
overall grade, one section per critical finding (location, risk, evidence,
fix), every finding by severity with report ids (CRIT-1, HIGH-1, MED-1,
LOW-1, INFO-1), recommendations by priority with effort, and the targets.
The report importer reads these conventions back.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

from audits.engine.grading import Grades, grade
from audits.engine.issues import Dimension, Issue, Severity
from audits.engine.levels import Status
from audits.engine.registry import SPECS
from audits.engine.scan import ScanResult

from ._common import code_location, ordered

PREFIXES = {s: s.short for s in Severity}
HEADINGS = {s: s.label for s in Severity}
STATUS_LABELS = {s.value: s.label for s in Status}
PRIORITIES: tuple[tuple[str, tuple[Severity, ...]], ...] = (
    ("Priority 1 — Fix Now", (Severity.CRITICAL, Severity.HIGH)),
    ("Priority 2 — Improve Soon", (Severity.MEDIUM,)),
    ("Priority 3 — When Convenient", (Severity.LOW,)),
)


# Characters with a meaning in Markdown (or in the HTML it may become). Text
# that came from users, reports or the audited code has each one
# backslash-escaped, so it can never open a link, an image, an emphasis, raw
# HTML, an entity or an autolink (the colon of any scheme, ``javascript:``
# included, and the ``@`` of an address).
SPECIAL = frozenset("\\`*_{}[]()<>#|~&:!@")
# ``www.`` starts an autolink in GitHub's Markdown even without a scheme.
_WWW = re.compile(r"(?i)\b(www)\.")
# A code span: a run of backticks, text, and a run of the same length.
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)")


def _escaped(text: str) -> str:
    out = "".join("\\" + c if c in SPECIAL else c for c in text)
    return _WWW.sub(r"\1\\.", out)


def escape(text: str) -> str:
    """Return ``text`` as inert Markdown on one line: every markup character escaped.

    Safe in a table cell too (the pipe is escaped).
    """
    return _escaped(" ".join(str(text or "").split()))


def code(text: str) -> str:
    """Return ``text`` as a code span on one line, safe for a table cell.

    The fence is longer than any run of backticks in the text, so the text
    cannot close it; inside a code span nothing else is markup.
    """
    text = " ".join(str(text or "").split())
    if not text:
        return ""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if longest else ""
    # Inside a table cell a pipe ends the cell even in a code span.
    return f"{fence}{pad}{text}{pad}{fence}".replace("|", "\\|")


def prose(text: str) -> str:
    """Return engine text carrying user values as inert Markdown on one line.

    Its code spans stay code (a check writes ``Declare `x` ...``); everything
    around them is escaped as :func:`escape` does, a lone backtick included.
    """
    text = " ".join(str(text or "").split())
    parts, last = [], 0
    for match in _CODE_SPAN.finditer(text):
        parts.append(_escaped(text[last : match.start()]))
        parts.append(code(match.group(2)))
        last = match.end()
    parts.append(_escaped(text[last:]))
    return "".join(parts)


def fenced(body: str, lang: str = "") -> list[str]:
    """Return ``body`` as a fenced code block no line of it can close."""
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{lang}", body, fence]


def assign_ids(issues: Sequence[Issue]) -> list[tuple[str, Issue]]:
    """Return ``(report id, issue)`` pairs, worst first, numbered per severity."""
    counters: dict[Severity, int] = {}
    pairs = []
    for issue in ordered(issues):
        counters[issue.severity] = counters.get(issue.severity, 0) + 1
        pairs.append((f"{PREFIXES[issue.severity]}-{counters[issue.severity]}", issue))
    return pairs


def _location_cell(issue: Issue) -> str:
    parts = []
    if issue.file:
        parts.append(code(code_location(issue)))
    if issue.object:
        parts.append(code(issue.object))
    if issue.function and not issue.object:
        parts.append(code(issue.function))
    if not parts:
        return escape(issue.sources[0]) if issue.sources else "N/A"
    return " · ".join(parts)


def _finding_cell(issue: Issue) -> str:
    # The object rides in the title too: importers read objects from titles.
    where = f" — {code(issue.object)}" if issue.object else ""
    return f"{prose(issue.title)}{where} ({code(issue.check)})"


def _heading_title(issue: Issue) -> str:
    title = prose(issue.title)
    return f"{title} — {code(issue.object)}" if issue.object else title


def _risk(issue: Issue) -> str:
    spec = SPECS.get(issue.check)
    rationale = spec.rationale if spec else ""
    first = rationale.split(". ")[0].rstrip(".")
    return prose(first or issue.title)


def _critical_section(ref: str, issue: Issue) -> list[str]:
    head = []
    if issue.file:
        head.append(f"**File:** {code(code_location(issue))}")
    if issue.object:
        head.append(f"**Location:** {code(issue.object)}")
    elif issue.function:
        head.append(f"**Location:** {code(issue.function)}")
    elif not issue.file and issue.sources:
        head.append(f"**Location:** {code(issue.sources[0])}")
    head.append(f"**Risk:** {_risk(issue)}")
    lines = [f"### {ref}: {_heading_title(issue)}", " | ".join(head), ""]
    evidence = issue.evidence.strip()
    if evidence and "\n" in evidence:
        lines += [*fenced(evidence, "text"), ""]
    elif evidence:
        lines += [prose(evidence), ""]
    lines += evidence_lines(issue)
    spec = SPECS.get(issue.check)
    fix = issue.remediation or (spec.remediation if spec else "")
    lines += [f"**Fix:** {prose(fix)}", ""]
    if issue.fix_sql:
        lines += [*fenced(issue.fix_sql.strip(), "sql"), ""]
    return lines


def evidence_lines(issue: Issue) -> list[str]:
    """Return the source lines around a finding and its chain of reasoning."""
    lines: list[str] = []
    if issue.context:
        width = len(str(issue.context[-1][0]))
        lang = "python" if issue.file.endswith(".py") else "sql"
        body = "\n".join(
            f"{number:>{width}}{'>' if number == issue.line else ' '} {text}"
            for number, text in issue.context
        )
        lines += [*fenced(body, lang), ""]
    if issue.trace:
        lines.append("**How we know:**")
        for step in issue.trace:
            where = f"{step.file}:{step.line}" if step.line else step.file
            message = prose(step.message)
            lines.append(f"- {code(where)}: {message}" if where else f"- {message}")
        lines.append("")
    if issue.related:
        lines.append("**Also at:**")
        for step in issue.related:
            where = f"{step.file}:{step.line}" if step.line else step.file
            lines.append(f"- {code(where)}: {prose(step.message)}")
        lines.append("")
    return lines


def _suppressed(result: ScanResult) -> list[str]:
    if not result.suppressed:
        return []
    lines = _table("## 5. Suppressed by the project", "Check", "Location", "Why")
    for item in result.suppressed:
        issue = item.issue
        lines.append(
            _row(code(issue.check), _location_cell(issue), escape(item.reason))
        )
    return [*lines, ""]


def _table(heading: str, *columns: str) -> list[str]:
    """Return a section's heading and the head of its table: names and rule."""
    rule = "|".join("-" * (len(c) + 2) for c in columns)
    return [heading, "", _row(*columns), f"|{rule}|"]


def _row(*cells: str | int) -> str:
    """Return one row of a Markdown table."""
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _header(result: ScanResult, title: str, project: str, date: str) -> list[str]:
    lines = [f"# {escape(title)}", ""]
    if project:
        lines.append(f"**Project:** {escape(project)}")
    labels = [t.target.label for t in result.targets]
    if labels:
        lines.append(f"**Targets:** {', '.join(code(label) for label in labels)}")
    lines.append(f"**Date:** {escape(date)}")
    ran = result.checks_run
    dims = sorted(
        {SPECS[c].dimension for c in ran if c in SPECS}, key=list(Dimension).index
    )
    scope = ", ".join(d.label for d in dims) if dims else "no checks ran"
    lines.append(f"**Scope:** {scope}")
    tables = sum(len(t.schema.tables) for t in result.targets if t.schema)
    indexes = sum(
        len(table.indexes)
        for t in result.targets
        if t.schema
        for table in t.schema.tables
    )
    stats = [f"**Findings:** {len(result.issues)}", f"**Checks run:** {len(ran)}"]
    if tables:
        stats[:0] = [f"**Tables:** {tables}", f"**Indexes:** {indexes}"]
    lines += [" | ".join(stats), "", "---", ""]
    return lines


def _summary(grades: Grades) -> list[str]:
    lines = _table("## Executive Summary", "Dimension", "Grade", "Summary")
    for dimension in Dimension:
        g = grades[dimension]
        lines.append(_row(dimension.label, f"**{g.letter}**", prose(g.summary)))
    overall = grades.overall
    lines += [
        "",
        f"**Overall: {overall.letter}** — score {grades.score:.1f}/10; "
        f"{prose(overall.summary)}.",
        "",
        "---",
        "",
    ]
    return lines


def _by_severity(
    pairs: list[tuple[str, Issue]], statuses: Mapping[str, str]
) -> list[str]:
    lines = ["## 2. Findings by Severity", ""]
    if not pairs:
        return lines + ["No findings.", ""]
    for severity in Severity:
        rows = [(ref, i) for ref, i in pairs if i.severity is severity]
        if not rows:
            continue
        lines += _table(
            f"### {HEADINGS[severity]} ({len(rows)})",
            "ID",
            "Finding",
            "Location",
            "Status",
        )
        for ref, issue in rows:
            status = statuses.get(issue.fingerprint, "open")
            label = STATUS_LABELS.get(status, status.replace("_", " ").capitalize())
            lines.append(_row(ref, _finding_cell(issue), _location_cell(issue), label))
        lines.append("")
    return lines


def _recommendations(pairs: list[tuple[str, Issue]]) -> list[str]:
    lines = ["## 3. Recommendations", ""]
    number = 0
    for heading, severities in PRIORITIES:
        groups: dict[str, list[tuple[str, Issue]]] = {}
        for ref, issue in pairs:
            if issue.severity in severities:
                groups.setdefault(issue.check, []).append((ref, issue))
        if not groups:
            continue
        lines += _table(f"### {heading}", "#", "Action", "Effort")
        for items in groups.values():
            number += 1
            first = items[0][1]
            spec = SPECS.get(first.check)
            action = first.remediation or (spec.remediation if spec else first.title)
            refs = ", ".join(ref for ref, _ in items)
            where = ", ".join(code(i.object) for _, i in items[:5] if i.object)
            if len(items) > 5:
                where += f" and {len(items) - 5} more"
            text = f"{prose(action)} ({refs}"
            text += f": {where})" if where else ")"
            lines.append(_row(number, text, first.effort.value))
        lines.append("")
    if number == 0:
        lines += ["Nothing to fix above info.", ""]
    return lines


def _targets(result: ScanResult) -> list[str]:
    if not result.targets:
        return []
    lines = _table("## 4. Targets", "Target", "Status", "Findings", "Notes")
    for t in result.targets:
        status = "scanned" if t.ok else f"failed: {t.error}"
        notes = "; ".join(t.notes) or "—"
        lines.append(
            _row(code(t.target.label), escape(status), len(t.issues), escape(notes))
        )
    return [*lines, ""]


def render(
    result: ScanResult,
    *,
    grades: Grades | None = None,
    title: str = "Database Audit Report",
    project: str = "",
    date: str | dt.date | None = None,
    statuses: Mapping[str, str] | None = None,
    **_: Any,
) -> str:
    """Return the scan result as a Markdown audit report.

    ``statuses`` maps fingerprints to finding statuses (open by default),
    for reports of tracked findings.
    """
    grades = grades or grade(result.issues)
    day = date or dt.date.today()
    pairs = assign_ids(result.issues)
    lines = _header(result, title, project, str(day))
    lines += _summary(grades)
    lines += ["## 1. Critical Findings", ""]
    criticals = [(ref, i) for ref, i in pairs if i.severity is Severity.CRITICAL]
    for ref, issue in criticals:
        lines += _critical_section(ref, issue)
    if not criticals:
        lines += ["No critical findings.", ""]
    lines += ["---", ""]
    lines += _by_severity(pairs, statuses or {})
    lines += _recommendations(pairs)
    lines += _targets(result)
    lines += _suppressed(result)
    return "\n".join(lines).rstrip() + "\n"
