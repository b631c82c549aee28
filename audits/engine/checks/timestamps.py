"""Timestamps: naming, time zones, and ``updated_at`` columns kept current."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator

from audits.engine.issues import Issue
from audits.engine.schema import Column, Schema, Table
from audits.engine.sources.code import CodeFacts
from audits.engine.vocabulary import UPDATED_AT_COLUMNS

from .base import JOINED, SCHEMA, CheckSpec, Topic
from .code_facts import column_at, live_sql, short
from .schema_facts import column_issue, engine, quote

TOPIC = Topic.beside(__file__)


_TS_ROLES = (
    "created",
    "updated",
    "modified",
    "deleted",
    "archived",
    "started",
    "completed",
    "finished",
    "expires",
    "expired",
    "published",
)


_TS_NAME = re.compile(
    rf"^({'|'.join(_TS_ROLES)})(_at|_on|_date|_time|_ts|At|On|Date|Time)?$"
)


def _ts_style(column: Column) -> tuple[str, str] | None:
    match = _TS_NAME.match(column.name)
    if match is None:
        return None
    suffix = match.group(2) or ""
    if not suffix:
        t = column.type.upper()
        # A bare `deleted INTEGER` is a flag, not a timestamp.
        if "INT" in t or "BOOL" in t:
            return None
    return match.group(1), suffix.lower() if suffix.startswith("_") else suffix


@TOPIC.implements("naming-inconsistent-timestamp", requires=SCHEMA)
def naming_inconsistent_timestamp(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report timestamp columns named against the schema's majority style."""
    styles: Counter[str] = Counter()
    found: list[tuple[Table, Column, str, str]] = []
    for table in schema.tables:
        for col in table.columns:
            style = _ts_style(col)
            if style:
                styles[style[1]] += 1
                found.append((table, col, style[0], style[1]))
    if len(styles) < 2:
        return
    (top, top_count), (_, second) = styles.most_common(2)
    if top_count < 2 or top_count == second:
        return
    for table, col, role, suffix in found:
        if suffix == top:
            continue
        wanted = role + top
        if table.column(wanted) is not None:
            continue
        yield column_issue(
            spec,
            table,
            col,
            evidence=f"{table.name}.{col.name}: {top_count} timestamp columns use the "
            f"'{top or '(bare)'}' suffix ({role}{top})",
            remediation=f"Rename it to {wanted} (and update the code that uses it).",
            fix_sql=f"ALTER TABLE {quote(table.name, schema)} RENAME COLUMN "
            f"{quote(col.name, schema)} TO {quote(wanted, schema)};",
        )


_EVENT_TIME = re.compile(
    r"(_at|_on|_time|_ts)$|^(timestamp|created|updated|modified|deleted|last_\w+|"
    r"started|finished|completed|expires|expiry|seen)$",
    re.I,
)


@TOPIC.implements("timestamp-without-time-zone", requires=SCHEMA)
def timestamp_without_time_zone(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report PostgreSQL ``timestamp`` (without time zone) event-time columns."""
    if engine(schema) != "postgres":
        return
    for table in schema.tables:
        for col in table.columns:
            t = " ".join(col.type.upper().split())
            if not t.startswith("TIMESTAMP") or "TZ" in t or "WITH TIME ZONE" in t:
                continue
            if not _EVENT_TIME.search(col.name):
                continue
            c = quote(col.name, schema)
            yield column_issue(
                spec,
                table,
                col,
                evidence=f"{table.name}.{col.name} {col.type}",
                fix_sql=f"ALTER TABLE {quote(table.name, schema)} ALTER COLUMN {c} "
                f"TYPE timestamptz USING {c} AT TIME ZONE 'UTC';",
            )


@TOPIC.implements("updated-at-not-maintained", requires=JOINED)
def updated_at_not_maintained(
    spec: CheckSpec, code: CodeFacts, schema: Schema
) -> Iterator[Issue]:
    """Report ``updated_at`` columns that updates to their table leave stale."""
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
    for table in schema.tables:
        name = table.name.lower()
        for column in table.columns:
            col = column.name.lower()
            if col not in UPDATED_AT_COLUMNS:
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
                **column_at(table.name, column.name, file, line, function),
                evidence=evidence,
                fix_sql=(
                    f"CREATE TRIGGER {name}_{col}_touch AFTER UPDATE ON {table.name} "
                    f"FOR EACH ROW WHEN NEW.{col} IS OLD.{col} BEGIN UPDATE {table.name} "
                    f"SET {col} = CURRENT_TIMESTAMP WHERE rowid = NEW.rowid; END;"
                    if schema.dialect == "sqlite"
                    else ""
                ),
                remediation=(
                    f"Set {column.name} in every UPDATE of {table.name} "
                    f"(`SET ..., {column.name} = CURRENT_TIMESTAMP`), or maintain it with a "
                    "trigger or the ORM's `onupdate`."
                ),
            )
