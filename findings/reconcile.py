"""Reconcile an audit's detections with a project's tracked findings.

Reconciling is two steps. ``plan`` decides, from the findings as stored and
the audit's detections, what changes: a frozen ``Plan`` with named rows (new
findings, findings seen again, refreshed, reopened, fixed, severity changes
and the events that record them). It reads and writes nothing. ``apply``
writes a plan. ``reconcile`` loads the findings, plans and applies, in one
transaction.

The rules (DESIGN.md), each in one function below:

- ``when_seen``: a finding seen again keeps its status, except a fixed one:
  one an audit verified fixed is reopened as a regression; one a person
  marked fixed goes back to open with an event saying the audit still sees
  it (it was never fixed, so it is no regression). Documented and
  false-positive findings keep theirs. Last seen moves for all of them, and
  their texts, location and severity follow the detection, except a
  severity a person set by hand, which stays.
- ``when_not_seen``: an open or in-progress finding the audit did not see
  is fixed, verified by the audit, but only where the audit could have seen
  it (``Scope.covers``): an engine audit covers the checks that ran on the
  targets it scanned successfully; an import covers the findings of its own
  kind (a SARIF log only those of its tools).
- ``new_status``: a new fingerprint becomes an open finding, or takes the
  status an imported report gave it.
- A report's word is not a verification. An item a report marks fixed is
  *reported fixed* (``reported_fixed``): a new finding is created fixed with
  no verifying audit, and an unresolved finding the import covers becomes
  fixed the same way; it never reopens one. An engine audit that runs the
  check such a finding maps to, and finds nothing, verifies it (``VERIFY``).

Everything is written with a fixed number of statements, whatever the number
of detections: each kind of row travels as one JSON parameter and the
database joins against it (``json_each`` on SQLite,
``jsonb_array_elements`` on PostgreSQL). Reconciling the same audit twice
changes nothing the second time.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, NamedTuple

from django.db import connection, transaction
from django.utils import timezone

from audits.engine import levels

from .models import Finding, FindingEvent, FindingSighting

if TYPE_CHECKING:
    from audits.engine.issues import Issue

Status = Finding.Status
Kind = FindingEvent.Kind

# Statuses an audit marks fixed when it no longer sees the finding where it
# looked (the unresolved ones), and statuses it leaves as they are when it
# sees the finding again (a person accepted it).
FIXED_WHEN_UNSEEN = frozenset(Finding.UNRESOLVED)
ACCEPTED = frozenset(Status(s.value) for s in levels.ACCEPTED)

# Fields copied from a detection onto the finding every time it is seen, so
# locations and texts follow the code while the fingerprint stays.
REFRESHED = (
    "title",
    "object",
    "file",
    "line",
    "function",
    "evidence",
    "remediation",
    "fix_sql",
    "effort",
    "proof",
)


def proof_of(issue) -> str:
    """Return an engine issue's evidence for a reviewer as JSON text, or ""."""
    data = issue.as_dict()
    proof = {key: data[key] for key in ("context", "trace", "related") if data.get(key)}
    return json.dumps(proof, ensure_ascii=False) if proof else ""


@dataclass(frozen=True)
class Detection:
    """One problem seen by an audit, ready to store."""

    fingerprint: str
    check_id: str
    severity: str
    title: str
    dimension: str = ""
    effort: str = ""
    object: str = ""
    file: str = ""
    line: int | None = None
    function: str = ""
    evidence: str = ""
    remediation: str = ""
    fix_sql: str = ""
    proof: str = ""  # JSON: source lines, chain of reasoning, related places
    ref: str = ""
    target_id: int | None = None
    status: str = ""  # an imported report's own status
    status_reason: str = ""  # why, when that status needs a reason
    note: str = ""  # where it came from, for its history (an import's file, line)

    @classmethod
    def from_issue(cls, issue: Issue, *, target_id: int | None = None) -> Detection:
        return cls(
            fingerprint=issue.fingerprint,
            check_id=issue.check,
            severity=issue.severity.value,
            dimension=issue.dimension.value,
            effort=issue.effort.value,
            title=issue.title[:300],
            object=issue.object[:300],
            file=(issue.file or "")[:500],
            line=issue.line,
            function=(issue.function or "")[:300],
            evidence=issue.evidence,
            remediation=issue.remediation,
            fix_sql=issue.fix_sql,
            proof=proof_of(issue),
            target_id=target_id,
        )

    @property
    def signature(self) -> tuple:
        """Return what must match a stored finding for a sighting to skip the refresh.

        Location and severity are compared as they are, texts by their total
        length: a rewording that keeps every length is picked up by the next
        sighting that changes anything else.
        """
        texts = (
            self.title,
            self.object,
            self.function,
            self.evidence,
            self.remediation,
            self.fix_sql,
            self.proof,
        )
        return (
            self.severity,
            self.file,
            self.line,
            self.effort,
            sum(len(t) for t in texts),
        )


