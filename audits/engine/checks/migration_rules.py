"""The migration rules: each judges one kind of statement against the schema before it.

Each rule knows what the statement costs on each engine: PostgreSQL takes
an ACCESS EXCLUSIVE lock for most ALTER TABLE actions and rewrites the table
for a type change or a volatile default; MySQL 8 and MariaDB build indexes
online (``ALGORITHM=INPLACE, LOCK=NONE``) but copy the table to change a
column's type or add a foreign key or CHECK; SQLite cannot change a column's
type, add a constraint, or add a NOT NULL column without a default at all.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from audits.engine.issues import Severity
from audits.engine.sources.migrations import Statement

from . import migration_sql as sql
from .migration_replay import each_action, has_not_null_check
from .migration_sql import Action

if TYPE_CHECKING:
    from collections.abc import Callable

    from .migration_replay import Replay

HIGH, MED, LOW, CRIT = Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.CRITICAL
LOCKING = frozenset({"postgres", "mysql"})


def lock(r: Replay, stmt: Statement) -> None:
    """Note a statement that waits for a lock on a table in use."""
    if r.dialect not in LOCKING or r.file.lock_timeout or r.file.lock_reported:
        return
    if r.timeout_set_elsewhere():
        return
    r.file.lock_reported = True
    setting = "lock_wait_timeout" if r.dialect == "mysql" else "lock_timeout"
    r.hit(
        "migration-lock-timeout-missing",
        ("lock-timeout",),
        stmt.file,
        f"`{sql.clean(stmt.sql)[:80]}` locks an existing table and the migration "
        f"sets no {setting} before it: while it waits for the lock, every query on "
        "the table queues behind it",
    )


def fragile(r: Replay, stmt: Statement, guarded: bool) -> None:
    """Count a schema change of a file no transaction protects."""
    if stmt.origin != "sql" or r.in_tx(stmt):
        return
    r.file.changes += 1
    if not guarded and r.file.fragile is None:
        r.file.fragile = stmt


# ------------------------------------------------------------ statements


def create_index(r: Replay, stmt: Statement, text: str) -> None:
    """Judge CREATE INDEX: built without CONCURRENTLY, or inside a transaction."""
    match = sql.CREATE_INDEX.match(text)
    if match is None:
        return
    table = sql.unquote(match.group(5))
    name = sql.unquote(match.group(4) or "") or table
    guarded = bool(match.group(3))
    if match.group(2):
        _concurrently(r, stmt, name, guarded)
        return
    fragile(r, stmt, guarded)
    if not r.existing(table):
        return
    lock(r, stmt)
    if r.dialect == "postgres":
        r.hit("migration-index-not-concurrent", (table, name), f"{table}.{name}",
              f"CREATE INDEX {name} on existing table {table} without CONCURRENTLY "
              "blocks every write to the table until the index is built")  # fmt: skip
    elif r.dialect == "mysql" and _mysql_blocking(text):
        r.hit("migration-index-not-concurrent", (table, name), f"{table}.{name}",
              f"index {name} on existing table {table} is built with "
              f"{_mysql_options(text)}, which blocks writes for the whole build")  # fmt: skip


def _concurrently(r: Replay, stmt: Statement, name: str, guarded: bool) -> None:
    if r.dialect == "postgres" and r.in_tx(stmt):
        r.hit("migration-concurrent-in-transaction", (name,), name,
              f"`{sql.clean(stmt.sql)[:80]}` runs inside a transaction: PostgreSQL "
              "refuses CONCURRENTLY there, so the migration fails")  # fmt: skip
    if not guarded and stmt.origin == "sql" and r.file.fragile is None:
        r.file.fragile = stmt
        r.file.changes += 2  # a failed concurrent build leaves an invalid index


def drop_index(r: Replay, stmt: Statement, text: str) -> None:
    """Judge DROP INDEX: without CONCURRENTLY it locks the table."""
    match = sql.DROP_INDEX.match(text)
    if match is None:
        return
    name = sql.unquote(match.group(3))
    guarded = bool(match.group(2))
    if match.group(1):
        _concurrently(r, stmt, name, guarded)
        return
    fragile(r, stmt, guarded)
    known = r.model.indexes.of_table(match.group(4) or "") if match.group(4) else []
    index = next((i for i in r.model.indexes.values() if i.name.lower() == name.lower()),
                 known[0] if known else None)  # fmt: skip
    table = (
        sql.unquote(match.group(4))
        if match.group(4)
        else (index.table if index else "")
    )
    if table and not r.existing(table):
        return
    lock(r, stmt)
    if r.dialect == "postgres":
        r.hit("migration-index-drop-not-concurrent", (name,), name,
              f"DROP INDEX {name} without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on "
              f"{table or 'its table'}, blocking reads and writes while it waits")  # fmt: skip


def drop_table(r: Replay, stmt: Statement, text: str) -> None:
    """Judge DROP TABLE of a table that already held data."""
    match = sql.DROP_TABLE.match(text)
    if match is None:
        return
    fragile(r, stmt, bool(match.group(1)))
    for table in sql.names(match.group(2)):
        if not r.existing(table):
            continue
        lock(r, stmt)
        used = r.reads(table, "")
        r.hit("migration-drop-table", (table,), table,
              f"DROP TABLE {table} deletes the table and every row in it"
              + (f"; the code still uses it ({used})" if used else ""),
              HIGH if used else None)  # fmt: skip


def truncate(r: Replay, stmt: Statement, text: str) -> None:
    """Judge TRUNCATE ... CASCADE, which empties every referencing table too."""
    match = sql.TRUNCATE.match(text)
    if match is None or not re.search(r"\bCASCADE\b", text, re.I):
        return
    body = re.sub(r"\b(CASCADE|RESTRICT|RESTART\s+IDENTITY|CONTINUE\s+IDENTITY)\b", "",
                  match.group(1), flags=re.I)  # fmt: skip
    for table in sql.names(body):
        referencing = sorted(
            state.name for state in r.model.tables.values()
            if any(fk.ref_table.lower() == table.lower() for fk in state.foreign_keys)
            and state.name.lower() != table.lower()
        )  # fmt: skip
        also = f"; it also empties {', '.join(referencing)}" if referencing else ""
        r.hit("migration-truncate-cascade", (table,), table,
              f"TRUNCATE {table} CASCADE empties every table with a foreign key to "
              f"it, whichever they are when it runs{also}",
              CRIT if referencing else None)  # fmt: skip


def rename_tables(r: Replay, stmt: Statement, text: str) -> None:
    """Judge MySQL's RENAME TABLE a TO b."""
    match = sql.RENAME_TABLES.match(text)
    if match is not None:
        _rename_table(r, stmt, sql.unquote(match.group(1)), sql.unquote(match.group(2)))


