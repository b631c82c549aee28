"""Read-only live probe of a SQLite database file.

The file is opened through a ``mode=ro`` URI, so SQLite itself refuses every
write. A database in WAL mode whose ``-wal`` file is absent (fully
checkpointed, no writer attached) is opened with ``immutable=1`` as well:
a read-only connection would otherwise create ``-wal`` and ``-shm`` files
beside it and leave them behind. When a ``-wal`` file exists it holds
committed data, so the probe attaches to it normally; like every WAL reader
it then records its read mark in the shared-memory ``-shm`` index, but the
database and ``-wal`` files are never touched. Each statement runs under a
deadline enforced by a progress handler.

Engine facts (``Schema.facts``):

- ``engine``: ``"sqlite"``; ``database``: the file's base name;
  ``sqlite_version``; ``file_size`` in bytes; ``immutable``: opened with
  ``immutable=1``.
- ``journal_mode`` (``"wal"``, ``"delete"``, ...), persistent in the file.
- ``synchronous`` (0 off, 1 normal, 2 full, 3 extra) and ``foreign_keys``
  (0/1): per-connection settings, so these are the build's defaults a
  connection gets when it sets nothing, not what the application uses.
- ``page_count``, ``page_size``, ``freelist_count``, ``auto_vacuum``.
- ``has_sqlite_stat1``: ANALYZE has run at least once.
- ``integrity_check``: the rows of ``PRAGMA integrity_check`` (or
  ``quick_check`` on files over :data:`FULL_CHECK_LIMIT` bytes), ``("ok",)``
  when healthy, None when it timed out; ``integrity_check_kind`` names which.
- ``fk_violations``: one entry per violated foreign key, as built by
  :func:`._probe.fk_violation` (table, columns, ref_table, count, exact,
  sample rowids), from ``PRAGMA foreign_key_check``.
- ``user_version``; ``version_tables``: known migration version tables.
- ``tables_with_rows``: how many tables hold at least one row.
- ``probe_notes``: what the probe could not do (timeouts, unparsed SQL).
"""

from __future__ import annotations

import os
import re
import sqlite3
import time
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from audits.engine import confine
from audits.engine import schema as model
from audits.engine.sources import SourceError
from audits.engine.sources._probe import (
    fk_violation,
    probed_schema,
    secret_sample_sql,
    secret_samples,
    version_tables,
)
from audits.engine.sources.sqlite_sql import (
    _parse_index_sql,
    _parse_table_sql,
    _ParsedFk,
    _ParsedTable,
    _trigger,
)

# Above this size the probe runs quick_check instead of integrity_check and
# reads row counts from sqlite_stat1 only, never with COUNT(*).
FULL_CHECK_LIMIT = 256 * 1024 * 1024


# foreign_key_check rows read per table before the count becomes "at least".
FK_CHECK_ROW_LIMIT = 100_000


_HEADER = b"SQLite format 3\x00"


class ProbeConnection(sqlite3.Connection):
    """A SQLite connection whose statements stop at a deadline."""

    statement_timeout: float = 10.0
    deadline: float = 0.0

    def arm(self) -> None:
        """Start the deadline for the next statement."""
        self.deadline = time.monotonic() + self.statement_timeout

    def expired(self) -> int:
        """Return 1 (interrupt the statement) once the deadline has passed."""
        return 1 if self.deadline and time.monotonic() > self.deadline else 0


class _Timeout(Exception):
    pass


def database_path(location: str) -> Path:
    """Return the file a ``sqlite:///path`` URL or a plain path names."""
    if location.startswith("sqlite://"):
        rest = location[len("sqlite://") :]
        # sqlite:///rel/path and sqlite:////abs/path, as SQLAlchemy spells them
        location = rest[1:] if rest.startswith("/") else rest
        location = urllib.parse.unquote(location.split("?", 1)[0])
    return Path(location)