class Stored(NamedTuple):
    """A tracked finding as reconciling reads it (one raw row)."""

    id: int
    status: str
    severity: str
    target_id: int | None
    check_id: str
    origin: str
    fixed_by_audit_id: int | None
    file: str
    line: int | None
    effort: str
    text_length: (
        int  # of title, object, function, evidence, remediation, fix_sql, proof
    )
    severity_overridden: bool = False  # a person set the severity: it stays

    @property
    def signature(self) -> tuple:
        """Return what ``Detection.signature`` is compared with."""
        return (self.severity, self.file, self.line, self.effort, self.text_length)


_NO_CHECKS: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Scope:
    """Where an audit could have seen findings, so which it may fix.

    An engine audit (``origin="engine"``) covers, per successfully scanned
    target, the checks that ran there (``checks_by_target``). An import
    covers only findings of its own kind: a Markdown report every one
    (``whole_origin``), a SARIF log those of its ``tools``.
    """

    origin: str = "engine"
    checks_by_target: Mapping[int | None, frozenset[str]] = field(default_factory=dict)
    whole_origin: bool = False
    tools: frozenset[str] | None = None

    @classmethod
    def of_import(cls, kind: str, tools: Iterable[str] = ()) -> Scope:
        """Return the scope of an import: a Markdown report or a SARIF log."""
        if kind == "markdown":
            return cls(origin="markdown", whole_origin=True)
        # A SARIF log speaks for the tools that wrote it, and only for them.
        return cls(origin=kind, tools=frozenset(tools))

    def covers(self, finding: Stored, detected_checks: frozenset[str]) -> bool:
        """Return True if the audit would have seen ``finding`` were it still there.

        ``detected_checks`` are the checks with at least one detection.
        """
        if finding.origin == self.origin:
            if self.whole_origin:
                return True
            if self.tools is not None:
                return finding.check_id.split(":", 1)[0] in self.tools
            return finding.check_id in self.checks_by_target.get(
                finding.target_id, _NO_CHECKS
            )
        # An imported finding mapped to one of our checks is verified fixed
        # when an engine audit ran that check and it found nothing anywhere.
        return (
            self.origin == "engine"
            and finding.check_id in self.all_checks
            and finding.check_id not in detected_checks
        )

    @cached_property
    def all_checks(self) -> frozenset[str]:
        ran: set[str] = set()
        for checks in self.checks_by_target.values():
            ran |= checks
        return frozenset(ran)


class Move(NamedTuple):
    """A status change an audit makes, and the note of its event."""

    to: str
    kind: str
    note: str


REOPEN = Move(Status.OPEN, Kind.REOPENED, "Seen again after it was fixed.")
STILL_SEEN = Move(
    Status.OPEN, Kind.STATUS, "Marked fixed by hand, but this audit still sees it."
)
FIX = Move(Status.FIXED, Kind.FIXED, "Not seen by this audit.")
VERIFY = Move(
    Status.FIXED,
    Kind.FIXED,
    "Verified fixed: this audit ran its check and found nothing, as the "
    "imported report said.",
)
REPORTED = Move(Status.FIXED, Kind.STATUS, "Reported fixed by an imported report.")


def when_seen(finding: Stored, detection: Detection) -> Move | None:
    """Return how seeing ``finding`` again changes its status (None: it stays)."""
    if finding.status == Status.FIXED:
        # No audit verified the fix: a person marked it, and it is still
        # there. It was never fixed, so it is not a regression.
        return STILL_SEEN if finding.fixed_by_audit_id is None else REOPEN
    return None


