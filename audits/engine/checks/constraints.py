"""Value CHECKs: integer flags held to 0/1, counts and scores held to a range.

SQLite and MySQL have no real boolean type (MySQL's BOOLEAN is TINYINT(1)
and stores -128..127), so check-missing-boolean runs on both; PostgreSQL has
``boolean`` and is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

from audits.engine.issues import Issue
from audits.engine.schema import Column, Schema
from audits.engine.vocabulary import is_numeric_type, words

from .base import SCHEMA, CheckSpec, Topic
from .schema_facts import checks_on, column_issue, engine, quote

TOPIC = Topic.beside(__file__)


BOOLEAN_PREFIXES = ("is", "has", "can", "should", "allow", "supports", "use", "needs")


BOOLEAN_NAMES = frozenset(
    {
        "enabled",
        "disabled",
        "active",
        "used",
        "deleted",
        "archived",
        "verified",
        "visible",
        "hidden",
        "locked",
        "public",
        "published",
        "confirmed",
        "approved",
        "default",
        "flag",
    }
)


def boolean_like(name: str) -> bool:
    """Return True when a column name reads as a yes/no flag."""
    parts = words(name)
    if not parts:
        return False
    if parts[0] in BOOLEAN_PREFIXES and len(parts) > 1:
        return True
    if parts[-1] in BOOLEAN_NAMES:
        return True
    return len(parts) >= 2 and parts[-2:] == ["opt", "in"]


def _is_flag_type(column: Column, eng: str) -> bool:
    t = column.type.upper()
    if eng == "mysql":
        return t.startswith("TINYINT") or t in ("BOOL", "BOOLEAN", "BIT(1)", "BIT")
    return "INT" in t or "BOOL" in t or (not t and column.default in ("0", "1"))


@TOPIC.implements("check-missing-boolean", requires=SCHEMA)
def check_missing_boolean(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report integer flag columns without CHECK (x IN (0, 1)).

    Runs on SQLite (no boolean type; BOOLEAN has NUMERIC affinity) and
    MySQL (BOOLEAN is TINYINT(1)); PostgreSQL has a real boolean type.
    """
    eng = engine(schema)
    if eng not in ("sqlite", "mysql"):
        return
    for table in schema.tables:
        for col in table.columns:
            if not boolean_like(col.name) or not _is_flag_type(col, eng):
                continue
            if checks_on(table, col.name):
                continue
            fix = ""
            if eng == "mysql":
                fix = (
                    f"ALTER TABLE {quote(table.name, schema)} ADD CONSTRAINT "
                    f"{quote(f'{table.name}_{col.name}_bool', schema)} "
                    f"CHECK ({quote(col.name, schema)} IN (0, 1));"
                )
            yield column_issue(
                spec,
                table,
                col,
                evidence=f"{table.name}.{col.name} {col.type or '(untyped)'}"
                f"{' DEFAULT ' + col.default if col.default else ''} accepts any "
                f"integer, not only 0 and 1",
                fix_sql=fix,
            )


def range_for(name: str) -> str | None:
    """Return the CHECK condition a numeric column's name implies, if any."""
    parts = words(name)
    if not parts:
        return None
    last = parts[-1]
    if last in ("pct", "percent", "percentage", "progress") or "pct" in parts:
        return "BETWEEN 0 AND 100"
    if last in ("interval", "hours", "minutes", "seconds", "days", "timeout") or (
        parts[0] == "interval"
    ):
        return "> 0"
    if last in (
        "score",
        "count",
        "ms",
        "price",
        "amount",
        "quantity",
        "qty",
        "rating",
        "duration",
        "s",
        "total",
        "size",
        "retries",
        "attempts",
    ) or parts[0] in ("num", "total"):
        return ">= 0"
    return None


@TOPIC.implements("check-missing-range", requires=SCHEMA)
def check_missing_range(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report score/percentage/count/interval columns with no range CHECK."""
    eng = engine(schema)
    for table in schema.tables:
        fk_cols = {c.lower() for fk in table.foreign_keys for c in fk.columns}
        for col in table.columns:
            condition = range_for(col.name)
            if condition is None or not is_numeric_type(col) or col.primary_key:
                continue
            if col.name.lower() in fk_cols or checks_on(table, col.name):
                continue
            fix = ""
            if eng in ("postgres", "mysql"):
                fix = (
                    f"ALTER TABLE {quote(table.name, schema)} ADD CONSTRAINT "
                    f"{quote(f'{table.name}_{col.name}_range', schema)} "
                    f"CHECK ({quote(col.name, schema)} {condition});"
                )
            yield column_issue(
                spec,
                table,
                col,
                evidence=f"{table.name}.{col.name} {col.type} has no CHECK; "
                f"expected {col.name} {condition}",
                fix_sql=fix,
            )
