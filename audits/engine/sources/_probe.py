"""Helpers shared by the live probes (SQLite, PostgreSQL, MySQL).

Kept apart from the probes so each engine module stays about one engine:
parsing CHECK expressions into value sets, naming known migration version
tables, shaping facts the live checks read on every engine alike, and the
run of a server probe (:class:`ServerRun`).

Facts every probe gives, in ``Schema.facts``:

- ``fk_violations``: orphan rows, one entry per violated foreign key as
  :func:`fk_violation` builds it. The server probes run an anti-join that
  stops at the first row, only for tables under
  :data:`ORPHAN_SCAN_ROW_LIMIT` rows (:class:`OrphanScans`).
- ``secret_samples``: per secret-looking column, how many sampled values
  look hashed (:func:`secret_samples`); never the values.
- ``version_tables``: known migration version tables; ``tables_with_rows``;
  ``probe_notes``: what the probe could not do (timeouts, privileges,
  unparsed SQL).
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, TypedDict

import sqlglot
from sqlglot import exp

from audits.engine import guard
from audits.engine.schema import ForeignKey, Schema, Table
from audits.engine.sources import SourceError
from audits.engine.vocabulary import is_numeric_type, password_like, secret_like

# Tables that migration tools keep their applied versions in. A database
# holding one of them has versioned schema changes.
VERSION_TABLES = frozenset(
    {
        "alembic_version",
        "django_migrations",
        "schema_migrations",
        "flyway_schema_history",
        "schema_version",
        "knex_migrations",
        "goose_db_version",
        "__efmigrationshistory",
        "databasechangelog",
        "migrations",
        "_prisma_migrations",
        "sequelizemeta",
        "yoyo_migration",
        "_sqlx_migrations",
        "refinery_schema_history",
        "seaql_migrations",
        "diesel_schema_migrations",
        "migrate_version",
        "pgmigrations",
        "typeorm_migrations",
        "doctrine_migration_versions",
        "phinxlog",
        "ar_internal_metadata",
        "atlas_schema_revisions",
        "dbmate_migrations",
    }
)

# Rows above which a probe does not run an orphan scan or COUNT(*) on a
# table: statistics are good enough there and a scan would cost too much.
ORPHAN_SCAN_ROW_LIMIT = 1_000_000


def version_tables(names: list[str] | tuple[str, ...]) -> list[str]:
    """Return the names among ``names`` that are migration version tables."""
    found = []
    for name in names:
        bare = name.rsplit(".", 1)[-1].lower()
        if bare in VERSION_TABLES:
            found.append(name)
    return sorted(found)


def literal_value(node: exp.Expression) -> str | None:
    """Return the plain value of a literal (``'a'`` → ``a``), or None."""
    while isinstance(node, exp.Cast | exp.Paren):
        node = node.this
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal):
        return f"-{node.this.this}"
    if isinstance(node, exp.Literal):
        return str(node.this)
    if isinstance(node, exp.Boolean):
        return "1" if node.this else "0"
    return None


def _column_name(node: exp.Expression) -> str | None:
    while isinstance(node, exp.Cast | exp.Paren):
        node = node.this
    if isinstance(node, exp.Column):
        return node.name
    return None


def check_parts(
    expression: str | exp.Expression, dialect: str
) -> tuple[str | None, tuple[str, ...] | None]:
    """Return the one column a CHECK constrains and its ``IN`` value set.

    Understands ``col IN ('a', 'b')`` and PostgreSQL's rewritten form
    ``col = ANY (ARRAY['a'::text, 'b'::text])``. The column is None when the
    expression names several columns; the values are None when the
    expression is not a plain value list.
    """
    if isinstance(expression, str):
        try:
            node: exp.Expression | None = sqlglot.parse_one(expression, read=dialect)
        except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
            return _column_from_text(expression), None
    else:
        node = expression
    if node is None:
        return None, None
    while isinstance(node, exp.Paren):
        node = node.this
    columns = {c.name.lower(): c.name for c in node.find_all(exp.Column)}
    column = next(iter(columns.values())) if len(columns) == 1 else None
    values: tuple[str, ...] | None = None
    if isinstance(node, exp.In) and _column_name(node.this):
        found = [literal_value(e) for e in node.expressions]
        if found and all(v is not None for v in found):
            values = tuple(v for v in found if v is not None)
    elif isinstance(node, exp.EQ) and isinstance(node.expression, exp.Any):
        inner: exp.Expression = node.expression.this
        while isinstance(inner, exp.Paren | exp.Cast):
            inner = inner.this
        if isinstance(inner, exp.Array) and _column_name(node.this):
            found = [literal_value(e) for e in inner.expressions]
            if found and all(v is not None for v in found):
                values = tuple(v for v in found if v is not None)
    return column, values


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _column_from_text(expression: str) -> str | None:
    match = _IDENT.search(expression)
    return match.group(0) if match else None


def first_line(error: BaseException) -> str:
    """Return the first non-empty line of an exception's message."""
    for line in str(error).splitlines():
        if line.strip():
            return line.strip()
    return type(error).__name__


