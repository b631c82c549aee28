"""Reconcile an audit's detections with a project's tracked findings.

The rules (DESIGN.md): new fingerprints become open findings; open and
in-progress ones stay open (last seen moves); fixed ones that come back are
reopened as regressions; documented and false-positive ones keep their
status (last seen still moves); open and in-progress ones not seen again are
marked fixed, verified by this audit, but only where the scan could have
seen them: their target was scanned successfully and their check ran there
(an import only fixes findings from the same kind of import).

Everything happens in one transaction with a fixed number of statements,
whatever the number of detections: the detections travel as one JSON
parameter and the database joins against it (``json_each`` on SQLite,
``jsonb_array_elements`` on PostgreSQL). Reconciling the same audit twice
changes nothing the second time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.utils import timezone

from audits.engine import levels

from .models import Finding, FindingEvent, FindingSighting

# Statuses an audit marks fixed when it no longer sees the finding where it
# looked (the unresolved ones), and statuses it leaves as they are when it
# sees the finding again (a person accepted it).
FIXED_WHEN_UNSEEN = frozenset(Finding.UNRESOLVED)
ACCEPTED = frozenset(Finding.Status(s.value) for s in levels.ACCEPTED)

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
)


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
    ref: str = ""
    target_id: int | None = None
    status: str = ""  # an imported report's own status, for new findings only
    status_reason: str = ""  # why, when that status needs a reason

    @classmethod
    def from_issue(cls, issue, *, target_id: int | None = None) -> Detection:
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
            target_id=target_id,
        )


@dataclass(frozen=True)
class Scope:
    """Where an audit could have seen findings, so which it may fix.

    ``checks_by_target`` maps each successfully scanned target to the checks
    that ran on it. ``origin`` limits fixing to findings of the same kind
    (an import fixes only findings of its own import kind).
    """

    origin: str = "engine"
    checks_by_target: Mapping[int | None, frozenset[str]] = field(default_factory=dict)
    whole_origin: bool = False  # imports: every finding of the origin is in scope

    def covers(self, origin: str, target_id: int | None, check_id: str) -> bool:
        if origin != self.origin:
            return False
        if self.whole_origin:
            return True
        return check_id in self.checks_by_target.get(target_id, frozenset())

    @property
    def all_checks(self) -> frozenset[str]:
        ran: set[str] = set()
        for checks in self.checks_by_target.values():
            ran |= checks
        return frozenset(ran)


@dataclass
class Outcome:
    new: int = 0
    still_open: int = 0
    fixed: int = 0
    reopened: int = 0
    accepted_seen: int = 0
    severity_changed: int = 0


def reconcile(audit, detections: Iterable[Detection], scope: Scope) -> Outcome:
    """Apply ``detections`` of ``audit`` to its project's findings; return counts."""
    now = timezone.now()
    project = audit.project
    merged: dict[str, Detection] = {}
    for d in detections:
        merged.setdefault(d.fingerprint, d)
    outcome = Outcome()
    with transaction.atomic():
        existing = _load_existing(project.pk)
        new_rows, seen_rows, touched, reopen, fix, events = [], [], [], [], [], []
        detected_checks = {d.check_id for d in merged.values()}
        for fp, d in merged.items():
            row = existing.get(fp)
            if row is None:
                new_rows.append(_new_row(d, audit, project, now))
                continue
            _, fid, status, severity, *_rest, stored = row
            if stored == _signature(d):
                touched.append(fid)
            else:
                seen_rows.append(_seen_row(fid, d))
            if severity != d.severity:
                outcome.severity_changed += 1
                events.append(
                    _event(
                        fid,
                        FindingEvent.Kind.SEVERITY,
                        severity,
                        d.severity,
                        "The check now rates this problem differently.",
                    )
                )
            if status == Finding.Status.FIXED:
                reopen.append({"id": fid, "due": _due(project, d.severity, now)})
                events.append(
                    _event(
                        fid,
                        FindingEvent.Kind.REOPENED,
                        status,
                        Finding.Status.OPEN,
                        "Seen again after it was fixed.",
                    )
                )
            elif status in ACCEPTED:
                outcome.accepted_seen += 1
            else:
                outcome.still_open += 1
        for fp, (
            _,
            fid,
            status,
            _sev,
            target_id,
            check_id,
            origin,
            _last,
        ) in existing.items():
            if fp in merged or status not in FIXED_WHEN_UNSEEN:
                continue
            if scope.covers(origin, target_id, check_id) or _verified_import(
                scope, origin, check_id, detected_checks
            ):
                fix.append({"id": fid})
                events.append(
                    _event(
                        fid,
                        FindingEvent.Kind.FIXED,
                        status,
                        Finding.Status.FIXED,
                        "Not seen by this audit.",
                    )
                )
        outcome.new = len(new_rows)
        outcome.reopened = len(reopen)
        outcome.fixed = len(fix)
        _apply(audit, now, new_rows, seen_rows, touched, reopen, fix, events)
    return outcome


