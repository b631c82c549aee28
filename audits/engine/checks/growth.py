"""Growth: unbounded list queries, append-only tables nobody prunes, cleanup never called."""

from __future__ import annotations

import re
from collections.abc import Iterator

from audits.engine.issues import Issue
from audits.engine.vocabulary import is_growth_table

from .base import CODE, CRIT, HRS, JOINED, MED, MIN, OPS, PERF, CheckSpec, Facts, Topic
from .code_facts import (
    code_of,
    growth_tables_written,
    in_function,
    live_functions,
    live_sql,
    never_called,
    reachable_deletes,
    short,
    sql_key,
    summaries,
    use_location,
)

# id, dimension, severity, effort, evidence, title, rationale, remediation
# fmt: off
TOPIC = Topic(
    ("query-unbounded", PERF, MED, MIN, "code",
     "List query has no LIMIT",
     "A list query without LIMIT on a table that grows without bound returns ever larger result sets.",
     "Add LIMIT/OFFSET or keyset pagination."),
    ("cleanup-never-called", OPS, CRIT, MIN, "code",
     "Cleanup function is never called",
     "A purge/expire/prune function that nothing calls or schedules leaves its table growing forever.",
     "Call it at start-up and on a schedule (cron, beat, lifespan task)."),
    ("table-unbounded-growth", OPS, MED, HRS, "ddl+code live history",
     "Append-only table has no retention",
     "Logs, tokens, runs and jobs are inserted but never deleted, so the table and its indexes grow without bound.",
     "Add a retention job that deletes or archives rows past an age."),
)
# fmt: on


@TOPIC.implements("query-unbounded", requires=CODE)
def query_unbounded(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report list queries without LIMIT on tables that grow without bound."""
    if (code := code_of(facts)) is None:
        return
    for use in live_sql(code):
        info = use.sql
        if info.kind != "select" or info.has_limit or use.single_row:
            continue
        if info.aggregate and not info.group_by:
            continue
        growing = [t for t in info.tables if is_growth_table(t)]
        if not growing or "id" in info.where_columns:
            continue
        yield spec.issue(
            key=sql_key(use),
            object=growing[0],
            evidence=use.snippet,
            remediation=(
                f"Paginate the query in `{short(use.function)}`: add `LIMIT ? OFFSET ?` "
                "(or keyset pagination on an indexed column) and select only the "
                "columns the caller needs."
            ),
            **use_location(use),
        )


@TOPIC.implements("cleanup-never-called", requires=CODE)
def cleanup_never_called(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report cleanup/purge/expire/prune functions that nothing calls or schedules."""
    if (code := code_of(facts)) is None:
        return

    pattern = re.compile(
        r"(clean_?up|purge|prune|expire|evict|reap|sweep|retention|delete_old|delete_expired|remove_old|remove_expired|rotate)",
        re.I,
    )
    sums = summaries(code)
    cleanups = [f for f in live_functions(code) if pattern.search(f.name)]
    # file -> the first cleanup in it that something calls
    called_in_file: dict[str, str] = {}
    for f in cleanups:
        if not never_called(code, f):
            called_in_file.setdefault(f.file, f.name)
    for fn in cleanups:
        if not sums[fn.qualname].touches_db:
            continue
        if not never_called(code, fn):
            continue
        sibling = called_in_file.get(fn.file, "")
        hint = f" beside the existing `{sibling}()` call" if sibling else ""
        yield spec.issue(
            key=[fn.file, fn.qualname],
            **in_function(fn),
            evidence=f"def {fn.name}(...) is defined but never called, scheduled or registered",
            remediation=(
                f"Call `{fn.name}()` from the application start-up or a periodic job"
                f"{hint}, or delete it if the data really needs no cleanup."
            ),
        )


@TOPIC.implements("table-unbounded-growth", requires=JOINED)
def table_unbounded_growth(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report append-only tables the code inserts into and never prunes."""
    if (code := code_of(facts)) is None or facts.schema is None:
        return
    written = growth_tables_written(code)
    pruned = reachable_deletes(code)
    for name in sorted(written - pruned):
        table = facts.schema.table(name)
        if table is None:
            continue
        yield spec.issue(
            key=[table.name.lower()],
            object=table.name,
            evidence=f"the code inserts into {table.name} and no called code deletes from it",
            remediation=(
                f"Add a retention job for {table.name} (e.g. `DELETE FROM {table.name} "
                "WHERE created_at < ?` on a schedule) and call it."
            ),
        )