def when_not_seen(
    finding: Stored, scope: Scope, detected_checks: frozenset[str]
) -> Move | None:
    """Return how not seeing ``finding`` changes its status (None: it stays)."""
    if finding.status in FIXED_WHEN_UNSEEN and scope.covers(finding, detected_checks):
        return FIX
    if (
        unverified_fix(finding)
        and scope.origin == "engine"
        and scope.covers(finding, detected_checks)
    ):
        return VERIFY
    return None


def reported_fixed(detection: Detection) -> bool:
    """Return True for an imported item its report marks fixed."""
    return detection.status == Status.FIXED


def unverified_fix(finding: Stored) -> bool:
    """Return True for an imported finding fixed with no audit to verify it."""
    return (
        finding.status == Status.FIXED
        and finding.fixed_by_audit_id is None
        and finding.origin != "engine"
    )


def new_status(detection: Detection) -> str:
    """Return the status a new finding starts with."""
    return detection.status or Status.OPEN


class New(NamedTuple):
    detection: Detection
    status: str
    due: dt.date | None


class Refresh(NamedTuple):
    id: int
    detection: Detection


class Reported(NamedTuple):
    id: int
    reason: str


class Reopen(NamedTuple):
    id: int
    due: dt.date | None


class Event(NamedTuple):
    finding_id: int
    kind: str
    from_value: str
    to_value: str
    note: str


@dataclass(frozen=True)
class Outcome:
    """What reconciling changed, as counts (part of the audit's summary)."""

    new: int = 0
    still_open: int = 0
    fixed: int = 0
    reopened: int = 0
    accepted_seen: int = 0
    severity_changed: int = 0
    reported_fixed: int = 0  # fixed on a report's word, not verified


@dataclass(frozen=True)
class Plan:
    """Everything reconciling one audit changes, decided before any write.

    ``seen`` holds every finding seen again (its sighting moves); those of
    them whose stored fields differ from the detection are also in
    ``refreshed``. ``events`` record every change but the creations, in
    the order they were decided.
    """

    new: tuple[New, ...] = ()
    seen: tuple[int, ...] = ()
    refreshed: tuple[Refresh, ...] = ()
    reopened: tuple[Reopen, ...] = ()
    still_seen: tuple[int, ...] = ()  # marked fixed by hand, back to open
    fixed: tuple[int, ...] = ()
    reported: tuple[Reported, ...] = ()
    severity_changed: tuple[int, ...] = ()
    events: tuple[Event, ...] = ()
    still_open: int = 0
    accepted_seen: int = 0

    @property
    def outcome(self) -> Outcome:
        return Outcome(
            new=len(self.new),
            still_open=self.still_open,
            fixed=len(self.fixed),
            reopened=len(self.reopened),
            accepted_seen=self.accepted_seen,
            severity_changed=len(self.severity_changed),
            reported_fixed=len(self.reported)
            + sum(1 for n in self.new if n.status == Status.FIXED),
        )


