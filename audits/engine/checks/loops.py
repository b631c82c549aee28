"""Queries in loops: N+1 queries and aggregation done in the application."""

from __future__ import annotations

from collections.abc import Iterator

from audits.engine.issues import Issue
from audits.engine.sources.code import CodeFacts, FunctionInfo

from .base import CODE, CheckSpec, Topic
from .code_context import (
    few_rows,
    heavy_work,
    loop_at,
    loops_over_rows,
    n_plus_one_severity,
    not_atomic_loops,
    reads_rows,
    small_literal,
    steps,
)
from .code_facts import (
    callees,
    in_function,
    live_functions,
    short,
    sql_key,
    summaries,
    tainted,
    use_location,
)

TOPIC = Topic.beside(__file__)


def _add_to_loop(
    by_loop: dict[int, Issue],
    fn: FunctionInfo,
    issue: Issue,
    loop_line: int,
    line: int,
    what: str,
) -> None:
    """Keep one finding per loop; further statements of it become related places."""
    first = by_loop.get(loop_line)
    if first is None:
        by_loop[loop_line] = issue
    else:
        by_loop[loop_line] = first.with_changes(
            related=first.related + steps((fn.file, line, what))
        )


def _quiet_loop(
    fn: FunctionInfo, atomic: set[tuple[str, int]], loop_line: int | None, once: bool
) -> bool:
    """Return True when a statement in this loop is not a query per item worth reporting."""
    loop = loop_at(fn, loop_line)
    return (
        once
        or loop is None
        or loop.kind == "while"
        or small_literal(loop)
        or (fn.qualname, loop.line) in atomic
        or bool(heavy_work(fn, loop_line))
    )


def _loop_step(
    code: CodeFacts, fn: FunctionInfo, loop_line: int | None
) -> tuple[str, int | None, str]:
    loop = loop_at(fn, loop_line)
    text = loop.iter_text if loop is not None else ""
    rows = " (query results)" if loops_over_rows(code, fn, loop) else ""
    return (fn.file, loop_line, f"loop over `{text[:80]}`{rows}")


@TOPIC.implements("query-n-plus-one", requires=CODE)
def query_n_plus_one(spec: CheckSpec, code: CodeFacts) -> Iterator[Issue]:
    """Report queries, or helpers that query, run once per item of a loop.

    Severity: high for a loop over query results (or request input) on a
    request path against a server database; medium off the request path;
    low on SQLite (in process), in a one-off script or over a bounded set.
    Not reported when the loop runs at most once, walks a short literal
    list, is dominated by network, model or file work, or is already
    reported as not atomic.
    """
    atomic = not_atomic_loops(code)
    for fn in live_functions(code):
        by_loop: dict[int, Issue] = {}
        for loop_line, line, what, issue in _statement_findings(spec, code, fn, atomic):
            _add_to_loop(by_loop, fn, issue, loop_line, line, what)
        for loop_line, line, what, issue in _helper_findings(spec, code, fn, atomic):
            _add_to_loop(by_loop, fn, issue, loop_line, line, what)
        yield from by_loop.values()


def _statement_findings(
    spec: CheckSpec, code: CodeFacts, fn: FunctionInfo, atomic: set[tuple[str, int]]
) -> Iterator[tuple[int, int, str, Issue]]:
    """Yield (loop line, line, what, finding) for statements run per item."""
    commit_loops = {t.loop_line for t in fn.txn if t.op == "commit" and t.loop_line}
    for use in code.sql_by_function.get(fn.qualname, []):
        if not use.loop_depth or use.loop_line is None or use.method == "executemany":
            continue
        if _quiet_loop(fn, atomic, use.loop_line, use.once):
            continue
        per_item_conn = use.conn.startswith("own:")
        if not (
            use.sql.kind == "select"
            or (use.sql.is_write and (per_item_conn or use.loop_line in commit_loops))
        ):
            continue
        fix = (
            "fetch every row in one query before the loop (`WHERE id IN (...)` "
            "or a JOIN)"
            if use.sql.kind == "select"
            else "use one connection and `executemany` for the rows"
        )
        loop = loop_at(fn, use.loop_line)
        severity, why = n_plus_one_severity(code, fn, loop, spec.severity)
        issue = spec.issue(
            key=sql_key(use),
            severity=severity,
            object=fn.qualname,
            evidence=use.snippet
            + ("  # opens a connection per item" if per_item_conn else ""),
            remediation=f"In `{short(fn.qualname)}`, {fix}.",
            **use_location(use),
        )
        trace = steps(
            _loop_step(code, fn, use.loop_line),
            (use.file, use.line, "runs this statement once per item"),
            (fn.file, fn.line, f"{severity.value}: {why}"),
        )
        yield (
            use.loop_line,
            use.line,
            "another query per item",
            issue.with_changes(trace=trace),
        )


