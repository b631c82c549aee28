"""Alembic revisions as the SQL their ``upgrade()`` runs.

Each ``op.<operation>(...)`` call in ``upgrade()``, in source order, becomes
its statement; ``batch_alter_table`` blocks name the table of the calls
inside them, and ``autocommit_block()`` runs what it holds outside the
revision's transaction, as Alembic does.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass

from audits.engine.sources import migrations_python as py
from audits.engine.sources.migrations import Statement


def read(tree: ast.Module, label: str, dialect: str) -> list[Statement]:
    """Return the statements of one Alembic revision's ``upgrade()``."""
    upgrade = next(
        (
            node
            for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name == "upgrade"
        ),
        None,
    )
    if upgrade is None:
        return []
    out = py.Emitter(label, "alembic", py.transactional(dialect))
    for call, table, tx in _calls(upgrade.body, "", None):
        _operation(out, call, table, tx, dialect)
    return out.statements


def _calls(
    body: list[ast.stmt], table: str, tx: bool | None
) -> Iterator[tuple[ast.Call, str, bool | None]]:
    """Yield each operation call in order, with its batch table and transaction."""
    for node in body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call):
            yield node.value, table, tx
        elif isinstance(node, ast.With):
            inner_table, inner_tx = table, tx
            for item in node.items:
                head = item.context_expr
                name = py.last(py.dotted(head))
                if name == "batch_alter_table" and isinstance(head, ast.Call):
                    inner_table = str(py.value(py.arg(head, 0, "table_name")) or "")
                elif name == "autocommit_block":
                    inner_tx = False
            yield from _calls(node.body, inner_table, inner_tx)
        elif isinstance(node, ast.If | ast.For | ast.Try):
            yield from _calls(node.body, table, tx)
            yield from _calls(node.orelse, table, tx)


@dataclass(frozen=True)
class _Call:
    """One operation call; in a batch block the table is implied, so every
    positional argument shifts left by one."""

    node: ast.Call
    batch: str

    def at(self, index: int, name: str) -> ast.expr | None:
        shift = 1 if self.batch else 0
        return py.arg(self.node, index - shift, name) if index >= shift else None

    def text(self, index: int, name: str) -> str:
        return _name(self.at(index, name))

    @property
    def table(self) -> str:
        return self.batch or self.text(0, "table_name")


def _operation(
    out: py.Emitter, call: ast.Call, batch: str, tx: bool | None, dialect: str
) -> None:
    kind = py.last(py.dotted(call.func))
    if kind == "execute":
        node = py.arg(call, 0, "sqltext")
        if node is not None and py.text_of(node) is not None:
            out.add_sql(node, kind, tx=tx)
        return
    for statement in _sql(kind, _Call(call, batch), dialect):
        out.add(call.lineno, statement, kind, tx=tx)


def _sql(kind: str, op: _Call, dialect: str) -> list[str]:  # noqa: C901
    """Return the statements one operation runs."""
    call, table, text, at = op.node, op.table, op.text, op.at
    if kind == "add_column":
        return [f"ALTER TABLE {table} ADD COLUMN {_column(at(1, 'column'), dialect)}"]
    if kind == "drop_column":
        return [f"ALTER TABLE {table} DROP COLUMN {text(1, 'column_name')}"]
    if kind == "alter_column":
        return _alter_column(call, table, text(1, "column_name"), dialect)
    if kind == "create_index":
        # The index's name comes first, before the table a batch implies.
        name = _name(py.arg(call, 0, "index_name"))
        if op.batch:
            return [_create_index(call, name, op.batch, columns_at=1)]
        return [_create_index(call, name, _name(py.arg(call, 1, "table_name")))]
    if kind == "drop_index":
        how = "INDEX CONCURRENTLY" if _kw(call, "postgresql_concurrently") else "INDEX"
        return [f"DROP {how} {_name(py.arg(call, 0, 'index_name'))}"]
    if kind == "create_table":
        name = text(0, "table_name")
        parts = [
            _column(c, dialect, name) or _table_constraint(c, name)
            for c in call.args[1:]
        ]
        return [f"CREATE TABLE {name} ({', '.join(p for p in parts if p)})"]
    if kind == "drop_table":
        return [f"DROP TABLE {text(0, 'table_name')}"]
    if kind == "rename_table":
        return [
            f"ALTER TABLE {text(0, 'old_table_name')} RENAME TO {text(1, 'new_table_name')}"
        ]
    if kind == "create_foreign_key":
        return [_foreign_key(call)]
    if kind == "create_unique_constraint":
        cols = ", ".join(str(c) for c in py.value(py.arg(call, 2, "columns")) or ())
        name, source = (
            text(0, "constraint_name"),
            str(py.value(py.arg(call, 1, "table_name")) or table),
        )
        return [f"ALTER TABLE {source} ADD CONSTRAINT {name} UNIQUE ({cols})"]
    if kind == "create_check_constraint":
        name, source = (
            text(0, "constraint_name"),
            str(py.value(py.arg(call, 1, "table_name")) or table),
        )
        condition = py.text_of(py.arg(call, 2, "condition")) or "true"
        return [f"ALTER TABLE {source} ADD CONSTRAINT {name} CHECK ({condition})"]
    if kind == "drop_constraint":
        source = str(py.value(py.arg(call, 1, "table_name")) or table)
        return [f"ALTER TABLE {source} DROP CONSTRAINT {text(0, 'constraint_name')}"]
    return []