def scrub(text: str, secret: str | None) -> str:
    """Return ``text`` with ``secret`` blanked out, so messages never leak it."""
    if secret:
        return text.replace(secret, "***")
    return text


def fk_violation(
    table: str,
    columns: tuple[str, ...],
    ref_table: str,
    count: int,
    *,
    exact: bool,
    sample: tuple[Any, ...] = (),
) -> dict[str, Any]:
    """Return one ``fk_violations`` fact entry, the same shape on every engine.

    ``exact`` is False when ``count`` is only "at least" (an orphan scan
    that stopped at the first row).
    """
    return {
        "table": table,
        "columns": tuple(columns),
        "ref_table": ref_table,
        "count": count,
        "exact": exact,
        "sample": tuple(sample),
    }


class OrphanScans:
    """The orphan scans of one probe run: which ones may run, and what they found.

    A scan is skipped, with a note, when the child or the parent table has
    more than :data:`ORPHAN_SCAN_ROW_LIMIT` rows or when the run's budget
    (three statement timeouts, at least 10 s, from the first scan) is spent.
    """

    def __init__(self, notes: list[str], timeout: float) -> None:
        self.notes = notes
        self.budget = time.monotonic() + max(3 * timeout, 10.0)
        self.found: list[dict[str, Any]] = []

    def allowed(self, label: str, rows: int, parent_rows: int) -> bool:
        """Return True when the scan of ``label`` may run; else note why not."""
        if rows > ORPHAN_SCAN_ROW_LIMIT or parent_rows > ORPHAN_SCAN_ROW_LIMIT:
            self.notes.append(f"orphan scan of {label} skipped: table too big")
            return False
        if time.monotonic() > self.budget:
            self.notes.append(f"orphan scan of {label} skipped: time budget spent")
            return False
        return True

    def record(
        self, label: str, result: list[Any] | None, table: str, fk: ForeignKey
    ) -> None:
        """Keep a scan's outcome: ``None`` did not finish, a row is an orphan."""
        if result is None:
            self.notes.append(f"orphan scan of {label} did not finish")
        elif result:
            self.found.append(
                fk_violation(table, fk.columns, fk.ref_table, 1, exact=False)
            )


# How many non-empty values of a secret-looking column a probe reads to tell
# hashes from plain text. The values are classified, counted and dropped:
# they never reach facts, notes or findings.
SECRET_SAMPLE_SIZE = 5

# Django's hasher prefixes (``pbkdf2_sha256$600000$salt$hash``), modular
# crypt formats (``$2b$12$...``, ``$argon2id$...``, ``$6$...``), Django's
# unusable password (``!`` and 40 random characters) and bare hex digests.
_HASHED = re.compile(
    r"(?:pbkdf2_sha256|pbkdf2_sha1|argon2|bcrypt_sha256|bcrypt|scrypt|sha1|md5"
    r"|unsalted_sha1|unsalted_md5|crypt)\$\S{16,}"
    r"|\$[A-Za-z0-9-]{1,20}\$\S{16,}"
)
# A random API token is often hex too, so bare digests and Django's unusable
# marker count as hashes only in password columns.
_PASSWORD_HASHED = re.compile(
    r"![A-Za-z0-9]{20,}"
    r"|[0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64}|[0-9a-fA-F]{128}"
)


def looks_hashed(value: object, *, password: bool = False) -> bool:
    """Return True when a stored secret value has the shape of a hash."""
    if isinstance(value, bytes | bytearray | memoryview):
        return True  # binary digests or ciphertext, not typed-in text
    if not isinstance(value, str):
        return False
    text = value.strip()
    if _HASHED.fullmatch(text):
        return True
    return password and _PASSWORD_HASHED.fullmatch(text) is not None


def secret_columns(table: Any) -> list[str]:
    """Return the columns of ``table`` whose name says they hold a secret.

    Uses the same rule as the secret-stored-plaintext check, so the probe
    samples exactly the columns that check would report.
    """
    return [
        col.name
        for col in table.columns
        if secret_like(col.name)
        and not is_numeric_type(col)
        and "BOOL" not in col.type.upper()
    ]


def secret_sample(table: str, column: str, values: list[Any]) -> dict[str, Any]:
    """Return one ``secret_samples`` fact entry: counts only, never values."""
    present = [v for v in values if v is not None and v != ""]
    password = password_like(column)
    return {
        "table": table,
        "column": column,
        "sampled": len(present),
        "hashed": sum(1 for v in present if looks_hashed(v, password=password)),
    }


