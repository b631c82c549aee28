"""Tenancy: tables and statements that can cross from one tenant to another."""

from __future__ import annotations

import re
from collections.abc import Iterator

from audits.engine.issues import Issue
from audits.engine.schema import Schema
from audits.engine.sources.code import CodeFacts, SqlUse
from audits.engine.vocabulary import OWNER_TABLES, TENANT_COLUMNS

from . import schema_facts as sf
from .base import JOINED, SCHEMA, CheckSpec, Topic
from .code_facts import live_sql, short, sql_key

TOPIC = Topic.beside(__file__)


@TOPIC.implements("tenant-column-missing", requires=SCHEMA)
def tenant_column_missing(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report tenant-owned tables more than one join away from a tenant column."""
    roots = {t.name.lower() for t in schema.tables if t.name.lower() in OWNER_TABLES}
    if not roots:
        return
    scoped = {
        t.name.lower(): sf.tenant_columns(schema, t)
        for t in schema.tables
        if t.name.lower() not in roots
    }
    direct = {name for name, cols in scoped.items() if cols}
    parents = {
        t.name.lower(): {
            fk.ref_table.lower()
            for fk in t.foreign_keys
            if fk.ref_table.lower() != t.name.lower()
        }
        for t in schema.tables
    }
    # Breadth-first from directly scoped tables along child -> parent edges.
    distance: dict[str, int] = dict.fromkeys(direct, 0)
    frontier = set(direct)
    step = 0
    while frontier:
        step += 1
        nxt = set()
        for name, ps in parents.items():
            if name in distance or name in roots:
                continue
            if ps & frontier:
                distance[name] = step
                nxt.add(name)
        frontier = nxt
    for table in schema.tables:
        d = distance.get(table.name.lower())
        if d is None or d < 2:
            continue
        chain = _chain(table.name.lower(), parents, distance)
        root_table = schema.table(chain[-1]) if chain else None
        tenant = sf.tenant_columns(schema, root_table)[0] if root_table else ""
        fix = ""
        if tenant and root_table is not None:
            col = root_table.column(tenant)
            owner_fk = next(
                (
                    fk
                    for fk in root_table.foreign_keys
                    if fk.columns[0].lower() == tenant.lower()
                ),
                None,
            )
            if col is not None and owner_fk is not None:
                ref_cols = sf.referenced_columns(schema, owner_fk)
                fix = (
                    f"ALTER TABLE {sf.quote(table.name, schema)} ADD COLUMN "
                    f"{sf.quote(tenant, schema)} {col.type or 'INTEGER'} REFERENCES "
                    f"{sf.quote(owner_fk.ref_table, schema)}"
                    f"{' (' + sf.column_text(ref_cols) + ')' if ref_cols else ''};"
                )
        yield sf.whole_table_issue(
            spec,
            table,
            evidence=f"{table.name} reaches {tenant or 'its tenant'} only through "
            f"{' -> '.join(chain)} ({d} joins)",
            fix_sql=fix,
        )


def _chain(
    start: str, parents: dict[str, set[str]], distance: dict[str, int]
) -> list[str]:
    chain = [start]
    current = start
    while distance.get(current, 0) > 0:
        step = distance[current] - 1
        options = sorted(p for p in parents.get(current, ()) if distance.get(p) == step)
        if not options:
            break
        current = options[0]
        chain.append(current)
    return chain


def _key_from_input(use: SqlUse, pk: list[str]) -> bool:
    """Return True when the value matched against the key can come from input."""
    if not use.param_origins:
        return False
    for column in pk:
        match = re.search(rf"\b{re.escape(column)}\s*=\s*\$(\w+)", use.template, re.I)
        if not match:
            continue
        number = match.group(1)
        if not use.position_origins:
            if number.isdigit():
                continue
            return False  # placeholders numbered at run time over ``*args``: unknown
        # ``${n}`` built at run time: the key is conventionally the last parameter
        position = (
            int(number) - 1 if number.isdigit() else len(use.position_origins) - 1
        )
        if position >= len(use.position_origins):
            continue
        origins = set(use.position_origins[position])
        if use.position_attrs[position] or origins & set(TENANT_COLUMNS):
            return False  # the id of an object in hand, or the owner's own id
        return bool(origins)
    return True


@TOPIC.implements("tenant-scope-missing", requires=JOINED)
def tenant_scope_missing(
    spec: CheckSpec, code: CodeFacts, schema: Schema
) -> Iterator[Issue]:
    """Report statements by id on tenant-owned tables that omit the tenant column."""
    for use in live_sql(code):
        info = use.sql
        if info.kind not in ("select", "update", "delete") or len(info.tables) != 1:
            continue
        table = schema.table(info.tables[0])
        if table is None:
            continue
        tenant = next((c for c in TENANT_COLUMNS if table.column(c) is not None), None)
        if tenant is None:
            continue
        pk = [c.lower() for c in table.primary_key] or ["id"]
        where = set(info.where_columns)
        if not set(pk) <= where or tenant in where:
            continue
        if (set(pk) | where) & set(TENANT_COLUMNS):
            continue  # the key, or another filter, is the owner's id
        if not _key_from_input(use, pk):
            continue  # the id comes from a row already loaded, not from input
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
