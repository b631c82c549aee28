"""Plumbline's vocabulary: severity, effort, dimension and finding status.

Each enumeration lists its members in display order (severities worst
first), so ``tuple(Severity)`` is the order every table, chart, matrix and
export uses. Labels and colours live on the members. The Django side builds
its model choices, filters, charts and exports from these definitions and
defines none of its own.
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple


class Look(NamedTuple):
    """How a member of the vocabulary shows to people."""

    label: str
    colour: str
    short: str  # a severity's report prefix (``CRIT``), a dimension's list name


class _Shown(str, Enum):
    """An enumeration whose members' looks are rows of one table (``_LOOKS``)."""

    @property
    def label(self) -> str:
        """Return the name shown to people: ``Critical``, a dimension's heading."""
        return _LOOKS[type(self)][self].label

    @property
    def colour(self) -> str:
        """Return the colour of the member's badges, chart bars or trend line."""
        return _LOOKS[type(self)][self].colour


class Severity(_Shown):
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
    def short(self) -> str:
        """Return the report's reference prefix: ``CRIT`` in ``CRIT-01``."""
        return _LOOKS[Severity][self].short

    @classmethod
    def parse(cls, value: str) -> Severity:
        """Return the severity named by ``value``, case-insensitively."""
        return cls(value.strip().lower())


_SEVERITY_RANK = {s: len(Severity) - 1 - i for i, s in enumerate(Severity)}


class Dimension(_Shown):
    """What part of a database's health a finding is about."""

    SCHEMA = "schema"
    INTEGRITY = "integrity"
    PERFORMANCE = "performance"
    OPERATIONS = "operations"
    SECURITY = "security"
    ISOLATION = "isolation"

    @property
    def short_label(self) -> str:
        """Return the short name used in lists and filters: ``Schema design``."""
        return _LOOKS[Dimension][self].short


# Each member's looks. A dimension's label is the heading of the reports'
# executive summary; its colour is its line in trend charts, the colours
# chosen to stay apart for common colour blindness.
_LOOKS: dict[type[_Shown], dict[_Shown, Look]] = {
    Severity: {
        Severity.CRITICAL: Look("Critical", "#a4161a", "CRIT"),
        Severity.HIGH: Look("High", "#d9480f", "HIGH"),
        Severity.MEDIUM: Look("Medium", "#b08900", "MED"),
        Severity.LOW: Look("Low", "#2f7d32", "LOW"),
        Severity.INFO: Look("Info", "#5d6677", "INFO"),
    },
    Dimension: {
        Dimension.SCHEMA: Look(
            "Schema Design & Normalization", "#0072b2", "Schema design"
        ),
        Dimension.INTEGRITY: Look(
            "ACID & Referential Integrity", "#d55e00", "Integrity"
        ),
        Dimension.PERFORMANCE: Look(
            "Indexing & Query Performance", "#009e73", "Performance"
        ),
        Dimension.OPERATIONS: Look("Robustness & Operations", "#cc79a7", "Operations"),
        Dimension.SECURITY: Look("SQL Injection & Secrets", "#e69f00", "Security"),
        Dimension.ISOLATION: Look("Multi-Tenant Isolation", "#56b4e9", "Isolation"),
    },
}
# Trend-chart line colours by key; "overall" is the line of the overall grade.
DIMENSION_COLOURS: dict[str, str] = {
    **{d.value: d.colour for d in Dimension},
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