def connect(location: str, *, timeout: float = 10.0) -> ProbeConnection:
    """Open the database read-only and return the probe's connection.

    Raise :class:`SourceError` when the file is missing, is not a SQLite
    database, or cannot be opened.
    """
    path = database_path(location)
    try:
        path = confine.check(path)
    except confine.PathRefused as exc:
        raise SourceError(f"{path}: {confine.OUTSIDE}") from exc
    if not path.exists():
        raise SourceError(f"{path}: no such SQLite database file")
    if not path.is_file():
        raise SourceError(f"{path}: not a file, so not a SQLite database")
    try:
        with path.open("rb") as handle:
            header = handle.read(100)
    except OSError as exc:
        raise SourceError(f"{path}: cannot read the file ({exc.strerror})") from exc
    if header and not header.startswith(_HEADER):
        raise SourceError(
            f"{path}: not a SQLite database (the file lacks the SQLite header)"
        )
    immutable = _needs_immutable(path, header)
    uri = f"file:{urllib.parse.quote(str(path.absolute()))}?mode=ro"
    if immutable:
        uri += "&immutable=1"
    try:
        conn = sqlite3.connect(
            uri,
            uri=True,
            timeout=timeout,
            factory=ProbeConnection,
            check_same_thread=False,
        )
    except sqlite3.Error as exc:
        raise SourceError(f"{path}: cannot open the database ({exc})") from exc
    assert isinstance(conn, ProbeConnection)
    conn.statement_timeout = timeout
    conn.set_progress_handler(conn.expired, 1000)
    try:
        query(conn, "SELECT count(*) FROM sqlite_master")
    except SourceError:
        conn.close()
        raise
    return conn


def _needs_immutable(path: Path, header: bytes) -> bool:
    """Return True when a read-only open would create -wal/-shm files."""
    is_wal = len(header) >= 20 and header[18] == 2 and header[19] == 2
    if not is_wal:
        return False
    wal = Path(f"{path}-wal")
    shm = Path(f"{path}-shm")
    if not wal.exists():
        return True
    # A -wal without its -shm index (left by a crash) cannot be read
    # without creating the index, which a probe must not do.
    return not shm.exists() and not os.access(path.parent, os.W_OK)


def query(
    conn: ProbeConnection, sql: str, params: Sequence[Any] = ()
) -> list[tuple[Any, ...]]:
    """Run one statement under the deadline and return all its rows.

    Raise :class:`SourceError` when it times out or fails.
    """
    try:
        return _rows(conn, sql, params)
    except _Timeout as exc:
        raise SourceError(
            f"SQLite statement timed out after {conn.statement_timeout:g}s: "
            f"{sql.split('(')[0].strip()[:60]}"
        ) from exc
    except sqlite3.Error as exc:
        raise SourceError(f"SQLite query failed: {exc}") from exc


def _rows(
    conn: ProbeConnection, sql: str, params: Sequence[Any] = ()
) -> list[tuple[Any, ...]]:
    conn.arm()
    try:
        return list(conn.execute(sql, params).fetchall())
    except sqlite3.OperationalError as exc:
        if "interrupted" in str(exc):
            raise _Timeout(sql) from exc
        raise
    finally:
        conn.deadline = 0.0


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def probe(location: str, *, timeout: float = 10.0) -> model.Schema:
    """Read the schema and engine facts of a SQLite file, writing nothing.

    Raise :class:`SourceError` when the file cannot be read or a statement
    needed for the schema times out.
    """
    conn = connect(location, timeout=timeout)
    try:
        # Checked by connect; the real path is read from here on.
        path = confine.check(database_path(location))
        return _probe(conn, path)
    except _Timeout as exc:
        raise SourceError(
            f"{path}: probe timed out after {timeout:g}s per statement"
        ) from exc
    except sqlite3.DatabaseError as exc:
        raise SourceError(f"{path}: cannot read the database ({exc})") from exc
    finally:
        conn.close()


