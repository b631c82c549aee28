"""Django migrations as the SQL their operations run.

Table names follow Django's rule (``<app label>_<model name>``, or the
model's ``db_table``), remembered across the files of one history so a
later ``AddField`` finds the table an earlier ``CreateModel`` named. A
field's Python ``default`` is filled into the rows once and dropped, as
Django does, so it is a constant; ``db_default`` stays in the table.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
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
from audits.engine.sources.migrations_q import Unreadable, condition_sql

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
        # Each model's field names and the columns they are stored in.
        self.columns: dict[tuple[str, str], dict[str, str]] = {}
        # Each model's unique_together and index_together, as column tuples.
        self.together: dict[tuple[str, str, str], set[tuple[str, ...]]] = {}
        self.notes: list[str] = []
        self.label = ""
        # Each table's primary key type, so a foreign key gets the same type.
        self.key_types: dict[str, str] = {}
        # The table of a user model created so far (AUTH_USER_MODEL's guess).
        self.user_table = ""

    def table(self, app: str, model: str) -> str:
        """Return the table of ``app``'s model ``model``."""
        key = (app.lower(), model.lower())
        return self.tables.get(key, f"{key[0]}_{key[1]}")

    def model_table(self, app: str, call: ast.Call) -> str:
        """Return the table of the model an operation names first."""
        return self.table(app, str(value(arg(call, 0, "model_name")) or ""))

    def model_columns(self, app: str, model: str) -> dict[str, str]:
        """Return the field-to-column map of a model, made empty on first use."""
        return self.columns.setdefault((app.lower(), model.lower()), {})

    def field_column(self, app: str, model: str, field: str) -> str:
        """Return the column a model's field is stored in (the field's name if unknown)."""
        return self.model_columns(app, model).get(field.lower(), field)

    def remember_keys(self, table: str, columns: list[Column]) -> None:
        """Remember a new table's key type, and whether it is a user model."""
        for column in columns:
            if " PRIMARY KEY" in column.definition:
                self.key_types[table.lower()] = _KEY_TYPE_END.split(column.definition)[
                    0
                ]
        names = {c.name.lower() for c in columns}
        if {"password", "last_login"} <= names and not self.user_table:
            self.user_table = table

    def take_notes(self) -> list[str]:
        """Return the notes gathered since the last call, and forget them."""
        notes, self.notes = self.notes, []
        return notes

    def note(self, line: int, text: str) -> None:
        """Note something of the file being read that was not read as SQL."""
        self.notes.append(f"{self.label}:{line}: {text}")

    def read(self, tree: ast.Module, label: str, path: Path) -> list[Statement]:
        """Return the statements of one Django migration file."""
        app = path.parent.parent.name
        self.label = label
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
        options = _options(arg(call, 99, "options"))
        db_table = value(options.get("db_table"))
        if isinstance(db_table, str) and db_table:
            self.tables[(app.lower(), model.lower())] = db_table
        table = self.table(app, model)
        mapping = self.model_columns(app, model)
        mapping.clear()
        columns = self.fields(app, arg(call, 1, "fields"), mapping)
        parts = [f"{c.name} {c.definition}" for c in columns]
        after: list[str] = []
        unique = self.together_of(app, model, "unique", options.get("unique_together"))
        parts += [f"UNIQUE ({', '.join(cols)})" for cols in sorted(unique)]
        for node in _items(options.get("constraints")):
            inline = self.constraint(app, model, table, node)
            if inline is not None:
                (after if inline.startswith("CREATE ") else parts).append(inline)
        out.add(call.lineno, f"CREATE TABLE {table} ({', '.join(parts)})", kind)
        self.remember_keys(table, columns)
        for column in columns:
            if column.references:
                out.add(call.lineno, _fk_sql(table, column, self.dialect), kind)
            if column.index:
                out.add(call.lineno, _index_sql(table, column.name), kind)
        for cols in sorted(
            self.together_of(app, model, "index", options.get("index_together"))
        ):
            out.add(call.lineno, _together_index_sql(table, cols), kind)
        for node in _items(options.get("indexes")):
            index = self.index(app, model, table, node, kind)
            if index:
                out.add(getattr(node, "lineno", call.lineno), index, kind)
        for statement in after:
            out.add(call.lineno, statement, kind)

    def op_DeleteModel(self, out: Emitter, app: str, call: ast.Call, kind: str) -> None:  # noqa: N802
        model = str(value(arg(call, 0, "name")) or "")
        out.add(call.lineno, f"DROP TABLE {self.table(app, model)}", kind)

    def op_RenameModel(self, out: Emitter, app: str, call: ast.Call, kind: str) -> None:  # noqa: N802
        old = str(value(arg(call, 0, "old_name")) or "")
        new = str(value(arg(call, 1, "new_name")) or "")
        before, after = self.table(app, old), f"{app.lower()}_{new.lower()}"
        self.tables[(app.lower(), new.lower())] = after
        self.columns[(app.lower(), new.lower())] = self.model_columns(app, old)
        for which in ("unique", "index"):
            found = self.together.get((app.lower(), old.lower(), which), set())
            self.together[(app.lower(), new.lower(), which)] = set(found)
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
        model = str(value(arg(call, 0, "model_name")) or "")
        name = str(value(arg(call, 1, "name")) or "")
        column = self.column(app, name, arg(call, 2, "field"), adding=True)
        self.model_columns(app, model)[name.lower()] = column.name
        out.add(
            call.lineno,
            f"ALTER TABLE {table} ADD COLUMN {column.name} {column.definition}",
            kind,
        )
        if column.references:
            out.add(call.lineno, _fk_sql(table, column, self.dialect), kind)
        if column.index:
            out.add(call.lineno, _index_sql(table, column.name), kind)

    def op_RemoveField(self, out: Emitter, app: str, call: ast.Call, kind: str) -> None:  # noqa: N802
        table = self.model_table(app, call)
        model = str(value(arg(call, 0, "model_name")) or "")
        name = str(value(arg(call, 1, "name")) or "")
        column = self.model_columns(app, model).pop(name.lower(), name)
        out.add(call.lineno, f"ALTER TABLE {table} DROP COLUMN {column}", kind)

    def op_RenameField(self, out: Emitter, app: str, call: ast.Call, kind: str) -> None:  # noqa: N802
        table = self.model_table(app, call)
        model = str(value(arg(call, 0, "model_name")) or "")
        old = str(value(arg(call, 1, "old_name")) or "")
        new = str(value(arg(call, 2, "new_name")) or "")
        mapping = self.model_columns(app, model)
        before = mapping.pop(old.lower(), old)
        # A foreign key's column follows its field's name; a db_column stays.
        after = (
            f"{new}_id"
            if before.lower() == f"{old.lower()}_id"
            else (new if before.lower() == old.lower() else before)
        )
        mapping[new.lower()] = after
        if after != before:
            out.add(
                call.lineno,
                f"ALTER TABLE {table} RENAME COLUMN {before} TO {after}",
                kind,
            )

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
        model = str(value(arg(call, 0, "model_name")) or "")
        index = self.index(
            app, model, self.table(app, model), arg(call, 1, "index"), kind
        )
        if index:
            out.add(call.lineno, index, kind)

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
        model = str(value(arg(call, 0, "model_name")) or "")
        table = self.table(app, model)
        found = self.constraint(app, model, table, arg(call, 1, "constraint"))
        if found is None:
            return
        if found.startswith("CREATE "):
            out.add(call.lineno, found, kind)
        else:
            out.add(call.lineno, f"ALTER TABLE {table} ADD {found}", kind)

    def op_AlterUniqueTogether(  # noqa: N802
        self, out: Emitter, app: str, call: ast.Call, kind: str
    ) -> None:
        self.alter_together(out, app, call, kind, "unique")

    def op_AlterIndexTogether(  # noqa: N802
        self, out: Emitter, app: str, call: ast.Call, kind: str
    ) -> None:
        self.alter_together(out, app, call, kind, "index")

    def alter_together(
        self, out: Emitter, app: str, call: ast.Call, kind: str, which: str
    ) -> None:
        """Drop the sets no longer listed and add the new ones, as Django does."""
        model = str(value(arg(call, 0, "name")) or "")
        table = self.table(app, model)
        key = (app.lower(), model.lower(), which)
        before = set(self.together.get(key, set()))
        after = self.together_of(app, model, which, arg(call, 1, f"{which}_together"))
        for cols in sorted(before - after):
            name = _together_name(table, cols, which)
            if which == "unique":
                out.add(
                    call.lineno, f"ALTER TABLE {table} DROP CONSTRAINT {name}", kind
                )
            else:
                out.add(call.lineno, f"DROP INDEX {name}", kind)
        for cols in sorted(after - before):
            if which == "unique":
                name = _together_name(table, cols, which)
                out.add(
                    call.lineno,
                    f"ALTER TABLE {table} ADD CONSTRAINT {name} UNIQUE ({', '.join(cols)})",
                    kind,
                )
            else:
                out.add(call.lineno, _together_index_sql(table, cols), kind)

    def together_of(
        self, app: str, model: str, which: str, node: ast.expr | None
    ) -> set[tuple[str, ...]]:
        """Return (and remember) a unique_together or index_together as columns."""
        found = value(node)
        sets: set[tuple[str, ...]] = set()
        if isinstance(found, list | tuple | set) and found:
            groups = [found] if all(isinstance(f, str) for f in found) else found
            for group in groups:
                if isinstance(group, list | tuple) and group:
                    sets.add(
                        tuple(self.field_column(app, model, str(f)) for f in group)
                    )
        self.together[(app.lower(), model.lower(), which)] = sets
        return sets

    def constraint(
        self, app: str, model: str, table: str, node: ast.expr | None
    ) -> str | None:
        """Return a constraint as ``CONSTRAINT name ...``, or a CREATE UNIQUE INDEX.

        A unique constraint with a condition or expressions is a unique
        index in Django; a condition that is not read keeps ``CHECK (true)``
        (asserting nothing, so no rule reads more into it) and says so.
        """
        if not isinstance(node, ast.Call):
            return None
        kind = last(dotted(node.func))
        name = str(value(arg(node, 99, "name")) or f"{table}_check")
        columns = self.model_columns(app, model)
        if kind == "UniqueConstraint":
            fields = value(arg(node, 99, "fields")) or ()
            cols = [self.field_column(app, model, str(f)) for f in fields]
            if not cols:
                cols = self.expressions(app, model, node)
            if not cols:
                self.note(node.lineno, f"the expressions of UniqueConstraint {name} "
                          "are not read; the constraint is left out of the replay")  # fmt: skip
                return None
            condition = arg(node, 99, "condition")
            if condition is None and not any("(" in c for c in cols):
                return f"CONSTRAINT {name} UNIQUE ({', '.join(cols)})"
            where = ""
            if condition is not None:
                try:
                    where = f" WHERE {condition_sql(condition, columns)}"
                except Unreadable as exc:
                    self.note(node.lineno, f"the condition of UniqueConstraint {name} is "
                              f"not read ({exc}); the constraint is left out of the replay")  # fmt: skip
                    return None
            return f"CREATE UNIQUE INDEX {name} ON {table} ({', '.join(cols)}){where}"
        if kind != "CheckConstraint":
            return None
        condition = arg(node, 99, "condition") or arg(node, 99, "check")
        try:
            body = condition_sql(condition, columns)
        except Unreadable as exc:
            self.note(node.lineno, f"the condition of CheckConstraint {name} is not "
                      f"read ({exc}); it is replayed as CHECK (true)")  # fmt: skip
            body = "true"
        return f"CONSTRAINT {name} CHECK ({body})"

    def index(
        self, app: str, model: str, table: str, node: ast.expr | None, kind: str
    ) -> str:
        """Return the CREATE INDEX of a ``models.Index``, or '' when not readable."""
        if not isinstance(node, ast.Call):
            return ""
        fields = value(arg(node, 99, "fields")) or []
        name = value(arg(node, 99, "name")) or f"{table}_idx"
        cols = (
            [self.field_column(app, model, str(f).lstrip("-")) for f in fields]
            or self.expressions(app, model, node)
            or ["id"]
        )
        how = "INDEX CONCURRENTLY" if kind == "AddIndexConcurrently" else "INDEX"
        where = ""
        condition = arg(node, 99, "condition")
        if condition is not None:
            try:
                where = (
                    f" WHERE {condition_sql(condition, self.model_columns(app, model))}"
                )
            except Unreadable as exc:
                self.note(node.lineno, f"the condition of index {name} is not read "
                          f"({exc}); it is replayed as an index of every row")  # fmt: skip
        return f"CREATE {how} {name} ON {table} ({', '.join(cols)}){where}"

    def expressions(self, app: str, model: str, node: ast.Call) -> list[str]:
        """Return index expressions read as SQL (a field, F(), Lower/Upper of one)."""
        out: list[str] = []
        for item in node.args:
            found = _expression(item, lambda f: self.field_column(app, model, f))
            if found is None:
                return []
            out.append(found)
        return out

    def op_RemoveConstraint(
        self, out: Emitter, app: str, call: ast.Call, kind: str
    ) -> None:  # noqa: N802
        table = self.model_table(app, call)
        name = value(arg(call, 1, "name"))
        if isinstance(name, str):
            out.add(call.lineno, f"ALTER TABLE {table} DROP CONSTRAINT {name}", kind)

    # Fields

    def fields(
        self, app: str, node: ast.expr | None, mapping: dict[str, str]
    ) -> list[Column]:
        """Return the columns of CreateModel's ``fields`` list, filling ``mapping``."""
        columns = []
        for item in node.elts if isinstance(node, ast.List | ast.Tuple) else []:
            if isinstance(item, ast.Tuple) and len(item.elts) == 2:
                name = value(item.elts[0])
                if isinstance(name, str):
                    column = self.column(app, name, item.elts[1])
                    mapping[name.lower()] = column.name
                    columns.append(column)
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
            sql = self.key_types.get(
                references.lower(), _DEFAULT_KEY.get(references, "bigint")
            )
        else:
            sql = sql_type(field, self.dialect)
        parts = [sql]
        if kind in _AUTO:
            parts.append(
                "AUTO_INCREMENT"
                if self.dialect == "mysql"
                else "GENERATED BY DEFAULT AS IDENTITY"
            )
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
            if "AUTH_USER_MODEL" not in dotted(node):
                return ""
            return self.user_table or "auth_user"
        if "." in target:
            other, model = target.split(".", 1)
            return self.table(other, model)
        return self.table(app, target)


