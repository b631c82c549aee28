"""Running health of a PostgreSQL server, read inside the probe's transaction.

Each part reads one view with one statement in a savepoint of the probe's
read-only transaction, under its statement timeout; a part that fails
(a view the user may not read, an extension not loaded) leaves a note and
the others still count. Engine facts (``Schema.facts``), in the shapes of
:mod:`._health`:

- ``activity``: every client session of this database but the probe's
  that is not idle:
  ``pid``, ``user``, ``state``, ``seconds`` (its statement has run),
  ``xact_seconds``, ``wait`` (``Lock:transactionid``), ``blocked_by``
  (``pg_blocking_pids``), ``query`` (literals masked).
- ``wraparound``: ``databases`` (name, transaction-ID age, multixact age),
  ``tables`` (the five oldest of this database: name, age),
  ``freeze_max_age`` (``autovacuum_freeze_max_age``).
- ``vacuum_stats``: per table ``table``, ``live``, ``dead``, ``modified``
  (since the last analyze), ``last_vacuum`` and ``last_analyze`` (the later
  of manual and automatic, ISO text or None), ``autovacuum_off`` (the table
  turns it off); and ``autovacuum`` (the server setting).
- ``bloat``: tables and b-tree indexes of at least :data:`BLOAT_MIN_PAGES`
  pages whose size exceeds what their rows need (estimated from
  ``pg_stats`` widths, as the well-known bloat queries do).
- ``query_stats``: from ``pg_stat_statements`` when installed and loaded,
  the :data:`._health.ROW_LIMIT` statements of this database that took the
  most time; else why not.
- ``replication``: ``standby`` (this server replays WAL), ``lag_seconds``
  (on a standby), ``replicas`` (``name``, ``state``, ``lag_seconds``,
  ``lag_bytes``); ``replication_slots`` (``name``, ``type``, ``active``,
  ``retained_bytes``).
- ``cache``: blocks read from the cache (``hit``) and from disk (``read``)
  for tables and for indexes since statistics were reset.
- ``space``: the database's size, its ten largest tables and the sizes of
  the :data:`._health.SPACE_TABLES` largest, with the time they were read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from psycopg import sql

from audits.engine.sources import _health
from audits.engine.sources._health import Reader

# Tables and indexes smaller than this (10 MB of 8 kB pages) are never
# called bloated: the estimate is rough and the waste could not matter.
BLOAT_MIN_PAGES = 1280
# Bytes of a heap tuple's header plus its line pointer, and of a page's
# header; an index tuple's header plus its line pointer and a b-tree
# page's header and special space.
_HEAP_TUPLE = 24 + 4
_HEAP_PAGE = 24
_INDEX_TUPLE = 8 + 4
_INDEX_PAGE = 24 + 16
_BTREE_FILL = 0.9


class PgReader(Reader, Protocol):
    """A PostgreSQL probe as the health parts see it."""

    names: dict[int, str]  # table oid -> display name


def read(reader: PgReader) -> None:
    """Add the running-health facts of the server ``reader`` is connected to."""
    _health.read_each(
        reader,
        (
            _activity,
            _wraparound,
            _vacuum,
            _bloat,
            _statements,
            _replication,
            _cache,
            _space,
        ),
    )


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


def _activity(reader: PgReader) -> None:
    rows = reader.optional(
        "SELECT pid, usename, state, "
        "extract(epoch FROM clock_timestamp() - query_start)::float8, "
        "extract(epoch FROM clock_timestamp() - xact_start)::float8, "
        "coalesce(wait_event_type || ':' || wait_event, ''), "
        "pg_blocking_pids(pid), query FROM pg_stat_activity "
        "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() "
        "AND datname = current_database() AND state IS DISTINCT FROM 'idle' "
        "ORDER BY query_start NULLS LAST LIMIT %s",
        _health.ROW_LIMIT,
        what="running health: sessions (pg_stat_activity)",
    )
    if rows is None:
        return
    reader.facts["activity"] = _health.sessions(rows)


def _wraparound(reader: PgReader) -> None:
    databases = reader.optional(
        "SELECT datname, age(datfrozenxid)::bigint, mxid_age(datminmxid)::bigint, "
        "current_setting('autovacuum_freeze_max_age')::bigint "
        "FROM pg_database WHERE datallowconn ORDER BY 2 DESC",
        what="running health: transaction-ID age (pg_database)",
    )
    if databases is None:
        return
    tables = reader.optional(
        "SELECT c.oid, n.nspname, c.relname, age(c.relfrozenxid)::bigint "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.relkind IN ('r', 'm', 't') AND c.relfrozenxid <> '0'::xid "
        "ORDER BY 4 DESC LIMIT 5",
        what="running health: table transaction-ID age (pg_class)",
    )
    reader.facts["wraparound"] = {
        "databases": tuple((d, int(x), int(m)) for d, x, m, _ in databases),
        "tables": tuple(
            (reader.names.get(oid) or f"{nsp}.{rel}", int(age))
            for oid, nsp, rel, age in tables or ()
        ),
        "freeze_max_age": int(databases[0][3]) if databases else 200_000_000,
    }


def _vacuum(reader: PgReader) -> None:
    rows = reader.optional(
        "SELECT s.relid, s.n_live_tup, s.n_dead_tup, s.n_mod_since_analyze, "
        "greatest(s.last_vacuum, s.last_autovacuum), "
        "greatest(s.last_analyze, s.last_autoanalyze), "
        "coalesce('autovacuum_enabled=false' = ANY(c.reloptions) "
        "OR 'autovacuum_enabled=off' = ANY(c.reloptions), false), "
        "current_setting('autovacuum') = 'on' "
        "FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
        "WHERE s.relid = ANY(%s)",
        list(reader.names),
        what="running health: dead rows (pg_stat_user_tables)",
    )
    if rows is None:
        return
    reader.facts["autovacuum"] = bool(rows[0][7]) if rows else True
    reader.facts["vacuum_stats"] = tuple(
        sorted(
            (
                {
                    "table": reader.names[oid],
                    "live": int(live or 0),
                    "dead": int(dead or 0),
                    "modified": int(modified or 0),
                    "last_vacuum": _iso(vacuumed),
                    "last_analyze": _iso(analyzed),
                    "autovacuum_off": bool(off),
                }
                for oid, live, dead, modified, vacuumed, analyzed, off, _ in rows
            ),
            key=lambda s: s["table"],
        )
    )


def _bloat(reader: PgReader) -> None:
    """Estimate the waste of large tables and b-tree indexes from row widths."""
    tables = reader.optional(
        "SELECT c.oid, c.relpages::bigint, c.reltuples::float8, "
        "current_setting('block_size')::int, "
        "(SELECT sum(s.avg_width) FROM pg_stats s WHERE s.schemaname = n.nspname "
        "AND s.tablename = c.relname), coalesce((SELECT split_part(o, '=', 2)::int "
        "FROM unnest(c.reloptions) o WHERE o LIKE 'fillfactor=%%'), 100) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE c.oid = ANY(%s) AND c.relpages >= %s",
        list(reader.names),
        BLOAT_MIN_PAGES,
        what="running health: table bloat (pg_class, pg_stats)",
    )
    indexes = reader.optional(
        "SELECT i.indrelid, ic.relname, ic.relpages::bigint, ic.reltuples::float8, "
        "current_setting('block_size')::int, (SELECT sum(s.avg_width) "
        "FROM pg_attribute a JOIN pg_stats s ON s.schemaname = n.nspname "
        "AND s.tablename = tc.relname AND s.attname = a.attname "
        "WHERE a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)), "
        "0 = ANY(i.indkey) FROM pg_index i "
        "JOIN pg_class ic ON ic.oid = i.indexrelid "
        "JOIN pg_class tc ON tc.oid = i.indrelid "
        "JOIN pg_namespace n ON n.oid = tc.relnamespace "
        "JOIN pg_am am ON am.oid = ic.relam "
        "WHERE i.indrelid = ANY(%s) AND am.amname = 'btree' AND ic.relpages >= %s",
        list(reader.names),
        BLOAT_MIN_PAGES,
        what="running health: index bloat (pg_index, pg_stats)",
    )
    found = []
    for oid, pages, tuples, block, width, fill in tables or ():
        if width is None or tuples < 0:
            continue  # never analyzed: no widths to estimate from
        usable = (block - _HEAP_PAGE) * fill / 100
        need = _pages_needed(tuples, usable, _HEAP_TUPLE + _align(width))
        name = reader.names[oid]
        found.append(_estimate("table", name, name, pages, need, block))
    for oid, index, pages, tuples, block, width, expression in indexes or ():
        if width is None or expression or tuples < 0:
            continue
        usable = (block - _INDEX_PAGE) * _BTREE_FILL
        need = _pages_needed(tuples, usable, _INDEX_TUPLE + _align(width)) + 1
        found.append(_estimate("index", index, reader.names[oid], pages, need, block))
    reader.facts["bloat"] = tuple(sorted(found, key=lambda b: -b["wasted"]))


def _pages_needed(tuples: float, usable: float, row_bytes: int) -> int:
    """Return the pages ``tuples`` rows of ``row_bytes`` fill at ``usable`` a page."""
    per_page = max(1, int(usable // row_bytes))
    return -(-int(tuples) // per_page)


def _estimate(
    kind: str, name: str, table: str, pages: int, need: int, block: int
) -> dict[str, Any]:
    return _health.bloat(
        kind=kind,
        name=name,
        table=table,
        size=pages * block,
        wasted=(pages - need) * block,
    )


def _align(width: float) -> int:
    """Return ``width`` bytes rounded up to PostgreSQL's 8-byte alignment."""
    return -(-int(width) // 8) * 8


def _statements(reader: PgReader) -> None:
    """Read pg_stat_statements, or say why it cannot be read.

    Where it is installed and whether the server loads it come from the
    probe's facts (``extensions``, ``shared_preload_libraries``, read with
    its settings); pg_settings hides superuser-only settings from others
    rather than failing, so "not loaded" is told by the view's own error.
    """
    namespace = (reader.facts.get("extensions") or {}).get("pg_stat_statements")
    libraries = ",".join(reader.facts.get("shared_preload_libraries") or ())
    preloaded = "pg_stat_statements" in libraries
    source = "pg_stat_statements"
    if namespace is None:
        reader.facts["query_stats"] = _health.query_stats(
            available=False, source=source, why="not installed", preloaded=preloaded
        )
        return
    version = int(reader.facts.get("server_version_num", 0) or 0)
    time_column = "total_exec_time" if version >= 130000 else "total_time"
    statement = sql.SQL(
        "SELECT s.query, s.calls, s.{time}, s.rows, sum(s.{time}) OVER () "
        "FROM {view} s WHERE s.dbid = (SELECT oid FROM pg_database "
        "WHERE datname = current_database()) ORDER BY s.{time} DESC LIMIT %s"
    ).format(
        time=sql.Identifier(time_column),
        view=sql.Identifier(namespace, "pg_stat_statements"),
    )
    rows = reader.optional(
        statement,
        _health.ROW_LIMIT,
        what="running health: statement statistics (pg_stat_statements)",
    )
    # The view fails with a hint to preload the library when it is not.
    loaded = rows is not None or "shared_preload_libraries" not in reader.notes[-1]
    reader.facts["query_stats"] = _health.statement_rows(
        source, rows, why="not readable" if loaded else "not loaded"
    )


def _replication(reader: PgReader) -> None:
    standby = reader.optional(
        "SELECT pg_is_in_recovery(), CASE WHEN NOT pg_is_in_recovery() "
        "OR pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 "
        "ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) "
        "END::float8",
        what="running health: replication state",
    )
    if standby is None:
        return
    in_recovery, lag = standby[0]
    replicas: list[tuple[Any, ...]] = []
    slots: list[tuple[Any, ...]] = []
    if not in_recovery:
        replicas = (
            reader.optional(
                "SELECT application_name, state, "
                "extract(epoch FROM replay_lag)::float8, "
                "pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint "
                "FROM pg_stat_replication ORDER BY 1",
                what="running health: replicas (pg_stat_replication)",
            )
            or []
        )
        slots = (
            reader.optional(
                "SELECT slot_name, slot_type, active, "
                "pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint "
                "FROM pg_replication_slots ORDER BY 1",
                what="running health: replication slots (pg_replication_slots)",
            )
            or []
        )
    reader.facts["replication"] = {
        "standby": bool(in_recovery),
        "lag_seconds": float(lag or 0.0) if in_recovery else None,
        "replicas": tuple(
            {
                "name": name or "",
                "state": state or "",
                "lag_seconds": float(seconds or 0.0),
                "lag_bytes": int(lag_bytes or 0),
            }
            for name, state, seconds, lag_bytes in replicas
        ),
    }
    reader.facts["replication_slots"] = tuple(
        {
            "name": name,
            "type": kind,
            "active": bool(active),
            "retained_bytes": int(retained or 0),
        }
        for name, kind, active, retained in slots
    )


def _cache(reader: PgReader) -> None:
    rows = reader.optional(
        "SELECT coalesce(sum(heap_blks_hit), 0)::bigint, "
        "coalesce(sum(heap_blks_read), 0)::bigint, "
        "coalesce(sum(idx_blks_hit), 0)::bigint, "
        "coalesce(sum(idx_blks_read), 0)::bigint FROM pg_statio_user_tables",
        what="running health: cache reads (pg_statio_user_tables)",
    )
    if not rows:
        return
    heap_hit, heap_read, idx_hit, idx_read = (int(v) for v in rows[0])
    reader.facts["cache"] = {
        "tables": {"hit": heap_hit, "read": heap_read},
        "indexes": {"hit": idx_hit, "read": idx_read},
    }


def _space(reader: PgReader) -> None:
    size = reader.optional(
        "SELECT pg_database_size(current_database())::bigint",
        what="running health: database size",
    )
    largest = reader.optional(
        "SELECT c.oid, pg_total_relation_size(c.oid)::bigint, "
        "greatest(c.reltuples, 0)::bigint FROM pg_class c "
        "WHERE c.oid = ANY(%s) ORDER BY 2 DESC LIMIT %s",
        list(reader.names),
        _health.SPACE_TABLES,
        what="running health: table sizes",
    )
    if size is None:
        return
    reader.facts["space"] = _health.space(
        int(size[0][0]),
        ((reader.names[oid], b, r) for oid, b, r in largest or ()),
    )