def _probe(conn: ProbeConnection, path: Path) -> model.Schema:
    notes: list[str] = []
    size = path.stat().st_size
    facts: dict[str, Any] = {
        "engine": "sqlite",
        "database": path.name,
        "sqlite_version": sqlite3.sqlite_version,
        "file_size": size,
    }
    with path.open("rb") as handle:
        header = handle.read(100)
    facts["immutable"] = _needs_immutable(path, header)
    for pragma in (
        "journal_mode",
        "synchronous",
        "foreign_keys",
        "page_count",
        "page_size",
        "freelist_count",
        "auto_vacuum",
        "user_version",
    ):
        rows = _rows(conn, f"PRAGMA {pragma}")
        value = rows[0][0] if rows else None
        facts[pragma] = value.lower() if isinstance(value, str) else value
    if facts["immutable"] and len(header) >= 20 and header[18] == 2:
        # An immutable connection ignores WAL and reports "delete"; the
        # file header says what the database really uses.
        facts["journal_mode"] = "wal"

    master = _rows(
        conn,
        "SELECT type, name, tbl_name, sql FROM sqlite_master "
        "WHERE type IN ('table', 'index', 'trigger')",
    )
    names = _table_names(conn, master)
    facts["has_sqlite_stat1"] = any(
        n.lower() == "sqlite_stat1" for t, n, _, _ in master if t == "table"
    )
    stat_rows = _stat1_rows(conn) if facts["has_sqlite_stat1"] else {}

    tables: list[model.Table] = []
    fk_ids: dict[str, dict[int, model.ForeignKey]] = {}
    with_rows = 0
    catalog = _Catalog(master)
    for name in names:
        table, ids = _read_table(conn, name, catalog, notes)
        count = stat_rows.get(name.lower())
        has_rows = bool(count)
        if count is None:
            count, has_rows = _cheap_row_count(conn, name, size, notes)
        if has_rows:
            with_rows += 1
        tables.append(_with_rows(table, count))
        fk_ids[name] = ids
    facts["tables_with_rows"] = with_rows
    facts["version_tables"] = version_tables(names)

    kind = "integrity_check" if size <= FULL_CHECK_LIMIT else "quick_check"
    facts["integrity_check_kind"] = kind
    try:
        check_rows = _rows(conn, f"PRAGMA {kind}(100)")
        facts["integrity_check"] = tuple(str(r[0]) for r in check_rows)
    except _Timeout:
        facts["integrity_check"] = None
        notes.append(f"{kind} did not finish within the statement timeout")
    facts["fk_violations"] = tuple(_fk_violations(conn, fk_ids, notes))
    facts["secret_samples"] = tuple(_secret_samples(conn, tables, notes))
    return probed_schema(tables, "sqlite", str(path), facts, notes)


def _with_rows(table: model.Table, rows: int | None) -> model.Table:
    if rows is None:
        return table
    from dataclasses import replace

    return replace(table, row_count=rows)


def _table_names(conn: ProbeConnection, master: list[tuple[Any, ...]]) -> list[str]:
    """Return the ordinary tables: no internal, virtual or shadow tables."""
    skip: set[str] = set()
    try:
        for row in _rows(conn, "PRAGMA table_list"):
            if row[0] == "main" and row[2] in ("virtual", "shadow"):
                skip.add(str(row[1]).lower())
    except sqlite3.OperationalError:
        pass  # before SQLite 3.37; virtual tables are caught below
    names = []
    for kind, name, _, sql in master:
        if kind != "table" or name.lower().startswith("sqlite_"):
            continue
        if name.lower() in skip:
            continue
        if sql and re.match(r"\s*CREATE\s+VIRTUAL\s", sql, re.IGNORECASE):
            continue
        names.append(name)
    return sorted(names, key=str.lower)


def _stat1_rows(conn: ProbeConnection) -> dict[str, int]:
    counts: dict[str, int] = {}
    for tbl, _idx, stat in _rows(conn, "SELECT tbl, idx, stat FROM sqlite_stat1"):
        if not stat:
            continue
        first = str(stat).split()[0]
        if first.isdigit():
            key = str(tbl).lower()
            counts[key] = max(counts.get(key, 0), int(first))
    return counts


def _cheap_row_count(
    conn: ProbeConnection, name: str, size: int, notes: list[str]
) -> tuple[int | None, bool]:
    """Return a small database's table row count and whether it has rows.

    On big files only whether the table has any row is learnt, as a
    COUNT(*) there would read the whole table.
    """
    try:
        if size <= FULL_CHECK_LIMIT:
            count = int(_rows(conn, f"SELECT count(*) FROM {_quote(name)}")[0][0])
            return count, count > 0
        found = _rows(conn, f"SELECT 1 FROM {_quote(name)} LIMIT 1")
    except _Timeout:
        notes.append(f"counting rows of {name} did not finish in time")
        return None, False
    except sqlite3.OperationalError as exc:
        notes.append(f"cannot count rows of {name}: {exc}")
        return None, False
    return (None, True) if found else (0, False)


class _Catalog:
    """``sqlite_master`` grouped once, so each table's lookups are direct."""

    def __init__(self, master: list[tuple[Any, ...]]) -> None:
        self.table_sql: dict[str, str | None] = {}
        self.index_sql: dict[str, str] = {}
        self.triggers: dict[str, list[tuple[str, str, str | None]]] = {}
        for kind, name, tbl, sql in master:
            if kind == "table":
                self.table_sql.setdefault(str(name), sql)
            elif kind == "index" and sql:
                self.index_sql.setdefault(str(name).lower(), sql)
            elif kind == "trigger":
                self.triggers.setdefault(str(tbl).lower(), []).append((name, tbl, sql))