def _verified_import(
    scope: Scope, origin: str, check_id: str, detected: set[str]
) -> bool:
    # An imported finding mapped to one of our checks is verified fixed when
    # an engine audit ran that check and it found nothing anywhere.
    return (
        scope.origin == "engine"
        and origin != "engine"
        and check_id in scope.all_checks
        and check_id not in detected
    )


def _due(project, severity: str, now) -> str | None:
    due = project.due_date(severity, now)
    return due.isoformat() if due else None


def _new_row(d: Detection, audit, project, now) -> dict:
    status = d.status or Finding.Status.OPEN
    return {
        "fingerprint": d.fingerprint,
        "check_id": d.check_id,
        "dimension": d.dimension,
        "severity": d.severity,
        "effort": d.effort,
        "title": d.title,
        "object": d.object,
        "file": d.file,
        "line": d.line,
        "function": d.function,
        "evidence": d.evidence,
        "remediation": d.remediation,
        "fix_sql": d.fix_sql,
        "ref": d.ref,
        "target_id": d.target_id,
        "status": status,
        "status_reason": d.status_reason,
        "due": _due(project, d.severity, now) if status in Finding.UNRESOLVED else None,
    }


def _seen_row(fid: int, d: Detection) -> dict:
    row = {name: getattr(d, name) for name in REFRESHED}
    row.update(id=fid, severity=d.severity)
    return row


def _event(fid: int, kind: str, from_value: str, to_value: str, note: str) -> dict:
    return {
        "id": fid,
        "kind": str(kind),
        "from": str(from_value),
        "to": str(to_value),
        "note": note,
    }


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


def _load_existing(project_id: int) -> dict[str, tuple]:
    """Return the project's findings by fingerprint, with a change signature.

    One raw query: at 100,000 findings building model rows would cost more
    than the whole reconciliation.
    """
    f = Finding._meta.db_table
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT fingerprint, id, status, severity, target_id, check_id, origin,"
            f" severity, file, line, effort, LENGTH(title) + LENGTH(object)"
            f" + LENGTH(function) + LENGTH(evidence) + LENGTH(remediation)"
            f" + LENGTH(fix_sql) FROM {f} WHERE project_id = %s",
            [project_id],
        )
        return {row[0]: (*row[:7], tuple(row[7:])) for row in cur.fetchall()}


def _signature(d: Detection) -> tuple:
    """Return what must match a stored finding for a sighting to skip the refresh.

    Location and severity are compared as they are, texts by their total
    length: a rewording that keeps every length is picked up by the next
    sighting that changes anything else.
    """
    texts = (d.title, d.object, d.function, d.evidence, d.remediation, d.fix_sql)
    return (d.severity, d.file, d.line, d.effort, sum(len(t) for t in texts))


def _id_rows(alias: str = "j") -> str:
    """Return a FROM clause yielding one row per id in a JSON array parameter."""
    if connection.vendor == "postgresql":
        return f"jsonb_array_elements_text(%s::jsonb) AS {alias}(value)"
    return f"json_each(%s) AS {alias}"


