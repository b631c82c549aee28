"""Apply a migration history to a scratch PostgreSQL and roll it back.

Static rules cannot know everything PostgreSQL refuses (a partial index
whose predicate calls a function that is not IMMUTABLE, a cast the data
type does not allow). The dry run applies every statement, in order, inside
one transaction, in a schema of its own created for the run, and rolls the
whole transaction back: nothing is left behind, whatever the statements do.
Each statement runs under a savepoint, so one refusal does not hide the
next. CONCURRENTLY is dropped (it cannot run in a transaction, and on an
empty schema it builds the same index); the migration files' own BEGIN and
COMMIT are left to the run's transaction.

When the scratch database is the customer's own (the command line's
``--scratch-db``), a lock timeout set on its role or database (ALTER ROLE /
ALTER DATABASE ... SET lock_timeout) is read from ``pg_db_role_setting``:
the migrations run by that role start with it. ``current_setting`` cannot
tell, since this session sets a lock timeout of its own.
"""

from __future__ import annotations

import re
import secrets
import threading
from dataclasses import replace
from typing import Any

import psycopg
from psycopg import sql as pgsql

from audits.engine import guard
from audits.engine.sources import SourceError, postgres
from audits.engine.sources._probe import first_line
from audits.engine.sources.migrations import MigrationHistory, Rejection

MAX_REJECTIONS = 50
_SKIPPED = re.compile(
    r"^\s*(BEGIN|START\s+TRANSACTION|COMMIT|END|ROLLBACK|VACUUM|SET\s+TRANSACTION)\b",
    re.I,
)
_CONCURRENTLY = re.compile(r"\b(INDEX)\s+CONCURRENTLY\b", re.I)


def connect(
    url: str, *, timeout: float, policy: guard.NetworkPolicy | None
) -> psycopg.Connection[Any]:
    """Open a session on the scratch database, guarded as a probe's, that may write.

    The probe's connection is read-only by default; the dry run's
    transaction asks for READ WRITE explicitly, and is always rolled back.
    """
    if not url.startswith(("postgresql://", "postgres://", "postgresql+")):
        raise SourceError("the scratch database must be a postgresql:// URL")
    try:
        conn = postgres.connect(url, timeout=timeout, policy=policy)
    except guard.TargetRefused:
        raise
    except SourceError as exc:
        raise SourceError(f"the migrations' dry run: {exc}") from exc
    conn.read_only = False
    conn.isolation_level = psycopg.IsolationLevel.READ_COMMITTED
    return conn


def dry_run(
    history: MigrationHistory,
    url: str,
    *,
    timeout: float = 10.0,
    policy: guard.NetworkPolicy | None = None,
    read_settings: bool = True,
    label: str = "",
) -> MigrationHistory:
    """Return ``history`` with the statements the scratch database refused.

    ``read_settings`` reads the lock timeout the scratch database's role or
    database starts sessions with (False for a scratch database of the
    server's own, whose settings say nothing of the customer's deploy);
    ``label`` names the database in findings instead of its host and name.
    Raise :class:`SourceError` when the database cannot be reached.
    """
    conn = connect(url, timeout=timeout, policy=policy)
    info = conn.info
    where = label or f"PostgreSQL {info.host}:{info.port}/{info.dbname}"
    schema = f"plumbline_dry_run_{secrets.token_hex(6)}"
    rejected: list[Rejection] = []
    lock_timeout = history.lock_timeout
    try:
        with conn.cursor() as cur:
            if read_settings and not lock_timeout:
                found = _role_lock_timeout(cur)
                lock_timeout = f"{where}: {found}" if found else ""
            cur.execute(pgsql.SQL("CREATE SCHEMA {}").format(pgsql.Identifier(schema)))
            cur.execute(
                pgsql.SQL("SET LOCAL search_path TO {}, public").format(
                    pgsql.Identifier(schema)
                )
            )
            for stmt in history.statements:
                if _SKIPPED.match(stmt.sql):
                    continue
                error = _watched(conn, cur, _CONCURRENTLY.sub(r"\1", stmt.sql), timeout)
                if error and stmt.exact and len(rejected) < MAX_REJECTIONS:
                    rejected.append(Rejection(stmt.file, stmt.line, stmt.sql, error))
    except psycopg.OperationalError as exc:
        raise SourceError(
            f"the dry run lost its connection: {first_line(exc)}"
        ) from exc
    finally:
        conn.rollback()
        conn.close()
    return replace(
        history, rejected=tuple(rejected), dry_run=where, lock_timeout=lock_timeout
    )


# Role in database, then role, then database: PostgreSQL's own precedence.
_ROLE_SETTING = """
SELECT s.setdatabase <> 0, s.setrole <> 0, substr(cfg, length('lock_timeout=') + 1)
FROM pg_db_role_setting s, unnest(s.setconfig) AS cfg
WHERE s.setdatabase IN (0, (SELECT oid FROM pg_database WHERE datname = current_database()))
  AND s.setrole IN (0, (SELECT oid FROM pg_roles WHERE rolname = session_user))
  AND cfg LIKE 'lock\\_timeout=%'
ORDER BY (s.setrole <> 0) DESC, (s.setdatabase <> 0) DESC
LIMIT 1
"""


def _role_lock_timeout(cur: psycopg.Cursor[Any]) -> str:
    """Return the lock timeout the session's role or database sets, as said, or ''."""
    cur.execute(_ROLE_SETTING)
    row = cur.fetchone()
    if row is None:
        return ""
    on_database, on_role, setting = row
    if not str(setting).strip() or str(setting).strip() in ("0", "0ms", "0s"):
        return ""
    whose = " and ".join(
        part for part, given in (("role", on_role), ("database", on_database)) if given
    )
    return f"lock_timeout = {setting} set on the {whose or 'server'}"


def _watched(
    conn: psycopg.Connection[Any],
    cur: psycopg.Cursor[Any],
    statement: str,
    timeout: float,
) -> str:
    """Run one statement, cancelled from here when it outlasts ``timeout``.

    The server's statement_timeout is not enough: the migration may set
    its own (``SET statement_timeout = 0``) before something slow.
    """
    watchdog = threading.Timer(timeout + 1.0, conn.cancel_safe)
    watchdog.daemon = True
    watchdog.start()
    try:
        return _apply(cur, statement)
    finally:
        watchdog.cancel()


def _apply(cur: psycopg.Cursor[Any], statement: str) -> str:
    """Run one statement under a savepoint; return PostgreSQL's error, or ''."""
    cur.execute("SAVEPOINT plumbline_statement")
    try:
        cur.execute(statement)
    except psycopg.errors.QueryCanceled as exc:
        cur.execute("ROLLBACK TO SAVEPOINT plumbline_statement")
        return f"timed out: {first_line(exc)}"
    except psycopg.OperationalError:
        raise
    except psycopg.Error as exc:
        cur.execute("ROLLBACK TO SAVEPOINT plumbline_statement")
        return first_line(exc)
    cur.execute("RELEASE SAVEPOINT plumbline_statement")
    return ""
