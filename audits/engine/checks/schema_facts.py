"""Helpers the schema checks share: dialect, quoting, indexes, owners, tenants.

Every function takes the neutral schema model, so the same helper serves a
DDL file and a live database. Derived facts that many columns ask for
(owner tables) are kept on the schema itself (``Schema.derived``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from audits.engine.issues import Issue
from audits.engine.schema import Check, Column, ForeignKey, Index, Schema, Table
from audits.engine.vocabulary import OWNER_TABLES, TENANT_COLUMNS

from .base import CheckSpec, Facts


def engine(schema: Schema) -> str:
    """Return ``sqlite``, ``postgres``, ``mysql`` or the schema's own dialect."""
    name = schema.dialect.lower()
    if name in ("postgres", "postgresql", "pg", "redshift"):
        return "postgres"
    if name in ("mysql", "mariadb"):
        return "mysql"
    if name in ("sqlite", "sqlite3"):
        return "sqlite"
    return name


def quote(name: str, schema: Schema) -> str:
    """Return ``name`` quoted for the schema's dialect when it needs quoting."""
    if re.fullmatch(r"[a-z_][a-z0-9_]*", name) and name.upper() not in _RESERVED:
        return name
    if engine(schema) == "mysql":
        return "`" + name.replace("`", "``") + "`"
    return '"' + name.replace('"', '""') + '"'


_RESERVED = frozenset(
    ("ORDER", "GROUP", "USER", "KEY", "INDEX", "TABLE", "SELECT", "WHERE", "FROM")
    + ("DEFAULT", "CHECK", "REFERENCES", "PRIMARY", "UNIQUE", "CONSTRAINT", "TO")
    + ("AS", "ON", "IN", "IS", "NOT", "NULL", "AND", "OR", "LIMIT", "OFFSET")
)


def string_default(column: Column) -> str | None:
    """Return the value of a quoted string DEFAULT, without quotes."""
    if column.default is None:
        return None
    text = column.default.strip()
    while text.startswith("(") and text.endswith(")"):
        text = text[1:-1].strip()
    text = re.sub(r"::[\w ]+$", "", text)
    match = re.fullmatch(r"'((?:[^']|'')*)'", text)
    return match.group(1).replace("''", "'") if match else None


def checks_on(table: Table, column: str) -> list[Check]:
    """Return the CHECK constraints of ``table`` that mention ``column``."""
    low = column.lower()
    pattern = re.compile(rf"(?<![\w]){re.escape(low)}(?![\w])")
    return [
        c
        for c in table.checks
        if (c.column or "").lower() == low or pattern.search(c.expression.lower())
    ]


def indexes_of(table: Table) -> list[Index]:
    """Return the table's indexes, plus its primary key when none backs it."""
    result = list(table.indexes)
    pk = tuple(c.lower() for c in table.primary_key)
    if pk and not any(i.constraint == "primary key" for i in result):
        from audits.engine.schema import IndexColumn

        result.append(
            Index(
                name=f"{table.name}_pkey",
                table=table.name,
                columns=tuple(IndexColumn(c) for c in table.primary_key),
                unique=True,
                constraint="primary key",
            )
        )
    return result


def distinct_fks(table: Table) -> list[ForeignKey]:
    """Return one FK per column set (conflicting duplicates are one problem)."""
    seen: dict[tuple[str, ...], ForeignKey] = {}
    for fk in table.foreign_keys:
        key = tuple(c.lower() for c in fk.columns)
        seen.setdefault(key, fk)
    return list(seen.values())


def referenced_columns(schema: Schema, fk: ForeignKey) -> tuple[str, ...]:
    """Return the parent columns an FK points at (its PK when not named)."""
    if fk.ref_columns:
        return fk.ref_columns
    parent = schema.table(fk.ref_table)
    return parent.primary_key if parent else ()


def _location(
    table: Table, line: int | None = None, file: str | None = None
) -> dict[str, object]:
    # A column, key or index a later migration added is placed in that file.
    return {
        "file": file or table.file or "",
        "line": line if line is not None else table.line,
    }


def schema_of(facts: Facts) -> Schema | None:
    """Return the schema of the scan, or None when no schema was read."""
    return facts.schema


def column_text(cols: Iterable[str]) -> str:
    """Return column names as a comma-separated list for messages."""
    return ", ".join(cols)


