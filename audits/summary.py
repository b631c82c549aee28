"""An audit's summary: the snapshot of its project that trends and pages read.

Every audit stores one ``AuditSummary`` when it ends (``Audit.summary``, a
JSON column), built here by ``build_summary`` whether the audit ran the
engine or imported a report. Trends, the overview, the audit page and the
``runaudit`` command read these rows, never the findings.
"""

from __future__ import annotations

import time
from typing import NotRequired, Protocol, TypedDict

from django.db.models import Count

from audits.engine import grading
from audits.engine.checks.probe_facts import daily_growth
from audits.engine.levels import Severity
from audits.engine.schema import Schema
from findings.models import Finding
from projects.models import Project


class TargetOutcome(TypedDict):
    """How one target (or one imported file) fared in the audit."""

    target: int | None  # the Target's id; None for an imported file
    label: str
    kind: str
    ok: bool
    error: str
    notes: list[str]
    checks_run: int
    issues: int
    seconds: float
    commit: NotRequired[str]  # git targets: the commit scanned
    location: NotRequired[str]  # git targets: where it was cloned from
    # Targets holding migrations: whether their dry run ran, and why not.
    dry_run: NotRequired[str]
    # Live databases read: their size and largest tables (``SpaceReading``),
    # and how they grew since the last successful reading (``SpaceGrowth``).
    space: NotRequired[SpaceReading]
    growth: NotRequired[SpaceGrowth]


class SpaceReading(TypedDict):
    """A live database's size when an audit read it: the next audit's base."""

    read_at: str  # ISO, UTC
    database_bytes: int
    tables: dict[str, int]  # the largest tables' bytes


class TableGrowth(TypedDict):
    table: str
    before: int
    now: int
    per_day: float


class SpaceGrowth(TypedDict):
    """How a live database grew since an earlier audit read it.

    ``label`` names that audit (``audit #4``); ``tables`` are the tables that
    grew most a day, fastest first.
    """

    label: str
    days: float
    before: int
    now: int
    per_day: float
    tables: list[TableGrowth]


class ImportedReport(TypedDict):
    """What an imported report or SARIF log said about itself.

    ``stated`` is the findings per severity the report says it holds (None
    when it says nothing), ``counts`` what was read per severity; imports
    stored before they were recorded have neither.
    """

    kind: str
    title: str
    tool: str
    filename: str
    items: int
    grades: dict[str, str]
    warnings: list[str]
    stated: NotRequired[dict[str, int] | None]
    counts: NotRequired[dict[str, int]]


class Snapshot(TypedDict):
    """Counts of the project's findings and their grades when the audit ended.

    Severity, dimension and effort counts cover unresolved findings only;
    ``by_status`` counts every finding.
    """

    by_status: dict[str, int]
    by_severity: dict[str, int]
    by_dimension: dict[str, dict[str, int]]  # dimension -> severity -> count
    matrix: dict[str, dict[str, int]]  # severity -> effort -> count
    open: int
    grades: dict[str, str]  # dimension (and "overall") -> letter
    grade_summaries: dict[str, str]
    grade_worst: dict[str, str | None]
    score: float


class AuditSummary(Snapshot, total=False):
    """The snapshot plus what the audit changed and how it ran.

    A failed audit has no change counts; ``imported`` is there for imports
    only; ``duration`` is missing when the audit ended before it began
    (a project without targets).
    """

    targets: list[TargetOutcome]
    new: int
    still_open: int
    fixed: int
    reopened: int
    severity_changed: int
    reported_fixed: int  # imports: fixed on the report's word, not verified
    duration: float
    imported: ImportedReport


# Tables a growth figure names, fastest first.
GROWTH_TABLES_SHOWN = 5


