"""Result types of the report importers: one item per finding a report lists."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from audits.engine.issues import Dimension, Effort, Severity

ItemStatus = Literal["open", "fixed", "documented", "false_positive", "in_progress"]
ReportKind = Literal["markdown", "sarif"]

STATUSES: tuple[ItemStatus, ...] = (
    "open",
    "in_progress",
    "documented",
    "false_positive",
    "fixed",
)


class ReportError(ValueError):
    """Raised when a file cannot be read as an audit report or SARIF log.

    The message is meant for the person who uploaded the file.
    """


@dataclass(frozen=True)
class ReportItem:
    """One finding read from an imported report.

    ``ref`` is the report's own id (``CRIT-1``) or, for SARIF, the rule id;
    ``check`` is a Plumbline check id when the item describes a problem one
    of Plumbline's checks detects (or ``tool:RULE`` for SARIF), else "".
    """

    ref: str
    title: str
    severity: Severity
    status: ItemStatus = "open"
    # What the report says of it, in its own words (the effort also read as
    # minutes and a bucket).
    status_note: str = ""
    effort: str = ""
    effort_minutes: int | None = None
    effort_bucket: Effort | None = None
    description: str = ""
    remediation: str = ""
    # Where: the code it points at, and the report's own lines that tell it.
    file: str = ""
    line: int | None = None
    object: str = ""
    source_line: int | None = None
    source_lines: tuple[int, ...] = ()
    # The Plumbline check it matches, when it matches one.
    check: str = ""
    dimension: Dimension | None = None
    fingerprint: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Return the item as a JSON-ready dictionary."""
        return {
            "ref": self.ref,
            "title": self.title,
            "severity": self.severity.value,
            "status": self.status,
            "effort": self.effort,
            "effort_minutes": self.effort_minutes,
            "effort_bucket": self.effort_bucket.value if self.effort_bucket else None,
            "file": self.file,
            "line": self.line,
            "object": self.object,
            "description": self.description,
            "remediation": self.remediation,
            "check": self.check,
            "dimension": self.dimension.value if self.dimension else None,
            "fingerprint": self.fingerprint,
            "status_note": self.status_note,
            "source_line": self.source_line,
            "source_lines": list(self.source_lines),
        }


ExplainAction = Literal["kept", "merged", "skipped"]


@dataclass(frozen=True)
class Explanation:
    """What the parser did with one place in a report that looked like a finding.

    ``line``-``end`` are the report's lines, ``text`` what they say,
    ``finding`` the ref or title of the finding it became or joined.
    """

    action: ExplainAction
    line: int
    end: int
    text: str
    reason: str
    finding: str = ""

    def as_dict(self) -> dict[str, Any]:
        """Return the explanation as a JSON-ready dictionary."""
        return {
            "action": self.action,
            "line": self.line,
            "end": self.end,
            "text": self.text,
            "reason": self.reason,
            "finding": self.finding,
        }


@dataclass(frozen=True)
class ParsedReport:
    """Everything read from one imported file.

    ``grades`` holds the report's own grade table (label to grade as
    written), plus ``overall`` (a letter) and ``score`` (out of ten) when
    the report states them. ``tool`` names the SARIF producer(s).
    ``stated`` holds the findings per severity the report says it has, when
    it says so; ``explanations`` what was kept, merged or skipped, and why.
    """

    kind: ReportKind
    title: str
    items: tuple[ReportItem, ...] = ()
    grades: dict[str, str] = field(default_factory=dict)
    tool: str = ""
    warnings: tuple[str, ...] = ()
    stated: dict[str, int] | None = None
    explanations: tuple[Explanation, ...] = ()

    def imported_counts(self) -> dict[str, int]:
        """Return how many items were read per severity."""
        counts: dict[str, int] = {}
        for item in self.items:
            counts[item.severity.value] = counts.get(item.severity.value, 0) + 1
        return counts

    def totals_differences(self) -> list[tuple[str, int, int]]:
        """Return (severity, stated, imported) where the report's totals differ."""
        if self.stated is None:
            return []
        imported = self.imported_counts()
        order = [s.value for s in sorted(Severity, key=lambda s: -s.rank)]
        return [
            (sev, self.stated.get(sev, 0), imported.get(sev, 0))
            for sev in order
            if self.stated.get(sev, 0) != imported.get(sev, 0)
        ]

    def as_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-ready dictionary."""
        return {
            "kind": self.kind,
            "title": self.title,
            "tool": self.tool,
            "grades": dict(self.grades),
            "warnings": list(self.warnings),
            "stated": dict(self.stated) if self.stated is not None else None,
            "imported": self.imported_counts(),
            "items": [item.as_dict() for item in self.items],
        }