def _apply(audit, now, new_rows, seen_rows, touched, reopen, fix, events) -> None:
    f, e = Finding._meta.db_table, FindingEvent._meta.db_table
    s = FindingSighting._meta.db_table
    origin = audit.origin
    # Sightings are stamped with the audit's start, not the clock, so that
    # reconciling the same audit again writes the very same values.
    seen_at = audit.started_at or audit.created_at
    with connection.cursor() as cur:
        if new_rows:
            text_fields = (
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
                "ref",
                "status",
                "status_reason",
            )
            columns = ", ".join(text_fields)
            values = ", ".join(f"COALESCE({_get(n)}, '')" for n in text_fields)
            cur.execute(
                f"INSERT INTO {f} ({columns}, line, target_id, due_date, project_id, origin,"
                " regression, first_seen_audit_id, first_seen_at, updated_at)"
                f" SELECT {values}, {_get('line', 'integer')}, {_get('target_id', 'bigint')},"
                f" {_get('due', 'date')}, %s, %s, %s, %s, %s, %s FROM {_rows()}",
                [
                    audit.project_id,
                    origin,
                    False,
                    audit.pk,
                    seen_at,
                    now,
                    json.dumps(new_rows),
                ],
            )
            cur.execute(
                f"INSERT INTO {s} (finding_id, audit_number, seen_at)"
                f" SELECT id, %s, %s FROM {f}"
                " WHERE project_id = %s AND first_seen_audit_id = %s"
                " ON CONFLICT (finding_id) DO NOTHING",
                [audit.number, seen_at, audit.project_id, audit.pk],
            )
            cur.execute(
                f"INSERT INTO {e} (finding_id, kind, audit_id, from_value, to_value, note, created_at)"
                f" SELECT id, %s, %s, '', status, %s, %s FROM {f}"
                " WHERE project_id = %s AND first_seen_audit_id = %s"
                " AND id NOT IN (SELECT finding_id FROM "
                + e
                + " WHERE audit_id = %s AND kind = %s)",
                [
                    FindingEvent.Kind.CREATED,
                    audit.pk,
                    "First seen by this audit.",
                    now,
                    audit.project_id,
                    audit.pk,
                    audit.pk,
                    FindingEvent.Kind.CREATED,
                ],
            )
        if seen_rows:
            sets = ", ".join(
                f"line = {_get('line', 'integer')}"
                if n == "line"
                else f"{n} = COALESCE({_get(n)}, '')"
                for n in REFRESHED
            )
            cur.execute(
                f"UPDATE {f} SET {sets}, severity = {_get('severity')}"
                f" FROM {_rows()} WHERE {f}.id = {_get('id', 'bigint')}",
                [json.dumps(seen_rows)],
            )
        sighted = touched + [row["id"] for row in seen_rows]
        if sighted:
            # Every finding seen again: its sighting moves (the finding row
            # itself is only written when something about it changed).
            cur.execute(
                f"INSERT INTO {s} (finding_id, audit_number, seen_at)"
                f" SELECT CAST(j.value AS bigint), %s, %s FROM {_id_rows()} WHERE 1 = 1"
                " ON CONFLICT (finding_id) DO UPDATE"
                " SET audit_number = excluded.audit_number, seen_at = excluded.seen_at",
                [audit.number, seen_at, json.dumps(sighted)],
            )
        if reopen:
            cur.execute(
                f"UPDATE {f} SET status = %s, regression = %s, fixed_by_audit_id = NULL,"
                f" status_reason = '', due_date = {_get('due', 'date')}, updated_at = %s"
                f" FROM {_rows()} WHERE {f}.id = {_get('id', 'bigint')}",
                [Finding.Status.OPEN, True, now, json.dumps(reopen)],
            )
        if fix:
            cur.execute(
                f"UPDATE {f} SET status = %s, fixed_by_audit_id = %s, updated_at = %s"
                f" FROM {_rows()} WHERE {f}.id = {_get('id', 'bigint')}",
                [Finding.Status.FIXED, audit.pk, now, json.dumps(fix)],
            )
        if events:
            cur.execute(
                f"INSERT INTO {e} (finding_id, kind, audit_id, from_value, to_value, note, created_at)"
                f" SELECT {_get('id', 'bigint')}, {_get('kind')}, %s, {_get('from')},"
                f" {_get('to')}, {_get('note')}, %s FROM {_rows()}",
                [audit.pk, now, json.dumps(events)],
            )
