"""Upkeep: dead rows, stale statistics, bloat, cache, slow statements, space, growth.

How well a running server keeps itself, read from the running-health facts
of the PostgreSQL and MySQL probes (:mod:`audits.engine.sources.pg_health`,
:mod:`audits.engine.sources.mysql_health`). Table findings key on the table
(``[table]``), index findings on ``[table, index]``, statements on their
normalised text, database-wide ones on ``[database, aspect]``.

Each row states its thresholds and severity rule; the numbers are the
constants below.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from audits.engine.issues import Issue, Severity
from audits.engine.schema import Schema

from .base import (
    LIVE,
    CheckSpec,
    Topic,
)
from .probe_facts import (
    daily_growth,
    database_of,
    duration_text,
    engine_of,
    listed,
    size_text,
    slow_statements_unrecorded,
)

# Dead rows: reported from DEAD_ROWS_MIN dead rows making up DEAD_SHARE of
# the table; medium from DEAD_ROWS_MEDIUM, low below.
DEAD_ROWS_MIN = 10_000
DEAD_SHARE = 0.2
DEAD_ROWS_MEDIUM = 100_000
# Statistics: stale when this many rows and this share changed since the
# last analyze.
STALE_ROWS_MIN = 10_000
STALE_SHARE = 0.2
# Bloat: reported from BLOAT_MIN_BYTES wasted making up BLOAT_SHARE of the
# relation; medium from BLOAT_MEDIUM_BYTES.
BLOAT_MIN_BYTES = 10 * 1024**2
BLOAT_SHARE = 0.5
BLOAT_MEDIUM_BYTES = 1024**3
# Cache: reported under CACHE_HIT_LOW of reads from memory, once
# CACHE_MIN_READS blocks were read; medium under CACHE_HIT_MEDIUM.
CACHE_HIT_LOW = 0.99
CACHE_HIT_MEDIUM = 0.90
CACHE_MIN_READS = 100_000
# Slow statements: a mean of SLOW_MEAN_MS over at least SLOW_MIN_CALLS
# calls; medium when it takes SLOW_SHARE of all statement time, else low;
# the SLOW_REPORTED slowest in total are reported.
SLOW_MEAN_MS = 100.0
SLOW_MIN_CALLS = 10
SLOW_SHARE = 0.05
SLOW_REPORTED = 10
# InnoDB history list length (undo not yet purged): medium from the first,
# high from the second.
HISTORY_LENGTH = 1_000_000
HISTORY_HIGH_LENGTH = 10_000_000
# Space is summarised for databases from this size.
SPACE_REPORT_BYTES = 1024**3
# Growth between two readings at least GROWTH_MIN_HOURS apart: reported when
# a table (or the database) grew by GROWTH_BYTES_PER_DAY and by
# GROWTH_SHARE_PER_DAY of its earlier size a day; medium from
# GROWTH_MEDIUM_BYTES_PER_DAY.
GROWTH_MIN_HOURS = 1
GROWTH_BYTES_PER_DAY = 100 * 1024**2
GROWTH_SHARE_PER_DAY = 0.05
GROWTH_MEDIUM_BYTES_PER_DAY = 1024**3

TOPIC = Topic.beside(__file__)


@TOPIC.implements("table-dead-rows", requires=LIVE)
def table_dead_rows(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report tables whose dead rows vacuum has not removed (key: table)."""
    server_off = schema.fact("autovacuum") is False
    for stats in schema.fact("vacuum_stats", ()) or ():
        dead, live = stats["dead"], stats["live"]
        if dead < DEAD_ROWS_MIN or dead < DEAD_SHARE * (dead + live):
            continue
        table = stats["table"]
        why = ""
        if stats["autovacuum_off"]:
            why = "; autovacuum is turned off for this table"
        elif server_off:
            why = "; autovacuum is turned off on the server"
        fix = f"VACUUM (ANALYZE) {table};"
        if stats["autovacuum_off"]:
            fix += f"\nALTER TABLE {table} RESET (autovacuum_enabled);"
        yield spec.issue(
            key=[table],
            object=table,
            severity=Severity.MEDIUM if dead >= DEAD_ROWS_MEDIUM else Severity.LOW,
            evidence=(
                f"{dead:,} dead rows beside {live:,} live ones "
                f"({dead / (dead + live):.0%}); last vacuumed "
                f"{stats['last_vacuum'] or 'never'}{why}."
            ),
            fix_sql=fix,
        )


