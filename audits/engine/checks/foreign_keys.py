"""Foreign keys: missing, conflicting, mistyped, without ON DELETE, violated.

Fingerprints key on ``table, FK columns`` (plus the parent table for
fk-no-on-delete); the live fk-violations key on ``[table, "col1,col2",
ref_table]``. SQLite cannot add an FK to an existing table, so those fixes
are described, not given as SQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from audits.engine.issues import Issue
from audits.engine.schema import ForeignKey, Schema, Table
from audits.engine.vocabulary import type_family

from . import schema_facts as sf
from .base import LIVE, SCHEMA, CheckSpec, Topic
from .probe_facts import column_list

TOPIC = Topic.beside(__file__)


@TOPIC.implements("fk-conflicting-declarations", requires=SCHEMA)
def fk_conflicting_declarations(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report columns with FK declarations that disagree on target or actions."""
    for table in schema.tables:
        groups: dict[tuple[str, ...], list[ForeignKey]] = {}
        for fk in table.foreign_keys:
            groups.setdefault(tuple(c.lower() for c in fk.columns), []).append(fk)
        for cols, fks in groups.items():
            meanings = {_fk_meaning(schema, fk) for fk in fks}
            if len(meanings) < 2:
                continue
            lines = [fk.line for fk in fks if fk.line is not None]
            evidence = "; ".join(
                f"{sf.fk_text(fk)}" + (f" (line {fk.line})" if fk.line else "")
                for fk in fks
            )
            yield sf.table_issue(
                spec,
                table,
                min(lines) if lines else None,
                key=[table.name, *cols],
                object=sf.columns_object(table, fks[0].columns),
                evidence=evidence,
                fix_sql=_drop_fk_sql(schema, table, fks),
            )


def _fk_meaning(
    schema: Schema, fk: ForeignKey
) -> tuple[str, tuple[str, ...], str, str]:
    return (
        fk.ref_table.lower(),
        tuple(c.lower() for c in sf.referenced_columns(schema, fk)),
        (fk.on_delete or "NO ACTION").upper(),
        (fk.on_update or "NO ACTION").upper(),
    )


def _drop_fk_sql(schema: Schema, table: Table, fks: list[ForeignKey]) -> str:
    # Only a named constraint can be dropped in place; SQLite needs a rebuild.
    eng = sf.engine(schema)
    weaker = [fk for fk in fks if not fk.on_delete and fk.name]
    if not weaker or eng == "sqlite":
        return ""
    name = sf.quote(weaker[0].name or "", schema)
    if eng == "mysql":
        return f"ALTER TABLE {sf.quote(table.name, schema)} DROP FOREIGN KEY {name};"
    return f"ALTER TABLE {sf.quote(table.name, schema)} DROP CONSTRAINT {name};"


