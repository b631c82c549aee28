"""Operations: backups, maintenance, slow-query visibility, integrity, sequences.

``backup-missing`` has no live implementation on purpose: a connection
cannot see backups taken outside the server (file copies, volume
snapshots, pg_dump from cron), so the probe could only guess, and a check
that cannot know stays silent.
"""

from __future__ import annotations

from collections.abc import Iterator

from audits.engine.issues import Issue, Severity
from audits.engine.schema import Schema
from audits.engine.sources.code import CodeFacts

from .base import CODE, LIVE, CheckSpec, Topic
from .code_context import sqlite_only
from .code_facts import live_sql
from .probe_facts import database_of, engine_of, slow_statements_unrecorded

TOPIC = Topic.beside(__file__)


def _uses_database(code: CodeFacts) -> bool:
    return any(not c.in_test for c in code.connects) or any(
        True for _ in live_sql(code)
    )


def _project_issue(
    spec: CheckSpec, code: CodeFacts, evidence: str, remediation: str
) -> Issue:
    return spec.issue(
        key=["project"], object="project", evidence=evidence, remediation=remediation
    )


@TOPIC.implements("backup-missing", requires=CODE)
def backup_missing(spec: CheckSpec, code: CodeFacts) -> Iterator[Issue]:
    """Report a database-using project with no backup mechanism anywhere.

    Severity: medium when the code owns a SQLite file (nobody else will back
    it up); low for a server database, usually backed up by its operators
    outside the repository.
    """
    if not _uses_database(code) or "backup" in code.keywords:
        return
    sqlite = any(c.driver == "sqlite" for c in code.connects)
    how = (
        "a scheduled `sqlite3` `.backup()` (or `VACUUM INTO`) to another disk"
        if sqlite
        else "scheduled `pg_dump`/base backups with a tested restore"
    )
    issue = _project_issue(
        spec,
        code,
        "no `.backup()`, `VACUUM INTO`, pg_dump, mysqldump or backup tool configured",
        f"Add {how}, keep copies off the machine, and document the restore.",
    )
    if not sqlite_only(code):
        issue = issue.with_changes(
            severity=Severity.LOW,
            evidence=issue.evidence
            + "; the database is a server, often backed up outside the code",
        )
    yield issue


@TOPIC.implements("maintenance-missing", requires=CODE)
def maintenance_missing_in_code(spec: CheckSpec, code: CodeFacts) -> Iterator[Issue]:
    """Report a database-using project that never runs VACUUM/ANALYZE/optimize."""
    if not _uses_database(code) or "maintenance" in code.keywords:
        return
    kinds = {u.sql.kind for u in code.sql}
    if kinds & {"vacuum", "analyze"} or any(
        u.sql.pragma is not None and u.sql.pragma[0] == "optimize" for u in code.sql
    ):
        return
    yield _project_issue(
        spec,
        code,
        "no VACUUM, ANALYZE or `PRAGMA optimize` anywhere in the code",
        "Run `PRAGMA optimize` (SQLite) or ANALYZE periodically and VACUUM after large "
        "deletes, for example from the same job that deletes expired rows.",
    )


# SQLite freelist above this share of the pages, on files of at least
# FREELIST_MIN_PAGES pages (tiny files are not worth a VACUUM).
FREELIST_THRESHOLD = 0.2


FREELIST_MIN_PAGES = 64


@TOPIC.implements("maintenance-missing", requires=LIVE)
def maintenance_missing_live(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report a large SQLite freelist, missing statistics, unanalyzed tables.

    Keys: ``[database, "vacuum"]``, and ``["project"]`` for statistics that
    never get gathered, the same problem the code check reports when nothing
    in the code runs ANALYZE, so the two merge into one finding.
    """
    database = database_of(schema)
    engine = engine_of(schema)
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


@TOPIC.implements("slow-query-visibility-missing", requires=CODE)
def slow_query_visibility_missing_in_code(
    spec: CheckSpec, code: CodeFacts
) -> Iterator[Issue]:
    """Report a database-using project with no slow-query logging hook."""
    if not _uses_database(code) or "slowlog" in code.keywords:
        return
    yield _project_issue(
        spec,
        code,
        "no query timing hook (`set_trace_callback`, `before_cursor_execute`, "
        "`log_min_duration_statement`, pg_stat_statements)",
        "Log statements slower than a threshold: a timing wrapper around the execute "
        "helper, an SQLAlchemy `before/after_cursor_execute` listener, or "
        "`log_min_duration_statement` on PostgreSQL.",
    )


@TOPIC.implements("slow-query-visibility-missing", requires=LIVE)
def slow_query_visibility_missing_live(
    spec: CheckSpec, schema: Schema
) -> Iterator[Issue]:
    """Report a server that records no slow statements.

    Key: ``["project"]``, as the code check's, so both views are one finding.
    The same cause keeps ``query-stats-missing`` quiet: its ways of turning
    statement statistics on are in this finding's fix.
    """
    why = slow_statements_unrecorded(schema)
    if why is None:
        return
    if engine_of(schema) == "mysql":
        yield spec.issue(
            key=["project"],
            object=database_of(schema),
            severity=Severity.LOW,
            evidence=why,
            fix_sql=(
                "SET GLOBAL slow_query_log = ON;\nSET GLOBAL long_query_time = 0.5;\n"
                "-- and for statement digests, in the server's configuration:\n"
                "-- [mysqld] performance_schema = ON"
            ),
        )
        return
    yield spec.issue(
        key=["project"],
        object=database_of(schema),
        evidence=why,
        fix_sql=(
            "ALTER SYSTEM SET log_min_duration_statement = '500ms';\n"
            "SELECT pg_reload_conf();\n"
            "-- and for statement statistics (takes a restart):\n"
            "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements';\n"
            "-- after the restart, in this database:\n"
            "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;"
        ),
    )


@TOPIC.implements("integrity-check-failed", requires=LIVE)
def integrity_check_failed(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report a failed SQLite integrity check and unvalidated constraints.

    Keys: ``[database]`` for SQLite corruption; ``[table, constraint]`` for
    a PostgreSQL constraint left NOT VALID.
    """
    if engine_of(schema) == "sqlite":
        result = schema.fact("integrity_check")
        if result is not None and tuple(result) != ("ok",):
            kind = schema.fact("integrity_check_kind", "integrity_check")
            lines = list(result)
            shown = "\n".join(f"  {line}" for line in lines[:10])
            more = f"\n  ... {len(lines) - 10} more" if len(lines) > 10 else ""
            yield spec.issue(
                key=[database_of(schema)],
                object=database_of(schema),
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


# Sequences and integer identities past this share of their range.
SEQUENCE_THRESHOLD = 0.75


@TOPIC.implements("sequence-near-exhaustion", requires=LIVE)
def sequence_near_exhaustion(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report sequences past 75% of their range (key: table, column or sequence)."""
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
