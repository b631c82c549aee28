"""What every check module is built from: specs, facts, and a topic's register.

A topic module (``foreign_keys.py``, ``sqlite_pragmas.py``, ...) opens with
``TOPIC = Topic(rows...)``: the catalogue rows of the ids it owns, one
line each (id, dimension, default severity, effort, evidence, title,
rationale, remediation, severity rule). Its implementations follow, each decorated with
``@TOPIC.implements(check_id, requires=...)``. A topic can only implement the
ids it catalogues, so every implementation of one id lives in one module.

Nothing here knows the other topics: :mod:`audits.engine.registry` (a layer
above) collects ``TOPIC`` from each module listed in :mod:`.` and runs them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

from audits.engine.issues import (
    Dimension,
    Effort,
    Evidence,
    Issue,
    Severity,
    make_fingerprint,
)

if TYPE_CHECKING:
    from audits.engine.schema import Schema

# Short names keep the catalogue rows readable.
SCH, INT, PERF, OPS, SEC, ISO = (
    Dimension.SCHEMA,
    Dimension.INTEGRITY,
    Dimension.PERFORMANCE,
    Dimension.OPERATIONS,
    Dimension.SECURITY,
    Dimension.ISOLATION,
)
CRIT, HIGH, MED, LOW, INFO = (
    Severity.CRITICAL,
    Severity.HIGH,
    Severity.MEDIUM,
    Severity.LOW,
    Severity.INFO,
)
MIN, HRS, DAYS = Effort.MINUTES, Effort.HOURS, Effort.DAYS

# The evidence an implementation needs (all must be present).
SCHEMA = frozenset({Evidence.SCHEMA})
CODE = frozenset({Evidence.CODE})
LIVE = frozenset({Evidence.LIVE})
JOINED = frozenset({Evidence.SCHEMA, Evidence.CODE})


class Location(TypedDict):
    """Where in the code an issue is, as keywords of :meth:`CheckSpec.issue`."""

    file: str
    line: int | None
    function: str


class Place(Location):
    """A location and the object it names (a function, a table)."""

    object: str


@dataclass
class Facts:
    """Everything the sources learnt about one target.

    ``schema`` comes from DDL or a live probe (``schema.is_live`` tells
    which); ``code`` holds code facts from the code source, when scanned.
    ``evidence`` says which kinds of evidence are present.
    """

    schema: Schema | None = None
    code: Any = None
    evidence: frozenset[Evidence] = frozenset()
    root: str = ""  # the scanned folder, for relative paths
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CheckSpec:
    """One catalogued check: its id, dimension, defaults and texts."""

    id: str
    dimension: Dimension
    severity: Severity
    effort: Effort
    title: str
    rationale: str
    remediation: str
    evidence: str  # as in the catalogue, e.g. "ddl live", "ddl+code"
    # What makes a finding of this check critical, high, medium or low.
    # Critical is kept for realistic data loss, corruption or a breach
    # under normal use.
    severity_rule: str

    def issue(
        self,
        *,
        key: Iterable[str],
        title: str | None = None,
        severity: Severity | None = None,
        object: str = "",
        file: str = "",
        line: int | None = None,
        function: str = "",
        evidence: str = "",
        remediation: str | None = None,
        fix_sql: str = "",
        source: str = "",
    ) -> Issue:
        """Return an issue of this check; ``key`` parts make the fingerprint.

        ``key`` must name the problem's place (table, column, file and
        function, normalised statement), never a line number.
        """
        return Issue(
            check=self.id,
            dimension=self.dimension,
            severity=severity or self.severity,
            effort=self.effort,
            title=title or self.title,
            fingerprint=make_fingerprint(self.id, *key),
            object=object,
            file=file,
            line=line,
            function=function,
            evidence=evidence,
            remediation=remediation if remediation is not None else self.remediation,
            fix_sql=fix_sql,
            sources=(source,) if source else (),
        )


CheckFunc = Callable[[CheckSpec, Facts], Iterable[Issue]]
CatalogueRow = tuple[str, Dimension, Severity, Effort, str, str, str, str, str]


@dataclass(frozen=True)
class Implementation:
    """One way of finding a check's problem, from one kind of evidence."""

    spec: CheckSpec
    func: CheckFunc
    requires: frozenset[Evidence]  # all must be present for it to run

    def can_run(self, available: frozenset[Evidence]) -> bool:
        """Return True when ``available`` evidence is enough to run."""
        return self.requires <= available


class Topic:
    """The catalogue rows of one topic module and their implementations."""

    def __init__(self, *rows: CatalogueRow) -> None:
        self.specs: dict[str, CheckSpec] = {}
        self.implementations: list[Implementation] = []
        # Catalogue rows put evidence before the texts; CheckSpec keeps it last.
        for check_id, dim, sev, effort, evidence, title, why, fix, rule in rows:
            if check_id in self.specs:
                raise ValueError(f"check id {check_id!r} catalogued twice")
            if not rule.strip():
                raise ValueError(f"check id {check_id!r} has no severity rule")
            self.specs[check_id] = CheckSpec(
                check_id, dim, sev, effort, title, why, fix, evidence, rule
            )

    def implements(
        self, check_id: str, *, requires: Iterable[Evidence]
    ) -> Callable[[CheckFunc], CheckFunc]:
        """Register the decorated function as an implementation of ``check_id``.

        ``requires`` lists the evidence kinds that must all be present, e.g.
        ``SCHEMA`` for a schema check that works on DDL and live schemas
        alike, ``LIVE`` for a probe-only check, ``JOINED`` for one that reads
        code and schema together. The id must be catalogued by this topic.
        """
        if check_id not in self.specs:
            raise KeyError(
                f"unknown check id {check_id!r}: catalogue it in this topic module"
            )
        spec = self.specs[check_id]

        def decorate(func: CheckFunc) -> CheckFunc:
            self.implementations.append(Implementation(spec, func, frozenset(requires)))
            return func

        return decorate
