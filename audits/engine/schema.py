"""The neutral schema model every schema source produces.

DDL files, migrations, embedded DDL strings and live introspection of SQLite,
PostgreSQL and MySQL all end up as the same frozen dataclasses, so checks are
written once. Names are kept as the source spells them; lookups are
case-insensitive.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

_T = TypeVar("_T")


@dataclass(frozen=True)
class Column:
    name: str
    type: str = ""  # as declared, upper-cased, e.g. "INTEGER", "VARCHAR(255)"
    nullable: bool = True
    default: str | None = None  # SQL text of the default, e.g. "'pending'", "0"
    collation: str | None = None
    primary_key: bool = False  # declared inline as PRIMARY KEY
    autoincrement: bool = False
    comment: str | None = None  # a hint from the declaration, e.g. "json"
    line: int | None = None  # where the column is declared, when known
    # The file that declares it, when not the table's own (a later migration).
    file: str | None = None


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...] = ()
    on_delete: str | None = None  # "CASCADE", "SET NULL", ... None when not declared
    on_update: str | None = None
    declared: str = "table"  # "column" (inline REFERENCES) or "table" (FOREIGN KEY)
    name: str | None = None
    line: int | None = None
    validated: bool = True  # False for PostgreSQL NOT VALID constraints
    file: str | None = None  # the file that declares it, as Column.file


@dataclass(frozen=True)
class IndexColumn:
    name: str  # column name, or the SQL text of an expression
    descending: bool = False
    expression: bool = False


@dataclass(frozen=True)
class Index:
    name: str
    table: str
    columns: tuple[IndexColumn, ...]
    unique: bool = False
    predicate: str | None = None  # partial index WHERE clause, SQL text
    constraint: str | None = None  # "primary key" / "unique" when a constraint backs it
    valid: bool = True  # False for a PostgreSQL index left invalid
    line: int | None = None
    file: str | None = None  # the file that declares it, as Column.file

    @property
    def column_names(self) -> tuple[str, ...]:
        """Return the lower-cased column names (expressions as SQL text)."""
        return tuple(c.name.lower() for c in self.columns)


@dataclass(frozen=True)
class Check:
    expression: str  # SQL text
    name: str | None = None
    column: str | None = None  # the column the check constrains, when only one
    values: tuple[str, ...] | None = None  # the value set of `col IN (...)`
    validated: bool = True


@dataclass(frozen=True)
class Trigger:
    name: str
    table: str
    timing: str = ""  # BEFORE / AFTER / INSTEAD OF
    event: str = ""  # INSERT / UPDATE / DELETE
    body: str = ""


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...] = ()
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()
    indexes: tuple[Index, ...] = ()
    checks: tuple[Check, ...] = ()
    triggers: tuple[Trigger, ...] = ()
    without_rowid: bool = False
    file: str | None = None
    line: int | None = None
    row_count: int | None = None  # from live statistics, when known

    def column(self, name: str) -> Column | None:
        """Return the column called ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        for col in self.columns:
            if col.name.lower() == wanted:
                return col
        return None

    @property
    def column_names(self) -> tuple[str, ...]:
        """Return the lower-cased column names in declaration order."""
        return tuple(c.name.lower() for c in self.columns)


@dataclass(frozen=True)
class Schema:
    """A database schema as one dialect sees it."""

    tables: tuple[Table, ...] = ()
    dialect: str = "sqlite"
    # Engine facts from live probes: pragmas, settings, statistics. Keys are
    # documented by each live source; checks read them with ``fact()``.
    facts: tuple[tuple[str, Any], ...] = field(default=())
    source: str = ""  # what the schema was read from, for messages

    def table(self, name: str) -> Table | None:
        """Return the table called ``name`` (case-insensitive), or None."""
        # Checks look tables up once per column; a linear scan made a
        # 1,000-table schema quadratic. The map is built on first use and
        # kept outside the dataclass fields, so equality and repr ignore it.
        by_name: dict[str, Table] | None = self.__dict__.get("_by_name")
        if by_name is None:
            by_name = {}
            for table in self.tables:
                by_name.setdefault(table.name.lower(), table)
            object.__setattr__(self, "_by_name", by_name)
        return by_name.get(name.lower())

    def derived(self, key: str, compute: Callable[[Schema], _T]) -> _T:
        """Return ``compute(self)``, computed once for this schema and ``key``.

        Several checks ask for the same derived facts (owner tables, tables
        by name suffix) column after column; like the name map above, the
        values live on the schema itself, outside the dataclass fields.
        """
        memo: dict[str, Any] | None = self.__dict__.get("_derived")
        if memo is None:
            memo = {}
            object.__setattr__(self, "_derived", memo)
        if key not in memo:
            memo[key] = compute(self)
        return cast(_T, memo[key])

    def fact(self, key: str, default: Any = None) -> Any:
        """Return the engine fact ``key`` or ``default`` when not probed."""
        for k, v in self.facts:
            if k == key:
                return v
        return default

    @property
    def is_live(self) -> bool:
        """Return True when the schema came from a live connection."""
        return bool(self.facts)