_KEY_TYPE_END = re.compile(
    r" (?:NOT NULL|NULL|GENERATED|AUTO_INCREMENT|DEFAULT|PRIMARY)\b"
)
# Django's own models, when the history read does not create them.
_DEFAULT_KEY = {
    "auth_user": "integer",
    "auth_group": "integer",
    "django_site": "integer",
}


def _options(node: ast.expr | None) -> dict[str, ast.expr]:
    """Return CreateModel's ``options`` as name -> value node.

    Read key by key: ``indexes`` and ``constraints`` hold calls, which a
    literal reading of the whole dict would refuse (and lose ``db_table``).
    """
    if not isinstance(node, ast.Dict):
        return {}
    return {
        key.value: item
        for key, item in zip(node.keys, node.values, strict=True)
        if isinstance(key, ast.Constant) and isinstance(key.value, str)
    }


def _items(node: ast.expr | None) -> list[ast.expr]:
    return list(node.elts) if isinstance(node, ast.List | ast.Tuple) else []


def _expression(node: ast.expr, column: Callable[[str], str]) -> str | None:
    """Return an index expression as SQL, or None when it is not read."""
    found = value(node)
    if isinstance(found, str):
        return column(found)
    if not isinstance(node, ast.Call):
        return None
    name = last(dotted(node.func))
    if name == "F":
        field = value(arg(node, 0, "name"))
        return column(field) if isinstance(field, str) and "__" not in field else None
    if name in ("Lower", "Upper") and len(node.args) == 1:
        inner = _expression(node.args[0], column)
        return f"({name.lower()}({inner}))" if inner else None
    return None


def _together_name(table: str, cols: tuple[str, ...], which: str) -> str:
    return f"{table}_{'_'.join(cols)}_{'uniq' if which == 'unique' else 'idx'}"


def _together_index_sql(table: str, cols: tuple[str, ...]) -> str:
    name = _together_name(table, cols, "index")
    return f"CREATE INDEX {name} ON {table} ({', '.join(cols)})"


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


def _fk_sql(table: str, column: Column, dialect: str) -> str:
    deferred = "" if dialect == "mysql" else " DEFERRABLE INITIALLY DEFERRED"
    return (
        f"ALTER TABLE {table} ADD CONSTRAINT {table}_{column.name}_fk "
        f"FOREIGN KEY ({column.name}) REFERENCES {column.references} (id)" + deferred
    )