def _helper_findings(
    spec: CheckSpec, code: CodeFacts, fn: FunctionInfo, atomic: set[tuple[str, int]]
) -> Iterator[tuple[int, int, str, Issue]]:
    """Yield (loop line, line, what, finding) for helpers called per item that read."""
    sums = summaries(code)
    sql_lines = {u.line for u in code.sql_by_function.get(fn.qualname, [])}
    for call, callee in callees(code, fn):
        if not call.loop_depth or call.line in sql_lines or call.loop_line is None:
            continue
        if _quiet_loop(fn, atomic, call.loop_line, call.once):
            continue
        s = sums[callee.qualname]
        if not s.touches_db or callee.sql_param is not None:
            continue
        if not reads_rows(code, callee):
            continue  # writes per item are the business of txn-not-atomic
        if heavy_work(callee, None, anywhere=True):
            continue  # each call goes to the network anyway
        conn_note = (
            " (each call opens its own connection)" if s.opens_connection else ""
        )
        severity, why = n_plus_one_severity(
            code, fn, loop_at(fn, call.loop_line), spec.severity
        )
        issue = spec.issue(
            key=[fn.file, fn.qualname, callee.qualname],
            severity=severity,
            **in_function(fn, call.line),
            evidence=f"{call.snippet}  # `{callee.name}()` queries the database{conn_note}",
            remediation=(
                f"In `{fn.name}`, replace the per-item `{callee.name}()` calls with one "
                "batched statement on one connection (`executemany`, or one query "
                "with `IN (...)`)."
            ),
        )
        inner = code.sql_by_function.get(callee.qualname, [])
        reached = (
            (
                inner[0].file,
                inner[0].line,
                f"which runs `{inner[0].sql.normalised[:80]}`",
            )
            if inner
            else (
                callee.file,
                callee.line,
                "which reaches the database through its own calls",
            )
        )
        trace = steps(
            _loop_step(code, fn, call.loop_line),
            (fn.file, call.line, f"calls `{callee.qualname}()` once per item"),
            reached,
            (fn.file, fn.line, f"{severity.value}: {why}"),
        )
        yield (
            call.loop_line,
            call.line,
            f"calls `{callee.name}()` per item",
            issue.with_changes(trace=trace),
        )


def _row_sources(
    code: CodeFacts, fn: FunctionInfo
) -> list[tuple[int, tuple[str, ...], str]]:
    """Return (line, names, statement) for multi-row reads inside ``fn``."""
    out = []
    for use in code.sql_by_function.get(fn.qualname, []):
        if use.sql.kind == "select" and not (
            use.single_row or use.sql.group_by or use.sql.aggregate or few_rows(use)
        ):
            out.append((use.line, use.result_names, use.sql.normalised))
    for call, callee in callees(code, fn):
        inner = [
            u
            for u in code.sql_by_function.get(callee.qualname, [])
            if u.sql.kind == "select" and not u.single_row
        ]
        if (
            len(inner) == 1
            and not inner[0].sql.group_by
            and not inner[0].sql.aggregate
            and not few_rows(inner[0])
        ):
            out.append((call.line, call.result_names, inner[0].sql.normalised))
    return out


def _rows_needed_anyway(fn: FunctionInfo, names: tuple[str, ...], hit: int) -> bool:
    """Return True when the rows serve more than the total (returned, listed, shown)."""
    kept = set(names) | set(fn.appended_names)
    if kept & set(fn.returned_names):
        return True
    loop = next((lp for lp in fn.loops if lp.line == hit), None)
    end = loop.end_line if loop is not None else hit
    # Used again after the totals: the rows were fetched for something else too.
    return any(line > end and set(refs) & set(names) for line, _t, refs in fn.assigns)


@TOPIC.implements("query-aggregation-in-app", requires=CODE)
def query_aggregation_in_app(spec: CheckSpec, code: CodeFacts) -> Iterator[Issue]:
    """Report rows fetched whole and then summed or counted in Python loops."""
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
            if hit is None or _rows_needed_anyway(fn, names, hit):
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
