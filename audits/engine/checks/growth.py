"""Growth: unbounded list queries, append-only tables nobody prunes, cleanup never called."""

from __future__ import annotations

import re
from collections.abc import Iterator

from audits.engine.issues import Issue, Severity
from audits.engine.schema import Schema
from audits.engine.sources.code import CodeFacts, FunctionInfo
from audits.engine.vocabulary import is_growth_table

from .base import CODE, JOINED, CheckSpec, Topic
from .code_context import by_key, on_request_path, steps
from .code_facts import (
    callees,
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

TOPIC = Topic.beside(__file__)


# Token and session tables grow by churn; one owner holds a few at once.
_CHURN = re.compile(r"(token|session|credential)s?($|_)", re.I)
# Tables a migration tool or the schema itself keeps: a row per version.
_BOOKKEEPING = re.compile(r"(^|_)(version|versions|migrations?|schema)($|_)", re.I)
_SECURITY_TABLE = re.compile(
    r"(token|session|credential|otp|reset|secret|api_?key)", re.I
)
_REMOVING = re.compile(r"(clean|purge|prune|expire|evict|delete|remove|drop)", re.I)


@TOPIC.implements("query-unbounded", requires=CODE)
def query_unbounded(spec: CheckSpec, code: CodeFacts) -> Iterator[Issue]:
    """Report list queries without LIMIT on tables that grow without bound.

    Severity: medium on a request path (the page grows with the table), low
    elsewhere (a job or start-up read that needs every row). A lookup by a
    row identifier, and one owner's tokens or sessions, are not reported.
    """
    for use in live_sql(code):
        info = use.sql
        if info.kind != "select" or info.has_limit or use.single_row:
            continue
        if info.aggregate and not info.group_by:
            continue
        growing = [
            t for t in info.tables if is_growth_table(t) and not _CHURN.search(t)
        ]
        if not growing or by_key(info.where_columns):
            continue
        fn = code.by_qualname.get(use.function)
        web = fn is not None and on_request_path(code, fn)
        issue = spec.issue(
            key=sql_key(use),
            severity=None if web else Severity.LOW,
            object=growing[0],
            evidence=use.snippet
            + ("" if web else "  # off the request path: a job or start-up read"),
            remediation=(
                f"Paginate the query in `{short(use.function)}`: add `LIMIT ? OFFSET ?` "
                "(or keyset pagination on an indexed column) and select only the "
                "columns the caller needs."
            ),
            **use_location(use),
        )
        yield issue.with_changes(
            trace=steps(
                (
                    use.file,
                    use.line,
                    f"reads every matching row of {growing[0]}, no LIMIT",
                ),
                (
                    use.file,
                    use.line,
                    "on a request path: the page grows with the table"
                    if web
                    else "off the request path: low",
                ),
            )
        )


@TOPIC.implements("cleanup-never-called", requires=CODE)
def cleanup_never_called(spec: CheckSpec, code: CodeFacts) -> Iterator[Issue]:
    """Report cleanup/purge/expire/prune functions that nothing calls or schedules."""

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
        if not sums[fn.qualname].touches_db or not never_called(code, fn):
            continue
        if fn.name.endswith("_") and not fn.name.endswith("__"):
            continue  # an Objective-C selector, registered by name
        deletes = _deleted_tables(code, fn)
        if not deletes:
            continue  # it removes nothing from the database
        sibling = called_in_file.get(fn.file, "")
        hint = f" beside the existing `{sibling}()` call" if sibling else ""
        yield _cleanup_issue(spec, fn, deletes, hint)


def _cleanup_issue(
    spec: CheckSpec, fn: FunctionInfo, deletes: set[str], hint: str
) -> Issue:
    security = any(_SECURITY_TABLE.search(t) for t in deletes)
    named = ", ".join(sorted(t for t in deletes if t != "?")) or "its rows"
    issue = spec.issue(
        key=[fn.file, fn.qualname],
        severity=None if security else Severity.HIGH,
        **in_function(fn),
        evidence=f"def {fn.name}(...) is defined but never called, scheduled or registered",
        remediation=(
            f"Call `{fn.name}()` from the application start-up or a periodic job"
            f"{hint}, or delete it if the data really needs no cleanup."
        ),
    )
    outcome = (
        ": expired credentials stay in the table"
        if security
        else ": the table only grows"
    )
    return issue.with_changes(
        trace=steps(
            (fn.file, fn.line, f"`{fn.name}` deletes from {named}"),
            (fn.file, fn.line, "nothing calls, schedules or registers it" + outcome),
        )
    )


def _deleted_tables(code: CodeFacts, fn: FunctionInfo) -> set[str]:
    """Return the tables ``fn`` (or a removing function it calls) deletes rows from."""
    tables: set[str] = set()
    functions = [fn] + [
        callee for _call, callee in callees(code, fn) if _REMOVING.search(callee.name)
    ]
    for f in functions:
        for use in code.sql_by_function.get(f.qualname, ()):
            if use.sql.kind in ("delete", "drop"):
                tables.update(use.sql.tables or ("?",))
        if any(c.name in ("delete", "bulk_delete") for c in f.calls):
            tables.add("?")
    return tables


@TOPIC.implements("table-unbounded-growth", requires=JOINED)
def table_unbounded_growth(
    spec: CheckSpec, code: CodeFacts, schema: Schema
) -> Iterator[Issue]:
    """Report append-only tables the code inserts into and never prunes."""
    written = growth_tables_written(code)
    pruned = reachable_deletes(code)
    for name in sorted(written - pruned):
        table = schema.table(name)
        if table is None or _BOOKKEEPING.search(name):
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
