"""Indexes: missing, duplicate, redundant, invalid, unused, and heavy scans.

Fingerprints key on column signatures, never on index names:
fk-missing-index on ``table, FK column set`` (sorted, as any order is
covered); index-duplicate on ``table, signature, predicate, uniqueness``,
which survives renaming either index; index-redundant on ``table, the
redundant index's signature, predicate``, so the finding stays the same
when the wider index changes but still covers it. MySQL InnoDB creates an
index for every FK, so fk-missing-index is silent there.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from audits.engine.issues import Issue, Severity
from audits.engine.schema import Index, Schema, Table
from audits.engine.sources.code import CodeFacts
from audits.engine.vocabulary import SOFT_DELETE_COLUMNS

from .base import CODE, JOINED, LIVE, SCHEMA, CheckSpec, Facts, Topic
from .code_facts import column_at, first_sight, live_sql, mapped
from .probe_facts import column_list, engine_of
from .schema_facts import (
    column_text,
    columns_object,
    covers,
    distinct_fks,
    engine,
    fk_text,
    indexes_of,
    quote,
    table_issue,
)

TOPIC = Topic.beside(__file__)


def _signature(index: Index) -> tuple[tuple[str, bool, bool], ...]:
    return tuple((c.name.lower(), c.descending, c.expression) for c in index.columns)


def _sig_text(index: Index) -> str:
    return ", ".join(
        c.name.lower() + (" desc" if c.descending else "") for c in index.columns
    )


def _pred(index: Index) -> str:
    return " ".join((index.predicate or "").lower().split())


@TOPIC.implements("fk-missing-index", requires=SCHEMA, facts=True)
def fk_missing_index(spec: CheckSpec, schema: Schema, facts: Facts) -> Iterator[Issue]:
    """Report FK column sets no index leads with (silent on MySQL/InnoDB)."""
    if engine(schema) == "mysql":
        return
    orm_note = ""
    if not schema.is_live and "django" in getattr(facts.code, "imports", ()):
        orm_note = (
            "; Django indexes ForeignKey columns itself: low until the live "
            "database confirms it"
        )
    for table in schema.tables:
        indexes = [i for i in indexes_of(table) if i.valid]
        for fk in distinct_fks(table):
            if any(covers(i, fk.columns) for i in indexes):
                continue
            cols = sorted(c.lower() for c in fk.columns)
            name = f"idx_{table.name}_{'_'.join(fk.columns)}"
            yield table_issue(
                spec,
                table,
                fk.line,
                file=fk.file,
                key=[table.name, *cols],
                object=columns_object(table, fk.columns),
                evidence=f"{fk_text(fk)}; no index on {table.name} starts with "
                f"({column_text(fk.columns)})" + orm_note,
                severity=Severity.LOW if orm_note else None,
                fix_sql=f"CREATE INDEX {quote(name, schema)} ON {quote(table.name, schema)} "
                f"({column_text(quote(c, schema) for c in fk.columns)});",
            )


def _drop_index_sql(schema: Schema, table: Table, index: Index) -> str:
    if index.constraint:
        return ""
    name = quote(index.name, schema)
    if engine(schema) == "mysql":
        return f"DROP INDEX {name} ON {quote(table.name, schema)};"
    return f"DROP INDEX {name};"


def _droppable_first(index: Index) -> tuple[int, str]:
    return (0 if index.constraint is None else 1, index.name.lower())


@TOPIC.implements("index-duplicate", requires=SCHEMA)
def index_duplicate(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report indexes with the same columns, order, predicate and uniqueness."""
    for table in schema.tables:
        groups: dict[tuple[object, ...], list[Index]] = {}
        for index in indexes_of(table):
            key = (_signature(index), _pred(index), index.unique)
            groups.setdefault(key, []).append(index)
        for group in groups.values():
            if len(group) < 2:
                continue
            # Keep the constraint's index (or the first name); drop the rest.
            group = sorted(group, key=_droppable_first, reverse=True)
            keep, extras = group[-1], group[:-1]
            names = ", ".join(i.name for i in extras)
            first = extras[0]
            yield table_issue(
                spec,
                table,
                first.line,
                file=first.file,
                key=[
                    table.name,
                    _sig_text(first),
                    _pred(first),
                    "unique" if first.unique else "",
                ],
                object=first.name,
                evidence=f"{names} on {table.name} ({_sig_text(first)}) "
                f"duplicate{'s' if len(extras) == 1 else ''} {keep.name}"
                + (f" ({keep.constraint} constraint)" if keep.constraint else ""),
                fix_sql="\n".join(
                    sql for i in extras if (sql := _drop_index_sql(schema, table, i))
                ),
            )


