"""The engine's result type, ``Issue``, and how issues are fingerprinted.

Severities, dimensions and efforts are defined in ``levels`` and imported
from here as well.
"""

from __future__ import annotations

import copy
import hashlib
import re
from dataclasses import dataclass, field, fields
from enum import Enum
from typing import Any

from .levels import Dimension as Dimension
from .levels import Effort as Effort
from .levels import Severity as Severity


class Evidence(str, Enum):
    # SCHEMA is present whenever a schema model exists, from DDL or a live
    # probe; DDL and LIVE say which. Schema checks that work on either
    # ("ddl, live" in the catalogue) require SCHEMA.
    SCHEMA = "schema"
    DDL = "ddl"
    LIVE = "live"
    CODE = "code"
    HISTORY = "history"
    # A migration history was read (and, with DRY_RUN, applied to a scratch
    # database): the migration checks judge it statement by statement.
    MIGRATIONS = "migrations"
    DRY_RUN = "dry-run"
    # The code's statements planned on the live database (sources/pg_plans).
    PLAN = "plan"


_WS = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Return ``text`` lower-cased with runs of whitespace collapsed."""
    return _WS.sub(" ", text.strip().lower())


def make_fingerprint(check: str, *parts: str) -> str:
    """Return a stable 32-hex-digit fingerprint for a check and its location.

    Parts are normalised (case, whitespace) so cosmetic changes to the
    scanned text never change the fingerprint. Never pass a line number.
    """
    payload = "\x1f".join([check, *(normalise(p) for p in parts)])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Step:
    """One place in a finding's chain of reasoning, or a related place."""

    file: str
    line: int | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        """Return the step as JSON-ready data."""
        return {"file": self.file or None, "line": self.line, "message": self.message}


@dataclass(frozen=True)
class Issue:
    """One problem found by one check in one place.

    ``object`` names the schema object (``schedules.user_id``, an index or a
    table); ``file``/``line``/``function`` locate code. ``fingerprint`` stays
    the same from scan to scan while the problem is the same.
    """

    check: str
    dimension: Dimension
    severity: Severity
    effort: Effort
    title: str
    fingerprint: str
    object: str = ""
    file: str = ""
    line: int | None = None
    function: str = ""
    evidence: str = ""
    remediation: str = ""
    fix_sql: str = ""
    sources: tuple[str, ...] = ()
    extra: tuple[tuple[str, Any], ...] = field(default=())
    # Evidence a reviewer can judge without an editor: the source lines around
    # ``line`` as read at scan time, the chain of reasoning (read here, used
    # there, written there), and the other places the same cause shows.
    context: tuple[tuple[int, str], ...] = ()
    trace: tuple[Step, ...] = ()
    related: tuple[Step, ...] = ()

    def with_changes(self, **changes: Any) -> Issue:
        """Return a copy of the issue with ``changes`` applied.

        A shallow copy with the fields set, rather than ``dataclasses.replace``
        and its full constructor call: checks add a trace to thousands of
        issues on a large tree.
        """
        unknown = set(changes) - _FIELDS
        if unknown:
            raise TypeError(f"Issue has no field(s) {', '.join(sorted(unknown))}")
        new = copy.copy(self)
        for name, value in changes.items():
            object.__setattr__(new, name, value)
        return new

    def as_dict(self) -> dict[str, Any]:
        """Return the issue as the JSON contract's finding object."""
        return {
            "check": self.check,
            "dimension": self.dimension.value,
            "severity": self.severity.value,
            "effort": self.effort.value,
            "title": self.title,
            "object": self.object,
            "file": self.file or None,
            "line": self.line,
            "function": self.function or None,
            "evidence": self.evidence,
            "remediation": self.remediation,
            "fix_sql": self.fix_sql or None,
            "sources": list(self.sources),
            "fingerprint": self.fingerprint,
            "context": [{"line": n, "text": t} for n, t in self.context],
            "trace": [step.as_dict() for step in self.trace],
            "related": [step.as_dict() for step in self.related],
        }


def merge_issues(issues: list[Issue]) -> list[Issue]:
    """Return ``issues`` with duplicates (same fingerprint) merged into one.

    The merged issue keeps the first occurrence's fields, the worst severity,
    the union of sources, and every distinct evidence text.
    """
    merged: dict[str, Issue] = {}
    for issue in issues:
        seen = merged.get(issue.fingerprint)
        if seen is None:
            merged[issue.fingerprint] = issue
            continue
        sources = tuple(dict.fromkeys(seen.sources + issue.sources))
        evidence = seen.evidence
        if issue.evidence and issue.evidence not in evidence:
            evidence = f"{evidence}\n{issue.evidence}" if evidence else issue.evidence
        severity = max(seen.severity, issue.severity, key=lambda s: s.rank)
        related = seen.related + tuple(
            r for r in issue.related if r not in seen.related
        )
        merged[issue.fingerprint] = seen.with_changes(
            sources=sources,
            evidence=evidence,
            severity=severity,
            file=seen.file or issue.file,
            line=seen.line if seen.line is not None else issue.line,
            context=seen.context or issue.context,
            trace=seen.trace or issue.trace,
            related=related,
        )
    return list(merged.values())


_FIELDS = frozenset(f.name for f in fields(Issue))
