"""Transactions: atomic units of work, lost updates, commits and rollbacks."""

from __future__ import annotations

from collections.abc import Iterator

from audits.engine.issues import Issue
from audits.engine.sources.code import CodeFacts, FunctionInfo, SqlUse

from .base import CODE, CRIT, HIGH, HRS, INT, MED, MIN, CheckSpec, Facts, Topic
from .code_facts import (
    callees,
    code_of,
    in_function,
    live_functions,
    loop_kind,
    short,
    sql_key,
    summaries,
    tainted,
    use_location,
)

# id, dimension, severity, effort, evidence, title, rationale, remediation
# fmt: off
TOPIC = Topic(
    ("txn-not-atomic", INT, CRIT, HRS, "code",
     "Multi-step write is not atomic",
     "A parent and its children written over several connections or commits leave partial data when anything fails half-way.",
     "Do the whole operation on one connection in one transaction, with `executemany` for the children."),
    ("txn-lost-update", INT, CRIT, HRS, "code",
     "Read-modify-write without a lock (lost update)",
     "Two concurrent callers read the same row, compute from stale data, and the second write silently overwrites the first.",
     "Use `INSERT ... ON CONFLICT DO UPDATE` with the arithmetic in SQL, `SELECT ... FOR UPDATE`, `BEGIN IMMEDIATE`, or a version column."),
    ("commit-without-rollback", INT, HIGH, MIN, "code",
     "Commit path has no rollback on failure",
     "An exception between writes and commit leaves the session or connection in a failed transaction that later work reuses.",
     "Wrap the unit of work in `with conn:` / `session.begin()`, or roll back in an except block."),
    ("commit-ownership-unclear", INT, MED, HRS, "code",
     "Both the unit of work and its repositories commit",
     "When repositories commit on their own, the caller's transaction boundary is meaningless and partial work is persisted.",
     "Let only the unit of work (or service) commit; repositories flush."),
)
# fmt: on


def _loop_writes_own_connection(
    code: CodeFacts, fn: FunctionInfo
) -> Iterator[tuple[int, str, str, str]]:
    """Yield (line, key part, what, snippet) for per-item writes in loops."""
    sums = summaries(code)
    for call, callee in callees(code, fn):
        if not call.loop_depth or loop_kind(fn, call.loop_line) == "while":
            continue
        s = sums[callee.qualname]
        if s.own_writes and callee.sql_param is None:
            yield call.line, callee.qualname, f"`{callee.name}()`", call.snippet


@TOPIC.implements("txn-not-atomic", requires=CODE)
def txn_not_atomic(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report multi-step writes spread over one connection or commit per item."""
    if (code := code_of(facts)) is None:
        return
    for fn in live_functions(code):
        for line, key, what, snippet in _loop_writes_own_connection(code, fn):
            yield spec.issue(
                key=[fn.file, fn.qualname, key],
                **in_function(fn, line),
                evidence=f"{snippet}  # {what} opens its own connection and commits, once per item",
                remediation=(
                    f"Do the whole of `{fn.name}` on one connection in one transaction: "
                    f"pass the connection into {what} (or insert the rows with "
                    "`executemany`) and commit once at the end."
                ),
            )
        uses = code.sql_by_function.get(fn.qualname, [])
        commit_loops = {t.loop_line for t in fn.txn if t.op == "commit" and t.loop_line}
        for use in uses:
            if not use.sql.is_write or not use.loop_depth:
                continue
            if loop_kind(fn, use.loop_line) == "while":
                continue
            per_item = use.conn.startswith("own:") or use.loop_line in commit_loops
            if not per_item:
                continue
            yield spec.issue(
                key=sql_key(use),
                evidence=f"{use.snippet}  # committed once per loop iteration",
                remediation=(
                    f"Run the loop in `{short(fn.qualname)}` on one connection inside one "
                    "transaction (`executemany` for the rows) and commit once after it."
                ),
                object=fn.qualname,
                **use_location(use),
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
def txn_lost_update(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report a read and a dependent write of one table on two connections."""
    if (code := code_of(facts)) is None:
        return
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


def _version_checked(use: SqlUse) -> bool:
    where = set(use.sql.where_columns)
    return bool(where & {"version", "updated_at", "row_version", "revision"}) or bool(
        where & set(use.sql.set_columns)
    )


@TOPIC.implements("commit-without-rollback", requires=CODE)
def commit_without_rollback(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report commits on shared connections or sessions with no rollback path."""
    if (code := code_of(facts)) is None:
        return
    for fn in live_functions(code):
        if any(t.op == "rollback" for t in fn.txn) or fn.yields_connection:
            continue
        for op in fn.txn:
            if op.op != "commit" or op.protected:
                continue
            if not op.conn.startswith(("param:", "attr:", "global:", "unknown")):
                continue
            yield spec.issue(
                key=[fn.file, fn.qualname, op.receiver],
                **in_function(fn, op.line),
                evidence=f"{op.receiver}.commit() with no try/except rollback",
                remediation=(
                    f"In `{fn.name}`, wrap the work in `try: ... {op.receiver}.commit() "
                    f"except Exception: {op.receiver}.rollback(); raise` (or a "
                    "transaction context manager) so a failure does not leave the "
                    "transaction open."
                ),
            )
            break


@TOPIC.implements("commit-ownership-unclear", requires=CODE)
def commit_ownership_unclear(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report a unit of work that commits while the code it serves commits too."""
    if (code := code_of(facts)) is None:
        return
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
