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
    effort: str = ""
    effort_minutes: int | None = None
    effort_bucket: Effort | None = None
    file: str = ""
    line: int | None = None
    object: str = ""
    description: str = ""
    remediation: str = ""
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
        }


@dataclass(frozen=True)
class ParsedReport:
    """Everything read from one imported file.

    ``grades`` holds the report's own grade table (label to grade as
    written), plus ``overall`` (a letter) and ``score`` (out of ten) when
    the report states them. ``tool`` names the SARIF producer(s).
    """

    kind: ReportKind
    title: str
    items: tuple[ReportItem, ...] = ()
    grades: dict[str, str] = field(default_factory=dict)
    tool: str = ""
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-ready dictionary."""
        return {
            "kind": self.kind,
            "title": self.title,
            "tool": self.tool,
            "grades": dict(self.grades),
            "warnings": list(self.warnings),
            "items": [item.as_dict() for item in self.items],
        }