def plan(
    stored: Mapping[str, Stored],
    detections: Iterable[Detection],
    scope: Scope,
    *,
    due: Callable[[str], dt.date | None],
) -> Plan:
    """Return what reconciling ``detections`` with the ``stored`` findings changes.

    ``stored`` maps fingerprints to the project's findings; ``due`` gives the
    due date of a finding of a severity opened now. Pure: reads nothing
    else, writes nothing.
    """
    merged: dict[str, Detection] = {}
    claims: dict[str, Detection] = {}
    for d in detections:
        if reported_fixed(d) and d.fingerprint in stored:
            claims.setdefault(d.fingerprint, d)
            continue
        merged.setdefault(d.fingerprint, d)
    new, seen, refreshed, reopened, fixed = [], [], [], [], []
    severity_changed, events, still_seen = [], [], []
    still_open = accepted_seen = 0
    for fp, d in merged.items():
        finding = stored.get(fp)
        if finding is None:
            status = new_status(d)
            new.append(
                New(
                    d, status, due(d.severity) if status in Finding.UNRESOLVED else None
                )
            )
            continue
        seen.append(finding.id)
        if finding.severity_overridden:
            # The severity a person set stays; the rest follows the check.
            d = replace(d, severity=finding.severity)
        if finding.signature != d.signature:
            refreshed.append(Refresh(finding.id, d))
        if finding.severity != d.severity:
            severity_changed.append(finding.id)
            events.append(
                Event(
                    finding.id,
                    Kind.SEVERITY,
                    finding.severity,
                    d.severity,
                    "The check now rates this problem differently.",
                )
            )
        move = when_seen(finding, d)
        if move is REOPEN:
            reopened.append(Reopen(finding.id, due(d.severity)))
        elif move is STILL_SEEN:
            still_seen.append(finding.id)
            still_open += 1
        elif move is None and finding.status in ACCEPTED:
            accepted_seen += 1
        elif move is None:
            still_open += 1
        if move is not None:
            events.append(
                Event(finding.id, move.kind, finding.status, move.to, move.note)
            )
    detected_checks = frozenset(d.check_id for d in merged.values())
    reported = _reported(stored, claims, scope, detected_checks, events)
    for fp, finding in stored.items():
        if fp in merged or fp in claims:
            continue
        move = when_not_seen(finding, scope, detected_checks)
        if move is FIX or move is VERIFY:
            fixed.append(finding.id)
        if move is not None:
            events.append(
                Event(finding.id, move.kind, finding.status, move.to, move.note)
            )
    return Plan(
        new=tuple(new),
        seen=tuple(seen),
        refreshed=tuple(refreshed),
        reopened=tuple(reopened),
        still_seen=tuple(still_seen),
        fixed=tuple(fixed),
        reported=reported,
        severity_changed=tuple(severity_changed),
        events=tuple(events),
        still_open=still_open,
        accepted_seen=accepted_seen,
    )


def _reported(
    stored: Mapping[str, Stored],
    claims: Mapping[str, Detection],
    scope: Scope,
    detected_checks: frozenset[str],
    events: list[Event],
) -> tuple[Reported, ...]:
    """Return the unresolved findings an import covers that its report marks
    fixed, recording each change in ``events``; others are left alone."""
    reported = []
    for fp, d in claims.items():
        finding = stored[fp]
        if finding.status in FIXED_WHEN_UNSEEN and scope.covers(
            finding, detected_checks
        ):
            reported.append(Reported(finding.id, d.status_reason))
            events.append(
                Event(
                    finding.id,
                    REPORTED.kind,
                    finding.status,
                    REPORTED.to,
                    d.note or REPORTED.note,
                )
            )
    return tuple(reported)


def reconcile(audit, detections: Iterable[Detection], scope: Scope) -> Outcome:
    """Apply ``detections`` of ``audit`` to its project's findings; return counts."""
    now = timezone.now()
    project = audit.project
    dues: dict[str, dt.date | None] = {}

    def due(severity: str) -> dt.date | None:
        if severity not in dues:
            dues[severity] = project.due_date(severity, now)
        return dues[severity]

    with transaction.atomic():
        decided = plan(load(project.pk), detections, scope, due=due)
        apply(decided, audit, now=now)
    return decided.outcome


def load(project_id: int) -> dict[str, Stored]:
    """Return the project's findings by fingerprint, as reconciling reads them.

    One raw query: at 100,000 findings building model rows would cost more
    than the whole reconciliation.
    """
    f = Finding._meta.db_table
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT fingerprint, id, status, severity, target_id, check_id, origin,"
            f" fixed_by_audit_id, file, line, effort, LENGTH(title)"
            f" + LENGTH(object) + LENGTH(function) + LENGTH(evidence)"
            f" + LENGTH(remediation) + LENGTH(fix_sql) + LENGTH(proof),"
            f" severity_overridden"
            f" FROM {f} WHERE project_id = %s",
            [project_id],
        )
        rows = cur.fetchall()
    # 100,000 named rows would each be tracked by the cycle collector (plain
    # tuples of strings and numbers are not), and the collections their
    # creation triggers would cost more than the query: pause it meanwhile.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return {row[0]: Stored._make(row[1:]) for row in rows}
    finally:
        if collecting:
            gc.enable()