def _redundant_to(index: Index, other: Index) -> str | None:
    """Return why ``index`` is redundant given ``other``, or None."""
    if index is other or index.unique or _pred(index) != _pred(other):
        return None
    mine = [(c.name.lower(), c.expression) for c in index.columns]
    theirs = [(c.name.lower(), c.expression) for c in other.columns]
    if len(mine) > len(theirs) or theirs[: len(mine)] != mine:
        return None
    if len(mine) == len(theirs):
        if not other.unique:
            return None  # two plain indexes on the same columns: index-duplicate
        kind = f"{other.constraint} constraint" if other.constraint else "unique index"
        return f"repeats the {kind} {other.name}"
    return f"is a left prefix of {other.name} ({_sig_text(other)})"


@TOPIC.implements("index-redundant", requires=SCHEMA)
def index_redundant(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report non-unique indexes covered by a wider or unique index."""
    for table in schema.tables:
        indexes = indexes_of(table)
        for index in indexes:
            reasons = [
                (other, why)
                for other in indexes
                if (why := _redundant_to(index, other)) is not None
            ]
            if not reasons:
                continue
            reasons.sort(
                key=lambda r: (
                    r[0].constraint is None,
                    not r[0].unique,
                    len(r[0].columns),
                    r[0].name,
                )
            )
            other, why = reasons[0]
            yield table_issue(
                spec,
                table,
                index.line,
                file=index.file,
                key=[table.name, _sig_text(index), _pred(index)],
                object=index.name,
                evidence=f"{index.name} on {table.name} ({_sig_text(index)}) {why}",
                fix_sql=_drop_index_sql(schema, table, index),
            )


# A table this big read mostly by sequential scans is worth an index.
SEQ_SCAN_MIN_ROWS = 10_000


# Fewer sequential scans than this say nothing about the workload (each
# audit's orphan scan adds one).
SEQ_SCAN_MIN_SCANS = 50


def _index_key(table: str, columns: tuple[str, ...]) -> list[str]:
    return [table, column_list(columns)]


def _index_text(table: str, index: Index) -> str:
    return f"Index {index.name} on {table}({', '.join(index.column_names)})"


def _index_issue(
    spec: CheckSpec, table: Table, index: Index, said: str, fix: str
) -> Issue:
    """Return an issue of ``spec`` about one index: what is ``said`` of it, its fix."""
    return spec.issue(
        key=_index_key(table.name, index.column_names),
        object=index.name,
        evidence=f"{_index_text(table.name, index)} {said}",
        fix_sql=fix,
    )


@TOPIC.implements("index-invalid", requires=LIVE)
def index_invalid(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report indexes left invalid (key: table, index columns)."""
    for table in schema.tables:
        for index in table.indexes:
            if index.valid:
                continue
            said = (
                "is marked invalid: it is maintained on every write but the planner "
                "never uses it."
            )
            fix = f"REINDEX INDEX CONCURRENTLY {index.name};"
            yield _index_issue(spec, table, index, said, fix)


@TOPIC.implements("index-unused", requires=LIVE)
def index_unused(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report indexes never scanned on read tables (key: table, index columns).

    Unique indexes and those backing a constraint enforce something, so they
    are never unused; empty tables and tables nobody has read yet say
    nothing either, and statistics reset less than a week ago are too young
    to judge.
    """
    if engine_of(schema) != "postgresql":
        return
    if _stats_too_young(schema.fact("stats_reset")):
        return
    reads = {
        s["table"]: s["seq_scan"] + s["idx_scan"]
        for s in schema.fact("table_stats", ()) or ()
    }
    scans = {
        (s["table"], s["index"]): s["scans"]
        for s in schema.fact("index_stats", ()) or ()
    }
    rows = {s["table"]: s["rows"] for s in schema.fact("table_stats", ()) or ()}
    for table in schema.tables:
        # Building an index scans its table once, so an empty table always
        # looks read; it says nothing about its indexes.
        if not reads.get(table.name) or not (rows.get(table.name) or table.row_count):
            continue
        for index in table.indexes:
            if index.unique or index.constraint or not index.valid:
                continue
            if scans.get((table.name, index.name), -1) != 0:
                continue
            said = (
                f"has had no scan since statistics were last reset, while "
                f"{table.name} was read {reads[table.name]} times."
            )
            fix = f"DROP INDEX CONCURRENTLY {index.name};"
            yield _index_issue(spec, table, index, said, fix)


def _stats_too_young(reset: Any) -> bool:
    if not reset:
        return False
    try:
        when = datetime.fromisoformat(str(reset))
    except ValueError:
        return False
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return datetime.now(UTC) - when < timedelta(days=7)


@TOPIC.implements("table-seq-scan-heavy", requires=LIVE)
def table_seq_scan_heavy(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report large tables read mostly by sequential scans (key: table)."""
    if engine_of(schema) != "postgresql":
        return
    for stats in schema.fact("table_stats", ()) or ():
        rows, seq, idx = stats["rows"], stats["seq_scan"], stats["idx_scan"]
        if rows < SEQ_SCAN_MIN_ROWS or seq < SEQ_SCAN_MIN_SCANS or seq <= idx:
            continue
        share = seq / (seq + idx)
        yield spec.issue(
            key=[stats["table"]],
            object=stats["table"],
            evidence=(
                f"{stats['table']} holds about {rows} rows and {share:.0%} of its "
                f"reads were sequential scans ({seq} sequential, {idx} by index)."
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
    for flt, table, column in mapped(code, code.filters):
        if column in SOFT_DELETE_COLUMNS:
            yield table, column, flt.file, flt.line, flt.function


@TOPIC.implements("index-missing-soft-delete", requires=JOINED)
def index_missing_soft_delete_joined(
    spec: CheckSpec, code: CodeFacts, schema: Schema
) -> Iterator[Issue]:
    """Report soft-delete columns the code filters on that no index covers."""
    seen: set[tuple[str, str]] = set()
    for table_name, column, file, line, function in _soft_delete_filters(code):
        table = schema.table(table_name)
        if table is None or table.column(column) is None:
            continue
        key = (table.name.lower(), column)
        if not first_sight(seen, key):
            continue
        covered = any(
            (ix.column_names and ix.column_names[0] == column)
            or (ix.predicate and column in ix.predicate.lower())
            for ix in table.indexes
        )
        if covered:
            continue
        yield spec.issue(
            key=list(key),
            **column_at(table.name, column, file, line, function),
            evidence=f"queries filter {table.name} on {column} and no index covers it",
            fix_sql=(
                f"CREATE INDEX idx_{table.name}_{column} ON {table.name} ({column});"
            ),
            remediation=(
                f"Index {table.name}.{column}, or make the common lookups partial "
                f"indexes `... WHERE {column} IS NULL`."
            ),
        )


@TOPIC.implements("index-missing-soft-delete", requires=CODE, facts=True)
def index_missing_soft_delete_in_orm(
    spec: CheckSpec, code: CodeFacts, facts: Facts
) -> Iterator[Issue]:
    """Report ORM soft-delete columns filtered on but declared without an index."""
    if facts.schema is not None:
        return
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
        if not first_sight(seen, key):
            continue
        yield spec.issue(
            key=list(key),
            **column_at(model.table, col.name, file, line, function),
            evidence=f"{model.name}.{col.attr} is filtered on and declared without index=True",
            remediation=f"Declare `{col.attr} = Column(..., index=True)` (and add the index in a migration).",
        )