def secret_sample_sql(table: str, column: str) -> str:
    """Return the statement reading a few non-empty values of ``column``.

    ``table`` and ``column`` come quoted for the engine that runs it.
    """
    return (
        f"SELECT {column} FROM {table} WHERE {column} IS NOT NULL "
        f"AND {column} <> '' LIMIT {SECRET_SAMPLE_SIZE}"
    )


def secret_samples(
    tables: Iterable[Table],
    read: Callable[[Table, str], Sequence[tuple[Any, ...]] | None],
) -> list[dict[str, Any]]:
    """Return the ``secret_samples`` facts of ``tables``.

    ``read(table, column)`` returns the sampled rows of one secret-looking
    column, or None when it could not read them (having noted why).
    """
    found = []
    for table in tables:
        for column in secret_columns(table):
            rows = read(table, column)
            if rows is not None:
                found.append(secret_sample(table.name, column, [r[0] for r in rows]))
    return found


class LoginOptions(TypedDict, total=False):
    """What the server probes' ``connect`` and ``probe`` take besides the URL.

    ``password`` overrides the URL's. ``timeout`` (seconds, 10 when not
    given) bounds the connection and every statement. With a ``policy`` (a
    server scanning for tenants) the host is checked, the connection pinned
    to the address checked, and failures are told in fixed categories.
    """

    password: str | None
    timeout: float
    policy: guard.NetworkPolicy | None


@dataclass(frozen=True)
class Login:
    """Where and how a server probe logs in: a URL and its :class:`LoginOptions`."""

    url: str
    password: str | None = None
    timeout: float = 10.0
    policy: guard.NetworkPolicy | None = None


class ServerRun:
    """One run of a server probe: the facts and notes it gathers, and its reads.

    A probe subclasses it with :meth:`q`, one statement on its connection,
    and, where a failed statement spoils the transaction, :meth:`attempt`.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.notes: list[str] = []
        self.facts: dict[str, Any] = {}

    def q(self, statement: Any, *params: Any) -> list[tuple[Any, ...]]:
        """Run one statement and return its rows; raise SourceError on failure."""
        raise NotImplementedError

    def attempt(self) -> AbstractContextManager[object]:
        """Return what an optional read runs inside (nothing by default)."""
        return contextlib.nullcontext()

    def optional(
        self, statement: Any, *params: Any, what: str = ""
    ) -> list[tuple[Any, ...]] | None:
        """Run a statement that may fail (privileges, timeouts).

        On failure note ``what`` could not be read, and why, and return None.
        """
        try:
            with self.attempt():
                return self.q(statement, *params)
        except SourceError as exc:
            self.notes.append(f"{what}: {exc}" if what else str(exc))
            return None

    def schema(self, tables: Iterable[Table], dialect: str, source: str) -> Schema:
        """Return the schema read, with the facts and the notes gathered."""
        return probed_schema(tables, dialect, source, self.facts, self.notes)


def probed_schema(
    tables: Iterable[Table],
    dialect: str,
    source: str,
    facts: dict[str, Any],
    notes: list[str],
) -> Schema:
    """Return a probe's schema: its tables, its facts and, last, its notes."""
    facts["probe_notes"] = tuple(notes)
    return Schema(
        tables=tuple(tables),
        dialect=dialect,
        facts=tuple(facts.items()),
        source=source,
    )


class Watchdog:
    """Cut a connection whose server stops answering mid-conversation.

    Server-side statement timeouts need a server that keeps to the
    protocol; a server that completes the handshake and then goes silent
    would hold a client blocked in ``recv`` for ever. Before each exchange
    the probe calls :meth:`kick` with how long an answer may take; if none
    comes in time the socket is shut down, the blocked read fails at once
    and :attr:`fired` says why.
    """

    def __init__(self, fileno: int) -> None:
        self.fileno = fileno
        self.fired = False
        self._deadline: float | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._watch, name="plumbline-probe-watchdog", daemon=True
        )
        self._thread.start()

    def kick(self, seconds: float) -> None:
        """Allow the next answer ``seconds`` from now."""
        with self._lock:
            self._deadline = time.monotonic() + seconds

    def close(self) -> None:
        """Stop watching (the connection is closed or handed back)."""
        self._stop.set()

    def _watch(self) -> None:
        while not self._stop.wait(0.25):
            with self._lock:
                due = self._deadline is not None and time.monotonic() > self._deadline
            if due:
                self.fired = True
                try:
                    sock = socket.socket(fileno=os.dup(self.fileno))
                except OSError:
                    return
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
                return