def columns_object(table: Table, cols: Iterable[str]) -> str:
    """Return ``table.col`` for one column, ``table(a, b)`` for several."""
    names = list(cols)
    if len(names) == 1:
        return f"{table.name}.{names[0]}"
    return f"{table.name}({column_text(names)})"


def table_issue(
    spec: CheckSpec,
    table: Table,
    line: int | None = None,
    *,
    file: str | None = None,
    **kw: object,
) -> Issue:
    """Return an issue of ``spec`` placed at ``table`` (its file and line).

    ``line`` and ``file`` place it at a part of the table instead (a column,
    a key, an index), which a later migration may have added elsewhere.
    """
    loc = _location(table, line, file)
    return spec.issue(file=str(loc["file"]), line=loc["line"], **kw)  # type: ignore[arg-type]


def whole_table_issue(spec: CheckSpec, table: Table, **kw: Any) -> Issue:
    """Return an issue of ``spec`` about a whole table, keyed on its name."""
    return table_issue(spec, table, key=[table.name], object=table.name, **kw)


def column_issue(spec: CheckSpec, table: Table, col: Column, **kw: Any) -> Issue:
    """Return an issue of ``spec`` about one column, keyed on table and column."""
    return table_issue(
        spec,
        table,
        col.line,
        file=col.file,
        key=[table.name, col.name],
        object=f"{table.name}.{col.name}",
        **kw,
    )


def fk_text(fk: ForeignKey) -> str:
    """Return a foreign key as the SQL that declares it, for evidence."""
    ref = (
        f"{fk.ref_table}({column_text(fk.ref_columns)})"
        if fk.ref_columns
        else fk.ref_table
    )
    text = (
        f"{fk.columns[0]} REFERENCES {ref}"
        if fk.declared == "column"
        else f"FOREIGN KEY ({column_text(fk.columns)}) REFERENCES {ref}"
    )
    if fk.on_delete:
        text += f" ON DELETE {fk.on_delete}"
    if fk.on_update:
        text += f" ON UPDATE {fk.on_update}"
    return text


def owner_tables(schema: Schema) -> frozenset[str]:
    """Return lower-case names of owner-like tables (by name or by fan-in).

    A table counts by fan-in when at least three other tables, and at least
    half of the tables that have foreign keys, reference it.
    """
    return schema.derived("owner_tables", _owner_tables)


def _owner_tables(schema: Schema) -> frozenset[str]:
    owners = {t.name.lower() for t in schema.tables if t.name.lower() in OWNER_TABLES}
    referrers: dict[str, set[str]] = {}
    with_fks = 0
    for table in schema.tables:
        parents = {
            fk.ref_table.lower()
            for fk in table.foreign_keys
            if fk.ref_table.lower() != table.name.lower()
        }
        if parents:
            with_fks += 1
        for parent in parents:
            referrers.setdefault(parent, set()).add(table.name.lower())
    for parent, children in referrers.items():
        if len(children) >= 3 and 2 * len(children) >= with_fks:
            owners.add(parent)
    return frozenset(owners)


def django_managed(schema: Schema) -> bool:
    """Return True when Django's migrations built the schema.

    Django keeps its applied migrations in ``django_migrations``. It declares
    every FK without an ON DELETE action (``DEFERRABLE INITIALLY DEFERRED``
    on SQLite and PostgreSQL) and carries out each model's ``on_delete``
    itself, so the schema alone cannot say what a delete does.
    """
    return schema.table("django_migrations") is not None


def tenant_columns(schema: Schema, table: Table) -> list[str]:
    """Return the columns that scope ``table`` to a tenant (owner FKs)."""
    owners = owner_tables(schema) & OWNER_TABLES
    result = []
    for col in table.columns:
        low = col.name.lower()
        if low in TENANT_COLUMNS:
            result.append(col.name)
            continue
        for fk in table.foreign_keys:
            if (
                len(fk.columns) == 1
                and fk.columns[0].lower() == low
                and fk.ref_table.lower() in owners
            ):
                result.append(col.name)
                break
    return result


def covers(index: Index, columns: Iterable[str]) -> bool:
    """Return True when ``index`` leads with exactly ``columns`` (any order)."""
    wanted = {c.lower() for c in columns}
    lead = index.columns[: len(wanted)]
    return (
        index.predicate is None
        and len(lead) == len(wanted)
        and all(not c.expression for c in lead)
        and {c.name.lower() for c in lead} == wanted
    )
