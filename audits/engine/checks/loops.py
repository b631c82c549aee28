"""Queries in loops: N+1 queries and aggregation done in the application."""

from __future__ import annotations

from collections.abc import Iterator

from audits.engine.issues import Issue
from audits.engine.sources.code import CodeFacts, FunctionInfo

from .base import CODE, HIGH, HRS, MED, PERF, CheckSpec, Facts, Topic
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
    ("query-n-plus-one", PERF, HIGH, HRS, "code",
     "Query inside a loop (N+1)",
     "One round trip (or connection) per item multiplies latency by the number of rows.",
     "Fetch or write in one statement: a JOIN or `IN (...)`, or one connection with `executemany`."),
    ("query-aggregation-in-app", PERF, MED, HRS, "code",
     "Aggregation done in application code",
     "Fetching every row to count, sum or average in a loop moves work and data that GROUP BY does in the database.",
     "Aggregate in SQL with GROUP BY and aggregate functions."),
)
# fmt: on


@TOPIC.implements("query-n-plus-one", requires=CODE)
def query_n_plus_one(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report queries, or helpers that query, run once per item of a loop."""
    if (code := code_of(facts)) is None:
        return
    sums = summaries(code)
    for fn in live_functions(code):
        uses = code.sql_by_function.get(fn.qualname, [])
        commit_loops = {t.loop_line for t in fn.txn if t.op == "commit" and t.loop_line}
        sql_lines = {u.line for u in uses}
        for use in uses:
            if not use.loop_depth or loop_kind(fn, use.loop_line) == "while":
                continue
            if use.method == "executemany":
                continue
            per_item_conn = use.conn.startswith("own:")
            if use.sql.kind == "select" or (
                use.sql.is_write and (per_item_conn or use.loop_line in commit_loops)
            ):
                fix = (
                    "fetch every row in one query before the loop (`WHERE id IN (...)` "
                    "or a JOIN)"
                    if use.sql.kind == "select"
                    else "use one connection and `executemany` for the rows"
                )
                yield spec.issue(
                    key=sql_key(use),
                    object=fn.qualname,
                    evidence=use.snippet
                    + ("  # opens a connection per item" if per_item_conn else ""),
                    remediation=f"In `{short(fn.qualname)}`, {fix}.",
                    **use_location(use),
                )
        for call, callee in callees(code, fn):
            if not call.loop_depth or call.line in sql_lines:
                continue
            if loop_kind(fn, call.loop_line) == "while":
                continue
            s = sums[callee.qualname]
            if not s.touches_db or callee.sql_param is not None:
                continue
            conn_note = (
                " (each call opens its own connection)" if s.opens_connection else ""
            )
            yield spec.issue(
                key=[fn.file, fn.qualname, callee.qualname],
                **in_function(fn, call.line),
                evidence=f"{call.snippet}  # `{callee.name}()` queries the database{conn_note}",
                remediation=(
                    f"In `{fn.name}`, replace the per-item `{callee.name}()` calls with one "
                    "batched statement on one connection (`executemany`, or one query "
                    "with `IN (...)`)."
                ),
            )


def _row_sources(
    code: CodeFacts, fn: FunctionInfo
) -> list[tuple[int, tuple[str, ...], str]]:
    """Return (line, names, statement) for multi-row reads inside ``fn``."""
    out = []
    for use in code.sql_by_function.get(fn.qualname, []):
        if use.sql.kind == "select" and not (
            use.single_row or use.sql.group_by or use.sql.aggregate
        ):
            out.append((use.line, use.result_names, use.sql.normalised))
    for call, callee in callees(code, fn):
        inner = [
            u
            for u in code.sql_by_function.get(callee.qualname, [])
            if u.sql.kind == "select" and not u.single_row
        ]
        if len(inner) == 1 and not inner[0].sql.group_by and not inner[0].sql.aggregate:
            out.append((call.line, call.result_names, inner[0].sql.normalised))
    return out


@TOPIC.implements("query-aggregation-in-app", requires=CODE)
def query_aggregation_in_app(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report rows fetched whole and then summed or counted in Python loops."""
    if (code := code_of(facts)) is None:
        return
    for fn in live_functions(code):
        for line, names, statement in _row_sources(code, fn):
            if not names:
                continue
            derived = tainted(fn, names, line)
            hit = next(
                (
                    loop.line
                    for loop in fn.loops
                    if loop.line >= line
                    and loop.accumulates
                    and set(loop.iter_names) & derived
                ),
                None,
            )
            if hit is None:
                hit = next(
                    (
                        ln
                        for ln, refs in fn.aggregate_calls
                        if ln >= line and set(refs) & derived
                    ),
                    None,
                )
            if hit is None:
                continue
            yield spec.issue(
                key=[fn.file, fn.qualname, statement],
                **in_function(fn, hit),
                evidence=f"rows from `{statement[:100]}` are totalled in a Python loop",
                remediation=(
                    f"Aggregate in SQL for `{fn.name}`: `SELECT key, SUM(...), AVG(...) "
                    "... GROUP BY key` (normalise JSON blobs into columns first if needed)."
                ),
            )
            break
