"""What every check module is built from: specs, facts, and a topic's register.

A topic module (``foreign_keys.py``, ``sqlite_pragmas.py``, ...) opens with
``TOPIC = Topic.beside(__file__)``: the catalogue of the ids it owns, read
from the TOML file of the same name beside it (one table per id: dimension,
default severity, effort, evidence, title, rationale, remediation, severity
rule). Its implementations follow, each decorated with
``@TOPIC.implements(check_id, requires=...)`` and receiving the facts its
evidence names (:func:`given`). A topic can only implement the ids it
catalogues, so every implementation of one id lives in one module.

Nothing here knows the other topics: :mod:`audits.engine.registry` (a layer
above) collects ``TOPIC`` from each module listed in :mod:`.` and runs them.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from audits.engine.issues import (
    Dimension,
    Effort,
    Evidence,
    Issue,
    Severity,
    make_fingerprint,
)
from audits.engine.sources.code import CodeFacts

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
MIGRATIONS = frozenset({Evidence.MIGRATIONS})
DRY_RUN = frozenset({Evidence.MIGRATIONS, Evidence.DRY_RUN})
PLANNED = frozenset({Evidence.CODE, Evidence.PLAN})


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
    migrations: Any = None  # the MigrationHistory read, when there is one


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


# A check receives the spec and the facts its evidence names: the code facts
# (CODE), the schema (SCHEMA, LIVE), both (JOINED: code, then schema), or the
# whole Facts after them when it is registered with ``facts=True``.
CheckFunc = Callable[..., Iterable[Issue]]
CatalogueRow = tuple[str, Dimension, Severity, Effort, str, str, str, str, str]


def given(requires: frozenset[Evidence], facts: Facts) -> tuple[Any, ...] | None:
    """Return the facts a check requiring ``requires`` receives, or None if absent.

    Code facts come first, then the schema; LIVE needs a probed schema.
    """
    code = facts.code if isinstance(facts.code, CodeFacts) else None
    schema = facts.schema
    out: list[Any] = []
    if Evidence.CODE in requires:
        if code is None:
            return None
        out.append(code)
    if requires & {Evidence.SCHEMA, Evidence.LIVE}:
        if schema is None or (Evidence.LIVE in requires and not schema.is_live):
            return None
        out.append(schema)
    return tuple(out)


@dataclass(frozen=True)
class Implementation:
    """One way of finding a check's problem, from one kind of evidence."""

    spec: CheckSpec
    func: CheckFunc
    requires: frozenset[Evidence]  # all must be present for it to run
    whole: bool = False  # the function takes the whole Facts

    def can_run(self, available: frozenset[Evidence]) -> bool:
        """Return True when ``available`` evidence is enough to run."""
        return self.requires <= available

    def run(self, facts: Facts) -> Iterable[Issue]:
        """Run the check on the facts it declared; find nothing if they are absent."""
        args = given(self.requires, facts)
        if args is None:
            return ()
        if self.whole:
            args = (*args, facts)
        return self.func(self.spec, *args)


# The fields of a catalogue table, in the order of a CatalogueRow after the id.
CATALOGUE_FIELDS = (
    "dimension",
    "severity",
    "effort",
    "evidence",
    "title",
    "rationale",
    "remediation",
    "severity_rule",
)


def catalogue_rows(path: Path) -> list[CatalogueRow]:
    """Return the catalogue rows of a topic's TOML file, refusing unknown fields."""
    rows: list[CatalogueRow] = []
    for check_id, table in tomllib.loads(path.read_text(encoding="utf-8")).items():
        if set(table) != set(CATALOGUE_FIELDS):
            raise ValueError(
                f"{path.name}: [{check_id}] needs exactly {', '.join(CATALOGUE_FIELDS)}"
            )
        dim, sev, effort, *texts = (str(table[f]) for f in CATALOGUE_FIELDS)
        evidence, title, why, fix, rule = texts
        rows.append(
            (
                check_id,
                Dimension(dim),
                Severity(sev),
                Effort(effort),
                evidence,
                title,
                why,
                fix,
                rule,
            )
        )
    return rows


class Topic:
    """The catalogue rows of one topic module and their implementations."""

    @classmethod
    def beside(cls, module_file: str) -> Topic:
        """Return the topic catalogued in the TOML file beside ``module_file``.

        ``foreign_keys.py`` reads ``foreign_keys.toml``: one table per check id
        with the fields of :data:`CATALOGUE_FIELDS`.
        """
        return cls(*catalogue_rows(Path(module_file).with_suffix(".toml")))

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
        self, check_id: str, *, requires: Iterable[Evidence], facts: bool = False
    ) -> Callable[[CheckFunc], CheckFunc]:
        """Register the decorated function as an implementation of ``check_id``.

        ``requires`` lists the evidence kinds that must all be present, e.g.
        ``SCHEMA`` for a schema check that works on DDL and live schemas
        alike, ``LIVE`` for a probe-only check, ``JOINED`` for one that reads
        code and schema together. The function receives the spec and what
        ``requires`` names (see :func:`given`), and is not run when that is
        absent; a check that also consults facts it does not require takes the
        whole :class:`Facts` after them with ``facts=True``. The id must be catalogued by
        this topic.
        """
        if check_id not in self.specs:
            raise KeyError(
                f"unknown check id {check_id!r}: catalogue it in this topic module"
            )
        spec = self.specs[check_id]

        def decorate(func: CheckFunc) -> CheckFunc:
            self.implementations.append(
                Implementation(spec, func, frozenset(requires), whole=facts)
            )
            return func

        return decorate
