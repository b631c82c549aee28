"""Build tables from CREATE TABLE statements: columns, keys, constraints, indexes.

``_LoaderState`` holds where the loader is (the model, the file and line
being read); ``_TableBuilder`` turns a CREATE TABLE into the model's table, through the
plain reader when it is sure and sqlglot otherwise; ``ddl_loader._Loader``
adds the other statements.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from audits.engine.schema import Check, Column, ForeignKey, Index, IndexColumn
from audits.engine.sources.ddl_model import (
    _CONSTRAINT_WORDS,
    _NAME,
    _WITHOUT_ROWID,
    _actions,
    _col_names,
    _ident,
    _literal_value,
    _Model,
    _quiet_sqlglot,
    _TableState,
    _unquote,
    _unwrap,
    parse_check,
    plain_check,
)
from audits.engine.sources.ddl_plain import (
    PlainColumn,
    PlainConstraint,
    PlainReference,
    PlainTable,
    plain_table,
)


@dataclass
class _LoaderState:
    """Where the loader is: the model, the file, the statement and its line."""

    model: _Model
    file: str = ""
    text: str = ""  # the statement being applied, for line offsets
    line: int = 1
    comments: dict[str, str] = field(default_factory=dict)

    @property
    def dialect(self) -> str:
        return self.model.dialect

    def note(self, message: str) -> None:
        where = f"{self.file}:{self.line}" if self.file else f"line {self.line}"
        self.model.notes.append(f"{where}: {message}")

    def offset_line(self, pattern: str, nth: int = 0) -> int:
        """Return the file line of the ``nth`` match of ``pattern``."""
        matches = list(re.finditer(pattern, self.text, re.I | re.M))
        if not matches:
            return self.line
        match = matches[min(nth, len(matches) - 1)]
        return self.line + self.text.count("\n", 0, match.start())

    def parse(self, text: str) -> exp.Expression:
        with _quiet_sqlglot():
            parsed = sqlglot.parse(text, read=self.dialect)
        statements = [p for p in parsed if p is not None]
        if not statements:
            raise ParseError("empty statement")
        return statements[0]


class _TableBuilder(_LoaderState):
    """Turn CREATE TABLE statements into tables of the model."""

    def create_table(self, text: str) -> None:
        without_rowid = False
        match = _WITHOUT_ROWID.search(text)
        if match:
            without_rowid = "ROWID" in match.group(0).upper()
            text = text[: match.start()] + ")"
        plain = plain_table(text, self.dialect) if self.model.plain else None
        if plain is not None:
            self.create_plain_table(plain, text, without_rowid)
            return
        node = self.parse(text)
        if not isinstance(node, exp.Create) or not isinstance(node.this, exp.Schema):
            if isinstance(node, exp.Create) and node.args.get("expression") is not None:
                return  # CREATE TABLE ... AS SELECT: columns unknown without data
            raise ParseError("unsupported syntax")
        table_node = node.this.this
        name = _ident(table_node)
        if not name:
            raise ParseError("table name missing")
        if self.model.table(name) is not None:
            if node.args.get("exists"):
                return
            self.model.drop_table(name)
        state = _TableState(name=name, file=self.file or None, line=self.line)
        state.without_rowid = without_rowid
        self.model.tables[name.lower()] = state
        self.comments = _json_comments(text)
        for item in node.this.expressions:
            if isinstance(item, exp.ColumnDef):
                self.add_column(state, item)
            else:
                self.add_table_constraint(state, item, None)

    def create_plain_table(
        self, plain: PlainTable, text: str, without_rowid: bool
    ) -> None:
        """Apply a CREATE TABLE the plain reader read, as create_table does."""
        if self.model.table(plain.name) is not None:
            if plain.if_not_exists:
                return
            self.model.drop_table(plain.name)
        state = _TableState(name=plain.name, file=self.file or None, line=self.line)
        state.without_rowid = without_rowid
        self.model.tables[plain.name.lower()] = state
        self.comments = _json_comments(text)
        for item in plain.items:
            if isinstance(item, PlainColumn):
                self.add_plain_column(state, item)
            else:
                self.add_plain_table_constraint(state, item)

    def add_plain_column(self, state: _TableState, col: PlainColumn) -> None:
        """Add a column the plain reader read, exactly as add_column would."""
        name = col.name
        if state.column_index(name) >= 0:
            return
        type_text = col.type
        if type_text and self.dialect == "sqlite":
            type_text = self.declared_type(name) or type_text
        nullable = True
        default: str | None = None
        collation: str | None = None
        primary = autoinc = False
        col_line = self.offset_line(rf"^\s*[`\"\[]?{re.escape(name)}[`\"\]]?\s")
        for constraint in col.constraints:
            kind = constraint.kind
            if kind in ("not null", "null"):
                nullable = kind == "null"
            elif kind == "primary key":
                primary = True
                nullable = False
            elif kind == "default":
                default = constraint.text
            elif kind == "collate":
                collation = constraint.text
            elif kind == "autoincrement":
                autoinc = True
            elif kind == "unique":
                self.add_unique(state, (name,), constraint.name, col_line)
            elif kind == "references" and constraint.reference is not None:
                self.add_plain_fk(
                    state, (name,), constraint.reference, constraint.name, col_line
                )
            elif kind == "check" and constraint.check is not None:
                state.checks.append(
                    plain_check(constraint.check, name=constraint.name, column=name)
                )
        traits = (nullable, default, collation, primary, autoinc)
        self.append_column(state, self.read_column(name, type_text, traits, col_line))

    def add_plain_table_constraint(
        self, state: _TableState, item: PlainConstraint
    ) -> None:
        """Apply a table constraint, exactly as add_table_constraint would."""
        if item.kind == "primary key":
            state.primary_key = item.columns
            line = self.offset_line(r"PRIMARY\s+KEY\s*\(")
            self.add_constraint_index(
                state, item.columns, "primary key", item.name, line
            )
        elif item.kind == "foreign key" and item.reference is not None:
            self.add_plain_fk(state, item.columns, item.reference, item.name, None)
        elif item.kind == "unique":
            line = self.offset_line(r"UNIQUE\s*(?:KEY|INDEX)?\s*\w*\s*\(")
            self.add_unique(state, item.columns, item.name, line)
        elif item.kind == "check" and item.check is not None:
            state.checks.append(plain_check(item.check, name=item.name))

    def add_plain_fk(
        self,
        state: _TableState,
        cols: tuple[str, ...],
        ref: PlainReference,
        name: str | None,
        column_line: int | None,
    ) -> None:
        """Add a FK: declared on its column when ``column_line`` is given."""
        declared = "table" if column_line is None else "column"
        if column_line is None:
            nth = sum(1 for fk in state.foreign_keys if fk.declared == "table")
            line = self.offset_line(r"FOREIGN\s+KEY", nth)
        else:
            line = column_line
        self.add_fk_parts(
            state,
            ForeignKey(
                columns=cols,
                ref_table=ref.table,
                ref_columns=ref.columns,
                on_delete=ref.on_delete,
                on_update=ref.on_update,
                declared=declared,
                name=name,
                line=line,
                file=self.file or None,
            ),
        )

    def add_column(self, state: _TableState, col: exp.ColumnDef) -> None:
        name = col.name
        if state.column_index(name) >= 0:
            return  # re-running an ADD COLUMN migration is a no-op
        kind = col.args.get("kind")
        type_text = ""
        values: tuple[str, ...] | None = None
        if isinstance(kind, exp.DataType):
            # SQLite's generator rewrites types (BOOLEAN to INTEGER); the
            # generic one keeps them as declared, which affinity rules need.
            sql_dialect = None if self.dialect == "sqlite" else self.dialect
            type_text = kind.sql(dialect=sql_dialect).upper()
            if self.dialect == "sqlite":
                type_text = self.declared_type(name) or type_text
            if kind.this == exp.DataType.Type.ENUM:
                values = tuple(v for v in map(_literal_value, kind.expressions) if v)
        nullable = True
        default: str | None = None
        collation: str | None = None
        primary = autoinc = False
        col_line = self.offset_line(rf"^\s*[`\"\[]?{re.escape(name)}[`\"\]]?\s")
        for constraint in col.args.get("constraints") or []:
            ckind = (
                constraint.args.get("kind")
                if isinstance(constraint, exp.ColumnConstraint)
                else constraint
            )
            cname = (
                constraint.args.get("this")
                if isinstance(constraint, exp.ColumnConstraint)
                else None
            )
            cname_text = _ident(cname) if cname is not None else None
            if isinstance(ckind, exp.NotNullColumnConstraint):
                nullable = bool(ckind.args.get("allow_null"))
            elif isinstance(ckind, exp.PrimaryKeyColumnConstraint):
                primary = True
                nullable = False
            elif isinstance(ckind, exp.DefaultColumnConstraint):
                default = ckind.this.sql(dialect=self.dialect)
            elif isinstance(ckind, exp.CollateColumnConstraint):
                collation = _ident(ckind.this)
            elif isinstance(
                ckind,
                exp.AutoIncrementColumnConstraint
                | exp.GeneratedAsIdentityColumnConstraint,
            ):
                autoinc = True
            elif isinstance(ckind, exp.UniqueColumnConstraint):
                self.add_unique(state, (name,), cname_text, col_line)
            elif isinstance(ckind, exp.Reference):
                self.add_fk(state, (name,), ckind, "column", cname_text, col_line)
            elif isinstance(ckind, exp.CheckColumnConstraint):
                state.checks.append(
                    parse_check(
                        ckind.this, dialect=self.dialect, name=cname_text, column=name
                    )
                )
        if values is not None:
            quoted = ", ".join("'" + v.replace("'", "''") + "'" for v in values)
            state.checks.append(
                Check(expression=f"{name} IN ({quoted})", column=name, values=values)
            )
        traits = (nullable, default, collation, primary, autoinc)
        self.append_column(state, self.read_column(name, type_text, traits, col_line))

    def read_column(
        self,
        name: str,
        type_text: str,
        traits: tuple[bool, str | None, str | None, bool, bool],
        line: int | None,
    ) -> Column:
        """Return a column as a CREATE TABLE of this file declares it.

        ``traits``: nullable, default, collation, primary key, autoincrement,
        in the order of :class:`Column`'s fields.
        """
        return Column(name, type_text, *traits, line=line, file=self.file or None)

    def append_column(self, state: _TableState, column: Column) -> None:
        """Add a read column with its declared comment; an inline PRIMARY KEY
        also becomes the table's key and its index."""
        comment = self.comments.get(column.name.lower())
        state.columns.append(replace(column, comment=comment))
        if column.primary_key:
            state.primary_key = (column.name,)
            self.add_constraint_index(
                state, (column.name,), "primary key", None, column.line or 0
            )

    def declared_type(self, column: str) -> str | None:
        """Return the column's type exactly as the statement spells it."""
        match = re.search(
            rf"(?:^|[(,])\s*[`\"\[]?{re.escape(column)}[`\"\]]?\s+"
            r"([A-Za-z_]\w*(?:\s+(?:PRECISION|VARYING|UNSIGNED|BIG\s+INT))?"
            r"(?:\s*\([^)]*\))?)",
            self.text,
            re.I | re.M,
        )
        if match is None:
            return None
        declared = " ".join(match.group(1).upper().split())
        first = declared.split("(")[0].split()[0]
        if first in _CONSTRAINT_WORDS:
            return None  # SQLite allows columns without a type
        return declared

    def add_table_constraint(
        self, state: _TableState, item: exp.Expression, name: str | None
    ) -> None:
        if isinstance(item, exp.Constraint):
            cname = _ident(item.this)
            for inner in item.expressions:
                self.add_table_constraint(state, inner, cname)
            return
        if isinstance(item, exp.ColumnConstraint):
            self.add_table_constraint(state, item.args["kind"], name)
            return
        if isinstance(item, exp.PrimaryKey | exp.PrimaryKeyColumnConstraint):
            cols = _col_names(item.expressions)
            if cols:
                state.primary_key = cols
                line = self.offset_line(r"PRIMARY\s+KEY\s*\(")
                self.add_constraint_index(state, cols, "primary key", name, line)
        elif isinstance(item, exp.ForeignKey):
            cols = _col_names(item.expressions)
            ref = item.args.get("reference")
            nth = sum(1 for fk in state.foreign_keys if fk.declared == "table")
            line = self.offset_line(r"FOREIGN\s+KEY", nth)
            if isinstance(ref, exp.Reference):
                self.add_fk(state, cols, ref, "table", name, line, extra=item.sql())
        elif isinstance(item, exp.UniqueColumnConstraint):
            target = item.this
            unique_cols: tuple[str, ...] = ()
            if isinstance(target, exp.Schema):
                unique_cols = _col_names(target.expressions)
                if target.this is not None and name is None:
                    name = _ident(target.this)
            if unique_cols:
                line = self.offset_line(r"UNIQUE\s*(?:KEY|INDEX)?\s*\w*\s*\(")
                self.add_unique(state, unique_cols, name, line)
        elif isinstance(item, exp.IndexColumnConstraint):
            cols_nodes = item.expressions
            iname = (
                _ident(item.this) or f"{state.name}_{'_'.join(_col_names(cols_nodes))}"
            )
            self.add_index(state, iname, cols_nodes, unique=False)
        elif isinstance(item, exp.CheckColumnConstraint):
            state.checks.append(parse_check(item.this, dialect=self.dialect, name=name))

    def add_fk(
        self,
        state: _TableState,
        cols: tuple[str, ...],
        ref: exp.Reference,
        declared: str,
        name: str | None,
        line: int,
        extra: str = "",
    ) -> None:
        target = ref.this
        if isinstance(target, exp.Schema):
            ref_table = _ident(target.this)
            ref_cols = _col_names(target.expressions)
        else:
            ref_table = _ident(target)
            ref_cols = ()
        on_delete, on_update = _actions(ref.sql(dialect=self.dialect) + " " + extra)
        fk = ForeignKey(
            columns=cols,
            ref_table=ref_table,
            ref_columns=ref_cols,
            on_delete=on_delete,
            on_update=on_update,
            declared=declared,
            name=name,
            line=line,
            file=self.file or None,
        )
        self.add_fk_parts(state, fk)

    def add_fk_parts(self, state: _TableState, fk: ForeignKey) -> None:
        """Add ``fk`` to the table unless an equal one is declared already."""
        for existing in state.foreign_keys:
            if _same_fk(existing, fk):
                return
        state.foreign_keys.append(fk)

    def add_unique(
        self, state: _TableState, cols: tuple[str, ...], name: str | None, line: int
    ) -> None:
        self.add_constraint_index(state, cols, "unique", name, line)

    def add_constraint_index(
        self,
        state: _TableState,
        cols: tuple[str, ...],
        constraint: str,
        name: str | None,
        line: int,
    ) -> None:
        for index in self.model.indexes.of_table(state.name):
            if index.constraint == constraint and index.column_names == tuple(
                c.lower() for c in cols
            ):
                return
        state.constraint_count += 1
        if name is None:
            name = _constraint_index_name(self.dialect, state, cols, constraint)
        self.model.indexes[f"{state.name.lower()}:{name.lower()}"] = Index(
            name=name,
            table=state.name,
            columns=tuple(IndexColumn(c) for c in cols),
            unique=True,
            constraint=constraint,
            line=line,
            file=self.file or None,
        )

    def add_index(
        self,
        state: _TableState,
        name: str,
        nodes: Iterable[exp.Expression],
        *,
        unique: bool,
    ) -> None:
        """Add an index declared in a table body or an ALTER TABLE."""
        self.model.indexes[name.lower()] = Index(
            name=name,
            table=state.name,
            columns=self.index_columns(nodes),
            unique=unique,
            line=self.line,
            file=self.file or None,
        )

    def index_columns(self, nodes: Iterable[exp.Expression]) -> tuple[IndexColumn, ...]:
        result = []
        for node in nodes:
            desc = False
            if isinstance(node, exp.Ordered):
                desc = bool(node.args.get("desc"))
                node = node.this
            node = _unwrap(node) if isinstance(node, exp.Paren) else node
            if isinstance(node, exp.Column | exp.Identifier):
                result.append(IndexColumn(node.name, descending=desc))
            else:
                result.append(
                    IndexColumn(
                        node.sql(dialect=self.dialect), descending=desc, expression=True
                    )
                )
        return tuple(result)