def _read_table(
    conn: ProbeConnection,
    name: str,
    catalog: _Catalog,
    notes: list[str],
) -> tuple[model.Table, dict[int, model.ForeignKey]]:
    """Return one table and its foreign keys by SQLite's fk id."""
    table_sql = catalog.table_sql.get(name)
    parsed = _parse_table_sql(table_sql)
    if table_sql and not parsed.ok:
        notes.append(
            f"could not parse the CREATE TABLE of {name}; CHECK constraints, "
            "collations and FK declaration styles are missing for it"
        )
    without_rowid = bool(
        table_sql
        and re.search(r"\)[\s,A-Z]*\bWITHOUT\s+ROWID\b[\s,A-Z]*;?\s*$", table_sql, re.I)
    )
    q = _quote(name)
    info = [
        row
        for row in _rows(conn, f"PRAGMA table_xinfo({q})")
        if row[6] != 1  # a virtual table's hidden column
    ]
    primary_key = tuple(
        str(r[1]) for r in sorted((r for r in info if r[5]), key=lambda r: r[5])
    )
    columns: list[model.Column] = []
    for row in info:
        _cid, cname, ctype, notnull, default, pk_pos = row[:6]
        ctype = str(ctype or "").upper()
        # A lone INTEGER PRIMARY KEY is the rowid and WITHOUT ROWID keys are
        # NOT NULL; other key columns accept NULL in SQLite.
        rowid_alias = len(primary_key) == 1 and bool(pk_pos) and ctype == "INTEGER"
        columns.append(
            model.Column(
                name=cname,
                type=ctype,
                nullable=not (notnull or rowid_alias or (pk_pos and without_rowid)),
                default=default,
                collation=parsed.collations.get(cname.lower()),
                primary_key=cname.lower() in parsed.inline_pk,
                autoincrement=cname.lower() in parsed.autoincrement,
            )
        )

    fks_by_id = _read_fks(conn, name, primary_key, parsed)
    indexes = _read_indexes(conn, name, catalog)
    triggers = [
        _trigger(n, tbl, sql) for n, tbl, sql in catalog.triggers.get(name.lower(), [])
    ]
    table = model.Table(
        name=name,
        columns=tuple(columns),
        primary_key=primary_key,
        foreign_keys=tuple(fks_by_id[i] for i in sorted(fks_by_id, reverse=True)),
        indexes=tuple(indexes),
        checks=tuple(parsed.checks),
        triggers=tuple(sorted(triggers, key=lambda t: t.name.lower())),
        without_rowid=without_rowid,
    )
    return table, fks_by_id


def _parent_key(conn: ProbeConnection, parent: str) -> tuple[str, ...]:
    try:
        info = _rows(conn, f"PRAGMA table_info({_quote(parent)})")
    except sqlite3.OperationalError:
        return ()
    return tuple(r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5]))


def _read_fks(
    conn: ProbeConnection, name: str, own_pk: tuple[str, ...], parsed: _ParsedTable
) -> dict[int, model.ForeignKey]:
    grouped: dict[int, list[tuple[Any, ...]]] = {}
    for row in _rows(conn, f"PRAGMA foreign_key_list({_quote(name)})"):
        grouped.setdefault(int(row[0]), []).append(row)
    unmatched = list(parsed.fks)
    result: dict[int, model.ForeignKey] = {}
    # SQLite numbers foreign keys from the last declared, so walk them in
    # declaration order to pair duplicates with their declarations in order.
    for fk_id in sorted(grouped, reverse=True):
        rows = sorted(grouped[fk_id], key=lambda r: r[1])
        ref_table = str(rows[0][2])
        cols = tuple(str(r[3]) for r in rows)
        ref_cols: tuple[str, ...] = tuple(str(r[4]) for r in rows if r[4] is not None)
        if len(ref_cols) != len(cols):
            parent_pk = (
                own_pk
                if ref_table.lower() == name.lower()
                else _parent_key(conn, ref_table)
            )
            ref_cols = parent_pk
        on_update, on_delete = str(rows[0][5]).upper(), str(rows[0][6]).upper()
        match = _pop_match(unmatched, cols, ref_table, on_delete, on_update)
        if match is not None:
            fk = model.ForeignKey(
                columns=cols,
                ref_table=ref_table,
                ref_columns=ref_cols,
                on_delete=match.on_delete,
                on_update=match.on_update,
                declared=match.declared,
                name=match.name,
            )
        else:
            # SQLite reports an undeclared action as NO ACTION.
            fk = model.ForeignKey(
                columns=cols,
                ref_table=ref_table,
                ref_columns=ref_cols,
                on_delete=None if on_delete == "NO ACTION" else on_delete,
                on_update=None if on_update == "NO ACTION" else on_update,
            )
        result[fk_id] = fk
    return result