def apply(plan: Plan, audit, *, now: dt.datetime) -> None:
    """Write ``plan``, decided for ``audit``, with a fixed number of statements."""
    # Sightings are stamped with the audit's start, not the clock, so that
    # reconciling the same audit again writes the very same values.
    seen_at = audit.started_at or audit.created_at
    with connection.cursor() as cur:
        if plan.new:
            _insert_new(cur, plan.new, audit, seen_at, now)
        if plan.refreshed:
            _refresh(cur, plan.refreshed)
        if plan.seen:
            _move_sightings(cur, plan.seen, audit, seen_at)
        if plan.reopened:
            _reopen(cur, plan.reopened, now)
        if plan.still_seen:
            _back_to_open(cur, plan.still_seen, now)
        if plan.fixed:
            _fix(cur, plan.fixed, audit, now)
        if plan.reported:
            _report_fixed(cur, plan.reported, now)
        if plan.events:
            _insert_events(cur, plan.events, audit, now)


def _rows(alias: str = "j") -> str:
    """Return a FROM clause yielding one row per element of the JSON parameter."""
    if connection.vendor == "postgresql":
        return f"jsonb_array_elements(%s::jsonb) AS {alias}(value)"
    return f"json_each(%s) AS {alias}"


def _get(name: str, cast: str = "text", alias: str = "j") -> str:
    """Return SQL reading field ``name`` of the current JSON element."""
    if connection.vendor == "postgresql":
        return f"({alias}.value->>'{name}')::{cast}"
    return f"json_extract({alias}.value, '$.{name}')"


def _id_rows(alias: str = "j") -> str:
    """Return a FROM clause yielding one row per id in a JSON array parameter."""
    if connection.vendor == "postgresql":
        return f"jsonb_array_elements_text(%s::jsonb) AS {alias}(value)"
    return f"json_each(%s) AS {alias}"


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


# Text columns of a new finding, read from its detection (status from the plan).
NEW_TEXT = (
    "fingerprint",
    "check_id",
    "dimension",
    "severity",
    "effort",
    "title",
    "object",
    "file",
    "function",
    "evidence",
    "remediation",
    "fix_sql",
    "proof",
    "ref",
    "status_reason",
)


def _insert_new(cur, new: tuple[New, ...], audit, seen_at, now) -> None:
    f, e = Finding._meta.db_table, FindingEvent._meta.db_table
    s = FindingSighting._meta.db_table
    rows = [
        {
            **{name: getattr(n.detection, name) for name in NEW_TEXT},
            "line": n.detection.line,
            "target_id": n.detection.target_id,
            "status": n.status,
            "due": _iso(n.due),
        }
        for n in new
    ]
    columns = ", ".join((*NEW_TEXT, "status"))
    values = ", ".join(f"COALESCE({_get(n)}, '')" for n in (*NEW_TEXT, "status"))
    # A finding created already fixed (an imported report said so) has no
    # verifying audit: the report's word is not a verification.
    cur.execute(
        f"INSERT INTO {f} ({columns}, line, target_id, due_date, project_id, origin,"
        " regression, first_seen_audit_id, first_seen_at,"
        f" updated_at) SELECT {values}, {_get('line', 'integer')},"
        f" {_get('target_id', 'bigint')}, {_get('due', 'date')}, %s, %s, %s,"
        f" %s, %s, %s FROM {_rows()}",
        [
            audit.project_id,
            audit.origin,
            False,
            audit.pk,
            seen_at,
            now,
            json.dumps(rows),
        ],
    )
    cur.execute(
        f"INSERT INTO {s} (finding_id, audit_number, seen_at)"
        f" SELECT id, %s, %s FROM {f}"
        " WHERE project_id = %s AND first_seen_audit_id = %s"
        " ON CONFLICT (finding_id) DO NOTHING",
        [audit.number, seen_at, audit.project_id, audit.pk],
    )
    # Each creation is noted with where the finding came from, when the
    # detection says (an imported report's file and line).
    notes = [{"fp": n.detection.fingerprint, "note": n.detection.note} for n in new]
    cur.execute(
        f"INSERT INTO {e} (finding_id, kind, audit_id, from_value, to_value, note,"
        f" created_at) SELECT {f}.id, %s, %s, '', {f}.status,"
        f" COALESCE(NULLIF({_get('note')}, ''), %s), %s"
        f" FROM {f} JOIN {_rows()} ON {f}.fingerprint = {_get('fp')}"
        f" WHERE {f}.project_id = %s AND {f}.first_seen_audit_id = %s"
        f" AND {f}.id NOT IN (SELECT finding_id FROM {e} WHERE audit_id = %s"
        " AND kind = %s)",
        [
            Kind.CREATED,
            audit.pk,
            "First seen by this audit.",
            now,
            json.dumps(notes),
            audit.project_id,
            audit.pk,
            audit.pk,
            Kind.CREATED,
        ],
    )


