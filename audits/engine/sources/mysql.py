"""Read-only live probe of a MySQL or MariaDB database (PyMySQL).

The session is made read-only (``SET SESSION TRANSACTION READ ONLY``) and
the probe reads inside ``START TRANSACTION READ ONLY``. Statements are
bounded by ``max_statement_time`` (MariaDB) or ``max_execution_time``
(MySQL), with the client's ``read_timeout`` as a backstop. Only the
database named in the URL is read, from ``information_schema``.

Engine facts (``Schema.facts``):

- ``engine``: ``"mysql"``; ``flavor``: ``"mariadb"`` or ``"mysql"``;
  ``server_version``; ``database``; ``host``.
- ``max_connections``, ``connections`` (``Threads_connected``).
- ``slow_query_log`` (bool), ``long_query_time`` (seconds),
  ``performance_schema`` (bool).
- ``table_engines``: ``{table: storage engine}``; only InnoDB enforces
  foreign keys.
- the facts every probe gives, listed in :mod:`._probe`.
- the running-health facts listed in :mod:`.mysql_health`.
"""

from __future__ import annotations

import math
import re
import struct
import urllib.parse
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Unpack

import pymysql  # type: ignore[import-untyped,unused-ignore]

from audits.engine import guard
from audits.engine import schema as model
from audits.engine.sources import SourceError, mysql_health
from audits.engine.sources._probe import (
    Login,
    LoginOptions,
    OrphanScans,
    ServerRun,
    check_parts,
    scrub,
    secret_sample_sql,
    secret_samples,
    version_tables,
)

_SCHEMES = ("mysql", "mysql+pymysql", "mysql+mysqldb", "mariadb", "mariadb+pymysql")
_TIMEOUT_CODES = {1969, 3024, 2013}  # MariaDB, MySQL, lost connection
_INT_WIDTH = re.compile(r"^(TINYINT|SMALLINT|MEDIUMINT|INT|INTEGER|BIGINT)\(\d+\)")
_STRING_TYPES = {
    "char",
    "varchar",
    "text",
    "tinytext",
    "mediumtext",
    "longtext",
    "enum",
    "set",
    "binary",
    "varbinary",
}


class ProbeConnection(pymysql.connections.Connection):  # type: ignore[misc]
    """A PyMySQL connection that remembers where it points, for messages."""

    label: str = "MySQL"
    statement_timeout: float = 10.0


def _parse(
    url: str, password: str | None, policy: guard.NetworkPolicy | None = None
) -> dict[str, Any]:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme.lower() not in _SCHEMES:
        raise SourceError(f"not a MySQL URL (scheme {parts.scheme!r})")
    database = urllib.parse.unquote(parts.path.lstrip("/"))
    try:
        port = parts.port or 3306
    except ValueError as exc:
        raise SourceError("not a valid MySQL URL: bad port") from exc
    params: dict[str, Any] = {
        "host": parts.hostname or "localhost",
        "port": port,
        "user": urllib.parse.unquote(parts.username or "root"),
        "password": (
            password
            if password is not None
            else urllib.parse.unquote(parts.password or "")
        ),
        "database": database,
    }
    if not database:
        raise SourceError(
            f"MySQL {params['host']}:{port}: the URL names no database "
            "(mysql://user@host:port/DATABASE)"
        )
    if policy is not None:
        guard.refuse_local_options(
            urllib.parse.parse_qs(parts.query, keep_blank_values=True),
            engine="mysql",
        )
        if not parts.hostname:
            raise guard.TargetRefused(
                "the URL names no host (mysql://user@host:port/database)"
            )
        # Connect to the address checked, never to a second lookup.
        params["address"] = guard.resolve(parts.hostname, port, policy)
    return params