@TOPIC.implements("table-statistics-stale", requires=LIVE)
def table_statistics_stale(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report tables changed a lot since their last analyze (key: table).

    A table never analyzed is maintenance-missing's, not this check's.
    """
    for stats in schema.fact("vacuum_stats", ()) or ():
        changed = stats["modified"]
        if not stats["last_analyze"] or changed < STALE_ROWS_MIN:
            continue
        if changed < STALE_SHARE * max(stats["live"], 1):
            continue
        table = stats["table"]
        yield spec.issue(
            key=[table],
            object=table,
            evidence=(
                f"{changed:,} rows changed since the last analyze "
                f"({stats['last_analyze']}); the table holds {stats['live']:,}."
            ),
            fix_sql=f"ANALYZE {table};",
        )


def _bloated(schema: Any, kind: str) -> Iterator[dict[str, Any]]:
    for entry in schema.fact("bloat", ()) or ():
        if entry["kind"] != kind:
            continue
        if entry["wasted"] >= BLOAT_MIN_BYTES and entry["ratio"] >= BLOAT_SHARE:
            yield entry


def _bloat_evidence(entry: dict[str, Any], engine: str) -> str:
    how = (
        "free space InnoDB reports"
        if engine == "mysql"
        else "estimated from the row widths in pg_stats"
    )
    return (
        f"{entry['name']} takes {size_text(entry['bytes'])}, of which about "
        f"{size_text(entry['wasted'])} ({entry['ratio']:.0%}) is not needed by "
        f"its rows ({how})."
    )


def _bloat_severity(entry: dict[str, Any]) -> Severity:
    return Severity.MEDIUM if entry["wasted"] >= BLOAT_MEDIUM_BYTES else Severity.LOW


@TOPIC.implements("table-bloat", requires=LIVE)
def table_bloat(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report tables much larger than their rows need (key: table)."""
    engine = engine_of(schema)
    for entry in _bloated(schema, "table"):
        table = entry["table"]
        yield spec.issue(
            key=[table],
            object=table,
            severity=_bloat_severity(entry),
            evidence=_bloat_evidence(entry, engine),
            fix_sql=(
                f"OPTIMIZE TABLE {table};"
                if engine == "mysql"
                else f"VACUUM FULL {table};  -- takes an exclusive lock; "
                "pg_repack does not"
            ),
        )


@TOPIC.implements("index-bloat", requires=LIVE)
def index_bloat(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report b-tree indexes much larger than their entries (key: table, index)."""
    for entry in _bloated(schema, "index"):
        yield spec.issue(
            key=[entry["table"], entry["name"]],
            object=entry["name"],
            severity=_bloat_severity(entry),
            evidence=_bloat_evidence(entry, engine_of(schema)),
            fix_sql=f"REINDEX INDEX CONCURRENTLY {entry['name']};",
        )


@TOPIC.implements("cache-hit-low", requires=LIVE)
def cache_hit_low(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report table, index or buffer-pool reads that miss memory.

    Key: ``[database, "cache", what]`` (``tables``, ``indexes``,
    ``buffer pool``).
    """
    database = database_of(schema)
    for what, counts in (schema.fact("cache") or {}).items():
        total = counts["hit"] + counts["read"]
        if total < CACHE_MIN_READS:
            continue
        rate = counts["hit"] / total
        if rate >= CACHE_HIT_LOW:
            continue
        yield spec.issue(
            key=[database, "cache", what],
            object=database,
            title=f"Reads of {what} miss the cache",
            severity=Severity.MEDIUM if rate < CACHE_HIT_MEDIUM else Severity.LOW,
            evidence=(
                f"{rate:.1%} of {total:,} block reads of {what} were served from "
                f"memory since statistics were reset; {counts['read']:,} went to disk."
            ),
        )


@TOPIC.implements("query-slow", requires=LIVE)
def query_slow(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report the statements slow on average that take most time (key: text)."""
    stats = schema.fact("query_stats")
    if not stats or not stats["available"]:
        return
    everything = stats["total_ms"] or sum(s["total_ms"] for s in stats["statements"])
    slow = [
        s
        for s in stats["statements"]
        if s["mean_ms"] >= SLOW_MEAN_MS and s["calls"] >= SLOW_MIN_CALLS
    ]
    slow.sort(key=lambda s: -s["total_ms"])
    database = database_of(schema)
    for entry in slow[:SLOW_REPORTED]:
        share = entry["total_ms"] / everything if everything else 0.0
        yield spec.issue(
            key=[database, " ".join(entry["query"].lower().split())],
            object=entry["query"][:120],
            severity=Severity.MEDIUM if share >= SLOW_SHARE else Severity.LOW,
            evidence=(
                f"{entry['calls']:,} calls averaging {entry['mean_ms']:,.0f} ms "
                f"({duration_text(entry['total_ms'] / 1000)} in all, {share:.0%} of "
                f"the time of every statement, {entry['rows']:,} rows), from "
                f"{stats['source']}: {entry['query']}"
            ),
        )


def _stats_advice(engine: str, stats: dict[str, Any], database: str) -> tuple[str, str]:
    """Return what is missing and the statements that turn it on."""
    if engine == "mysql":
        return (
            "performance_schema is OFF, so no statement digests are kept.",
            "[mysqld]\nperformance_schema = ON  # in the server's configuration",
        )
    if stats["why"] == "not readable":
        return (
            "pg_stat_statements is installed and loaded, but the audit's user "
            "may not read it.",
            "GRANT pg_read_all_stats TO <the audit's user>;",
        )
    if stats["why"] == "not installed" and stats["preloaded"]:
        return (
            "pg_stat_statements is loaded by the server but not installed in "
            f"database {database}.",
            "CREATE EXTENSION pg_stat_statements;",
        )
    installed = " is installed but" if stats["why"] == "not loaded" else ""
    return (
        f"pg_stat_statements{installed} is not in shared_preload_libraries, so "
        "no statement statistics are kept.",
        "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements';\n"
        "-- restart the server, then in this database:\n"
        "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;",
    )


@TOPIC.implements("query-stats-missing", requires=LIVE)
def query_stats_missing(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report a server that keeps no statement statistics (key: database).

    Quiet when nothing records slow statements at all: that one cause is
    ``slow-query-visibility-missing``'s finding, whose fix covers this one.
    """
    stats = schema.fact("query_stats")
    if not stats or stats["available"] or slow_statements_unrecorded(schema):
        return
    database = database_of(schema)
    evidence, fix = _stats_advice(engine_of(schema), stats, database)
    yield spec.issue(
        key=[database, "query_stats"],
        object=database,
        evidence=evidence,
        fix_sql=fix,
    )


@TOPIC.implements("innodb-history-long", requires=LIVE)
def innodb_history_long(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report an InnoDB history list purge has not caught up with (key: database)."""
    length = schema.fact("history_length")
    if length is None or length < HISTORY_LENGTH:
        return
    database = database_of(schema)
    yield spec.issue(
        key=[database, "history"],
        object=database,
        severity=Severity.HIGH if length >= HISTORY_HIGH_LENGTH else None,
        evidence=f"The InnoDB history list length is {length:,}.",
    )


@TOPIC.implements("database-space", requires=LIVE)
def database_space(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Summarise a large database's size and largest tables (key: database)."""
    space = schema.fact("space")
    if not space or space["database_bytes"] < SPACE_REPORT_BYTES:
        return
    database = database_of(schema)
    total = space["database_bytes"]
    shown = [
        f"{t['table']} {size_text(t['bytes'])} ({t['bytes'] / total:.0%}, "
        f"about {t['rows']:,} rows)"
        for t in space["largest"]
    ]
    yield spec.issue(
        key=[database, "space"],
        object=database,
        evidence=f"Database {database} takes {size_text(total)}; largest: {listed(shown)}.",
    )


@TOPIC.implements("space-growth-fast", requires=LIVE)
def space_growth_fast(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report tables and a database growing fast since the last reading.

    Keys: ``[table]`` for a table, ``[database, "growth"]`` for the whole.
    """
    growth = schema.fact("space_growth")
    if not growth or growth["days"] * 24 < GROWTH_MIN_HOURS:
        return
    database = database_of(schema)
    whole = {"table": "", **growth["database"]}
    since = growth["label"] or f"the reading of {growth['since'][:16]}"
    for entry in (whole, *growth["tables"]):
        rate = daily_growth(entry["before"], entry["now"], growth["days"])
        if rate.bytes < GROWTH_BYTES_PER_DAY or rate.share < GROWTH_SHARE_PER_DAY:
            continue
        table = entry["table"]
        name = f"Table {table}" if table else f"Database {database}"
        yield spec.issue(
            key=[table] if table else [database, "growth"],
            object=table or database,
            title=f"{name} grows fast",
            severity=(
                Severity.MEDIUM
                if rate.bytes >= GROWTH_MEDIUM_BYTES_PER_DAY
                else Severity.LOW
            ),
            evidence=(
                f"{name} grew from {size_text(entry['before'])} to "
                f"{size_text(entry['now'])} in "
                f"{duration_text(growth['days'] * 86400)} since {since}: "
                f"{size_text(rate.bytes)} a day ({rate.share_text} of its earlier "
                f"size a day){rate.doubling_text}."
            ),
        )
