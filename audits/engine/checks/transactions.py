"""Transactions: atomic units of work, lost updates, commits and rollbacks."""

from __future__ import annotations

import re
from collections.abc import Iterator

from audits.engine.issues import Issue, Severity
from audits.engine.sources.code import CodeFacts, FunctionInfo, SqlUse

from .base import CODE, CheckSpec, Topic
from .code_context import (
    database_receiver,
    managed_session,
    per_item_commits,
    sqlite_here,
    steps,
)
from .code_facts import callees, in_function, live_functions, short, summaries, tainted

TOPIC = Topic.beside(__file__)
CRITICAL, HIGH_SEV, LOW_SEV = Severity.CRITICAL, Severity.HIGH, Severity.LOW


@TOPIC.implements("txn-not-atomic", requires=CODE)
def txn_not_atomic(spec: CheckSpec, code: CodeFacts) -> Iterator[Issue]:
    """Report a batch expected all or nothing that commits item by item.

    Severity: critical when a parent row is committed before its children
    are written one by one (a crash leaves a parent with half its children);
    high for an import or batch load committed per item. Loops whose items
    stand alone (a status per row, a progress update, an admin action per
    selected item) are not reported.
    """
    seen: set[tuple[str, int]] = set()
    for item in per_item_commits(code):
        fn = item.fn
        if (fn.qualname, item.loop_line) in seen:
            continue
        seen.add((fn.qualname, item.loop_line))
        severity = CRITICAL if item.parent_first else HIGH_SEV
        if item.callee is not None:
            evidence = (
                f"{item.snippet}  # {item.what} opens its own connection and "
                "commits, once per item"
            )
            remediation = (
                f"Do the whole of `{fn.name}` on one connection in one transaction: "
                f"pass the connection into {item.what} (or insert the rows with "
                "`executemany`) and commit once at the end."
            )
            last = (
                item.callee.file,
                item.callee.line,
                f"{item.what} commits on its own connection",
            )
            middle = (
                f"calls {item.what} for each item: one connection, round trip and "
                "commit per row (the N+1 of this loop, reported here once)"
            )
        else:
            evidence = f"{item.snippet}  # committed once per loop iteration"
            remediation = (
                f"Run the loop in `{short(fn.qualname)}` on one connection inside one "
                "transaction (`executemany` for the rows) and commit once after it."
            )
            last = (fn.file, item.line, "each row is committed on its own")
            middle = "writes one row per item and commits it"
        issue = spec.issue(
            key=item.key,
            severity=severity,
            **in_function(fn, item.line),
            evidence=evidence,
            remediation=remediation,
        )
        yield issue.with_changes(
            trace=steps(
                (fn.file, item.loop_line, item.why),
                (fn.file, item.line, middle),
                last,
            )
        )


def _access_events(
    code: CodeFacts, fn: FunctionInfo
) -> list[tuple[int, str, str, str, tuple[str, ...], tuple[str, ...], SqlUse | None]]:
    """Return (line, kind, table, conn, result names, arg names, use) in order."""
    events: list[
        tuple[int, str, str, str, tuple[str, ...], tuple[str, ...], SqlUse | None]
    ] = []
    for use in code.sql_by_function.get(fn.qualname, []):
        kind = (
            "read" if use.sql.kind == "select" else "write" if use.sql.is_write else ""
        )
        if not kind:
            continue
        for table in use.sql.tables:
            events.append(
                (use.line, kind, table, use.conn, use.result_names, use.arg_names, use)
            )
    sums = summaries(code)
    for call, callee in callees(code, fn):
        if callee.sql_param is not None:
            continue
        s = sums[callee.qualname]
        conn = f"call:{call.line}:{callee.qualname}"
        for table in s.own_reads:
            events.append(
                (
                    call.line,
                    "read",
                    table,
                    conn,
                    call.result_names,
                    call.arg_names,
                    None,
                )
            )
        for table in s.own_writes:
            events.append(
                (
                    call.line,
                    "write",
                    table,
                    conn,
                    call.result_names,
                    call.arg_names,
                    None,
                )
            )
    events.sort(key=lambda e: e[0])
    return events


@TOPIC.implements("txn-lost-update", requires=CODE)
def txn_lost_update(spec: CheckSpec, code: CodeFacts) -> Iterator[Issue]:
    """Report a read and a dependent write of one table on two connections."""
    for fn in live_functions(code):
        uses = code.sql_by_function.get(fn.qualname, [])
        if any(u.sql.locking for u in uses):
            continue
        events = _access_events(code, fn)
        reported: set[str] = set()
        for i, (r_line, r_kind, table, r_conn, r_names, _, _) in enumerate(events):
            if r_kind != "read" or table in reported or not r_names:
                continue
            derived = tainted(fn, r_names, r_line)
            guarded = any(
                r_line <= line and set(refs) & derived for line, refs in fn.if_tests
            )
            for w_line, w_kind, w_table, w_conn, _, w_args, w_use in events[i + 1 :]:
                if w_kind != "write" or w_table != table or w_conn == r_conn:
                    continue
                if (
                    w_conn.startswith(("param:", "attr:", "global:"))
                    and r_conn == w_conn
                ):
                    continue
                if w_use is not None and _version_checked(w_use):
                    continue
                written = _set_value_names(w_use)
                if written is not None and not written & derived:
                    continue  # the read found the row; the value written is not from it
                guarded_before = guarded and any(
                    r_line <= line <= w_line and set(refs) & derived
                    for line, refs in fn.if_tests
                )
                if not (set(w_args) & derived or guarded_before):
                    continue
                reported.add(table)
                yield spec.issue(
                    key=[fn.file, fn.qualname, table],
                    file=fn.file,
                    line=r_line,
                    function=fn.qualname,
                    object=table,
                    evidence=(
                        f"reads {table} at line {r_line} and writes it at line {w_line} "
                        "on another connection"
                    ),
                    remediation=(
                        f"Make `{fn.name}` one atomic statement: "
                        "`INSERT ... ON CONFLICT DO UPDATE` with the arithmetic in SQL, "
                        "or read and write on one connection after `BEGIN IMMEDIATE`."
                    ),
                )
                break


