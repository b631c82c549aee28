"""Activity: long and blocked statements, transaction-ID age, replication.

What a running server is doing at the moment of the probe, read from the
facts of :mod:`audits.engine.sources.pg_health` and
:mod:`audits.engine.sources.mysql_health`. Sessions come and go between
audits, so a finding is one per database and aspect (keys ``[database,
"long_queries"]``, ``[database, "lock_waits"]``), its evidence naming the
sessions seen this time; replication findings key on the replica or slot.

Each row states its thresholds and severity rule; the numbers are the
constants below, so the text and the rule cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from audits.engine.issues import Issue, Severity
from audits.engine.schema import Schema

from .base import LIVE, CheckSpec, Topic
from .probe_facts import (
    database_of,
    duration_text,
    engine_of,
    listed,
    size_text,
)

# A statement running this long is reported; from the next two it is
# medium, then high (it holds back vacuum and purge everywhere).
LONG_QUERY_SECONDS = 60
LONG_QUERY_MEDIUM_SECONDS = 300
LONG_QUERY_HIGH_SECONDS = 3600
# A statement waiting this long for a lock is reported; high when one has
# waited LOCK_WAIT_HIGH_SECONDS or LOCK_WAIT_HIGH_SESSIONS are waiting.
LOCK_WAIT_SECONDS = 10
LOCK_WAIT_HIGH_SECONDS = 300
LOCK_WAIT_HIGH_SESSIONS = 5
# Transaction IDs run out at 2^31 of age: PostgreSQL then refuses writes
# to protect the data. Reported past the first share, high and critical
# past the next two.
XID_LIMIT = 2**31
XID_REPORT_SHARE = 0.40
XID_HIGH_SHARE = 0.60
XID_CRITICAL_SHARE = 0.80
# Replication behind by this long is reported, high from the second.
REPLICATION_LAG_SECONDS = 60
REPLICATION_LAG_HIGH_SECONDS = 3600
# An inactive slot holding this much WAL is high (the disk fills, then the
# primary stops).
SLOT_HIGH_BYTES = 10 * 1024**3

TOPIC = Topic.beside(__file__)


def _sessions(schema: Any) -> list[dict[str, Any]]:
    return list(schema.fact("activity", ()) or ())


def _who(session: dict[str, Any]) -> str:
    user = f", {session['user']}" if session.get("user") else ""
    return f"session {session['pid']}{user}"


def _sessions_issue(
    spec: CheckSpec,
    schema: Any,
    aspect: str,
    severity: Severity,
    head: str,
    shown: list[str],
) -> Issue:
    """Return the database's one issue about ``aspect`` of its sessions."""
    database = database_of(schema)
    return spec.issue(
        key=[database, aspect],
        object=database,
        severity=severity,
        evidence=f"{head} at the time of the audit: {listed(shown)}.",
    )


def _cancel(engine: str, pid: int) -> str:
    if engine == "mysql":
        return f"KILL QUERY {pid};"
    return f"SELECT pg_cancel_backend({pid});"