def _rename_table(r: Replay, stmt: Statement, old: str, new: str) -> None:
    if not r.existing(old):
        return
    lock(r, stmt)
    r.hit("migration-table-rename", (old, new), old,
          f"table {old} is renamed to {new}: the running application still "
          f"queries {old} until every instance is deployed")  # fmt: skip


def alter_table(r: Replay, stmt: Statement, text: str) -> None:
    """Judge each action of ALTER TABLE."""
    locked = False
    for table, action in each_action(text):
        ACTIONS.get(action.verb, _nothing)(r, stmt, table, action)
        if action.verb == "add-column":
            fragile(r, stmt, "IF NOT EXISTS" in action.text.upper())
        elif action.verb == "drop-column":
            fragile(r, stmt, "IF EXISTS" in action.text.upper())
        if r.existing(table) and not locked:
            lock(r, stmt)
            locked = True


def _nothing(r: Replay, stmt: Statement, table: str, action: Action) -> None:
    return None


def reindex(r: Replay, stmt: Statement, text: str) -> None:
    """Judge REINDEX ... CONCURRENTLY, refused inside a transaction too."""
    if sql.REINDEX_CONCURRENTLY.match(text):
        _concurrently(r, stmt, text.split()[-1], True)


def create_table(r: Replay, stmt: Statement, text: str) -> None:
    """Count CREATE TABLE among the changes a retry would trip on."""
    match = sql.CREATE_TABLE.match(text)
    if match is not None:
        fragile(r, stmt, bool(match.group(1)))