_SET_CLAUSE = re.compile(
    r"\bSET\b(?P<set>.*?)(?:\bWHERE\b|\bRETURNING\b|$)", re.I | re.S
)


def _set_value_names(use: SqlUse | None) -> set[str] | None:
    """Return the names feeding the values an UPDATE writes, or None if unknown."""
    if use is None or not use.param_names or use.sql.kind != "update":
        return None
    positions: set[int] = set()
    for _column, value in use.sql.written:
        if value.startswith("?") and value[1:].isdigit():
            positions.add(int(value[1:]))
    match = _SET_CLAUSE.search(use.template)
    if match:
        positions.update(int(n) - 1 for n in re.findall(r"\$(\d+)", match["set"]))
        if "?" in match["set"] and not positions:
            return None
    names: set[str] = set()
    for position in positions:
        if position < len(use.param_names):
            names.update(use.param_names[position])
    return names


def _version_checked(use: SqlUse) -> bool:
    where = set(use.sql.where_columns)
    return bool(where & {"version", "updated_at", "row_version", "revision"}) or bool(
        where & set(use.sql.set_columns)
    )


@TOPIC.implements("commit-without-rollback", requires=CODE)
def commit_without_rollback(spec: CheckSpec, code: CodeFacts) -> Iterator[Issue]:
    """Report commits on shared connections or sessions with no rollback path.

    Severity: high on a server database, where a failed commit leaves the
    shared connection in a failed transaction for whoever uses it next;
    low on SQLite, which undoes a failed statement itself. Not reported when
    a framework or a provider closes the session (Flask-SQLAlchemy, Django,
    a dependency that yields the session in a ``with`` block), when the
    receiver is the function's own wrapper (reported where it commits), or
    when the receiver is not a connection or session.
    """
    for fn in live_functions(code):
        if any(t.op == "rollback" for t in fn.txn) or fn.yields_connection:
            continue
        for op in fn.txn:
            if op.op != "commit" or op.protected:
                continue
            if not op.conn.startswith(("param:", "attr:", "global:", "unknown")):
                continue
            if op.receiver in ("self", "cls") or not database_receiver(op.receiver):
                continue
            if managed_session(code, op.receiver, op.conn):
                continue
            yield _commit_issue(spec, code, fn, op.receiver, op.line)
            break


def _commit_issue(
    spec: CheckSpec, code: CodeFacts, fn: FunctionInfo, receiver: str, line: int
) -> Issue:
    low = sqlite_here(code, fn)
    issue = spec.issue(
        key=[fn.file, fn.qualname, receiver],
        severity=LOW_SEV if low else None,
        **in_function(fn, line),
        evidence=f"{receiver}.commit() with no try/except rollback",
        remediation=(
            f"In `{fn.name}`, wrap the work in `try: ... {receiver}.commit() "
            f"except Exception: {receiver}.rollback(); raise` (or a "
            "transaction context manager) so a failure does not leave the "
            "transaction open."
        ),
    )
    why = (
        "SQLite undoes a failed statement itself: low"
        if low
        else "a failed commit leaves the shared connection in a failed transaction"
    )
    return issue.with_changes(
        trace=steps(
            (fn.file, line, f"`{receiver}.commit()` outside try/except"),
            (fn.file, fn.line, f"`{fn.name}` has no rollback path; {why}"),
        )
    )


@TOPIC.implements("commit-ownership-unclear", requires=CODE)
def commit_ownership_unclear(spec: CheckSpec, code: CodeFacts) -> Iterator[Issue]:
    """Report a unit of work that commits while the code it serves commits too."""
    providers = [f for f in live_functions(code) if f.commits_after_yield]
    if not providers:
        return
    inner = [
        (f, op)
        for f in live_functions(code)
        if not f.commits_after_yield
        for op in f.txn
        if op.op == "commit" and op.conn.startswith(("param:", "attr:"))
    ]
    if not inner:
        return
    for provider in providers:
        other, op = inner[0]
        yield spec.issue(
            key=[provider.file, provider.qualname],
            file=provider.file,
            line=provider.line,
            function=provider.qualname,
            object=provider.qualname,
            evidence=(
                f"`{provider.name}` commits after the caller's block, and "
                f"{len(inner)} other function(s) commit too, e.g. `{other.qualname}` "
                f"({other.file}:{op.line})"
            ),
            remediation=(
                f"Let one layer own the transaction: either `{provider.name}` commits "
                "and repositories only flush, or repositories commit and the provider "
                "only closes."
            ),
        )