@TOPIC.implements("query-long-running", requires=LIVE)
def query_long_running(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report statements running past the threshold (key: database)."""
    long = sorted(
        (
            s
            for s in _sessions(schema)
            if s["state"] == "active"
            and not s["blocked_by"]
            and s["seconds"] >= LONG_QUERY_SECONDS
        ),
        key=lambda s: -s["seconds"],
    )
    if not long:
        return
    longest = long[0]["seconds"]
    severity = (
        Severity.HIGH
        if longest >= LONG_QUERY_HIGH_SECONDS
        else Severity.MEDIUM
        if longest >= LONG_QUERY_MEDIUM_SECONDS
        else Severity.LOW
    )
    shown = [
        f"{_who(s)}, running {duration_text(s['seconds'])}: {s['query']}" for s in long
    ]
    yield _sessions_issue(
        spec,
        schema,
        "long_queries",
        severity,
        f"{len(long)} statement(s) running longer than "
        f"{duration_text(LONG_QUERY_SECONDS)}",
        shown,
    ).with_changes(fix_sql=_cancel(engine_of(schema), long[0]["pid"]))


@TOPIC.implements("query-blocked", requires=LIVE)
def query_blocked(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report statements waiting on another session's lock (key: database)."""
    sessions = _sessions(schema)
    by_pid = {s["pid"]: s for s in sessions}
    waiting = sorted(
        (s for s in sessions if s["blocked_by"] and s["seconds"] >= LOCK_WAIT_SECONDS),
        key=lambda s: -s["seconds"],
    )
    if not waiting:
        return
    severity = (
        Severity.HIGH
        if waiting[0]["seconds"] >= LOCK_WAIT_HIGH_SECONDS
        or len(waiting) >= LOCK_WAIT_HIGH_SESSIONS
        else Severity.MEDIUM
    )
    shown = []
    for s in waiting:
        holders = []
        for pid in s["blocked_by"]:
            holder = by_pid.get(pid)
            state = f" ({holder['state']}: {holder['query']})" if holder else ""
            holders.append(f"session {pid}{state}")
        shown.append(
            f"{_who(s)} has waited {duration_text(s['seconds'])} "
            f"({s['query']}) for {', '.join(holders)}"
        )
    yield _sessions_issue(
        spec,
        schema,
        "lock_waits",
        severity,
        f"{len(waiting)} statement(s) waiting on locks",
        shown,
    )


def _xid_severity(age: int) -> Severity | None:
    share = age / XID_LIMIT
    if share >= XID_CRITICAL_SHARE:
        return Severity.CRITICAL
    if share >= XID_HIGH_SHARE:
        return Severity.HIGH
    if share >= XID_REPORT_SHARE:
        return Severity.MEDIUM
    return None


@TOPIC.implements("txid-wraparound-risk", requires=LIVE)
def txid_wraparound_risk(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report databases whose transaction-ID or multixact age nears 2^31.

    Key: ``[database, "wraparound"]`` for each database of the server.
    """
    found = schema.fact("wraparound")
    if not found:
        return
    current = database_of(schema)
    for name, xid_age, mxid_age in found["databases"]:
        age = max(xid_age, mxid_age)
        severity = _xid_severity(age)
        if severity is None:
            continue
        kind = "transaction-ID" if xid_age >= mxid_age else "multixact"
        oldest = ""
        if name == current and found["tables"]:
            oldest = "; oldest tables: " + ", ".join(
                f"{t} ({a:,})" for t, a in found["tables"]
            )
        yield spec.issue(
            key=[name, "wraparound"],
            object=name,
            severity=severity,
            evidence=(
                f"Database {name} has a {kind} age of {age:,}, "
                f"{age / XID_LIMIT:.0%} of the 2^31 limit "
                f"(autovacuum_freeze_max_age is {found['freeze_max_age']:,}){oldest}."
            ),
            fix_sql="VACUUM (FREEZE, VERBOSE);  -- in that database, oldest tables first",
        )


def _lag_severity(seconds: float) -> Severity:
    return Severity.HIGH if seconds >= REPLICATION_LAG_HIGH_SECONDS else Severity.MEDIUM


@TOPIC.implements("replication-lag", requires=LIVE)
def replication_lag(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report replicas behind their primary (key: database, replica name)."""
    found = schema.fact("replication")
    if not found:
        return
    database = database_of(schema)
    lag = found.get("lag_seconds")
    if found.get("standby") and lag is not None and lag >= REPLICATION_LAG_SECONDS:
        yield spec.issue(
            key=[database, "replica", "this server"],
            object=database,
            severity=_lag_severity(lag),
            evidence=(
                f"This server is a replica and has replayed nothing for "
                f"{duration_text(lag)} while its primary sent more."
            ),
        )
    for replica in found.get("replicas", ()):
        seconds = replica["lag_seconds"]
        if seconds < REPLICATION_LAG_SECONDS:
            continue
        yield spec.issue(
            key=[database, "replica", replica["name"]],
            object=replica["name"] or database,
            severity=_lag_severity(seconds),
            evidence=(
                f"Replica {replica['name'] or '(unnamed)'} ({replica['state']}) is "
                f"{duration_text(seconds)} and {size_text(replica['lag_bytes'])} "
                "of WAL behind."
            ),
        )


@TOPIC.implements("replication-slot-inactive", requires=LIVE)
def replication_slot_inactive(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report replication slots with no consumer (key: database, slot name)."""
    database = database_of(schema)
    for slot in schema.fact("replication_slots", ()) or ():
        if slot["active"]:
            continue
        retained = slot["retained_bytes"]
        yield spec.issue(
            key=[database, "slot", slot["name"]],
            object=slot["name"],
            severity=Severity.HIGH if retained >= SLOT_HIGH_BYTES else None,
            evidence=(
                f"The {slot['type']} replication slot {slot['name']} has no "
                f"consumer connected and holds {size_text(retained)} of WAL."
            ),
            fix_sql=f"SELECT pg_drop_replication_slot('{slot['name']}');",
        )
