"""Read-only live probe of a PostgreSQL database (psycopg 3).

The session is read-only twice over: ``default_transaction_read_only`` is
set in the startup options and the probe's transaction is opened
``READ ONLY``; every statement runs under ``statement_timeout`` and
``lock_timeout``. Catalogue queries read every user schema at once; tables
outside ``public`` are named ``schema.table``.

Engine facts (``Schema.facts``):

- ``engine``: ``"postgresql"``; ``database``; ``host``; ``server_version``
  (text) and ``server_version_num`` (int).
- ``max_connections``, ``connections`` (client backends now),
  ``idle_in_transaction``: sessions idle in a transaction for longer than
  :data:`IDLE_IN_TRANSACTION_MINUTES` (``pid``, ``seconds``, ``user``,
  ``database``).
- ``log_min_duration_statement`` (ms, -1 when off),
  ``shared_preload_libraries``, ``extensions`` (each extension installed
  in this database, with its schema), ``pg_stat_statements`` (that one is
  installed).
- ``stats_reset``: when this database's statistics were last reset (ISO
  text) or None.
- ``table_stats``: per table ``table``, ``rows`` (``n_live_tup``),
  ``seq_scan``, ``idx_scan``, ``last_analyze``, ``last_autoanalyze``,
  ``last_vacuum``, ``last_autovacuum`` (ISO text or None).
- ``index_stats``: per index ``table``, ``index``, ``scans``.
- ``sequences``: per sequence ``sequence``, ``table`` and ``column`` when a
  column owns it, ``type`` (the column's type, else the sequence's),
  ``last_value``, ``max_value`` (the smaller of the sequence's and the
  column type's maximum) and ``fraction`` used.
- ``not_valid_constraints``: ``table``, ``name``, ``kind`` (``"foreign
  key"``/``"check"``), ``definition`` of constraints added ``NOT VALID``
  and never validated.
- the facts every probe gives, listed in :mod:`._probe`. Each orphan scan
  behind ``fk_violations`` is a sequential read of the child table, counted
  in its ``seq_scan``.
- the running-health facts listed in :mod:`.pg_health`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from functools import cached_property
from typing import Any, Unpack

import psycopg
from psycopg import errors, sql
from psycopg.conninfo import conninfo_to_dict

from audits.engine import guard
from audits.engine import schema as model
from audits.engine.sources import SourceError, pg_health
from audits.engine.sources._probe import (
    SECRET_SAMPLE_SIZE,
    Login,
    LoginOptions,
    OrphanScans,
    ServerRun,
    Watchdog,
    check_parts,
    first_line,
    scrub,
    secret_samples,
    version_tables,
)

IDLE_IN_TRANSACTION_MINUTES = 5
_ACTIONS = {
    "a": None,  # NO ACTION: PostgreSQL cannot tell it from "not declared"
    "r": "RESTRICT",
    "c": "CASCADE",
    "n": "SET NULL",
    "d": "SET DEFAULT",
}
_TYPE_MAX = {
    "smallint": 32767,
    "integer": 2147483647,
    "bigint": 9223372036854775807,
}
# PostgreSQL spells types long; the DDL source spells them as written.
_TYPE_NAMES = (
    ("timestamp without time zone", "TIMESTAMP"),
    ("timestamp with time zone", "TIMESTAMPTZ"),
    ("time without time zone", "TIME"),
    ("time with time zone", "TIMETZ"),
    ("character varying", "VARCHAR"),
    ("character", "CHAR"),
    ("bit varying", "VARBIT"),
)


class _Target:
    """Where a probe connects, for messages that never show the password."""

    def __init__(self, params: dict[str, Any]) -> None:
        self.host = str(params.get("host") or "localhost")
        self.port = str(params.get("port") or "5432")
        self.database = str(params.get("dbname") or params.get("user") or "")
        self.user = str(params.get("user") or "")

    def __str__(self) -> str:
        return f"PostgreSQL {self.host}:{self.port}/{self.database}"


def _params(
    url: str,
    password: str | None,
    timeout: float,
    policy: guard.NetworkPolicy | None = None,
) -> dict[str, Any]:
    for prefix in ("postgresql+psycopg2://", "postgresql+psycopg://", "postgres://"):
        if url.startswith(prefix):
            url = "postgresql://" + url[len(prefix) :]
    try:
        params: dict[str, Any] = dict(conninfo_to_dict(url))
    except psycopg.ProgrammingError as exc:
        raise SourceError(
            f"not a valid PostgreSQL URL: {scrub(first_line(exc), password)}"
        ) from exc
    if password is not None:
        params["password"] = password
    if policy is not None:
        guard.pin_postgres(params, policy)
    ms = max(1, int(timeout * 1000))
    options = (
        f"-c default_transaction_read_only=on -c statement_timeout={ms} "
        f"-c lock_timeout={ms}"
    )
    params["options"] = f"{params.get('options', '')} {options}".strip()
    params["connect_timeout"] = str(max(2, math.ceil(timeout)))
    params.setdefault("application_name", "plumbline-probe")
    return params


def connect(url: str, **options: Unpack[LoginOptions]) -> psycopg.Connection[Any]:
    """Open a read-only session and return the probe's connection.

    ``options`` as :class:`LoginOptions` tells. Raise :class:`SourceError`
    naming the host and database (never the password) when the server cannot
    be reached or refuses the credentials.
    """
    login = Login(url, **options)
    policy = login.policy
    params = _params(url, login.password, login.timeout, policy)
    secret = params.get("password")
    target = _Target(params)
    try:
        conn = psycopg.connect(**params)
    except psycopg.Error as exc:
        reason = _reason(exc)
        if policy is not None:
            reason = guard.categorise(str(exc), kind="PostgreSQL")
        raise SourceError(
            f"{target}: cannot connect as {target.user or 'the default user'}: "
            f"{scrub(reason, secret)}"
        ) from exc
    conn.read_only = True
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    return conn


def _reason(exc: BaseException) -> str:
    text = str(exc)
    # libpq prefixes each attempted address; its last line says why.
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return type(exc).__name__
    last = lines[-1]
    return last.split(" failed: ", 1)[-1] if " failed: " in last else last


def query(
    conn: psycopg.Connection[Any],
    statement: str | sql.Composed,
    params: Sequence[Any] | None = None,
) -> list[tuple[Any, ...]]:
    """Run one statement on the probe's connection and return its rows.

    Raise :class:`SourceError` when it times out or fails.
    """
    info = conn.info
    where = f"PostgreSQL {info.host}:{info.port}/{info.dbname}"
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params)
            return list(cur.fetchall()) if cur.description else []
    except errors.QueryCanceled as exc:
        raise SourceError(f"{where}: statement timed out ({first_line(exc)})") from exc
    except psycopg.OperationalError as exc:
        raise SourceError(f"{where}: connection lost: {first_line(exc)}") from exc
    except psycopg.Error as exc:
        raise SourceError(f"{where}: query failed: {first_line(exc)}") from exc


def probe(url: str, **options: Unpack[LoginOptions]) -> model.Schema:
    """Read the schema and engine facts of a PostgreSQL database.

    ``options`` as :class:`LoginOptions` tells. Raise :class:`SourceError`
    when it cannot be reached or a statement the schema needs times out.
    """
    timeout = Login(url, **options).timeout
    conn = connect(url, **options)
    where = f"PostgreSQL {conn.info.host}:{conn.info.port}/{conn.info.dbname}"
    watchdog = Watchdog(conn.fileno())
    try:
        watchdog.kick(_answer_window(timeout))
        with conn.transaction():
            return _Probe(conn, timeout, watchdog).run()
    except (SourceError, psycopg.Error) as exc:
        if watchdog.fired:
            raise SourceError(
                f"{where}: timed out, the server stopped answering for more than "
                f"{_answer_window(timeout):g}s"
            ) from exc
        if isinstance(exc, SourceError):
            raise
        raise SourceError(f"{where}: connection lost: {first_line(exc)}") from exc
    finally:
        watchdog.close()
        conn.close()


def installed_extensions(q: Callable[[str], list[tuple[Any, ...]]]) -> dict[str, str]:
    """Return each extension installed in the database with its schema.

    ``q`` runs a statement on the connection (the probe's, the planner's).
    """
    return {
        str(name): str(namespace)
        for name, namespace in q(
            "SELECT e.extname, n.nspname FROM pg_extension e "
            "JOIN pg_namespace n ON n.oid = e.extnamespace"
        )
    }


def _answer_window(timeout: float) -> float:
    """Return how long the probe waits for any answer before it gives up.

    Past the server's own statement timeout, with room for the answer to
    travel: only a server that stopped keeping to the protocol takes longer.
    """
    return 2 * timeout + 5


def _iso(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else None


def _pg_type(text: str) -> str:
    lowered = text.lower()
    for long, short in _TYPE_NAMES:
        if lowered.startswith(long):
            return short + text[len(long) :].upper()
    return text.upper()


class _Probe(ServerRun):
    def __init__(
        self,
        conn: psycopg.Connection[Any],
        timeout: float,
        watchdog: Watchdog | None = None,
    ) -> None:
        super().__init__(timeout)
        self.conn = conn
        self.watchdog = watchdog
        self.names: dict[int, str] = {}  # table oid -> display name
        self.qualified: dict[int, tuple[str, str]] = {}  # oid -> (schema, table)

    def q(self, statement: str | sql.Composed, *params: Any) -> list[tuple[Any, ...]]:
        self._kick()
        return query(self.conn, statement, params or None)

    def _kick(self) -> None:
        if self.watchdog is not None:
            self.watchdog.kick(_answer_window(self.timeout))

    def attempt(self) -> AbstractContextManager[object]:
        """Return a savepoint: a failed optional read spoils nothing else."""
        self._kick()
        return self.conn.transaction()

    def run(self) -> model.Schema:
        self._settings()
        self._tables()
        oids = list(self.names)
        columns, attnames = self._columns(oids)
        pks, fks, checks = self._constraints(oids, attnames)
        indexes = self._indexes(oids, attnames)
        triggers = self._triggers(oids)
        rows = self._statistics(oids)
        tables = []
        for oid, name in self.names.items():
            tables.append(
                model.Table(
                    name=name,
                    columns=tuple(columns.get(oid, ())),
                    primary_key=pks.get(oid, ()),
                    foreign_keys=tuple(f for f, _, _ in fks.get(oid, ())),
                    indexes=tuple(sorted(indexes.get(oid, ()), key=lambda i: i.name)),
                    checks=tuple(checks.get(oid, ())),
                    triggers=tuple(triggers.get(oid, ())),
                    row_count=rows.get(oid),
                )
            )
        tables = [_mark_inline_pk(t) for t in tables]
        self.facts["tables_with_rows"] = sum(1 for t in tables if t.row_count)
        self.facts["version_tables"] = version_tables(list(self.names.values()))
        self._sequences()
        pg_health.read(self)
        self.facts["fk_violations"] = tuple(self._orphans(fks, rows))
        self.facts["secret_samples"] = tuple(secret_samples(tables, self._sample))
        info = self.conn.info
        return self.schema(
            sorted(tables, key=lambda t: t.name.lower()),
            "postgres",
            f"postgresql://{info.host}:{info.port}/{info.dbname}",
        )

    # --- settings and activity ----------------------------------------------

    def _settings(self) -> None:
        info = self.conn.info
        f = self.facts
        f["engine"] = "postgresql"
        f["database"] = info.dbname
        f["host"] = info.host
        f["server_version_num"] = info.server_version
        settings = dict(
            self.q(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('server_version', 'max_connections', "
                "'log_min_duration_statement', 'shared_preload_libraries')"
            )
        )
        f["server_version"] = settings.get("server_version", "")
        f["max_connections"] = int(settings.get("max_connections", 0))
        f["log_min_duration_statement"] = int(
            settings.get("log_min_duration_statement", -1)
        )
        f["shared_preload_libraries"] = tuple(
            s.strip()
            for s in str(settings.get("shared_preload_libraries", "")).split(",")
            if s.strip()
        )
        f["extensions"] = installed_extensions(self.q)
        f["pg_stat_statements"] = "pg_stat_statements" in f["extensions"]
        f["connections"] = int(
            self.q(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE backend_type = 'client backend'"
            )[0][0]
        )
        idle = self.q(
            "SELECT pid, extract(epoch FROM now() - state_change)::bigint, "
            "usename, datname FROM pg_stat_activity "
            "WHERE state IN ('idle in transaction', "
            "'idle in transaction (aborted)') "
            "AND state_change < now() - make_interval(mins => %s) "
            "ORDER BY 2 DESC",
            IDLE_IN_TRANSACTION_MINUTES,
        )
        f["idle_in_transaction"] = tuple(
            {"pid": p, "seconds": int(s), "user": u, "database": d}
            for p, s, u, d in idle
        )
        reset = self.q(
            "SELECT stats_reset FROM pg_stat_database WHERE datname = "
            "current_database()"
        )
        f["stats_reset"] = _iso(reset[0][0]) if reset else None

    # --- schema ---------------------------------------------------------------

    def _tables(self) -> None:
        for oid, nsp, rel in self.q(
            "SELECT c.oid, n.nspname, c.relname FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg\\_toast%%' "
            "AND n.nspname NOT LIKE 'pg\\_temp%%' "
            "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid "
            "AND d.classid = 'pg_class'::regclass AND d.deptype = 'e') "
            "ORDER BY n.nspname, c.relname"
        ):
            self.names[oid] = rel if nsp == "public" else f"{nsp}.{rel}"
            self.qualified[oid] = (nsp, rel)

    def _columns(
        self, oids: list[int]
    ) -> tuple[dict[int, list[model.Column]], dict[tuple[int, int], str]]:
        columns: dict[int, list[model.Column]] = {}
        attnames: dict[tuple[int, int], str] = {}
        for oid, num, name, typ, notnull, default, coll, identity in self.q(
            "SELECT a.attrelid, a.attnum, a.attname, "
            "format_type(a.atttypid, a.atttypmod), a.attnotnull, "
            "pg_get_expr(d.adbin, d.adrelid), "
            "CASE WHEN a.attcollation <> t.typcollation THEN co.collname END, "
            "a.attidentity "
            "FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
            "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid "
            "AND d.adnum = a.attnum "
            "LEFT JOIN pg_collation co ON co.oid = a.attcollation "
            "WHERE a.attrelid = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped "
            "ORDER BY a.attrelid, a.attnum",
            oids,
        ):
            attnames[(oid, num)] = name
            columns.setdefault(oid, []).append(
                model.Column(
                    name=name,
                    type=_pg_type(typ),
                    nullable=not notnull,
                    default=default,
                    collation=coll,
                    autoincrement=identity in ("a", "d")
                    or str(default or "").startswith("nextval("),
                )
            )
        return columns, attnames

    def _constraints(
        self, oids: list[int], attnames: dict[tuple[int, int], str]
    ) -> tuple[
        dict[int, tuple[str, ...]],
        dict[int, list[tuple[model.ForeignKey, int, tuple[str, str]]]],
        dict[int, list[model.Check]],
    ]:
        pks: dict[int, tuple[str, ...]] = {}
        fks: dict[int, list[tuple[model.ForeignKey, int, tuple[str, str]]]] = {}
        checks: dict[int, list[model.Check]] = {}
        not_valid = []
        for row in self.q(
            "SELECT con.conrelid, con.conname, con.contype, con.conkey, "
            "con.confrelid, rn.nspname, rc.relname, "
            "(SELECT array_agg(a.attname ORDER BY k.ord) FROM "
            "unnest(con.confkey) WITH ORDINALITY k(num, ord) "
            "JOIN pg_attribute a ON a.attrelid = con.confrelid "
            "AND a.attnum = k.num), "
            "con.confupdtype, con.confdeltype, con.convalidated, "
            "pg_get_constraintdef(con.oid, true) "
            "FROM pg_constraint con "
            "LEFT JOIN pg_class rc ON rc.oid = con.confrelid "
            "LEFT JOIN pg_namespace rn ON rn.oid = rc.relnamespace "
            "WHERE con.conrelid = ANY(%s) AND con.contype IN ('p', 'f', 'c') "
            "ORDER BY con.conrelid, con.conname",
            oids,
        ):
            oid, name, kind, conkey, reloid, rnsp, rrel, refcols = row[:8]
            upd, dele, validated, definition = row[8:]
            cols = tuple(attnames.get((oid, k), f"#{k}") for k in conkey or ())
            if kind == "p":
                pks[oid] = cols
            elif kind == "f":
                ref_name = rrel if rnsp == "public" else f"{rnsp}.{rrel}"
                fk = model.ForeignKey(
                    columns=cols,
                    ref_table=ref_name,
                    ref_columns=tuple(refcols or ()),
                    on_delete=_ACTIONS.get(dele),
                    on_update=_ACTIONS.get(upd),
                    declared="table",
                    name=name,
                    validated=bool(validated),
                )
                fks.setdefault(oid, []).append((fk, reloid, (rnsp, rrel)))
            else:
                expression = _check_body(definition)
                column, values = check_parts(expression, "postgres")
                checks.setdefault(oid, []).append(
                    model.Check(
                        expression=expression,
                        name=name,
                        column=cols[0] if len(cols) == 1 else column,
                        values=values,
                        validated=bool(validated),
                    )
                )
            if not validated and kind in ("f", "c"):
                not_valid.append(
                    {
                        "table": self.names[oid],
                        "name": name,
                        "kind": "foreign key" if kind == "f" else "check",
                        "definition": definition,
                    }
                )
        self.facts["not_valid_constraints"] = tuple(not_valid)
        return pks, fks, checks

    def _indexes(
        self, oids: list[int], attnames: dict[tuple[int, int], str]
    ) -> dict[int, list[model.Index]]:
        indexes: dict[int, list[model.Index]] = {}
        for row in self.q(
            "SELECT i.indrelid, ic.relname, i.indisunique, i.indisvalid, "
            "i.indkey::int2[], i.indoption::int2[], "
            "pg_get_expr(i.indpred, i.indrelid), "
            "ARRAY(SELECT pg_get_indexdef(i.indexrelid, k, true) "
            "FROM generate_series(1, i.indnkeyatts) k ORDER BY k), "
            "(SELECT con.contype FROM pg_constraint con "
            "WHERE con.conindid = i.indexrelid AND con.conrelid = i.indrelid "
            "AND con.contype IN ('p', 'u', 'x') LIMIT 1), i.indnkeyatts "
            "FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid "
            "WHERE i.indrelid = ANY(%s)",
            oids,
        ):
            oid, name, unique, valid, keys, options, pred, defs, con, nkeys = row
            columns = []
            for pos in range(nkeys):
                num = keys[pos]
                desc = bool(options[pos] & 1) if pos < len(options) else False
                if num == 0:
                    columns.append(model.IndexColumn(defs[pos], desc, expression=True))
                else:
                    columns.append(
                        model.IndexColumn(attnames.get((oid, num), defs[pos]), desc)
                    )
            indexes.setdefault(oid, []).append(
                model.Index(
                    name=name,
                    table=self.names[oid],
                    columns=tuple(columns),
                    unique=bool(unique),
                    predicate=pred,
                    constraint={"p": "primary key", "u": "unique"}.get(con or ""),
                    valid=bool(valid),
                )
            )
        return indexes

    def _triggers(self, oids: list[int]) -> dict[int, list[model.Trigger]]:
        triggers: dict[int, list[model.Trigger]] = {}
        for oid, name, tgtype, body in self.q(
            "SELECT t.tgrelid, t.tgname, t.tgtype, "
            "pg_get_triggerdef(t.oid, true) || E'\\n' || coalesce(p.prosrc, '') "
            "FROM pg_trigger t LEFT JOIN pg_proc p ON p.oid = t.tgfoid "
            "WHERE t.tgrelid = ANY(%s) AND NOT t.tgisinternal ORDER BY t.tgname",
            oids,
        ):
            timing = (
                "INSTEAD OF" if tgtype & 64 else "BEFORE" if tgtype & 2 else "AFTER"
            )
            events = [
                ev
                for bit, ev in (
                    (4, "INSERT"),
                    (16, "UPDATE"),
                    (8, "DELETE"),
                    (32, "TRUNCATE"),
                )
                if tgtype & bit
            ]
            triggers.setdefault(oid, []).append(
                model.Trigger(
                    name=name,
                    table=self.names[oid],
                    timing=timing,
                    event=" OR ".join(events),
                    body=body,
                )
            )
        return triggers

    # --- statistics -----------------------------------------------------------

    def _statistics(self, oids: list[int]) -> dict[int, int]:
        rows: dict[int, int] = {}
        stats = []
        for row in self.q(
            "SELECT c.oid, c.reltuples::bigint, s.n_live_tup, s.seq_scan, "
            "s.idx_scan, s.last_analyze, s.last_autoanalyze, s.last_vacuum, "
            "s.last_autovacuum FROM pg_class c "
            "LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid "
            "WHERE c.oid = ANY(%s)",
            oids,
        ):
            oid, reltuples, live, seq, idx = row[:5]
            estimate = (
                int(reltuples) if reltuples is not None and reltuples >= 0 else None
            )
            rows[oid] = max(estimate or 0, int(live or 0))
            stats.append(
                {
                    "table": self.names[oid],
                    "rows": int(live or 0),
                    "seq_scan": int(seq or 0),
                    "idx_scan": int(idx or 0),
                    "last_analyze": _iso(row[5]),
                    "last_autoanalyze": _iso(row[6]),
                    "last_vacuum": _iso(row[7]),
                    "last_autovacuum": _iso(row[8]),
                }
            )
        self.facts["table_stats"] = tuple(sorted(stats, key=lambda s: s["table"]))
        index_stats = [
            {"table": self.names[relid], "index": name, "scans": int(scans or 0)}
            for relid, name, scans in self.q(
                "SELECT relid, indexrelname, idx_scan FROM pg_stat_user_indexes "
                "WHERE relid = ANY(%s) ORDER BY indexrelname",
                oids,
            )
        ]
        self.facts["index_stats"] = tuple(index_stats)
        return rows

    def _sequences(self) -> None:
        found = self.optional(
            "SELECT s.schemaname, s.sequencename, s.data_type::text, s.last_value, "
            "s.max_value, s.increment_by, t.oid, a.attname, "
            "format_type(a.atttypid, a.atttypmod) "
            "FROM pg_sequences s "
            "JOIN pg_namespace sn ON sn.nspname = s.schemaname "
            "JOIN pg_class sc ON sc.relname = s.sequencename "
            "AND sc.relnamespace = sn.oid "
            "LEFT JOIN pg_depend d ON d.objid = sc.oid "
            "AND d.classid = 'pg_class'::regclass "
            "AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') "
            "LEFT JOIN pg_class t ON t.oid = d.refobjid "
            "LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid "
            "AND a.attnum = d.refobjsubid "
            "ORDER BY s.schemaname, s.sequencename"
        )
        sequences = []
        for nsp, seq, seq_type, last, seq_max, step, table_oid, column, col_type in (
            found or ()
        ):
            if last is None or step is None or step < 0:
                continue  # never used, not readable, or counting down
            limit = int(seq_max)
            type_name = col_type or seq_type
            if type_name in _TYPE_MAX:
                limit = min(limit, _TYPE_MAX[type_name])
            sequences.append(
                {
                    "sequence": seq if nsp == "public" else f"{nsp}.{seq}",
                    "table": self.names.get(table_oid) if table_oid else None,
                    "column": column,
                    "type": type_name,
                    "last_value": int(last),
                    "max_value": limit,
                    "fraction": int(last) / limit if limit > 0 else 0.0,
                }
            )
        self.facts["sequences"] = tuple(sequences)

    @cached_property
    def _oids(self) -> dict[str, int]:
        """Return each table's oid by its display name (read once tables are)."""
        return {name: oid for oid, name in self.names.items()}

    def _sample(self, table: model.Table, column: str) -> list[tuple[Any, ...]] | None:
        oid = self._oids.get(table.name)
        if oid is None:
            return None
        col = sql.Identifier(column)
        return self.optional(
            sql.SQL(
                "SELECT {col}::text FROM {table} WHERE {col} IS NOT NULL "
                "AND {col}::text <> '' LIMIT {limit}"
            ).format(
                col=col,
                table=sql.Identifier(*self.qualified[oid]),
                limit=sql.Literal(SECRET_SAMPLE_SIZE),
            )
        )

    def _orphans(
        self,
        fks: dict[int, list[tuple[model.ForeignKey, int, tuple[str, str]]]],
        rows: dict[int, int],
    ) -> list[dict[str, Any]]:
        scans = OrphanScans(self.notes, self.timeout)
        for oid in sorted(fks, key=lambda o: self.names[o]):
            for fk, ref_oid, (rnsp, rrel) in fks[oid]:
                label = f"{self.names[oid]}({', '.join(fk.columns)})"
                if not scans.allowed(label, rows.get(oid, 0), rows.get(ref_oid, 0)):
                    continue
                if len(fk.ref_columns) != len(fk.columns):
                    continue
                nsp, rel = self.qualified[oid]
                child_cols = [sql.SQL("c.") + sql.Identifier(c) for c in fk.columns]
                parent_cols = [
                    sql.SQL("p.") + sql.Identifier(c) for c in fk.ref_columns
                ]
                statement = sql.SQL(
                    "SELECT 1 FROM {child} c WHERE {not_null} AND NOT EXISTS "
                    "(SELECT 1 FROM {parent} p WHERE {match}) LIMIT 1"
                ).format(
                    child=sql.Identifier(nsp, rel),
                    parent=sql.Identifier(rnsp, rrel),
                    not_null=sql.SQL(" AND ").join(
                        c + sql.SQL(" IS NOT NULL") for c in child_cols
                    ),
                    match=sql.SQL(" AND ").join(
                        p + sql.SQL(" = ") + c
                        for p, c in zip(parent_cols, child_cols, strict=True)
                    ),
                )
                result = self.optional(statement)
                scans.record(label, result, self.names[oid], fk)
        return scans.found


def _check_body(definition: str) -> str:
    """Return the expression of ``CHECK (...) [NOT VALID]`` without wrappers."""
    text = definition.strip()
    if text.upper().endswith("NOT VALID"):
        text = text[: -len("NOT VALID")].strip()
    if text.upper().startswith("CHECK"):
        text = text[len("CHECK") :].strip()
    while text.startswith("(") and text.endswith(")") and _balanced(text[1:-1]):
        text = text[1:-1].strip()
    return text


def _balanced(text: str) -> bool:
    depth = 0
    quoted = False
    for ch in text:
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def _mark_inline_pk(table: model.Table) -> model.Table:
    """Mark a single-column primary key's column as declared PRIMARY KEY."""
    if len(table.primary_key) != 1:
        return table
    from dataclasses import replace

    key = table.primary_key[0]
    columns = tuple(
        replace(c, primary_key=True, nullable=False) if c.name == key else c
        for c in table.columns
    )
    return replace(table, columns=columns)