def connect(url: str, **options: Unpack[LoginOptions]) -> ProbeConnection:
    """Open a read-only session and return the probe's connection.

    ``options`` as :class:`LoginOptions` tells. Raise :class:`SourceError`
    naming the host and database (never the password) when the server cannot
    be reached, refuses the credentials or lacks the database.
    """
    login = Login(url, **options)
    timeout, policy = login.timeout, login.policy
    params = _parse(url, login.password, policy)
    label = f"MySQL {params['host']}:{params['port']}/{params['database']}"
    address = params.pop("address", None)
    if address is not None:
        params["host"] = address
    seconds = max(1, math.ceil(timeout))
    try:
        conn = ProbeConnection(
            **params,
            connect_timeout=seconds,
            read_timeout=seconds + 5,
            write_timeout=seconds + 5,
            charset="utf8mb4",
            autocommit=True,
            local_infile=False,
        )
    except (
        pymysql.err.MySQLError,
        OSError,
        ValueError,
        IndexError,
        struct.error,
    ) as exc:
        reason = _message(exc)
        if policy is not None:
            reason = guard.categorise(reason, kind="MySQL")
        raise SourceError(
            f"{label}: cannot connect as {params['user']}: "
            f"{scrub(reason, params['password'])}"
        ) from exc
    conn.label = label
    conn.statement_timeout = timeout
    mariadb = "mariadb" in conn.get_server_info().lower()
    limit = (
        f"SET SESSION max_statement_time = {timeout:g}"
        if mariadb
        else f"SET SESSION max_execution_time = {max(1, int(timeout * 1000))}"
    )
    try:
        for statement in (
            "SET SESSION TRANSACTION READ ONLY",
            limit,
            "START TRANSACTION READ ONLY",
        ):
            query(conn, statement)
    except SourceError:
        conn.close()
        raise
    return conn


def _message(exc: BaseException) -> str:
    args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
    if len(args) >= 2:
        return f"{args[1]} (error {args[0]})"
    return str(exc) or type(exc).__name__


def query(
    conn: ProbeConnection, statement: str, params: Sequence[Any] | None = None
) -> list[tuple[Any, ...]]:
    """Run one statement on the probe's connection and return its rows.

    Raise :class:`SourceError` when it times out or fails.
    """
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params)
            return list(cur.fetchall())
    except pymysql.err.MySQLError as exc:
        code = exc.args[0] if exc.args else None
        if code in _TIMEOUT_CODES:
            raise SourceError(
                f"{conn.label}: statement timed out after "
                f"{conn.statement_timeout:g}s ({_message(exc)})"
            ) from exc
        raise SourceError(f"{conn.label}: query failed: {_message(exc)}") from exc


def probe(url: str, **options: Unpack[LoginOptions]) -> model.Schema:
    """Read the schema and engine facts of a MySQL or MariaDB database.

    ``options`` as :class:`LoginOptions` tells. Raise :class:`SourceError`
    when it cannot be reached or a statement the schema needs times out.
    """
    login = Login(url, **options)
    conn = connect(url, **options)
    try:
        database = _parse(url, login.password)["database"]
        return _Probe(conn, database, login.timeout).run()
    finally:
        conn.close()


def _column_type(column_type: str) -> str:
    upper = column_type.upper()
    if upper.startswith("TINYINT(1)"):
        return upper  # the boolean convention, kept as MySQL 8 keeps it
    return _INT_WIDTH.sub(r"\1", upper)