STATEMENT_RULES: tuple[Callable[[Replay, Statement, str], None], ...] = (
    create_table,
    reindex,
    create_index, drop_index, drop_table, truncate, rename_tables, alter_table,
)  # fmt: skip


# ------------------------------------------------------------ ALTER TABLE actions


def add_column(r: Replay, stmt: Statement, table: str, action: Action) -> None:
    """Judge ADD COLUMN: required without default, volatile default, FK, UNIQUE."""
    text = action.text
    upper = text.upper()
    key_column(
        r,
        table,
        action.column,
        action.type,
        bool(re.search(r"\bPRIMARY\s+KEY\b", upper)),
    )
    if not r.existing(table):
        return
    where = f"{table}.{action.column}"
    default = sql.default_of(text)
    if sql.not_null(text) and default is None and not sql.generated(text):
        _required(r, table, action.column)
    if default is not None and (sql.VOLATILE.search(default) or (
            r.dialect == "sqlite" and re.search(r"\(|CURRENT_", default, re.I))):  # fmt: skip
        _volatile(r, table, action.column, default)
    if "REFERENCES" in upper and r.dialect == "postgres" and "NOT VALID" not in upper:
        r.hit("migration-fk-validates-in-place", (table, action.column), where,
              f"column {where} is added with a foreign key that is checked at once: "
              "PostgreSQL locks both tables against writes while it does")  # fmt: skip
    if re.search(r"\bUNIQUE\b|\bPRIMARY\s+KEY\b", upper) and r.dialect == "postgres":
        r.hit("migration-unique-in-place", (table, action.column), where,
              f"column {where} is added UNIQUE: the index behind it is built while "
              "the table is locked against reads and writes")  # fmt: skip


def _required(r: Replay, table: str, column: str) -> None:
    where = f"{table}.{column}"
    if r.dialect == "mysql":
        why = (f"column {where} is added NOT NULL without a default: MySQL fills the "
               "existing rows with the type's zero value ('' or 0), which nobody chose")  # fmt: skip
        r.hit("migration-column-required-no-default", (table, column), where, why, MED)
        return
    why = (f"column {where} is added NOT NULL without a default: the statement fails "
           "on a table that has rows"
           + (" (SQLite refuses it even on an empty table)" if r.dialect == "sqlite" else ""))  # fmt: skip
    r.hit("migration-column-required-no-default", (table, column), where, why)


def _volatile(r: Replay, table: str, column: str, default: str) -> None:
    where = f"{table}.{column}"
    if r.dialect == "sqlite":
        why = (
            f"SQLite refuses ADD COLUMN {where} with the non-constant default {default}"
        )
    else:
        why = (f"column {where} is added with the volatile default {default}: every "
               "existing row gets its own value, so the whole table is rewritten under "
               "an exclusive lock")  # fmt: skip
    r.hit("migration-volatile-default", (table, column), where, why,
          MED if r.dialect == "mysql" else None)  # fmt: skip


