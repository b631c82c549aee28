"""Plans: the code's statements as the live database would run them.

The code source extracts each statement and where it runs; the scan plans
it on the project's live PostgreSQL (:mod:`audits.engine.sources.pg_plans`)
or MySQL (:mod:`audits.engine.sources.mysql_plans`), EXPLAIN only, read-only, and hands the plans over as the ``query_plans``
fact, by statement template. A statement whose plan reads a large table
without an index is reported at the code line that issues it, keyed like
every code finding (file, function, normalised statement), with the index
that would serve it and the plan's estimated cost before and after.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from audits.engine.issues import Issue, Severity
from audits.engine.sources.code import CodeFacts

from .base import PLANNED, CheckSpec, Facts, Topic
from .code_facts import live_sql, sql_key, use_location

# Weighed by pg_stat_statements where it is installed: high from this many
# calls since statistics were reset, low under the second.
PLAN_CALLS_HIGH = 1_000
PLAN_CALLS_LOW = 10

TOPIC = Topic.beside(__file__)

_TITLES = {
    "seq scan": "Statement scans {table} without an index",
    "sort": "Statement sorts {table} without an index",
    "join": "Statement joins {table} without an index",
}
_READS = {
    "seq scan": "scans {table} (about {rows:,} rows) sequentially to apply {detail}",
    "sort": "reads all of {table} (about {rows:,} rows) to sort it for {detail}",
    "join": "reads all of {table} (about {rows:,} rows) to join it on {detail}",
}


def _weight(entry: dict[str, Any]) -> tuple[Severity | None, str]:
    """Return the severity pg_stat_statements gives a statement, and why."""
    calls = entry.get("calls")
    if calls is None:
        if entry.get("statistics"):
            return None, " pg_stat_statements has no record of this statement."
        if entry.get("source", "pg_stat_statements") != "pg_stat_statements":
            return None, f" ({entry['source']} is not read for plans: calls unknown.)"
        return None, " (pg_stat_statements is not installed: calls unknown.)"
    said = f" pg_stat_statements: {calls:,} calls, {entry['mean_ms']:,.1f} ms each."
    if calls >= PLAN_CALLS_HIGH:
        return Severity.HIGH, said
    if calls < PLAN_CALLS_LOW:
        return Severity.LOW, said
    return None, said


@TOPIC.implements("query-plan-missing-index", requires=PLANNED, facts=True)
def query_plan_missing_index(
    spec: CheckSpec, code: CodeFacts, facts: Facts
) -> Iterator[Issue]:
    """Report statements whose live plan reads a large table without an index."""
    if facts.schema is None:
        return
    plans = facts.schema.fact("query_plans") or {}
    for use in live_sql(code):
        entry = plans.get(use.template)
        if not entry or not entry["problems"]:
            continue
        problem = entry["problems"][0]
        severity, weighed = _weight(entry)
        table, columns = problem["table"], ", ".join(problem["columns"])
        reads = _READS[problem["kind"]].format(**problem)
        yield spec.issue(
            key=sql_key(use),
            **use_location(use),
            title=_TITLES[problem["kind"]].format(table=table),
            severity=severity,
            object=f"{table} ({columns})",
            evidence=(
                f"The plan of `{entry['statement']}` {reads}. Estimated cost "
                f"{problem['cost_before']:,.0f}, about {problem['cost_after']:,.0f} "
                f"with an index on {table} ({columns}), {problem['method']}."
                f"{weighed}"
            ),
            fix_sql=problem["index_sql"],
        )
