"""Checks that need a live connection: engine facts, statistics, data.

They read the facts the SQLite, PostgreSQL and MySQL probes put into
``Schema.facts`` (each probe's module docstring lists its keys) and run only
when the target was probed live.

Fingerprint keys, the same a DDL or code implementation of the check would
use for the same problem:

- table-level problems: ``[table]``;
- a foreign key's problem: ``[table, "col1,col2", ref_table]``;
- an index's problem: ``[table, "col1,col2"]`` (index columns in order);
- a constraint's problem: ``[table, constraint name]``;
- a sequence: ``[table, column]`` when a column owns it, else
  ``[sequence]``;
- database-wide problems: ``[database]`` (the file's base name on SQLite,
  the database name on servers), plus one word naming the aspect when a
  check has several (``"vacuum"``, ``"analyze"``, ``"max_connections"``,
  ``"idle_in_transaction"``).

``backup-missing`` has no live implementation on purpose: a connection
cannot see backups taken outside the server (file copies, volume
snapshots, pg_dump from cron), so the probe could only guess, and a check
that cannot know stays silent. ``table-unbounded-growth`` needs audit
history (growth between audits), not one look at a live database.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from audits.engine.issues import Evidence, Issue, Severity
from audits.engine.registry import CheckSpec, Facts, implements
from audits.engine.schema import Schema
from audits.engine.sources._probe import VERSION_TABLES

LIVE = {Evidence.LIVE}

# A table this big read mostly by sequential scans is worth an index.
SEQ_SCAN_MIN_ROWS = 10_000
# Fewer sequential scans than this say nothing about the workload (each
# audit's orphan scan adds one).
SEQ_SCAN_MIN_SCANS = 50
# Sequences and integer identities past this share of their range.
SEQUENCE_THRESHOLD = 0.75
# Connections above this share of max_connections.
CONNECTIONS_THRESHOLD = 0.8
# SQLite freelist above this share of the pages, on files of at least
# FREELIST_MIN_PAGES pages (tiny files are not worth a VACUUM).
FREELIST_THRESHOLD = 0.2
FREELIST_MIN_PAGES = 64


def _schema(facts: Facts) -> Schema | None:
    schema = facts.schema
    if schema is None or not schema.is_live:
        return None
    return schema


def _engine(schema: Schema) -> str:
    return str(schema.fact("engine", ""))


def _database(schema: Schema) -> str:
    return str(schema.fact("database", "") or schema.source)


def _cols(columns: tuple[str, ...] | list[str]) -> str:
    return ",".join(c.lower() for c in columns)


def _user_tables(schema: Schema) -> list[str]:
    return [
        t.name
        for t in schema.tables
        if t.name.rsplit(".", 1)[-1].lower() not in VERSION_TABLES
    ]


# --- integrity ------------------------------------------------------------


@implements("fk-violations", requires=LIVE)
def fk_violations(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report foreign keys that rows violate (key: table, columns, parent)."""
    schema = _schema(facts)
    if schema is None:
        return
    seen: set[tuple[str, str, str]] = set()
    for found in schema.fact("fk_violations", ()) or ():
        table, columns = found["table"], tuple(found["columns"])
        ref_table = found["ref_table"]
        place = (table.lower(), _cols(columns), ref_table.lower())
        if place in seen:
            continue  # two declarations of one key report the same rows
        seen.add(place)
        count = int(found["count"])
        amount = f"{count} row{'s' if count != 1 else ''}"
        if not found.get("exact", True):
            amount = f"at least {amount}"
        sample = found.get("sample") or ()
        rowids = f" (rowids {', '.join(str(r) for r in sample)})" if sample else ""
        col_list = ", ".join(columns)
        yield spec.issue(
            key=[table, _cols(columns), ref_table],
            object=f"{table}.{col_list}"
            if len(columns) == 1
            else f"{table}({col_list})",
            evidence=(
                f"{amount} of {table}{rowids} hold {col_list} values with no "
                f"matching row in {ref_table}."
            ),
            fix_sql=_orphan_query(table, columns, ref_table, schema),
        )