def _kw(call: ast.Call, name: str) -> bool:
    return bool(py.value(py.arg(call, 99, name)))


def _column(node: ast.expr | None, dialect: str, table: str = "") -> str:
    """Return ``name type constraints`` for an ``sa.Column(...)`` call.

    In a CREATE TABLE (``table`` given) a foreign key gets the name
    PostgreSQL would give it, so a later ``drop_constraint`` finds it.
    """
    if not isinstance(node, ast.Call) or py.last(py.dotted(node.func)) != "Column":
        return ""
    name = py.value(py.arg(node, 0, "name"))
    if not isinstance(name, str):
        return ""
    kind = node.args[1] if len(node.args) > 1 else py.arg(node, 99, "type_")
    parts = [name, py.sql_type(kind, dialect)]
    options = {k.arg: k.value for k in node.keywords if k.arg}
    if "server_default" in options:
        parts.append(f"DEFAULT {_server_default(options['server_default'])}")
    primary = py.value(options.get("primary_key")) is True
    nullable = py.value(options.get("nullable"))
    if nullable is False or (primary and nullable is not True):
        parts.append("NOT NULL")
    if primary:
        parts.append("PRIMARY KEY")
    if py.value(options.get("unique")) is True:
        parts.append("UNIQUE")
    for extra in node.args[2:]:
        if (
            isinstance(extra, ast.Call)
            and py.last(py.dotted(extra.func)) == "ForeignKey"
        ):
            target = str(py.value(py.arg(extra, 0, "column")) or "")
            ref_table, _, ref_col = target.rpartition(".")
            given = _name(py.arg(extra, 99, "name"))
            fk_name = given or (f"{table}_{name}_fkey" if table else "")
            parts.append(
                (f"CONSTRAINT {fk_name} " if fk_name else "")
                + f"REFERENCES {ref_table} ({ref_col or 'id'}){_on_delete(extra)}"
            )
    return " ".join(parts)


def _name(node: ast.expr | None) -> str:
    """Return a name given as a string or through ``op.f("...")``."""
    if isinstance(node, ast.Call) and py.last(py.dotted(node.func)) == "f":
        node = node.args[0] if node.args else None
    found = py.value(node)
    return found if isinstance(found, str) else ""


def _on_delete(call: ast.Call) -> str:
    action = py.value(py.arg(call, 99, "ondelete"))
    return f" ON DELETE {action.upper()}" if isinstance(action, str) and action else ""


def _strings(nodes: list[ast.expr]) -> list[str]:
    found = [py.value(n) for n in nodes]
    return [f for f in found if isinstance(f, str)]


