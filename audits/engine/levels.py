"""Plumbline's vocabulary: severity, effort, dimension and finding status.

Each enumeration lists its members in display order (severities worst
first), so ``tuple(Severity)`` is the order every table, chart, matrix and
export uses. Labels and colours live on the members. The Django side builds
its model choices, filters, charts and exports from these definitions and
defines none of its own.
"""

from __future__ import annotations

from enum import Enum


class Severity(str, Enum):
    """How bad a finding is, worst first."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Return 4 for critical down to 0 for info, so higher is worse."""
        return _SEVERITY_RANK[self]

    @property
    def label(self) -> str:
        """Return the name shown to people: ``Critical``."""
        return self.value.capitalize()

    @property
    def short(self) -> str:
        """Return the report's reference prefix: ``CRIT`` in ``CRIT-01``."""
        return _SEVERITY_SHORT[self]

    @property
    def colour(self) -> str:
        """Return the colour of the severity's badges and chart bars."""
        return _SEVERITY_COLOURS[self]

    @classmethod
    def parse(cls, value: str) -> Severity:
        """Return the severity named by ``value``, case-insensitively."""
        return cls(value.strip().lower())


_SEVERITY_RANK = {s: len(Severity) - 1 - i for i, s in enumerate(Severity)}
_SEVERITY_SHORT = {
    Severity.CRITICAL: "CRIT",
    Severity.HIGH: "HIGH",
    Severity.MEDIUM: "MED",
    Severity.LOW: "LOW",
    Severity.INFO: "INFO",
}
_SEVERITY_COLOURS = {
    Severity.CRITICAL: "#a4161a",
    Severity.HIGH: "#d9480f",
    Severity.MEDIUM: "#b08900",
    Severity.LOW: "#2f7d32",
    Severity.INFO: "#5d6677",
}


class Dimension(str, Enum):
    """What part of a database's health a finding is about."""

    SCHEMA = "schema"
    INTEGRITY = "integrity"
    PERFORMANCE = "performance"
    OPERATIONS = "operations"
    SECURITY = "security"
    ISOLATION = "isolation"

    @property
    def label(self) -> str:
        """Return the heading used in reports' executive summary."""
        return _DIMENSION_HEADINGS[self]

    @property
    def short_label(self) -> str:
        """Return the short name used in lists and filters: ``Schema design``."""
        return _DIMENSION_SHORT_LABELS[self]

    @property
    def colour(self) -> str:
        """Return the dimension's line colour in trend charts."""
        return DIMENSION_COLOURS[self.value]


_DIMENSION_HEADINGS = {
    Dimension.SCHEMA: "Schema Design & Normalization",
    Dimension.INTEGRITY: "ACID & Referential Integrity",
    Dimension.PERFORMANCE: "Indexing & Query Performance",
    Dimension.OPERATIONS: "Robustness & Operations",
    Dimension.SECURITY: "SQL Injection & Secrets",
    Dimension.ISOLATION: "Multi-Tenant Isolation",
}
_DIMENSION_SHORT_LABELS = {
    Dimension.SCHEMA: "Schema design",
    Dimension.INTEGRITY: "Integrity",
    Dimension.PERFORMANCE: "Performance",
    Dimension.OPERATIONS: "Operations",
    Dimension.SECURITY: "Security",
    Dimension.ISOLATION: "Isolation",
}
# Trend-chart line colours, chosen to stay apart for common colour
# blindness; "overall" is the line of the overall grade.
DIMENSION_COLOURS: dict[str, str] = {
    "schema": "#0072b2",
    "integrity": "#d55e00",
    "performance": "#009e73",
    "operations": "#cc79a7",
    "security": "#e69f00",
    "isolation": "#56b4e9",
    "overall": "#1d2330",
}


class Effort(str, Enum):
    """Roughly how long a fix takes, shortest first."""

    MINUTES = "minutes"
    HOURS = "hours"
    DAYS = "days"

    @property
    def label(self) -> str:
        """Return the name shown to people: ``Minutes``."""
        return self.value.capitalize()


class Status(str, Enum):
    """Where a tracked finding stands."""

    OPEN = "open"
    IN_PROGRESS = "in_progress"
    FIXED = "fixed"
    DOCUMENTED = "documented"
    FALSE_POSITIVE = "false_positive"

    @property
    def label(self) -> str:
        """Return the name shown to people: ``In progress``."""
        return self.value.replace("_", " ").capitalize()


# Findings someone still has to act on: they count against grades and the
# summary's open total, carry a due date, and fill the "unresolved" list.
UNRESOLVED: frozenset[Status] = frozenset({Status.OPEN, Status.IN_PROGRESS})
# Findings a person accepted as they are (with a reason): audits that see
# them again leave them alone, and they do not count against grades.
ACCEPTED: frozenset[Status] = frozenset({Status.DOCUMENTED, Status.FALSE_POSITIVE})
# Findings that no longer count against grades.
CLOSED: frozenset[Status] = frozenset(Status) - UNRESOLVED