def add_constraint(r: Replay, stmt: Statement, table: str, action: Action) -> None:
    """Judge ADD CONSTRAINT: validated in place, or a unique index built in place."""
    upper = action.text.upper()
    name = action.name or table
    not_valid = "NOT VALID" in upper
    if not_valid:
        r.file.not_valid[name.lower()] = r.in_tx(stmt)
    if not r.existing(table) or r.dialect == "sqlite":
        return
    where = f"{table}.{name}"
    if action.constraint in ("foreign key", "check") and not not_valid:
        check = ("migration-fk-validates-in-place" if action.constraint == "foreign key"
                 else "migration-check-validates-in-place")  # fmt: skip
        why = (f"{action.constraint.upper()} {name} on existing table {table} is checked "
               "against every row while "
               + ("MySQL copies the table" if r.dialect == "mysql"
                  else "PostgreSQL holds a lock that blocks writes"))  # fmt: skip
        r.hit(check, (table, name), where, why)
    elif (action.constraint in ("unique", "primary key") and r.dialect == "postgres"
          and "USING INDEX" not in upper):  # fmt: skip
        r.hit("migration-unique-in-place", (table, name), where,
              f"{action.constraint.upper()} {name} on existing table {table} builds its "
              "index while the table is locked against reads and writes")  # fmt: skip


def validate(r: Replay, stmt: Statement, table: str, action: Action) -> None:
    """Judge VALIDATE CONSTRAINT in the transaction that added it NOT VALID."""
    added_in_tx = r.file.not_valid.get(action.name.lower())
    if added_in_tx and r.in_tx(stmt):
        r.hit("migration-check-validates-in-place", (table, action.name),
              f"{table}.{action.name}",
              f"constraint {action.name} is added NOT VALID and validated in the same "
              "transaction, so the lock of the ADD is held through the validation")  # fmt: skip


def drop_column(r: Replay, stmt: Statement, table: str, action: Action) -> None:
    """Judge DROP COLUMN of a table that already held data."""
    if not r.existing(table):
        return
    used = r.reads(table, action.column)
    r.hit("migration-drop-column", (table, action.column), f"{table}.{action.column}",
          f"column {table}.{action.column} is dropped with its data"
          + (f"; the code still reads it ({used})" if used else
             "; code deployed before the migration still selects it"),
          HIGH if used else None)  # fmt: skip


def set_not_null(r: Replay, stmt: Statement, table: str, action: Action) -> None:
    """Judge SET NOT NULL: PostgreSQL scans the table under an exclusive lock."""
    column = r.column(table, action.column)
    if not r.existing(table) or r.dialect != "postgres":
        return
    if column is None and stmt.origin != "sql":
        return  # an AlterField of a column the history never declared
    if column is not None and not column.nullable:
        return
    if has_not_null_check(r.table_state(table), action.column):
        return
    r.hit("migration-set-not-null", (table, action.column), f"{table}.{action.column}",
          f"SET NOT NULL on {table}.{action.column} reads every row to check it while "
          "holding an ACCESS EXCLUSIVE lock")  # fmt: skip


def drop_not_null(r: Replay, stmt: Statement, table: str, action: Action) -> None:
    """Judge DROP NOT NULL of a column that was required."""
    column = r.column(table, action.column)
    if not r.existing(table) or (column is not None and column.nullable):
        return
    if column is None and stmt.origin != "sql":
        return  # an AlterField of a column the history never declared
    r.hit("migration-drop-not-null", (table, action.column), f"{table}.{action.column}",
          f"{table}.{action.column} may now hold NULL: code written when it could not "
          "(sums, comparisons, non-optional fields) meets NULLs")  # fmt: skip


def rename_column(r: Replay, stmt: Statement, table: str, action: Action) -> None:
    """Judge RENAME COLUMN on a table already in use."""
    if r.existing(table):
        r.hit("migration-column-rename", (table, action.column, action.new_name),
              f"{table}.{action.column}",
              f"column {table}.{action.column} is renamed to {action.new_name}: the "
              f"running application still selects {action.column} until every "
              "instance is deployed")  # fmt: skip


def rename_table(r: Replay, stmt: Statement, table: str, action: Action) -> None:
    """Judge ALTER TABLE ... RENAME TO."""
    _rename_table(r, stmt, table, action.new_name)


