"""Which column type changes rewrite a table, engine by engine.

PostgreSQL changes some types without touching the rows: a longer
``varchar``, ``varchar`` to ``text``, a ``numeric`` with more precision and
the same scale. MySQL and MariaDB change a ``VARCHAR`` length in place while
its length prefix keeps its size (up to 255 bytes, or both above); every
other change copies the table. SQLite cannot change a column's type at all.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from audits.engine.issues import Severity
from audits.engine.sources.migrations import Statement

from .migration_sql import Action

if TYPE_CHECKING:
    from .migration_replay import Replay

_ALIASES = {
    "INT": "INTEGER",
    "INT4": "INTEGER",
    "INT8": "BIGINT",
    "INT2": "SMALLINT",
    "CHARACTER VARYING": "VARCHAR",
    "TIMESTAMPTZ": "TIMESTAMP WITH TIME ZONE",
    "TIMESTAMP WITHOUT TIME ZONE": "TIMESTAMP",
    "BOOL": "BOOLEAN",
    "FLOAT8": "DOUBLE PRECISION",
    "DECIMAL": "NUMERIC",
    "SERIAL": "INTEGER",
    "BIGSERIAL": "BIGINT",
}
_SHAPE = re.compile(r"^([A-Z ]+?)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?$")
_UTF8MB4 = 4  # bytes per character MySQL reserves for a VARCHAR's length prefix


def shape(type_: str) -> tuple[str, int | None, int | None]:
    """Return (base name, length or precision, scale) of a type."""
    match = _SHAPE.match(" ".join(type_.upper().split()))
    if match is None:
        return type_.upper(), None, None
    base = _ALIASES.get(match.group(1).strip(), match.group(1).strip())
    size = int(match.group(2)) if match.group(2) else None
    scale = int(match.group(3)) if match.group(3) else None
    return base, size, scale


def rewrites(old: str, new: str, dialect: str) -> bool:
    """Return True when changing ``old`` to ``new`` touches every row."""
    before, after = shape(old), shape(new)
    if before == after:
        return False
    (b, bn, bs), (a, an, as_) = before, after
    if dialect == "postgres":
        if (
            b == "VARCHAR"
            and a == "TEXT"
            or (b == "TEXT" and a == "VARCHAR" and not an)
        ):
            return False
        if b == a == "VARCHAR":
            return not (an is None or (bn is not None and an >= bn))
        if b == a == "NUMERIC" and bs == as_ and bn is not None and an is not None:
            return an < bn
        return True
    if dialect == "mysql" and b == a == "VARCHAR" and bn and an and an >= bn:
        return (bn * _UTF8MB4 < 256) != (an * _UTF8MB4 < 256)
    return True


def judge_type_change(r: Replay, stmt: Statement, table: str, action: Action) -> None:
    """Report a type change of an existing table's column that rewrites it."""
    where = f"{table}.{action.column}"
    column = r.column(table, action.column)
    old = column.type if column is not None else ""
    if r.dialect == "sqlite":
        r.hit("migration-column-type-change", (table, action.column), where,
              f"SQLite cannot change the type of {where} in place: the statement fails; "
              "the table has to be rebuilt (create, copy, drop, rename)")  # fmt: skip
        return
    if not action.type or (old and not rewrites(old, action.type, r.dialect)):
        return
    if not old and stmt.origin != "sql":
        return  # an AlterField of a column the history never declared: no way to tell
    how = ("MySQL copies the table, blocking writes" if r.dialect == "mysql"
           else "PostgreSQL rewrites the table and its indexes under an ACCESS "
           "EXCLUSIVE lock, blocking reads and writes")  # fmt: skip
    if old:
        why = f"{where} changes from {old.lower()} to {action.type.lower()}: {how}"
        r.hit("migration-column-type-change", (table, action.column), where, why)
        return
    why = (f"{where} changes to {action.type.lower()}; its type before is not in the "
           f"migrations read, so whether the change is in place is unknown: {how} "
           "unless it only widens the column")  # fmt: skip
    r.hit("migration-column-type-change", (table, action.column), where, why,
          Severity.MEDIUM)  # fmt: skip