class _Probe(ServerRun):
    def __init__(self, conn: ProbeConnection, database: str, timeout: float) -> None:
        super().__init__(timeout)
        self.conn = conn
        self.db = database

    def q(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        return query(self.conn, statement, params or None)

    def run(self) -> model.Schema:
        self._settings()
        tables = self._tables()
        names = [t.name for t in tables]
        self.facts["version_tables"] = version_tables(names)
        self.facts["fk_violations"] = tuple(self._orphans(tables))
        self.facts["secret_samples"] = tuple(secret_samples(tables, self._sample))
        mysql_health.read(self)
        return self.schema(tables, "mysql", self.conn.label)

    def _settings(self) -> None:
        version = str(self.conn.get_server_info())
        f = self.facts
        f["engine"] = "mysql"
        f["flavor"] = "mariadb" if "mariadb" in version.lower() else "mysql"
        f["server_version"] = version
        f["database"] = self.db
        f["host"] = self.conn.host
        row = self.q(
            "SELECT @@max_connections, @@slow_query_log, @@long_query_time, "
            "@@performance_schema"
        )[0]
        f["max_connections"] = int(row[0])
        f["slow_query_log"] = bool(int(row[1]))
        f["long_query_time"] = float(row[2])
        f["performance_schema"] = bool(int(row[3]))
        status = self.q("SHOW GLOBAL STATUS LIKE 'Threads_connected'")
        f["connections"] = int(status[0][1]) if status else 0

    def _tables(self) -> list[model.Table]:
        info = self.q(
            "SELECT TABLE_NAME, TABLE_ROWS, ENGINE, TABLE_COLLATION "
            "FROM information_schema.TABLES "
            "WHERE TABLE_SCHEMA = %s AND TABLE_TYPE = 'BASE TABLE' "
            "ORDER BY TABLE_NAME",
            self.db,
        )
        collations = {name: coll for name, _, _, coll in info}
        self.facts["table_engines"] = {name: engine for name, _, engine, _ in info}
        columns = self._columns(collations)
        pks, indexes = self._indexes()
        fks = self._foreign_keys()
        checks = self._checks()
        triggers = self._triggers()
        tables = []
        with_rows = 0
        for name, estimate, _engine, _ in info:
            rows: int | None = int(estimate) if estimate else None
            has_rows = bool(rows)
            if not rows:
                # InnoDB estimates lag behind; one row read settles it.
                found = self.optional(f"SELECT 1 FROM {_quote(name)} LIMIT 1")
                has_rows = bool(found)
                rows = None if has_rows or found is None else 0
            with_rows += has_rows
            pk = pks.get(name, ())
            cols = tuple(
                replace(c, primary_key=True) if len(pk) == 1 and c.name == pk[0] else c
                for c in columns.get(name, ())
            )
            tables.append(
                model.Table(
                    name=name,
                    columns=cols,
                    primary_key=pk,
                    foreign_keys=tuple(fks.get(name, ())),
                    indexes=tuple(indexes.get(name, ())),
                    checks=tuple(checks.get(name, ())),
                    triggers=tuple(triggers.get(name, ())),
                    row_count=rows,
                )
            )
        self.facts["tables_with_rows"] = with_rows
        return tables

    def _columns(self, collations: dict[str, str]) -> dict[str, list[model.Column]]:
        mariadb = self.facts["flavor"] == "mariadb"
        columns: dict[str, list[model.Column]] = {}
        for row in self.q(
            "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, "
            "COLUMN_DEFAULT, COLLATION_NAME, EXTRA, DATA_TYPE "
            "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = %s "
            "ORDER BY TABLE_NAME, ORDINAL_POSITION",
            self.db,
        ):
            table, name, ctype, nullable, default, coll, extra, data_type = row
            extra = str(extra or "").lower()
            if default is not None:
                default = str(default)
                if mariadb and default == "NULL":
                    default = None  # MariaDB spells "no default" as NULL
                elif (
                    not mariadb
                    and data_type in _STRING_TYPES
                    and "default_generated" not in extra
                ):
                    # MySQL shows string defaults unquoted; make them SQL text.
                    default = "'" + default.replace("'", "''") + "'"
            columns.setdefault(table, []).append(
                model.Column(
                    name=name,
                    type=_column_type(str(ctype)),
                    nullable=nullable == "YES",
                    default=default,
                    collation=coll if coll and coll != collations.get(table) else None,
                    autoincrement="auto_increment" in extra,
                )
            )
        return columns

    def _indexes(
        self,
    ) -> tuple[dict[str, tuple[str, ...]], dict[str, list[model.Index]]]:
        has_expression = self.facts["flavor"] == "mysql" and bool(
            self.optional(
                "SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = "
                "'information_schema' AND TABLE_NAME = 'STATISTICS' "
                "AND COLUMN_NAME = 'EXPRESSION'"
            )
        )
        expression = "EXPRESSION" if has_expression else "NULL"
        grouped: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
        for row in self.q(
            "SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, "
            f"COLLATION, {expression} FROM information_schema.STATISTICS "
            "WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
            self.db,
        ):
            grouped.setdefault((row[0], row[1]), []).append(row)
        pks: dict[str, tuple[str, ...]] = {}
        indexes: dict[str, list[model.Index]] = {}
        for (table, name), rows in grouped.items():
            columns = tuple(
                model.IndexColumn(str(col), collation == "D")
                if col is not None
                else model.IndexColumn(str(expr), collation == "D", expression=True)
                for _, _, _, _, col, collation, expr in rows
            )
            unique = not int(rows[0][2])
            if name == "PRIMARY":
                pks[table] = tuple(c.name for c in columns)
            indexes.setdefault(table, []).append(
                model.Index(
                    name=name,
                    table=table,
                    columns=columns,
                    unique=unique,
                    constraint="primary key"
                    if name == "PRIMARY"
                    else "unique"
                    if unique
                    else None,
                )
            )
        return pks, indexes

    def _foreign_keys(self) -> dict[str, list[model.ForeignKey]]:
        grouped: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
        for row in self.q(
            "SELECT k.TABLE_NAME, k.CONSTRAINT_NAME, k.COLUMN_NAME, "
            "k.REFERENCED_TABLE_SCHEMA, k.REFERENCED_TABLE_NAME, "
            "k.REFERENCED_COLUMN_NAME, r.UPDATE_RULE, r.DELETE_RULE "
            "FROM information_schema.KEY_COLUMN_USAGE k "
            "JOIN information_schema.REFERENTIAL_CONSTRAINTS r "
            "ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA "
            "AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME "
            "AND r.TABLE_NAME = k.TABLE_NAME "
            "WHERE k.TABLE_SCHEMA = %s AND k.REFERENCED_TABLE_NAME IS NOT NULL "
            "ORDER BY k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION",
            self.db,
        ):
            grouped.setdefault((row[0], row[1]), []).append(row)
        fks: dict[str, list[model.ForeignKey]] = {}
        for (table, name), rows in grouped.items():
            ref_schema, ref_table = rows[0][3], rows[0][4]
            fks.setdefault(table, []).append(
                model.ForeignKey(
                    columns=tuple(r[2] for r in rows),
                    ref_table=ref_table
                    if ref_schema == self.db
                    else f"{ref_schema}.{ref_table}",
                    ref_columns=tuple(r[5] for r in rows),
                    on_delete=_action(rows[0][7]),
                    on_update=_action(rows[0][6]),
                    declared="table",
                    name=name,
                )
            )
        return fks

    def _checks(self) -> dict[str, list[model.Check]]:
        if self.facts["flavor"] == "mariadb":
            statement = (
                "SELECT TABLE_NAME, CONSTRAINT_NAME, CHECK_CLAUSE, LEVEL "
                "FROM information_schema.CHECK_CONSTRAINTS "
                "WHERE CONSTRAINT_SCHEMA = %s ORDER BY TABLE_NAME, CONSTRAINT_NAME"
            )
        else:
            statement = (
                "SELECT tc.TABLE_NAME, cc.CONSTRAINT_NAME, cc.CHECK_CLAUSE, 'Table' "
                "FROM information_schema.TABLE_CONSTRAINTS tc "
                "JOIN information_schema.CHECK_CONSTRAINTS cc "
                "ON cc.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA "
                "AND cc.CONSTRAINT_NAME = tc.CONSTRAINT_NAME "
                "WHERE tc.TABLE_SCHEMA = %s AND tc.CONSTRAINT_TYPE = 'CHECK' "
                "ORDER BY tc.TABLE_NAME, cc.CONSTRAINT_NAME"
            )
        checks: dict[str, list[model.Check]] = {}
        for table, name, clause, level in self.optional(statement, self.db) or ():
            column, values = check_parts(str(clause), "mysql")
            checks.setdefault(table, []).append(
                model.Check(
                    expression=str(clause),
                    name=name,
                    column=name if level == "Column" else column,
                    values=values,
                )
            )
        return checks

    def _triggers(self) -> dict[str, list[model.Trigger]]:
        triggers: dict[str, list[model.Trigger]] = {}
        for name, table, timing, event, body in self.q(
            "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_TIMING, "
            "EVENT_MANIPULATION, ACTION_STATEMENT FROM information_schema.TRIGGERS "
            "WHERE EVENT_OBJECT_SCHEMA = %s ORDER BY TRIGGER_NAME",
            self.db,
        ):
            triggers.setdefault(table, []).append(
                model.Trigger(
                    name=name, table=table, timing=timing, event=event, body=body
                )
            )
        return triggers

    def _sample(self, table: model.Table, column: str) -> list[tuple[Any, ...]] | None:
        return self.optional(secret_sample_sql(_quote(table.name), _quote(column)))

    def _orphans(self, tables: list[model.Table]) -> list[dict[str, Any]]:
        scans = OrphanScans(self.notes, self.timeout)
        by_name = {t.name: t for t in tables}
        for table in tables:
            for fk in table.foreign_keys:
                label = f"{table.name}({', '.join(fk.columns)})"
                parent = by_name.get(fk.ref_table)
                if parent is None or len(fk.ref_columns) != len(fk.columns):
                    continue
                if not scans.allowed(
                    label, table.row_count or 0, parent.row_count or 0
                ):
                    continue
                not_null = " AND ".join(
                    f"c.{_quote(c)} IS NOT NULL" for c in fk.columns
                )
                match = " AND ".join(
                    f"p.{_quote(p)} = c.{_quote(c)}"
                    for p, c in zip(fk.ref_columns, fk.columns, strict=True)
                )
                result = self.optional(
                    f"SELECT 1 FROM {_quote(table.name)} c WHERE {not_null} "
                    f"AND NOT EXISTS (SELECT 1 FROM {_quote(parent.name)} p "
                    f"WHERE {match}) LIMIT 1"
                )
                scans.record(label, result, table.name, fk)
        return scans.found


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _action(rule: str | None) -> str | None:
    # RESTRICT and NO ACTION are the same in InnoDB, and each engine shows
    # one of them for a foreign key that declared nothing.
    if rule is None or rule.upper() in ("RESTRICT", "NO ACTION"):
        return None
    return rule.upper()