def space_of(schema: Schema | None) -> tuple[SpaceReading | None, SpaceGrowth | None]:
    """Return a live target's space reading and its growth, as a summary keeps them.

    ``schema`` is what the engine read from the target; the growth is there
    when the audit passed it an earlier reading (``Target.earlier_space``).
    """
    space = schema.fact("space") if schema is not None else None
    if not space or "read_at" not in space:
        return None, None
    reading = SpaceReading(
        read_at=space["read_at"],
        database_bytes=space["database_bytes"],
        tables=dict(space["tables"]),
    )
    growth = schema.fact("space_growth") if schema is not None else None
    if not growth:
        return reading, None
    days = growth["days"]
    tables = [
        TableGrowth(
            table=t["table"],
            before=t["before"],
            now=t["now"],
            per_day=daily_growth(t["before"], t["now"], days).bytes,
        )
        for t in growth["tables"]
    ]
    tables.sort(key=lambda t: -t["per_day"])
    whole = growth["database"]
    return reading, SpaceGrowth(
        label=growth["label"],
        days=days,
        before=whole["before"],
        now=whole["now"],
        per_day=daily_growth(whole["before"], whole["now"], days).bytes,
        tables=[t for t in tables if t["per_day"] > 0][:GROWTH_TABLES_SHOWN],
    )


class Changes(Protocol):
    """What reconciling changed, as counts (``findings.reconcile``'s result)."""

    @property
    def new(self) -> int: ...
    @property
    def still_open(self) -> int: ...
    @property
    def fixed(self) -> int: ...
    @property
    def reopened(self) -> int: ...
    @property
    def severity_changed(self) -> int: ...
    @property
    def reported_fixed(self) -> int: ...


def build_summary(
    project: Project,
    *,
    targets: list[TargetOutcome],
    changes: Changes | None = None,
    started: float | None = None,
    imported: ImportedReport | None = None,
) -> AuditSummary:
    """Return the summary an audit of ``project`` stores when it ends.

    ``changes`` are reconciliation's counts (none when nothing was
    reconciled), ``started`` the ``time.monotonic()`` the audit began at.
    """
    summary = AuditSummary(**snapshot(project), targets=targets)
    if changes is not None:
        summary.update(
            new=changes.new,
            still_open=changes.still_open,
            fixed=changes.fixed,
            reopened=changes.reopened,
            severity_changed=changes.severity_changed,
            reported_fixed=changes.reported_fixed,
        )
    if imported is not None:
        summary["imported"] = imported
    if started is not None:
        summary["duration"] = round(time.monotonic() - started, 3)
    return summary


def snapshot(project: Project) -> Snapshot:
    """Return counts per severity/status/dimension/effort and grades, for trends."""
    rows = (
        Finding.objects.filter(project=project)
        .values("status", "severity", "dimension", "effort", "check_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    by_status: dict[str, int] = {}
    by_severity: dict[str, int] = {}
    by_dimension: dict[str, dict[str, int]] = {}
    by_check: dict[str, dict[str, dict[str, int]]] = {}
    matrix: dict[str, dict[str, int]] = {}
    for r in rows:
        n, sev = r["n"], r["severity"]
        by_status[r["status"]] = by_status.get(r["status"], 0) + n
        if r["status"] not in Finding.UNRESOLVED:
            continue
        by_severity[sev] = by_severity.get(sev, 0) + n
        dim = r["dimension"] or "other"
        counts = by_dimension.setdefault(dim, {})
        counts[sev] = counts.get(sev, 0) + n
        checks = by_check.setdefault(dim, {}).setdefault(sev, {})
        checks[r["check_id"]] = checks.get(r["check_id"], 0) + n
        cell = matrix.setdefault(sev, {})
        effort = r["effort"] or "unknown"
        cell[effort] = cell.get(effort, 0) + n
    grades = grading.grade_counts(by_dimension, by_check)
    return Snapshot(
        by_status=by_status,
        by_severity=by_severity,
        by_dimension=by_dimension,
        matrix=matrix,
        open=sum(by_severity.values()),
        grades=grades.letters(),
        grade_summaries={g.dimension: g.summary for g in grades},
        grade_worst={g.dimension: g.worst.value if g.worst else None for g in grades},
        score=grades.score,
    )


def stated_totals(summary: AuditSummary | dict) -> list[dict]:
    """Return, per severity, what an imported report said it holds beside
    what was imported, when the report stated its totals; else [].

    Each row has ``severity``, ``stated``, ``imported`` and ``differs``.
    """
    imported = summary.get("imported") or {}
    stated = imported.get("stated")
    if stated is None:
        return []
    counts = imported.get("counts") or {}
    return [
        {
            "severity": severity.value,
            "stated": stated.get(severity.value, 0),
            "imported": counts.get(severity.value, 0),
            "differs": stated.get(severity.value, 0) != counts.get(severity.value, 0),
        }
        for severity in Severity
        if severity.value in stated or severity.value in counts
    ]
