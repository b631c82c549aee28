"""The check registry: metadata from the catalogue, implementations from checks/.

A check id has one :class:`CheckSpec` (from :mod:`.catalogue`) and one or more
implementations, each a function from :class:`Facts` to issues that needs
certain evidence (``ddl``, ``live``, ``code``). The scanner runs an
implementation only when its evidence is present, and records which check
ids ran, so reconciliation never fixes a finding whose check did not run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .catalogue import CATALOGUE
from .issues import Dimension, Effort, Evidence, Issue, Severity, make_fingerprint

if TYPE_CHECKING:
    from .schema import Schema


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
    id: str
    dimension: Dimension
    severity: Severity
    effort: Effort
    title: str
    rationale: str
    remediation: str
    evidence: str  # as in the catalogue, e.g. "ddl live", "ddl+code"

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


@dataclass(frozen=True)
class Implementation:
    spec: CheckSpec
    func: CheckFunc
    requires: frozenset[Evidence]  # all must be present for it to run

    def can_run(self, available: frozenset[Evidence]) -> bool:
        """Return True when ``available`` evidence is enough to run."""
        return self.requires <= available


# Catalogue rows put evidence before the texts; CheckSpec keeps it last.
SPECS: dict[str, CheckSpec] = {
    check_id: CheckSpec(
        check_id, dim, sev, effort, title, rationale, remediation, evidence
    )
    for check_id, dim, sev, effort, evidence, title, rationale, remediation in CATALOGUE
}
_IMPLEMENTATIONS: list[Implementation] = []


def implements(
    check_id: str, *, requires: Iterable[Evidence]
) -> Callable[[CheckFunc], CheckFunc]:
    """Register the decorated function as an implementation of ``check_id``.

    ``requires`` lists the evidence kinds that must all be present, e.g.
    ``{Evidence.SCHEMA}`` for a schema check that works on DDL and live
    schemas alike, ``{Evidence.LIVE}`` for a probe-only check,
    ``{Evidence.SCHEMA, Evidence.CODE}`` for a joined one.
    """
    if check_id not in SPECS:
        raise KeyError(f"unknown check id {check_id!r}: add it to the catalogue")
    spec = SPECS[check_id]

    def decorate(func: CheckFunc) -> CheckFunc:
        _IMPLEMENTATIONS.append(Implementation(spec, func, frozenset(requires)))
        return func

    return decorate


def load_checks() -> None:
    """Import every check module so their implementations register."""
    from . import checks  # noqa: F401


def implementations() -> list[Implementation]:
    """Return every registered implementation, in registration order."""
    load_checks()
    return list(_IMPLEMENTATIONS)


def all_checks() -> Iterator[CheckSpec]:
    """Yield every catalogued check, sorted by id."""
    for key in sorted(SPECS):
        yield SPECS[key]


def get_check(check_id: str) -> CheckSpec:
    """Return the check catalogued as ``check_id``; raise KeyError if unknown."""
    return SPECS[check_id]


def run_checks(facts: Facts) -> tuple[list[Issue], set[str], list[str]]:
    """Run every implementation the facts allow.

    Return the issues, the ids of the checks that ran, and notes about
    implementations that raised (a buggy check never sinks a scan).
    """
    issues: list[Issue] = []
    ran: set[str] = set()
    errors: list[str] = []
    for impl in implementations():
        if not impl.can_run(facts.evidence):
            continue
        try:
            issues.extend(impl.func(impl.spec, facts))
        except Exception as exc:  # noqa: BLE001 - reported, not swallowed
            errors.append(f"check {impl.spec.id} failed: {type(exc).__name__}: {exc}")
            continue
        ran.add(impl.spec.id)
    return issues, ran, errors