def _pop_match(
    candidates: list[_ParsedFk],
    cols: tuple[str, ...],
    ref_table: str,
    on_delete: str,
    on_update: str,
) -> _ParsedFk | None:
    wanted = (tuple(c.lower() for c in cols), ref_table.lower())
    same = [c for c in candidates if (c.columns, c.ref_table) == wanted]
    for cand in same:
        if (cand.on_delete or "NO ACTION") == on_delete and (
            cand.on_update or "NO ACTION"
        ) == on_update:
            candidates.remove(cand)
            return cand
    return None


def _read_indexes(
    conn: ProbeConnection, table: str, catalog: _Catalog
) -> list[model.Index]:
    indexes = []
    for row in _rows(conn, f"PRAGMA index_list({_quote(table)})"):
        _seq, iname, unique, origin = row[:4]
        partial = row[4] if len(row) > 4 else 0
        columns = []
        key_rows = [
            r for r in _rows(conn, f"PRAGMA index_xinfo({_quote(iname)})") if r[5]
        ]
        exprs: list[str] = []
        predicate = None
        # The pragmas name plain key columns; only expressions and partial
        # predicates need the statement, and parsing it costs milliseconds.
        if partial or any(r[1] == -2 or r[2] is None for r in key_rows):
            exprs, predicate = _parse_index_sql(
                catalog.index_sql.get(str(iname).lower())
            )
        for pos, r in enumerate(sorted(key_rows, key=lambda r: r[0])):
            cid, cname, desc = r[1], r[2], r[3]
            if cid == -2 or cname is None:
                text = exprs[pos] if pos < len(exprs) else "<expression>"
                columns.append(model.IndexColumn(text, bool(desc), expression=True))
            else:
                columns.append(model.IndexColumn(str(cname), bool(desc)))
        constraint = {"pk": "primary key", "u": "unique"}.get(str(origin))
        indexes.append(
            model.Index(
                name=str(iname),
                table=table,
                columns=tuple(columns),
                unique=bool(unique),
                predicate=predicate if partial else None,
                constraint=constraint,
            )
        )
    return sorted(indexes, key=lambda i: i.name.lower())


def _secret_samples(
    conn: ProbeConnection, tables: list[model.Table], notes: list[str]
) -> list[dict[str, Any]]:
    """Classify a few values of each secret-looking column as hash or not."""

    def read(table: model.Table, column: str) -> list[tuple[Any, ...]] | None:
        try:
            return _rows(conn, secret_sample_sql(_quote(table.name), _quote(column)))
        except (_Timeout, sqlite3.Error):
            notes.append(f"could not sample {table.name}.{column}")
            return None

    return secret_samples(tables, read)


def _fk_violations(
    conn: ProbeConnection,
    fk_ids: dict[str, dict[int, model.ForeignKey]],
    notes: list[str],
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for table in sorted(fk_ids, key=str.lower):
        if not fk_ids[table]:
            continue
        counts: dict[int, int] = {}
        samples: dict[int, list[Any]] = {}
        exact = True
        try:
            conn.arm()
            cursor = conn.execute(f"PRAGMA foreign_key_check({_quote(table)})")
            for seen, row in enumerate(cursor, start=1):
                fk_id = int(row[3])
                counts[fk_id] = counts.get(fk_id, 0) + 1
                if len(samples.setdefault(fk_id, [])) < 5:
                    samples[fk_id].append(row[1])
                if seen >= FK_CHECK_ROW_LIMIT:
                    exact = False
                    break
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc):
                notes.append(f"foreign_key_check of {table} did not finish in time")
                exact = False
            else:
                notes.append(f"foreign_key_check of {table} failed: {exc}")
                continue
        finally:
            conn.deadline = 0.0
        for fk_id, count in sorted(counts.items()):
            fk = fk_ids[table].get(fk_id)
            if fk is None:
                continue
            found.append(
                fk_violation(
                    table,
                    fk.columns,
                    fk.ref_table,
                    count,
                    exact=exact,
                    sample=tuple(samples.get(fk_id, ())),
                )
            )
    return found
