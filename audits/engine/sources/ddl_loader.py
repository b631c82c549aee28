"""Apply DDL statements, in order, to the mutable schema model."""

from __future__ import annotations

import re
from dataclasses import replace

from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from audits.engine.schema import Index
from audits.engine.schema import Trigger as SchemaTrigger
from audits.engine.sources.ddl_model import (
    _ADD_INDEX,
    _ALTER_HEAD,
    _EXECUTE_FUNCTION,
    _FUNCTION,
    _HEAD,
    _NEXT_STATEMENT,
    _QNAME,
    _RENAME_COLUMN,
    _RENAME_TABLE,
    _TRIGGER,
    _error_reason,
    _first_words,
    _ident,
    _TableState,
    _unquote,
)
from audits.engine.sources.ddl_plain import plain_index
from audits.engine.sources.ddl_split import split_outside_quotes
from audits.engine.sources.ddl_tables import _TableBuilder


class _Loader(_TableBuilder):
    """Apply each DDL statement, in order, to the model."""

    def apply(self, text: str, line: int) -> None:
        self.text, self.line = text, line
        self.comments = {}
        head = _HEAD.match(text)
        if head is None:
            return  # DML, PRAGMA, SELECT, SET ... carry no schema
        verb = head.group("verb").upper()
        kind = " ".join(head.group("kind").upper().split())
        mods = head.group("mods").upper()
        try:
            if verb == "CREATE" and kind == "TRIGGER":
                self.create_trigger(text)
            elif verb == "CREATE" and kind == "FUNCTION":
                self.create_function(text)
            elif verb == "CREATE" and kind == "TABLE":
                if "VIRTUAL" in mods:
                    return  # FTS and other virtual tables have no real schema
                self.create_table(text)
            elif verb == "CREATE" and kind == "INDEX":
                self.create_index(text)
            elif verb == "ALTER" and kind == "TABLE":
                self.alter_table(text)
            elif verb == "DROP" and kind in ("TABLE", "INDEX", "TRIGGER"):
                self.drop(text, kind)
        except (ParseError, TokenError) as exc:
            self.recover(text, line, "could not parse", _error_reason(exc))
        except Exception as exc:  # noqa: BLE001 - bad content never sinks a scan
            reason = f"{type(exc).__name__}: {_error_reason(exc)}"
            self.recover(text, line, "could not read", reason)

    def recover(self, text: str, line: int, failed: str, reason: str) -> None:
        """Note a failed statement (``failed`` it, for ``reason``) and apply
        any statement glued onto it.

        A truncated statement has no terminator, so the splitter glues the
        next statement onto it; a DDL keyword at the start of a later line
        marks where that next statement begins.
        """
        glued = _NEXT_STATEMENT.search(text, 1)
        head = text[: glued.start()] if glued else text
        self.text, self.line = head, line
        # The reason may quote the statement, braces and all: never a template.
        self.note(f"{failed} {_first_words(head)}: {reason}")
        if glued:
            rest_line = line + text.count("\n", 0, glued.start()) + 1
            self.apply(text[glued.start() :].strip(), rest_line)

    def create_index(self, text: str) -> None:
        plain = plain_index(text, self.dialect)
        if plain is not None:
            name, table, index_cols, unique, exists = plain
            predicate = None
        else:
            node = self.parse(text)
            if not isinstance(node, exp.Create) or not isinstance(node.this, exp.Index):
                raise ParseError("unsupported syntax")
            index = node.this
            name = _ident(index.this)
            table = _ident(index.args.get("table"))
            params = index.args.get("params")
            columns = params.args.get("columns") or [] if params is not None else []
            where = params.args.get("where") if params is not None else None
            if not table or not columns:
                raise ParseError("index without table or columns")
            index_cols = self.index_columns(columns)
            unique = bool(node.args.get("unique"))
            exists = bool(node.args.get("exists"))
            predicate = (
                where.this.sql(dialect=self.dialect) if where is not None else None
            )
        state = self.model.table(table)
        if state is None:
            self.note(f"index {name} is on table {table}, which is not defined")
            return
        key = name.lower() or f"{table.lower()}:{len(self.model.indexes)}"
        if key in self.model.indexes and exists:
            return
        self.model.indexes[key] = Index(
            name=name,
            table=state.name,
            columns=index_cols,
            unique=unique,
            predicate=predicate,
            line=self.line,
            file=self.file or None,
        )

    def alter_table(self, text: str) -> None:
        match = _RENAME_TABLE.match(text)
        if match:
            self.model.rename_table(_unquote(match.group(1)), _unquote(match.group(2)))
            return
        match = _RENAME_COLUMN.match(text)
        if match:
            state = self.model.table(_unquote(match.group(1)))
            if state is not None:
                self.rename_column(
                    state, _unquote(match.group(2)), _unquote(match.group(3))
                )
            return
        head = _ALTER_HEAD.match(text)
        if head is None:
            raise ParseError("unsupported ALTER TABLE syntax")
        table_name = _unquote(head.group(1))
        state = self.model.table(table_name)
        if state is None:
            self.note(f"ALTER TABLE {table_name}: table is not defined")
            return
        prefix = text[: head.end()]
        for action in _split_top_level(text[head.end() :]):
            self.alter_action(state, prefix, action)

    def alter_action(self, state: _TableState, prefix: str, action: str) -> None:
        add_index = _ADD_INDEX.match(action)
        if add_index:
            unique = bool(add_index.group(1))
            name = _unquote(add_index.group(2) or "")
            cols_sql = add_index.group(3)
            stmt = f"CREATE {'UNIQUE ' if unique else ''}INDEX {name or 'ix'} ON x ({cols_sql})"
            parsed = self.parse(stmt)
            params = (
                parsed.this.args.get("params")
                if isinstance(parsed.this, exp.Index)
                else None
            )
            cols = params.args.get("columns") or [] if params is not None else []
            iname = name or f"{state.name}_{len(self.model.indexes)}"
            self.add_index(state, iname, cols, unique=unique)
            return
        node = self.parse(prefix + action)
        if not isinstance(node, exp.Alter):
            raise ParseError(
                f"unsupported ALTER TABLE action {_first_words(action, 40)}"
            )
        for act in node.args.get("actions") or []:
            if isinstance(act, exp.ColumnDef):
                self.add_column(state, act)
            elif isinstance(act, exp.AddConstraint):
                for inner in act.expressions:
                    self.add_table_constraint(state, inner, None)
            elif (
                isinstance(act, exp.Drop)
                and (act.args.get("kind") or "").upper() == "COLUMN"
            ):
                self.drop_column(state, _ident(act.this))
            elif (
                isinstance(act, exp.Drop)
                and (act.args.get("kind") or "").upper() == "CONSTRAINT"
            ):
                self.drop_constraint(state, _ident(act.this))
            elif isinstance(act, exp.RenameColumn):
                self.rename_column(state, _ident(act.this), _ident(act.args.get("to")))
            elif isinstance(act, exp.AlterRename):
                self.model.rename_table(state.name, _ident(act.this))
            elif isinstance(act, exp.AlterColumn):
                self.alter_column(state, act)
            elif isinstance(
                act,
                exp.Constraint
                | exp.ForeignKey
                | exp.PrimaryKey
                | exp.UniqueColumnConstraint
                | exp.CheckColumnConstraint,
            ):
                self.add_table_constraint(state, act, None)

    def alter_column(self, state: _TableState, act: exp.AlterColumn) -> None:
        i = state.column_index(_ident(act.this))
        if i < 0:
            return
        col = state.columns[i]
        if act.args.get("dtype") is not None:
            col = replace(col, type=act.args["dtype"].sql(dialect=self.dialect).upper())
        if act.args.get("default") is not None:
            col = replace(col, default=act.args["default"].sql(dialect=self.dialect))
        if act.args.get("drop") and act.args.get("default") is None:
            col = replace(col, default=None)
        if act.args.get("allow_null") is not None:
            col = replace(col, nullable=bool(act.args["allow_null"]))
        state.columns[i] = col

    def drop_constraint(self, state: _TableState, name: str) -> None:
        """Forget the named foreign key, check or unique constraint of a table."""
        low = name.lower()
        state.foreign_keys = [
            fk for fk in state.foreign_keys if (fk.name or "").lower() != low
        ]
        state.checks = [c for c in state.checks if (c.name or "").lower() != low]
        for key, index in list(self.model.indexes.items()):
            if (
                index.table.lower() == state.name.lower()
                and index.name.lower() == low
                and index.constraint == "unique"
            ):
                del self.model.indexes[key]

    def drop_column(self, state: _TableState, name: str) -> None:
        i = state.column_index(name)
        if i < 0:
            return
        del state.columns[i]
        low = name.lower()
        state.foreign_keys = [
            fk
            for fk in state.foreign_keys
            if low not in (c.lower() for c in fk.columns)
        ]
        state.checks = [c for c in state.checks if (c.column or "").lower() != low]
        for key, index in list(self.model.indexes.items()):
            if index.table.lower() == state.name.lower() and low in index.column_names:
                del self.model.indexes[key]

    def rename_column(self, state: _TableState, old: str, new: str) -> None:
        i = state.column_index(old)
        if i < 0:
            return
        low = old.lower()

        def ren(cols: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(new if c.lower() == low else c for c in cols)

        state.columns[i] = replace(state.columns[i], name=new)
        state.primary_key = ren(state.primary_key)
        state.foreign_keys = [
            replace(fk, columns=ren(fk.columns)) for fk in state.foreign_keys
        ]
        state.checks = [
            replace(c, column=new) if (c.column or "").lower() == low else c
            for c in state.checks
        ]
        for key, index in list(self.model.indexes.items()):
            if index.table.lower() == state.name.lower():
                cols = tuple(
                    replace(c, name=new)
                    if not c.expression and c.name.lower() == low
                    else c
                    for c in index.columns
                )
                self.model.indexes[key] = replace(index, columns=cols)
        for other in self.model.tables.values():
            other.foreign_keys = [
                replace(fk, ref_columns=ren(fk.ref_columns))
                if fk.ref_table.lower() == state.name.lower()
                else fk
                for fk in other.foreign_keys
            ]

    def drop(self, text: str, kind: str) -> None:
        if kind == "TRIGGER":
            match = re.search(rf"TRIGGER\s+(?:IF\s+EXISTS\s+)?{_QNAME}", text, re.I)
            if match:
                self.model.triggers.pop(_unquote(match.group(1)).lower(), None)
            return
        node = self.parse(text)
        if not isinstance(node, exp.Drop):
            raise ParseError("unsupported DROP syntax")
        targets = [node.this, *(node.expressions or [])]
        for target in targets:
            name = _ident(target)
            if not name:
                continue
            if kind == "TABLE":
                self.model.drop_table(name)
            else:
                self.model.indexes.discard(name.lower())

    def create_function(self, text: str) -> None:
        match = _FUNCTION.match(text)
        if match:
            self.model.functions[_unquote(match.group(1)).lower()] = match.group(2)

    def create_trigger(self, text: str) -> None:
        match = _TRIGGER.match(text)
        if match is None:
            self.note(
                f"could not parse {_first_words(text)}: unrecognised trigger syntax"
            )
            return
        name = _unquote(match.group(1))
        timing = " ".join((match.group(2) or "").upper().split())
        event = " ".join(match.group(3).upper().split())
        event = " OR ".join(
            dict.fromkeys(re.findall(r"INSERT|UPDATE|DELETE|TRUNCATE", event))
        )
        table = _unquote(match.group(4))
        body = match.group(5).strip()
        called = _EXECUTE_FUNCTION.search(body)
        if called:
            function_body = self.model.functions.get(_unquote(called.group(1)).lower())
            if function_body:
                body = f"{body}\n{function_body}"
        self.model.triggers[name.lower()] = SchemaTrigger(
            name=name, table=table, timing=timing, event=event, body=body
        )


def _split_top_level(text: str) -> list[str]:
    """Split ALTER TABLE actions on commas outside parentheses and quotes."""
    return split_outside_quotes(text, ",", "'\"`", nested=True)
