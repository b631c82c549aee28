"""Django migrations as the SQL their operations run.

Table names follow Django's rule (``<app label>_<model name>``, or the
model's ``db_table``), remembered across the files of one history so a
later ``AddField`` finds the table an earlier ``CreateModel`` named. A
field's Python ``default`` is filled into the rows once and dropped, as
Django does, so it is a constant; ``db_default`` stays in the table.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from audits.engine.sources.migrations import Statement
from audits.engine.sources.migrations_python import (
    Emitter,
    arg,
    dotted,
    last,
    sql_literal,
    sql_type,
    transactional,
    value,
)

_AUTO = ("AutoField", "BigAutoField", "SmallAutoField")
_RELATIONS = ("ForeignKey", "OneToOneField")
# Fields whose empty value is the empty string (Django's empty_strings_allowed).
_TEXT_FIELDS = frozenset(
    {"CharField", "TextField", "SlugField", "EmailField", "URLField", "FileField",
     "ImageField", "FilePathField", "GenericIPAddressField"}
)  # fmt: skip
# db_default expressions whose value changes row by row.
_DB_FUNCTIONS = {
    "Now": "now()",
    "RandomUUID": "gen_random_uuid()",
    "Random": "random()",
}


@dataclass(frozen=True)
class Column:
    """One Django field as the column Django creates."""

    name: str
    definition: str  # type and constraints, as in ADD COLUMN
    index: bool = False
    references: str = ""  # the table a foreign key points at


class Reader:
    """Read the migrations of one history, remembering each model's table."""

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.tables: dict[tuple[str, str], str] = {}

    def table(self, app: str, model: str) -> str:
        """Return the table of ``app``'s model ``model``."""
        key = (app.lower(), model.lower())
        return self.tables.get(key, f"{key[0]}_{key[1]}")

    def model_table(self, app: str, call: ast.Call) -> str:
        """Return the table of the model an operation names first."""
        return self.table(app, str(value(arg(call, 0, "model_name")) or ""))

    def read(self, tree: ast.Module, label: str, path: Path) -> list[Statement]:
        """Return the statements of one Django migration file."""
        app = path.parent.parent.name
        body = _migration_class(tree)
        if body is None:
            return []
        atomic = True
        operations: list[ast.expr] = []
        for node in body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                name = dotted(node.targets[0])
                if name == "atomic":
                    atomic = value(node.value) is not False
                elif name == "operations" and isinstance(node.value, ast.List):
                    operations = list(node.value.elts)
        out = Emitter(label, "django", transactional(self.dialect, atomic))
        for operation in operations:
            if isinstance(operation, ast.Call):
                self.operation(out, app, operation)
        return out.statements

    def operation(self, out: Emitter, app: str, call: ast.Call) -> None:
        """Add the statements of one operation."""
        kind = last(dotted(call.func))
        handler = getattr(self, f"op_{kind}", None)
        if handler is not None:
            handler(out, app, call, kind)

    # Each op_<Operation> adds what the operation runs.

    def op_SeparateDatabaseAndState(  # noqa: N802
        self, out: Emitter, app: str, call: ast.Call, kind: str
    ) -> None:
        inner = arg(call, 0, "database_operations")
        for node in inner.elts if isinstance(inner, ast.List | ast.Tuple) else []:
            if isinstance(node, ast.Call):
                self.operation(out, app, node)

    def op_RunSQL(self, out: Emitter, app: str, call: ast.Call, kind: str) -> None:  # noqa: N802
        sql = arg(call, 0, "sql")
        if sql is not None:
            out.add_sql(sql, kind)

    def op_CreateModel(self, out: Emitter, app: str, call: ast.Call, kind: str) -> None:  # noqa: N802
        model = str(value(arg(call, 0, "name")) or "")
        options = value(arg(call, 99, "options")) or {}
        if isinstance(options, dict) and options.get("db_table"):
            self.tables[(app.lower(), model.lower())] = str(options["db_table"])
        table = self.table(app, model)
        columns = self.fields(app, arg(call, 1, "fields"))
        body = ", ".join(f"{c.name} {c.definition}" for c in columns)
        out.add(call.lineno, f"CREATE TABLE {table} ({body})", kind)
        for column in columns:
            if column.index:
                out.add(call.lineno, _index_sql(table, column.name), kind)

    def op_DeleteModel(self, out: Emitter, app: str, call: ast.Call, kind: str) -> None:  # noqa: N802
        model = str(value(arg(call, 0, "name")) or "")
        out.add(call.lineno, f"DROP TABLE {self.table(app, model)}", kind)

    def op_RenameModel(self, out: Emitter, app: str, call: ast.Call, kind: str) -> None:  # noqa: N802
        old = str(value(arg(call, 0, "old_name")) or "")
        new = str(value(arg(call, 1, "new_name")) or "")
        before, after = self.table(app, old), f"{app.lower()}_{new.lower()}"
        self.tables[(app.lower(), new.lower())] = after
        out.add(call.lineno, f"ALTER TABLE {before} RENAME TO {after}", kind)

    def op_AlterModelTable(
        self, out: Emitter, app: str, call: ast.Call, kind: str
    ) -> None:  # noqa: N802
        model = str(value(arg(call, 0, "name")) or "")
        new = value(arg(call, 1, "table"))
        if isinstance(new, str):
            before = self.table(app, model)
            self.tables[(app.lower(), model.lower())] = new
            out.add(call.lineno, f"ALTER TABLE {before} RENAME TO {new}", kind)

    def op_AddField(self, out: Emitter, app: str, call: ast.Call, kind: str) -> None:  # noqa: N802
        table = self.model_table(app, call)
        column = self.column(
            app,
            str(value(arg(call, 1, "name")) or ""),
            arg(call, 2, "field"),
            adding=True,
        )
        out.add(
            call.lineno,
            f"ALTER TABLE {table} ADD COLUMN {column.name} {column.definition}",
            kind,
        )
        if column.references:
            out.add(call.lineno, _fk_sql(table, column), kind)
        if column.index:
            out.add(call.lineno, _index_sql(table, column.name), kind)

    def op_RemoveField(self, out: Emitter, app: str, call: ast.Call, kind: str) -> None:  # noqa: N802
        table = self.model_table(app, call)
        name = str(value(arg(call, 1, "name")) or "")
        out.add(call.lineno, f"ALTER TABLE {table} DROP COLUMN {name}", kind)

    def op_RenameField(self, out: Emitter, app: str, call: ast.Call, kind: str) -> None:  # noqa: N802
        table = self.model_table(app, call)
        old = str(value(arg(call, 1, "old_name")) or "")
        new = str(value(arg(call, 2, "new_name")) or "")
        out.add(call.lineno, f"ALTER TABLE {table} RENAME COLUMN {old} TO {new}", kind)

    def op_AlterField(self, out: Emitter, app: str, call: ast.Call, kind: str) -> None:  # noqa: N802
        table = self.model_table(app, call)
        field = arg(call, 2, "field")
        column = self.column(app, str(value(arg(call, 1, "name")) or ""), field)
        kind_type = column.definition.split(" NOT NULL")[0].split(" NULL")[0]
        kind_type = kind_type.split(" PRIMARY KEY")[0].split(" UNIQUE")[0]
        head = f"ALTER TABLE {table} ALTER COLUMN {column.name}"
        out.add(call.lineno, f"{head} TYPE {kind_type}", kind)
        null = (
            " DROP NOT NULL"
            if " NOT NULL" not in column.definition
            else " SET NOT NULL"
        )
        out.add(call.lineno, head + null, kind)

    def op_AddIndex(self, out: Emitter, app: str, call: ast.Call, kind: str) -> None:  # noqa: N802
        table = self.model_table(app, call)
        index = arg(call, 1, "index")
        if not isinstance(index, ast.Call):
            return
        fields = value(arg(index, 99, "fields")) or []
        name = value(arg(index, 99, "name")) or f"{table}_idx"
        cols = ", ".join(str(f).lstrip("-") for f in fields) or "id"
        how = "INDEX CONCURRENTLY" if kind == "AddIndexConcurrently" else "INDEX"
        out.add(call.lineno, f"CREATE {how} {name} ON {table} ({cols})", kind)

    op_AddIndexConcurrently = op_AddIndex  # noqa: N815

    def op_RemoveIndex(self, out: Emitter, app: str, call: ast.Call, kind: str) -> None:  # noqa: N802
        name = value(arg(call, 1, "name"))
        how = "INDEX CONCURRENTLY" if kind == "RemoveIndexConcurrently" else "INDEX"
        if isinstance(name, str):
            out.add(call.lineno, f"DROP {how} {name}", kind)

    op_RemoveIndexConcurrently = op_RemoveIndex  # noqa: N815

    def op_AddConstraint(
        self, out: Emitter, app: str, call: ast.Call, kind: str
    ) -> None:  # noqa: N802
        table = self.model_table(app, call)
        constraint = arg(call, 1, "constraint")
        if not isinstance(constraint, ast.Call):
            return
        name = value(arg(constraint, 99, "name")) or f"{table}_check"
        fields = value(arg(constraint, 99, "fields"))
        if last(dotted(constraint.func)) == "UniqueConstraint" and fields:
            body = f"UNIQUE ({', '.join(str(f) for f in fields)})"
        else:
            body = "CHECK (true)"  # the condition is a Python expression
        out.add(call.lineno, f"ALTER TABLE {table} ADD CONSTRAINT {name} {body}", kind)

    def op_RemoveConstraint(
        self, out: Emitter, app: str, call: ast.Call, kind: str
    ) -> None:  # noqa: N802
        table = self.model_table(app, call)
        name = value(arg(call, 1, "name"))
        if isinstance(name, str):
            out.add(call.lineno, f"ALTER TABLE {table} DROP CONSTRAINT {name}", kind)

    # Fields

    def fields(self, app: str, node: ast.expr | None) -> list[Column]:
        """Return the columns of CreateModel's ``fields`` list."""
        columns = []
        for item in node.elts if isinstance(node, ast.List | ast.Tuple) else []:
            if isinstance(item, ast.Tuple) and len(item.elts) == 2:
                name = value(item.elts[0])
                if isinstance(name, str):
                    columns.append(self.column(app, name, item.elts[1]))
        return columns

    def column(
        self, app: str, name: str, field: ast.expr | None, *, adding: bool = False
    ) -> Column:
        """Return the column a Django field declares."""
        if not isinstance(field, ast.Call):
            return Column(name, "text NULL")
        kind = last(dotted(field.func))
        options = {k.arg: k.value for k in field.keywords if k.arg}
        null = value(options.get("null")) is True
        column = str(value(options.get("db_column")) or "") or name
        references = ""
        if kind in _RELATIONS:
            column = str(value(options.get("db_column")) or "") or f"{name}_id"
            references = self.related_table(app, arg(field, 0, "to"))
            sql = "bigint"
        else:
            sql = sql_type(field, self.dialect)
        parts = [sql]
        if kind in _AUTO:
            parts.append("GENERATED BY DEFAULT AS IDENTITY")
        if "db_default" in options:
            parts.append(f"DEFAULT {_db_default(options['db_default'])}")
        elif adding and not null:
            default = _effective_default(kind, options)
            if default is not None:
                parts.append(f"DEFAULT {default}")
        parts.append("NULL" if null else "NOT NULL")
        if value(options.get("primary_key")) is True or kind in _AUTO:
            parts.append("PRIMARY KEY")
        elif value(options.get("unique")) is True or kind == "OneToOneField":
            parts.append("UNIQUE")
        index = value(options.get("db_index")) is True or (
            kind == "ForeignKey" and value(options.get("db_index")) is not False
        )
        return Column(column, " ".join(parts), index, references)

    def related_table(self, app: str, node: ast.expr | None) -> str:
        """Return the table a ForeignKey's ``to`` names."""
        target = value(node)
        if not isinstance(target, str):
            return "auth_user" if "AUTH_USER_MODEL" in dotted(node) else ""
        if "." in target:
            other, model = target.split(".", 1)
            return self.table(other, model)
        return self.table(app, target)


