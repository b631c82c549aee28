"""Running health of a MySQL or MariaDB server, read by the probe's session.

Each part reads one view or status variable; a part that fails (no
PROCESS privilege, a schema the server does not have) leaves a note and the
others still count. Engine facts (``Schema.facts``), in the shapes of
:mod:`._health` shared with PostgreSQL:

- ``activity``: every session of this database but the probe's that runs
  a statement or holds a transaction: ``state`` is ``active`` for a running statement,
  ``idle in transaction`` for a sleeping session with an open InnoDB
  transaction; ``blocked_by`` comes from the InnoDB lock waits.
- ``idle_in_transaction``: sessions idle in a transaction for longer than
  :data:`IDLE_IN_TRANSACTION_SECONDS`, as the PostgreSQL probe gives them.
- ``history_length``: the InnoDB history list length (undo not purged).
- ``cache``: InnoDB page reads from the buffer pool (``hit``) and from
  disk (``read``).
- ``query_stats``: statement digests of this database from
  ``performance_schema`` when it is on; else why not.
- ``bloat``: tables in their own tablespace with
  :data:`BLOAT_MIN_BYTES` or more of free space.
- ``space``: the database's size, its ten largest tables and the sizes of
  the :data:`._health.SPACE_TABLES` largest, with the time they were read.
"""

from __future__ import annotations

from typing import Protocol

from audits.engine.sources import _health
from audits.engine.sources._health import Reader

IDLE_IN_TRANSACTION_SECONDS = 300
# Tables whose free space is under this are never read as bloated.
BLOAT_MIN_BYTES = 10 * 1024**2
# Picoseconds in a millisecond: performance_schema times in picoseconds.
_PS_PER_MS = 1_000_000_000


class MyReader(Reader, Protocol):
    """A MySQL probe as the health parts see it."""

    db: str


def read(reader: MyReader) -> None:
    """Add the running-health facts of the server ``reader`` is connected to."""
    _health.read_each(
        reader, (_activity, _history, _cache, _statements, _bloat, _space)
    )


def _lock_waits(reader: MyReader) -> dict[int, list[int]]:
    """Return each waiting session's id with the ids of the sessions it waits for."""
    if reader.facts.get("flavor") == "mariadb":
        statement = (
            "SELECT r.trx_mysql_thread_id, b.trx_mysql_thread_id "
            "FROM information_schema.INNODB_LOCK_WAITS w "
            "JOIN information_schema.INNODB_TRX r ON r.trx_id = w.requesting_trx_id "
            "JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id"
        )
    else:
        statement = "SELECT waiting_pid, blocking_pid FROM sys.innodb_lock_waits"
    waits: dict[int, list[int]] = {}
    for waiting, blocking in (
        reader.optional(statement, what="running health: InnoDB lock waits") or ()
    ):
        waits.setdefault(int(waiting), []).append(int(blocking))
    return waits


def _activity(reader: MyReader) -> None:
    rows = reader.optional(
        "SELECT p.ID, p.USER, p.DB, CASE WHEN p.COMMAND IN ('Query', 'Execute') "
        "THEN 'active' WHEN p.COMMAND = 'Sleep' THEN 'idle in transaction' "
        "ELSE LOWER(p.COMMAND) END, p.TIME, "
        "TIMESTAMPDIFF(SECOND, t.trx_started, NOW()), p.INFO "
        "FROM information_schema.PROCESSLIST p "
        "LEFT JOIN information_schema.INNODB_TRX t "
        "ON t.trx_mysql_thread_id = p.ID "
        "WHERE p.ID <> CONNECTION_ID() AND p.DB = %s AND p.COMMAND NOT IN "
        "('Daemon', 'Binlog Dump', 'Binlog Dump GTID', 'Slave_IO', 'Slave_SQL') "
        "AND (p.COMMAND <> 'Sleep' OR t.trx_id IS NOT NULL) "
        "ORDER BY p.TIME DESC LIMIT %s",
        reader.db,
        _health.ROW_LIMIT,
        what="running health: sessions (information_schema.PROCESSLIST)",
    )
    if rows is None:
        return
    waits = _lock_waits(reader)
    reader.facts["activity"] = _health.sessions(
        (
            pid,
            user,
            state,
            seconds,
            xact,
            "Lock" if int(pid) in waits else "",
            waits.get(int(pid), ()),
            info,
        )
        for pid, user, _db, state, seconds, xact, info in rows
    )
    reader.facts["idle_in_transaction"] = tuple(
        {"pid": int(pid), "seconds": int(seconds), "user": user, "database": db}
        for pid, user, db, state, seconds, _xact, _info in rows
        if state == "idle in transaction"
        and (seconds or 0) >= IDLE_IN_TRANSACTION_SECONDS
    )