def _orphan_query(
    table: str, columns: tuple[str, ...], ref_table: str, schema: Schema
) -> str:
    parent = schema.table(ref_table)
    child = schema.table(table)
    refs: tuple[str, ...] = ()
    if child is not None:
        for fk in child.foreign_keys:
            if _cols(fk.columns) == _cols(columns) and fk.ref_table == ref_table:
                refs = fk.ref_columns
                break
    if not refs and parent is not None:
        refs = parent.primary_key
    if len(refs) != len(columns):
        return ""
    not_null = " AND ".join(f"c.{c} IS NOT NULL" for c in columns)
    match = " AND ".join(f"p.{r} = c.{c}" for r, c in zip(refs, columns, strict=True))
    return (
        f"-- list the orphans, then repair or delete them\n"
        f"SELECT c.* FROM {table} c WHERE {not_null} AND NOT EXISTS "
        f"(SELECT 1 FROM {ref_table} p WHERE {match});"
    )


@implements("integrity-check-failed", requires=LIVE)
def integrity_check_failed(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report a failed SQLite integrity check and unvalidated constraints.

    Keys: ``[database]`` for SQLite corruption; ``[table, constraint]`` for
    a PostgreSQL constraint left NOT VALID.
    """
    schema = _schema(facts)
    if schema is None:
        return
    if _engine(schema) == "sqlite":
        result = schema.fact("integrity_check")
        if result is not None and tuple(result) != ("ok",):
            kind = schema.fact("integrity_check_kind", "integrity_check")
            lines = list(result)
            shown = "\n".join(f"  {line}" for line in lines[:10])
            more = f"\n  ... {len(lines) - 10} more" if len(lines) > 10 else ""
            yield spec.issue(
                key=[_database(schema)],
                object=_database(schema),
                evidence=f"PRAGMA {kind} reported:\n{shown}{more}",
            )
    for found in schema.fact("not_valid_constraints", ()) or ():
        table, name = found["table"], found["name"]
        yield spec.issue(
            key=[table, name],
            title="Constraint added NOT VALID was never validated",
            object=f"{table}.{name}",
            evidence=(
                f"The {found['kind']} constraint {name} on {table} is NOT VALID: "
                f"rows written before it was added were never checked "
                f"({found['definition']})."
            ),
            fix_sql=f"ALTER TABLE {table} VALIDATE CONSTRAINT {name};",
        )


@implements("sqlite-synchronous-normal", requires=LIVE)
def sqlite_synchronous_normal(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report WAL with synchronous=NORMAL as new connections get it (key: database).

    ``synchronous`` is per connection: the probe sees the default this
    SQLite build gives a connection that does not set it.
    """
    schema = _schema(facts)
    if schema is None or _engine(schema) != "sqlite":
        return
    if schema.fact("journal_mode") == "wal" and schema.fact("synchronous") == 1:
        yield spec.issue(
            key=[_database(schema)],
            object=_database(schema),
            evidence=(
                "The database is in WAL mode and connections that do not set "
                "PRAGMA synchronous get NORMAL (1) from this SQLite build."
            ),
            fix_sql="PRAGMA synchronous=FULL;  -- on every connection",
        )


# --- performance ------------------------------------------------------------


def _index_key(table: str, columns: tuple[str, ...]) -> list[str]:
    return [table, _cols(columns)]


@implements("index-invalid", requires=LIVE)
def index_invalid(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report indexes left invalid (key: table, index columns)."""
    schema = _schema(facts)
    if schema is None:
        return
    for table in schema.tables:
        for index in table.indexes:
            if index.valid:
                continue
            yield spec.issue(
                key=_index_key(table.name, index.column_names),
                object=index.name,
                evidence=(
                    f"Index {index.name} on {table.name}"
                    f"({', '.join(index.column_names)}) is marked invalid: it is "
                    "maintained on every write but the planner never uses it."
                ),
                fix_sql=f"REINDEX INDEX CONCURRENTLY {index.name};",
            )


@implements("index-unused", requires=LIVE)
def index_unused(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report indexes never scanned on read tables (key: table, index columns).

    Unique indexes and those backing a constraint enforce something, so they
    are never unused; empty tables and tables nobody has read yet say
    nothing either, and statistics reset less than a week ago are too young
    to judge.
    """
    schema = _schema(facts)
    if schema is None or _engine(schema) != "postgresql":
        return
    if _stats_too_young(schema.fact("stats_reset")):
        return
    reads = {
        s["table"]: s["seq_scan"] + s["idx_scan"]
        for s in schema.fact("table_stats", ()) or ()
    }
    scans = {
        (s["table"], s["index"]): s["scans"]
        for s in schema.fact("index_stats", ()) or ()
    }
    rows = {s["table"]: s["rows"] for s in schema.fact("table_stats", ()) or ()}
    for table in schema.tables:
        # Building an index scans its table once, so an empty table always
        # looks read; it says nothing about its indexes.
        if not reads.get(table.name) or not (rows.get(table.name) or table.row_count):
            continue
        for index in table.indexes:
            if index.unique or index.constraint or not index.valid:
                continue
            if scans.get((table.name, index.name), -1) != 0:
                continue
            yield spec.issue(
                key=_index_key(table.name, index.column_names),
                object=index.name,
                evidence=(
                    f"Index {index.name} on {table.name}"
                    f"({', '.join(index.column_names)}) has had no scan since "
                    f"statistics were last reset, while {table.name} was read "
                    f"{reads[table.name]} times."
                ),
                fix_sql=f"DROP INDEX CONCURRENTLY {index.name};",
            )


def _stats_too_young(reset: Any) -> bool:
    if not reset:
        return False
    try:
        when = datetime.fromisoformat(str(reset))
    except ValueError:
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return datetime.now(UTC) - when < timedelta(days=7)


@implements("table-seq-scan-heavy", requires=LIVE)
def table_seq_scan_heavy(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report large tables read mostly by sequential scans (key: table)."""
    schema = _schema(facts)
    if schema is None or _engine(schema) != "postgresql":
        return
    for stats in schema.fact("table_stats", ()) or ():
        rows, seq, idx = stats["rows"], stats["seq_scan"], stats["idx_scan"]
        if rows < SEQ_SCAN_MIN_ROWS or seq < SEQ_SCAN_MIN_SCANS or seq <= idx:
            continue
        share = seq / (seq + idx)
        yield spec.issue(
            key=[stats["table"]],
            object=stats["table"],
            evidence=(
                f"{stats['table']} holds about {rows} rows and {share:.0%} of its "
                f"reads were sequential scans ({seq} sequential, {idx} by index)."
            ),
        )


# --- operations -------------------------------------------------------------


@implements("sequence-near-exhaustion", requires=LIVE)
def sequence_near_exhaustion(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report sequences past 75% of their range (key: table, column or sequence)."""
    schema = _schema(facts)
    if schema is None:
        return
    for seq in schema.fact("sequences", ()) or ():
        if seq["fraction"] < SEQUENCE_THRESHOLD:
            continue
        table, column = seq.get("table"), seq.get("column")
        owner = f"{table}.{column}" if table and column else seq["sequence"]
        fix = f"ALTER SEQUENCE {seq['sequence']} AS bigint;"
        if table and column:
            fix = f"ALTER TABLE {table} ALTER COLUMN {column} TYPE bigint;\n" + fix
        yield spec.issue(
            key=[table, column] if table and column else [seq["sequence"]],
            object=owner,
            evidence=(
                f"Sequence {seq['sequence']} ({seq['type']}) is at "
                f"{seq['last_value']} of {seq['max_value']} "
                f"({seq['fraction']:.0%} used)."
            ),
            fix_sql=fix,
        )


@implements("connections-near-limit", requires=LIVE)
def connections_near_limit(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report connections near max_connections and long idle transactions.

    Keys: ``[database, "max_connections"]`` and ``[database,
    "idle_in_transaction"]``.
    """
    schema = _schema(facts)
    if schema is None or _engine(schema) not in ("postgresql", "mysql"):
        return
    database = _database(schema)
    limit = int(schema.fact("max_connections", 0) or 0)
    used = int(schema.fact("connections", 0) or 0)
    if limit and used / limit > CONNECTIONS_THRESHOLD:
        yield spec.issue(
            key=[database, "max_connections"],
            object=database,
            evidence=(
                f"{used} of max_connections={limit} connections are in use "
                f"({used / limit:.0%})."
            ),
        )
    idle = list(schema.fact("idle_in_transaction", ()) or ())
    if idle:
        longest = max(int(s["seconds"]) for s in idle)
        yield spec.issue(
            key=[database, "idle_in_transaction"],
            title="Sessions left idle in a transaction",
            object=database,
            evidence=(
                f"{len(idle)} session(s) idle in a transaction, the longest for "
                f"{longest // 60} min; they hold locks and keep old row "
                "versions from being vacuumed."
            ),
            fix_sql="ALTER SYSTEM SET idle_in_transaction_session_timeout = '5min';",
        )


@implements("maintenance-missing", requires=LIVE)
def maintenance_missing(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report a large SQLite freelist, missing statistics, unanalyzed tables.

    Keys: ``[database, "vacuum"]``, and ``["project"]`` for statistics that
    never get gathered, the same problem the code check reports when nothing
    in the code runs ANALYZE, so the two merge into one finding.
    """
    schema = _schema(facts)
    if schema is None:
        return
    database = _database(schema)
    engine = _engine(schema)
    if engine == "sqlite":
        pages = int(schema.fact("page_count", 0) or 0)
        free = int(schema.fact("freelist_count", 0) or 0)
        if pages >= FREELIST_MIN_PAGES and free / pages > FREELIST_THRESHOLD:
            yield spec.issue(
                key=[database, "vacuum"],
                object=database,
                evidence=(
                    f"{free} of {pages} pages ({free / pages:.0%}) are on the "
                    "freelist: space freed by deletes was never reclaimed."
                ),
                fix_sql="VACUUM;",
            )
        has_rows = int(schema.fact("tables_with_rows", 0) or 0)
        if has_rows and not schema.fact("has_sqlite_stat1", True):
            yield spec.issue(
                key=["project"],
                object=database,
                evidence=(
                    f"No sqlite_stat1 table: ANALYZE never ran, though {has_rows} "
                    "table(s) hold rows, so the planner guesses."
                ),
                fix_sql="PRAGMA optimize;  -- or ANALYZE; run it periodically",
            )
    elif engine == "postgresql":
        never = [
            s["table"]
            for s in schema.fact("table_stats", ()) or ()
            if s["rows"] > 0 and not s["last_analyze"] and not s["last_autoanalyze"]
        ]
        if never:
            shown = ", ".join(never[:10]) + (" ..." if len(never) > 10 else "")
            yield spec.issue(
                key=["project"],
                object=database,
                evidence=(
                    f"{len(never)} table(s) holding rows were never analyzed: {shown}."
                ),
                fix_sql="ANALYZE;  -- and check that autovacuum is on",
            )


@implements("sqlite-wal-disabled", requires=LIVE)
def sqlite_wal_disabled(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report a SQLite database with tables not in WAL mode.

    Key: ``["project", "journal_mode"]``, as the code check's, so a code path
    and a live file showing the same problem are one finding.
    """
    schema = _schema(facts)
    if schema is None or _engine(schema) != "sqlite" or not schema.tables:
        return
    mode = schema.fact("journal_mode")
    if mode and mode != "wal":
        yield spec.issue(
            key=["project", "journal_mode"],
            object=_database(schema),
            evidence=f"journal_mode is {mode}.",
            fix_sql="PRAGMA journal_mode=WAL;",
        )


@implements("migrations-unversioned", requires=LIVE)
def migrations_unversioned(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report a database with tables and no migration version table.

    On SQLite a non-zero ``user_version`` counts as versioning too. Key:
    ``["project"]``, as the code check's: unversioned schema changes are one
    problem of the project, however many places show it.
    """
    schema = _schema(facts)
    if schema is None or not _user_tables(schema):
        return
    if schema.fact("version_tables"):
        return
    if _engine(schema) == "sqlite" and schema.fact("user_version"):
        return
    extra = " and PRAGMA user_version is 0" if _engine(schema) == "sqlite" else ""
    yield spec.issue(
        key=["project"],
        object=_database(schema),
        evidence=(
            f"{len(_user_tables(schema))} table(s) but no migration version table "
            f"(alembic_version, django_migrations, schema_migrations, ...){extra}."
        ),
    )


@implements("slow-query-visibility-missing", requires=LIVE)
def slow_query_visibility_missing(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report a server that records no slow statements.

    Key: ``["project"]``, as the code check's, so both views are one finding.
    """
    schema = _schema(facts)
    if schema is None:
        return
    engine = _engine(schema)
    if engine == "postgresql":
        libraries = {
            str(s).lower() for s in schema.fact("shared_preload_libraries", ())
        }
        if (
            int(schema.fact("log_min_duration_statement", -1)) >= 0
            or schema.fact("pg_stat_statements")
            or libraries & {"pg_stat_statements", "auto_explain"}
        ):
            return
        yield spec.issue(
            key=["project"],
            object=_database(schema),
            evidence=(
                "log_min_duration_statement is -1 and pg_stat_statements is not "
                "installed."
            ),
            fix_sql=(
                "ALTER SYSTEM SET log_min_duration_statement = '500ms';\n"
                "SELECT pg_reload_conf();"
            ),
        )
    elif engine == "mysql":
        if schema.fact("slow_query_log") or schema.fact("performance_schema"):
            return
        yield spec.issue(
            key=["project"],
            object=_database(schema),
            severity=Severity.LOW,
            evidence="slow_query_log is OFF and performance_schema is OFF.",
            fix_sql="SET GLOBAL slow_query_log = ON;\nSET GLOBAL long_query_time = 0.5;",
        )