def _table_constraint(node: ast.expr | None, table: str) -> str:
    """Return a create_table constraint (primary key, foreign key, unique, check).

    An unnamed foreign key gets the name PostgreSQL would give it.
    """
    if not isinstance(node, ast.Call):
        return ""
    kind = py.last(py.dotted(node.func))
    name = _name(py.arg(node, 99, "name"))
    if not name and kind == "ForeignKeyConstraint":
        local = py.value(py.arg(node, 0, "columns")) or ()
        name = f"{table}_{'_'.join(str(c) for c in local)}_fkey"
    head = f"CONSTRAINT {name} " if name else ""
    if kind in ("PrimaryKeyConstraint", "UniqueConstraint"):
        cols = _strings(list(node.args))
        word = "PRIMARY KEY" if kind == "PrimaryKeyConstraint" else "UNIQUE"
        return f"{head}{word} ({', '.join(cols)})" if cols else ""
    if kind == "ForeignKeyConstraint":
        local = py.value(py.arg(node, 0, "columns")) or ()
        remote = [str(r) for r in py.value(py.arg(node, 1, "refcolumns")) or ()]
        if not local or not remote or any("." not in r for r in remote):
            return ""
        referent = remote[0].rpartition(".")[0]
        ref_cols = ", ".join(r.rpartition(".")[2] for r in remote)
        return (
            f"{head}FOREIGN KEY ({', '.join(str(c) for c in local)}) "
            f"REFERENCES {referent} ({ref_cols}){_on_delete(node)}"
        )
    if kind == "CheckConstraint":
        condition = py.text_of(py.arg(node, 0, "sqltext"))
        return f"{head}CHECK ({condition})" if condition else ""
    return ""


def _server_default(node: ast.expr) -> str:
    """Return the SQL of a ``server_default``: a string constant or SQL text."""
    if isinstance(node, ast.Call):
        name = py.dotted(node.func)
        if name.startswith(("sa.func.", "func.", "sqlalchemy.func.")):
            return f"{py.last(name)}()"
        given = py.text_of(node)
        return given if given is not None else "NULL"
    return py.sql_literal(py.value(node))


def _alter_column(call: ast.Call, table: str, column: str, dialect: str) -> list[str]:
    head = f"ALTER TABLE {table} ALTER COLUMN {column}"
    out = []
    new_type = py.arg(call, 99, "type_")
    if new_type is not None:
        out.append(f"{head} TYPE {py.sql_type(new_type, dialect)}")
    nullable = py.value(py.arg(call, 99, "nullable"))
    if nullable is False:
        out.append(f"{head} SET NOT NULL")
    elif nullable is True:
        out.append(f"{head} DROP NOT NULL")
    default = py.arg(call, 99, "server_default")
    if default is not None:
        out.append(f"{head} SET DEFAULT {_server_default(default)}")
    new_name = py.value(py.arg(call, 99, "new_column_name"))
    if isinstance(new_name, str):
        out.append(f"ALTER TABLE {table} RENAME COLUMN {column} TO {new_name}")
    return out


def _create_index(call: ast.Call, name: str, table: str, columns_at: int = 2) -> str:
    columns = py.value(py.arg(call, columns_at, "columns")) or ()
    cols = ", ".join(str(c) for c in columns) or "id"
    unique = "UNIQUE " if _kw(call, "unique") else ""
    how = "INDEX CONCURRENTLY" if _kw(call, "postgresql_concurrently") else "INDEX"
    exists = "IF NOT EXISTS " if _kw(call, "if_not_exists") else ""
    where = py.text_of(py.arg(call, 99, "postgresql_where"))
    tail = f" WHERE {where}" if where else ""
    return f"CREATE {unique}{how} {exists}{name} ON {table} ({cols}){tail}"


def _foreign_key(call: ast.Call) -> str:
    source = py.value(py.arg(call, 1, "source_table"))
    referent = py.value(py.arg(call, 2, "referent_table"))
    columns = [str(c) for c in py.value(py.arg(call, 3, "local_cols")) or ()]
    local = ", ".join(columns)
    # Unnamed, it gets the name PostgreSQL gives it, which a later
    # drop_constraint names.
    name = _name(py.arg(call, 0, "constraint_name")) or (
        f"{source}_{'_'.join(columns)}_fkey"
    )
    remote = ", ".join(str(c) for c in py.value(py.arg(call, 4, "remote_cols")) or ())
    return (
        f"ALTER TABLE {source} ADD CONSTRAINT {name} FOREIGN KEY ({local}) "
        f"REFERENCES {referent} ({remote}){_on_delete(call)}"
    )