def _status(reader: MyReader, pattern: str, what: str) -> dict[str, int]:
    rows = reader.optional(f"SHOW GLOBAL STATUS LIKE '{pattern}'", what=what) or ()
    return {
        str(name).lower(): int(value) for name, value in rows if str(value).isdigit()
    }


def _history(reader: MyReader) -> None:
    status = _status(
        reader, "Innodb_history_list_length", "running health: InnoDB history length"
    )
    if "innodb_history_list_length" in status:
        reader.facts["history_length"] = status["innodb_history_list_length"]
        return
    rows = reader.optional(
        "SELECT COUNT FROM information_schema.INNODB_METRICS "
        "WHERE NAME = 'trx_rseg_history_len'",
        what="running health: InnoDB history length (INNODB_METRICS)",
    )
    if rows:
        reader.facts["history_length"] = int(rows[0][0])


def _cache(reader: MyReader) -> None:
    status = _status(
        reader, "Innodb_buffer_pool_read%", "running health: InnoDB buffer pool reads"
    )
    requests = status.get("innodb_buffer_pool_read_requests")
    from_disk = status.get("innodb_buffer_pool_reads")
    if requests is None or from_disk is None:
        return
    reader.facts["cache"] = {
        "InnoDB pages": {"hit": max(requests - from_disk, 0), "read": from_disk}
    }


def _statements(reader: MyReader) -> None:
    source = "performance_schema"
    if not reader.facts.get("performance_schema"):
        reader.facts["query_stats"] = _health.query_stats(
            available=False, source=source, why="off"
        )
        return
    rows = reader.optional(
        "SELECT DIGEST_TEXT, COUNT_STAR, SUM_TIMER_WAIT / %s, SUM_ROWS_SENT, "
        "(SELECT SUM(SUM_TIMER_WAIT) FROM "
        "performance_schema.events_statements_summary_by_digest "
        "WHERE SCHEMA_NAME = %s) / %s "
        "FROM performance_schema.events_statements_summary_by_digest "
        "WHERE SCHEMA_NAME = %s AND DIGEST_TEXT IS NOT NULL "
        "ORDER BY SUM_TIMER_WAIT DESC LIMIT %s",
        _PS_PER_MS,
        reader.db,
        _PS_PER_MS,
        reader.db,
        _health.ROW_LIMIT,
        what="running health: statement digests (performance_schema)",
    )
    reader.facts["query_stats"] = _health.statement_rows(source, rows)


def _bloat(reader: MyReader) -> None:
    rows = reader.optional(
        "SELECT TABLE_NAME, DATA_LENGTH + INDEX_LENGTH + DATA_FREE, DATA_FREE "
        "FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
        "AND TABLE_TYPE = 'BASE TABLE' AND DATA_FREE >= %s "
        "AND @@innodb_file_per_table = 1",
        reader.db,
        BLOAT_MIN_BYTES,
        what="running health: free space (information_schema.TABLES)",
    )
    reader.facts["bloat"] = tuple(
        _health.bloat(
            kind="table", name=name, table=name, size=int(size), wasted=int(free)
        )
        for name, size, free in rows or ()
    )


def _space(reader: MyReader) -> None:
    rows = reader.optional(
        "SELECT TABLE_NAME, DATA_LENGTH + INDEX_LENGTH, TABLE_ROWS, "
        "SUM(DATA_LENGTH + INDEX_LENGTH) OVER () "
        "FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s "
        "ORDER BY 2 DESC LIMIT %s",
        reader.db,
        _health.SPACE_TABLES,
        what="running health: table sizes (information_schema.TABLES)",
    )
    if rows is None:
        return
    total = int(rows[0][3] or 0) if rows else 0
    reader.facts["space"] = _health.space(
        total, ((name, size, count) for name, size, count, _ in rows)
    )