def _same_fk(a: ForeignKey, b: ForeignKey) -> bool:
    return (
        tuple(c.lower() for c in a.columns) == tuple(c.lower() for c in b.columns)
        and a.ref_table.lower() == b.ref_table.lower()
        and tuple(c.lower() for c in a.ref_columns)
        == tuple(c.lower() for c in b.ref_columns)
        and (a.on_delete or "NO ACTION") == (b.on_delete or "NO ACTION")
        and (a.on_update or "NO ACTION") == (b.on_update or "NO ACTION")
    )


def _constraint_index_name(
    dialect: str, state: _TableState, cols: tuple[str, ...], constraint: str
) -> str:
    if dialect == "sqlite":
        return f"sqlite_autoindex_{state.name}_{state.constraint_count}"
    if dialect == "mysql":
        return "PRIMARY" if constraint == "primary key" else cols[0]
    if constraint == "primary key":
        return f"{state.name}_pkey"
    return f"{state.name}_{'_'.join(cols)}_key"


_JSON_COMMENT = re.compile(
    rf"^\s*({_NAME})\s+[^\n]*?--[^\n]*\bjson\b", re.IGNORECASE | re.MULTILINE
)


def _json_comments(text: str) -> dict[str, str]:
    """Return column name -> ``json`` for columns commented as holding JSON."""
    return {_unquote(m.group(1)).lower(): "json" for m in _JSON_COMMENT.finditer(text)}
