"""The check registry: every catalogued check and its implementations.

A check id has one :class:`CheckSpec` and one or more implementations, each
a function from :class:`Facts` to issues that needs certain evidence
(``ddl``, ``live``, ``code``). Both are declared in the id's topic module
under :mod:`audits.engine.checks`; this module (one layer above the checks)
collects them from ``checks.TOPICS`` and runs them. The scanner runs an
implementation only when its evidence is present, and records which check
ids ran, so reconciliation never fixes a finding whose check did not run.
"""

from __future__ import annotations

from collections.abc import Iterator

from .checks import TOPICS
from .checks.base import CheckSpec, Facts, Implementation
from .issues import Issue
from .sources.code.loader import fewer_collections

__all__ = [
    "SPECS",
    "CheckSpec",
    "Facts",
    "Implementation",
    "all_checks",
    "get_check",
    "implementations",
    "run_checks",
]


def _collect_specs() -> dict[str, CheckSpec]:
    specs: dict[str, CheckSpec] = {}
    for topic in TOPICS:
        for check_id, spec in topic.specs.items():
            if check_id in specs:
                raise ValueError(f"check id {check_id!r} catalogued by two topics")
            specs[check_id] = spec
    return specs


SPECS: dict[str, CheckSpec] = _collect_specs()
_IMPLEMENTATIONS: tuple[Implementation, ...] = tuple(
    impl for topic in TOPICS for impl in topic.implementations
)


def implementations() -> list[Implementation]:
    """Return every implementation, topic by topic, in declaration order."""
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
    with fewer_collections():
        for impl in _IMPLEMENTATIONS:
            if not impl.can_run(facts.evidence):
                continue
            try:
                issues.extend(impl.run(facts))
            except Exception as exc:  # noqa: BLE001 - reported, not swallowed
                errors.append(
                    f"check {impl.spec.id} failed: {type(exc).__name__}: {exc}"
                )
                continue
            ran.add(impl.spec.id)
    return issues, ran, errors