@TOPIC.implements("fk-no-on-delete", requires=SCHEMA)
def fk_no_on_delete(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report FKs to owner-like tables that declare no ON DELETE action.

    Silent on a Django-managed schema, whose delete rules live in the models.
    """
    if sf.django_managed(schema):
        return
    owners = sf.owner_tables(schema)
    for table in schema.tables:
        for fk in table.foreign_keys:
            if fk.on_delete or fk.ref_table.lower() not in owners:
                continue
            if fk.ref_table.lower() == table.name.lower():
                continue
            cols = tuple(c.lower() for c in fk.columns)
            # A sibling declaration with an action is fk-conflicting-declarations.
            if any(
                other.on_delete and tuple(c.lower() for c in other.columns) == cols
                for other in table.foreign_keys
            ):
                continue
            nullable = all(
                (col := table.column(c)) is not None and col.nullable
                for c in fk.columns
            )
            action = "SET NULL" if nullable else "CASCADE"
            yield sf.table_issue(
                spec,
                table,
                fk.line,
                file=fk.file,
                key=[table.name, *cols, fk.ref_table],
                object=sf.columns_object(table, fk.columns),
                evidence=sf.fk_text(fk),
                remediation=f"{spec.remediation} Here: ON DELETE {action}"
                f" ({'the column is nullable' if nullable else 'the column is NOT NULL'}).",
                fix_sql=_readd_fk_sql(schema, table, fk, action),
            )


def _readd_fk_sql(schema: Schema, table: Table, fk: ForeignKey, action: str) -> str:
    eng = sf.engine(schema)
    if eng not in ("postgres", "mysql"):
        return ""
    t = sf.quote(table.name, schema)
    cols = sf.column_text(sf.quote(c, schema) for c in fk.columns)
    refs = sf.column_text(
        sf.quote(c, schema) for c in sf.referenced_columns(schema, fk)
    )
    parent = sf.quote(fk.ref_table, schema)
    if eng == "postgres":
        name = fk.name or f"{table.name}_{'_'.join(fk.columns)}_fkey"
        q = sf.quote(name, schema)
        return (
            f"ALTER TABLE {t} DROP CONSTRAINT {q}, ADD CONSTRAINT {q} FOREIGN KEY "
            f"({cols}) REFERENCES {parent} ({refs}) ON DELETE {action};"
        )
    if not fk.name:
        return ""
    q = sf.quote(fk.name, schema)
    return (
        f"ALTER TABLE {t} DROP FOREIGN KEY {q}, ADD CONSTRAINT {q} FOREIGN KEY "
        f"({cols}) REFERENCES {parent} ({refs}) ON DELETE {action};"
    )


def _plural_candidates(stem: str) -> list[str]:
    out = [stem, stem + "s", stem + "es"]
    if stem.endswith("y"):
        out.append(stem[:-1] + "ies")
    if stem.endswith("s"):
        out.append(stem)
    return out


def resolve_reference(schema: Schema, table: Table, column: str) -> Table | None:
    """Return the table a ``<name>_id`` column refers to by name, if any."""
    low = column.lower()
    fk_stems = {
        fk.columns[0].lower(): fk.ref_table
        for fk in table.foreign_keys
        if len(fk.columns) == 1
    }
    # `eval_run_id_b` beside an FK column `eval_run_id` points where it points.
    for fk_col, ref in fk_stems.items():
        if low != fk_col and re.fullmatch(
            rf"{re.escape(fk_col)}_?[a-z0-9]{{1,3}}", low
        ):
            return schema.table(ref)
    match = re.fullmatch(r"(.+?)_?id", low)
    if not match or low == "id":
        return None
    stem_words = match.group(1).strip("_").split("_")
    for start in range(len(stem_words)):
        stem = "_".join(stem_words[start:])
        if not stem:
            continue
        for candidate in _plural_candidates(stem):
            found = schema.table(candidate)
            if found is not None:
                return found
        if start == 0:
            suffixed = _tables_by_suffix(schema)
            found_by_suffix = {
                id(t): t for c in _plural_candidates(stem) for t in suffixed.get(c, ())
            }
            if len(found_by_suffix) == 1:
                return next(iter(found_by_suffix.values()))
    return None


def _tables_by_suffix(schema: Schema) -> dict[str, list[Table]]:
    """Return each ``_``-separated name tail -> the tables whose name ends in it."""

    def build(schema: Schema) -> dict[str, list[Table]]:
        tails: dict[str, list[Table]] = {}
        for table in schema.tables:
            low = table.name.lower()
            for at in range(1, len(low)):
                if low[at - 1] == "_":
                    tails.setdefault(low[at:], []).append(table)
        return tails

    return schema.derived("tables_by_suffix", build)


@TOPIC.implements("fk-missing", requires=SCHEMA)
def fk_missing(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report ``<table>_id`` columns that name a table but declare no FK."""
    eng = sf.engine(schema)
    for table in schema.tables:
        fk_cols = {c.lower() for fk in table.foreign_keys for c in fk.columns}
        pk = {c.lower() for c in table.primary_key}
        for col in table.columns:
            low = col.name.lower()
            if low in fk_cols or low in pk or col.primary_key:
                continue
            if not re.search(r"_?id(?:_?[a-z0-9]{1,3})?$", low) or low == "id":
                continue
            parent = resolve_reference(schema, table, col.name)
            if parent is None or not parent.primary_key or len(parent.primary_key) != 1:
                continue
            parent_col = parent.column(parent.primary_key[0])
            if parent_col is None:
                continue
            mine = type_family(col.type, eng)
            theirs = type_family(parent_col.type, eng)
            # An id of another type (an external TEXT id beside integer keys)
            # is a different thing with a similar name.
            if (
                mine
                and theirs
                and mine.rstrip("0123456789") != theirs.rstrip("0123456789")
            ):
                continue
            fix = ""
            if eng in ("postgres", "mysql"):
                name = f"{table.name}_{col.name}_fkey"
                fix = (
                    f"ALTER TABLE {sf.quote(table.name, schema)} ADD CONSTRAINT "
                    f"{sf.quote(name, schema)} FOREIGN KEY ({sf.quote(col.name, schema)}) "
                    f"REFERENCES {sf.quote(parent.name, schema)} "
                    f"({sf.quote(parent.primary_key[0], schema)});"
                )
            yield sf.column_issue(
                spec,
                table,
                col,
                evidence=f"{table.name}.{col.name} {col.type or '(untyped)'} looks like a "
                f"reference to {parent.name}.{parent.primary_key[0]} but has no FOREIGN KEY",
                fix_sql=fix,
            )


@TOPIC.implements("fk-type-mismatch", requires=SCHEMA)
def fk_type_mismatch(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report FK columns whose type family differs from the parent column's."""
    eng = sf.engine(schema)
    for table in schema.tables:
        for fk in sf.distinct_fks(table):
            parent = schema.table(fk.ref_table)
            if parent is None:
                continue
            refs = sf.referenced_columns(schema, fk)
            if len(refs) != len(fk.columns):
                continue
            for mine_name, theirs_name in zip(fk.columns, refs, strict=True):
                mine, theirs = table.column(mine_name), parent.column(theirs_name)
                if mine is None or theirs is None:
                    continue
                a, b = type_family(mine.type, eng), type_family(theirs.type, eng)
                if not a or not b or a == b:
                    continue
                yield sf.table_issue(
                    spec,
                    table,
                    fk.line,
                    file=fk.file,
                    key=[table.name, mine_name],
                    object=f"{table.name}.{mine_name}",
                    evidence=f"{table.name}.{mine_name} is {mine.type or '(untyped)'} but "
                    f"references {parent.name}.{theirs_name} {theirs.type or '(untyped)'}",
                )


@TOPIC.implements("fk-violations", requires=LIVE)
def fk_violations(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report foreign keys that rows violate (key: table, columns, parent)."""
    seen: set[tuple[str, str, str]] = set()
    for found in schema.fact("fk_violations", ()) or ():
        table, columns = found["table"], tuple(found["columns"])
        ref_table = found["ref_table"]
        place = (table.lower(), column_list(columns), ref_table.lower())
        if place in seen:
            continue  # two declarations of one key report the same rows
        seen.add(place)
        count = int(found["count"])
        amount = f"{count} row{'s' if count != 1 else ''}"
        if not found.get("exact", True):
            amount = f"at least {amount}"
        sample = found.get("sample") or ()
        rowids = f" (rowids {', '.join(str(r) for r in sample)})" if sample else ""
        col_list = ", ".join(columns)
        yield spec.issue(
            key=[table, column_list(columns), ref_table],
            object=f"{table}.{col_list}"
            if len(columns) == 1
            else f"{table}({col_list})",
            evidence=(
                f"{amount} of {table}{rowids} hold {col_list} values with no "
                f"matching row in {ref_table}."
            ),
            fix_sql=_orphan_query(table, columns, ref_table, schema),
        )


def _orphan_query(
    table: str, columns: tuple[str, ...], ref_table: str, schema: Schema
) -> str:
    parent = schema.table(ref_table)
    child = schema.table(table)
    refs: tuple[str, ...] = ()
    if child is not None:
        for fk in child.foreign_keys:
            if (
                column_list(fk.columns) == column_list(columns)
                and fk.ref_table == ref_table
            ):
                refs = fk.ref_columns
                break
    if not refs and parent is not None:
        refs = parent.primary_key
    if len(refs) != len(columns):
        return ""
    not_null = " AND ".join(f"c.{c} IS NOT NULL" for c in columns)
    match = " AND ".join(f"p.{r} = c.{c}" for r, c in zip(refs, columns, strict=True))
    return (
        f"-- list the orphans, then repair or delete them\n"
        f"SELECT c.* FROM {table} c WHERE {not_null} AND NOT EXISTS "
        f"(SELECT 1 FROM {ref_table} p WHERE {match});"
    )
