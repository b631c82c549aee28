"""Checks that join the code with the schema (``ddl+code`` in the catalogue)."""

from __future__ import annotations

from collections.abc import Iterator

from audits.engine.issues import Evidence, Issue
from audits.engine.registry import CheckSpec, Facts, implements
from audits.engine.schema import Table
from audits.engine.sources.code import CodeFacts

from .code_checks import growth_tables_written, reachable_deletes
from .code_common import (
    SOFT_DELETE_COLUMNS,
    TENANT_COLUMNS,
    code_of,
    is_enum_column,
    live_sql,
    short,
    sql_key,
)

JOINED = {Evidence.SCHEMA, Evidence.CODE}


def _strip(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _literal_writes(
    code: CodeFacts,
) -> Iterator[tuple[str, str, str, str, int, str, str]]:
    """Yield (table, column, value, file, line, function, snippet) for code writes."""
    for use in live_sql(code):
        if not use.sql.is_write or len(use.sql.tables) != 1:
            continue
        for column, value in use.literal_writes().items():
            yield (
                use.sql.tables[0],
                column,
                value,
                use.file,
                use.line,
                use.function,
                use.snippet,
            )
    models = {m.name: m for m in code.models}
    for write in code.orm_writes:
        model = models.get(write.model)
        if model is None:
            continue
        col = model.column(write.column)
        name = col.name if col is not None else write.column
        yield model.table, name, write.value, write.file, write.line, write.function, ""


def _checks_on(table: Table, column: str) -> list[tuple[str, ...] | None]:
    """Return the value lists of CHECKs on ``column`` (None for other CHECKs)."""
    out: list[tuple[str, ...] | None] = []
    for check in table.checks:
        if (check.column or "").lower() == column or (
            check.column is None and column in check.expression.lower()
        ):
            out.append(tuple(_strip(v) for v in check.values) if check.values else None)
    return out


@implements("check-incomplete-enum", requires=JOINED)
def check_incomplete_enum(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report literal values the code writes that the column's CHECK forbids."""
    code = code_of(facts)
    if code is None or facts.schema is None:
        return
    seen: set[tuple[str, str, str]] = set()
    for table_name, column, value, file, line, function, snippet in _literal_writes(
        code
    ):
        table = facts.schema.table(table_name)
        if table is None:
            continue
        for allowed in _checks_on(table, column.lower()):
            if allowed is None or value in allowed:
                continue
            key = (table.name.lower(), column.lower(), value)
            if key in seen:
                continue
            seen.add(key)
            listed = ", ".join(f"'{v}'" for v in allowed)
            yield spec.issue(
                key=list(key),
                object=f"{table.name}.{column}",
                file=file,
                line=line,
                function=function,
                evidence=f"{snippet or function}  # writes '{value}', CHECK allows {listed}",
                fix_sql=(
                    f"-- add '{value}' to the CHECK on {table.name}.{column}: "
                    f"CHECK ({column} IN ({listed}, '{value}'))"
                ),
                remediation=(
                    f"Add '{value}' to the CHECK list of {table.name}.{column} (a table "
                    f"rebuild on SQLite), or stop writing it in `{short(function)}`."
                ),
            )


@implements("check-missing-enum", requires=JOINED)
def check_missing_enum_code(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report enum-like columns without CHECK that the code writes literals to."""
    code = code_of(facts)
    if code is None or facts.schema is None:
        return
    values: dict[tuple[str, str], set[str]] = {}
    where: dict[tuple[str, str], tuple[str, int, str]] = {}
    for table_name, column, value, file, line, function, _ in _literal_writes(code):
        table = facts.schema.table(table_name)
        if table is None or table.column(column) is None or not is_enum_column(column):
            continue
        if _checks_on(table, column.lower()):
            continue
        found = table.column(column)
        assert found is not None
        key = (table.name, found.name)
        values.setdefault(key, set()).add(value)
        where.setdefault(key, (file, line, function))
    for (tname, cname), seen in sorted(values.items()):
        file, line, function = where[(tname, cname)]
        listed = ", ".join(f"'{v}'" for v in sorted(seen))
        yield spec.issue(
            key=[tname.lower(), cname.lower()],
            object=f"{tname}.{cname}",
            file=file,
            line=line,
            function=function,
            evidence=f"code writes {listed} to {tname}.{cname}; no CHECK constrains it",
            fix_sql=f"-- CHECK ({cname} IN ({listed}, ...))",
            remediation=(
                f"Add CHECK ({cname} IN (...)) to {tname} listing every value the "
                f"application uses (it writes {listed})."
            ),
        )


_UPDATED = (
    "updated_at",
    "modified_at",
    "last_updated",
    "updated",
    "modified",
    "last_modified",
)


@implements("updated-at-not-maintained", requires=JOINED)
def updated_at_not_maintained(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report ``updated_at`` columns that updates to their table leave stale."""
    code = code_of(facts)
    if code is None or facts.schema is None:
        return
    updates: dict[str, list[tuple[set[str], str, int, str]]] = {}
    sets_anywhere: dict[str, set[str]] = {}
    for use in live_sql(code):
        if not use.sql.tables:
            continue
        tname = use.sql.tables[0]
        if use.sql.kind == "update":
            updates.setdefault(tname, []).append(
                (set(use.sql.set_columns), use.file, use.line, use.function)
            )
        if use.sql.is_write:
            sets_anywhere.setdefault(tname, set()).update(use.sql.set_columns)
    orm = {m.table.lower(): m for m in code.models}
    for table in facts.schema.tables:
        name = table.name.lower()
        for column in table.columns:
            col = column.name.lower()
            if col not in _UPDATED:
                continue
            if any(
                col in t.body.lower()
                or "update" in t.event.lower()
                and col in t.body.lower()
                for t in table.triggers
            ):
                continue
            model = orm.get(name)
            if model is not None:
                mcol = model.column(col)
                if mcol is not None and mcol.onupdate:
                    continue
            table_updates = updates.get(name, [])
            if col in sets_anywhere.get(name, set()):
                continue
            if not table_updates and model is None:
                continue
            if table_updates:
                _, file, line, function = table_updates[0]
                evidence = (
                    f"{len(table_updates)} UPDATE(s) of {table.name} leave {column.name} "
                    f"unchanged (e.g. in `{short(function)}`)"
                )
            else:
                file, line, function = model.file, model.line, ""  # type: ignore[union-attr]
                evidence = f"ORM model {model.name} has no onupdate for {column.name}"  # type: ignore[union-attr]
            yield spec.issue(
                key=[name, col],
                object=f"{table.name}.{column.name}",
                file=file,
                line=line,
                function=function,
                evidence=evidence,
                fix_sql=(
                    f"CREATE TRIGGER {name}_{col}_touch AFTER UPDATE ON {table.name} "
                    f"FOR EACH ROW WHEN NEW.{col} IS OLD.{col} BEGIN UPDATE {table.name} "
                    f"SET {col} = CURRENT_TIMESTAMP WHERE rowid = NEW.rowid; END;"
                    if facts.schema.dialect == "sqlite"
                    else ""
                ),
                remediation=(
                    f"Set {column.name} in every UPDATE of {table.name} "
                    f"(`SET ..., {column.name} = CURRENT_TIMESTAMP`), or maintain it with a "
                    "trigger or the ORM's `onupdate`."
                ),
            )


def _soft_delete_filters(code: CodeFacts) -> Iterator[tuple[str, str, str, int, str]]:
    """Yield (table, column, file, line, function) for soft-delete filters."""
    for use in live_sql(code):
        if use.sql.kind not in ("select", "update", "delete"):
            continue
        for column in use.sql.where_columns:
            if column in SOFT_DELETE_COLUMNS:
                for table in use.sql.tables:
                    yield table, column, use.file, use.line, use.function
    models = {m.name: m for m in code.models}
    for flt in code.filters:
        model = models.get(flt.model)
        if model is None:
            continue
        col = model.column(flt.column)
        name = col.name if col is not None else flt.column
        if name in SOFT_DELETE_COLUMNS:
            yield model.table, name, flt.file, flt.line, flt.function


@implements("index-missing-soft-delete", requires=JOINED)
def index_missing_soft_delete(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report soft-delete columns the code filters on that no index covers."""
    code = code_of(facts)
    if code is None or facts.schema is None:
        return
    seen: set[tuple[str, str]] = set()
    for table_name, column, file, line, function in _soft_delete_filters(code):
        table = facts.schema.table(table_name)
        if table is None or table.column(column) is None:
            continue
        key = (table.name.lower(), column)
        if key in seen:
            continue
        seen.add(key)
        covered = any(
            (ix.column_names and ix.column_names[0] == column)
            or (ix.predicate and column in ix.predicate.lower())
            for ix in table.indexes
        )
        if covered:
            continue
        yield spec.issue(
            key=list(key),
            object=f"{table.name}.{column}",
            file=file,
            line=line,
            function=function,
            evidence=f"queries filter {table.name} on {column} and no index covers it",
            fix_sql=(
                f"CREATE INDEX idx_{table.name}_{column} ON {table.name} ({column});"
            ),
            remediation=(
                f"Index {table.name}.{column}, or make the common lookups partial "
                f"indexes `... WHERE {column} IS NULL`."
            ),
        )


@implements("index-missing-soft-delete", requires={Evidence.CODE})
def index_missing_soft_delete_orm(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report ORM soft-delete columns filtered on but declared without an index."""
    code = code_of(facts)
    if code is None or facts.schema is not None:
        return  # with a schema the joined implementation decides
    models = {m.table.lower(): m for m in code.models}
    seen: set[tuple[str, str]] = set()
    for table_name, column, file, line, function in _soft_delete_filters(code):
        model = models.get(table_name.lower())
        if model is None:
            continue
        col = model.column(column)
        if (
            col is None
            or col.index
            or any(ix and ix[0] == col.attr for ix in model.indexes)
        ):
            continue
        key = (model.table.lower(), col.name)
        if key in seen:
            continue
        seen.add(key)
        yield spec.issue(
            key=list(key),
            object=f"{model.table}.{col.name}",
            file=file,
            line=line,
            function=function,
            evidence=f"{model.name}.{col.attr} is filtered on and declared without index=True",
            remediation=f"Declare `{col.attr} = Column(..., index=True)` (and add the index in a migration).",
        )


@implements("table-unbounded-growth", requires=JOINED)
def table_unbounded_growth(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report append-only tables the code inserts into and never prunes."""
    code = code_of(facts)
    if code is None or facts.schema is None:
        return
    written = growth_tables_written(code)
    pruned = reachable_deletes(code)
    for name in sorted(written - pruned):
        table = facts.schema.table(name)
        if table is None:
            continue
        yield spec.issue(
            key=[table.name.lower()],
            object=table.name,
            evidence=f"the code inserts into {table.name} and no called code deletes from it",
            remediation=(
                f"Add a retention job for {table.name} (e.g. `DELETE FROM {table.name} "
                "WHERE created_at < ?` on a schedule) and call it."
            ),
        )


@implements("tenant-scope-missing", requires=JOINED)
def tenant_scope_missing(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report statements by id on tenant-owned tables that omit the tenant column."""
    code = code_of(facts)
    if code is None or facts.schema is None:
        return
    for use in live_sql(code):
        info = use.sql
        if info.kind not in ("select", "update", "delete") or len(info.tables) != 1:
            continue
        table = facts.schema.table(info.tables[0])
        if table is None:
            continue
        tenant = next((c for c in TENANT_COLUMNS if table.column(c) is not None), None)
        if tenant is None:
            continue
        pk = [c.lower() for c in table.primary_key] or ["id"]
        where = set(info.where_columns)
        if not set(pk) <= where or tenant in where:
            continue
        yield spec.issue(
            key=sql_key(use),
            object=table.name,
            evidence=f"{use.snippet}  # by {', '.join(pk)} without {tenant}",
            remediation=(
                f"Add `AND {tenant} = ?` to the WHERE clause in `{short(use.function)}` "
                "so a wrong id can never touch another tenant's row."
            ),
            file=use.file,
            line=use.line,
            function=use.function,
        )