def _migration_class(tree: ast.Module) -> list[ast.stmt] | None:
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "Migration":
            return node.body
    return None


def _effective_default(kind: str, options: dict[str, ast.expr]) -> str | None:
    """Return the value Django fills existing rows with when adding a field.

    As Django's schema editor: the field's ``default`` (a callable is
    called once, so the value is a constant), the current time for
    ``auto_now``/``auto_now_add``, an empty string for a blank text field.
    """
    if "default" in options:
        return sql_literal(value(options["default"]))  # a callable: unknown here
    if any(value(options.get(k)) is True for k in ("auto_now", "auto_now_add")):
        return "now()"
    if value(options.get("blank")) is True and kind in _TEXT_FIELDS:
        return "''"
    return None


def _db_default(node: ast.expr) -> str:
    if isinstance(node, ast.Call):
        name = last(dotted(node.func))
        return _DB_FUNCTIONS.get(name, f"{name.lower()}()")
    return sql_literal(value(node))


def _index_sql(table: str, column: str) -> str:
    return f"CREATE INDEX {table}_{column}_idx ON {table} ({column})"


def _fk_sql(table: str, column: Column) -> str:
    return (
        f"ALTER TABLE {table} ADD CONSTRAINT {table}_{column.name}_fk "
        f"FOREIGN KEY ({column.name}) REFERENCES {column.references} (id) "
        "DEFERRABLE INITIALLY DEFERRED"
    )