def add_index(r: Replay, stmt: Statement, table: str, action: Action) -> None:
    """Judge MySQL's ALTER TABLE ... ADD INDEX with a blocking algorithm."""
    if r.existing(table) and r.dialect == "mysql" and _mysql_blocking(stmt.sql):
        r.hit("migration-index-not-concurrent", (table, action.text), table,
              f"an index on existing table {table} is built with "
              f"{_mysql_options(stmt.sql)}, which blocks writes for the whole build")  # fmt: skip


def change_type(r: Replay, stmt: Statement, table: str, action: Action) -> None:
    """Judge a column type change: a table rewrite, or impossible on SQLite."""
    from .migration_types import judge_type_change

    if action.new_name and action.new_name.lower() != action.column.lower():
        rename_column(r, stmt, table, action)
    if r.existing(table):
        judge_type_change(r, stmt, table, action)


ACTIONS = {
    "add-column": add_column,
    "add-constraint": add_constraint,
    "validate": validate,
    "drop-column": drop_column,
    "set-not-null": set_not_null,
    "drop-not-null": drop_not_null,
    "rename-column": rename_column,
    "rename-table": rename_table,
    "add-index": add_index,
    "alter-type": change_type,
    "modify": change_type,
}


# ------------------------------------------------------------ the rest


def key_column(
    r: Replay,
    table: str,
    column: str,
    type_: str,
    primary: bool,
    line: int | None = None,
) -> None:
    """Judge a new key column: 32-bit, or a serial where identity is standard."""
    if r.dialect not in LOCKING:
        return  # SQLite's INTEGER is 64-bit and has no serial
    where = f"{table}.{column}"
    if primary and sql.is_small_int(type_, r.dialect):
        r.hit("migration-int-key", (table, column), where,
              f"primary key {where} is {type_.lower()}: it runs out at 2,147,483,647 "
              "rows, and widening it later rewrites the table and every foreign key",
              line=line)  # fmt: skip
    if r.dialect == "postgres" and sql.is_serial(type_):
        r.hit("migration-serial-column", (table, column), where,
              f"{where} is {type_.lower()}, whose sequence is a separate object with "
              "its own ownership and permissions", line=line)  # fmt: skip


def transaction_control(r: Replay, stmt: Statement, text: str) -> None:
    """Judge BEGIN and COMMIT against the transaction already open."""
    if sql.BEGIN.match(text):
        if r.in_tx(stmt):
            r.hit("migration-transaction-nesting", ("begin",), stmt.file,
                  f"`{text[:40]}` opens a transaction inside one already open"
                  + (" (the migration tool's)" if stmt.transactional else ""))  # fmt: skip
        r.file.explicit_tx = True
        return
    if stmt.transactional:
        r.hit("migration-transaction-nesting", ("commit",), stmt.file,
              f"`{text[:40]}` ends the transaction the migration tool opened, so the "
              "rest of the migration runs outside it and a failure leaves it half applied")  # fmt: skip
    r.file.explicit_tx = False


def end_of_file(r: Replay) -> None:
    """Judge a file no transaction protects: can it be run again after a failure?"""
    state = r.file
    if state.fragile is None or state.changes < 2 or state.robust_reported:
        return
    state.robust_reported = True
    r.hit("migration-not-retry-safe", ("retry",), state.name,
          f"`{sql.clean(state.fragile.sql)[:80]}` has no IF [NOT] EXISTS and the file "
          "runs outside a transaction: after a failure half-way, running it again "
          "fails on what the first attempt already did", stmt=state.fragile)  # fmt: skip


def _mysql_blocking(text: str) -> bool:
    return sql.option(text, "ALGORITHM") == "COPY" or sql.option(text, "LOCK") in (
        "SHARED", "EXCLUSIVE")  # fmt: skip


def _mysql_options(text: str) -> str:
    parts = [
        f"{k}={sql.option(text, k)}"
        for k in ("ALGORITHM", "LOCK")
        if sql.option(text, k)
    ]
    return ", ".join(parts)