def _refresh(cur, refreshed: tuple[Refresh, ...]) -> None:
    f = Finding._meta.db_table
    rows = [
        {
            **{name: getattr(r.detection, name) for name in REFRESHED},
            "id": r.id,
            "severity": r.detection.severity,
        }
        for r in refreshed
    ]
    sets = ", ".join(
        f"line = {_get('line', 'integer')}"
        if n == "line"
        else f"{n} = COALESCE({_get(n)}, '')"
        for n in REFRESHED
    )
    cur.execute(
        f"UPDATE {f} SET {sets}, severity = {_get('severity')}"
        f" FROM {_rows()} WHERE {f}.id = {_get('id', 'bigint')}",
        [json.dumps(rows)],
    )


def _move_sightings(cur, seen: tuple[int, ...], audit, seen_at) -> None:
    # Every finding seen again: its sighting moves (the finding row itself
    # is only written when something about it changed).
    cur.execute(
        f"INSERT INTO {FindingSighting._meta.db_table} (finding_id, audit_number,"
        f" seen_at) SELECT CAST(j.value AS bigint), %s, %s FROM {_id_rows()}"
        " WHERE 1 = 1 ON CONFLICT (finding_id) DO UPDATE"
        " SET audit_number = excluded.audit_number, seen_at = excluded.seen_at",
        [audit.number, seen_at, json.dumps(seen)],
    )


def _reopen(cur, reopened: tuple[Reopen, ...], now) -> None:
    f = Finding._meta.db_table
    rows = [{"id": r.id, "due": _iso(r.due)} for r in reopened]
    cur.execute(
        f"UPDATE {f} SET status = %s, regression = %s, fixed_by_audit_id = NULL,"
        f" status_reason = '', due_date = {_get('due', 'date')}, updated_at = %s"
        f" FROM {_rows()} WHERE {f}.id = {_get('id', 'bigint')}",
        [Status.OPEN, True, now, json.dumps(rows)],
    )


def _back_to_open(cur, ids: tuple[int, ...], now) -> None:
    # Its due date stands: the clock never stopped, the problem never went.
    f = Finding._meta.db_table
    cur.execute(
        f"UPDATE {f} SET status = %s, status_reason = '', updated_at = %s"
        f" FROM {_id_rows()} WHERE {f}.id = CAST(j.value AS bigint)",
        [Status.OPEN, now, json.dumps(ids)],
    )


def _fix(cur, fixed: tuple[int, ...], audit, now) -> None:
    f = Finding._meta.db_table
    cur.execute(
        f"UPDATE {f} SET status = %s, fixed_by_audit_id = %s, updated_at = %s"
        f" FROM {_id_rows()} WHERE {f}.id = CAST(j.value AS bigint)",
        [Status.FIXED, audit.pk, now, json.dumps(fixed)],
    )


def _report_fixed(cur, reported: tuple[Reported, ...], now) -> None:
    # Fixed on the report's word: no audit verified it.
    f = Finding._meta.db_table
    rows = [{"id": r.id, "reason": r.reason} for r in reported]
    cur.execute(
        f"UPDATE {f} SET status = %s, fixed_by_audit_id = NULL,"
        f" status_reason = COALESCE({_get('reason')}, ''), updated_at = %s"
        f" FROM {_rows()} WHERE {f}.id = {_get('id', 'bigint')}",
        [Status.FIXED, now, json.dumps(rows)],
    )


def _insert_events(cur, events: tuple[Event, ...], audit, now) -> None:
    rows = [
        {
            "id": e.finding_id,
            "kind": e.kind,
            "from": e.from_value,
            "to": e.to_value,
            "note": e.note,
        }
        for e in events
    ]
    cur.execute(
        f"INSERT INTO {FindingEvent._meta.db_table} (finding_id, kind, audit_id,"
        f" from_value, to_value, note, created_at) SELECT {_get('id', 'bigint')},"
        f" {_get('kind')}, %s, {_get('from')}, {_get('to')}, {_get('note')}, %s"
        f" FROM {_rows()}",
        [audit.pk, now, json.dumps(rows)],
    )
