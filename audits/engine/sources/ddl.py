"""Read a schema from DDL: .sql files, migrations, Markdown and Python strings.

Statements are applied in order to a mutable model, so the result is the
schema the code ends up with: ``CREATE TABLE IF NOT EXISTS`` keeps the first
definition, ``ALTER TABLE`` adds, renames and drops, and the SQLite rebuild
pattern (create ``x_new``, copy, drop ``x``, rename ``x_new`` to ``x``)
leaves one table ``x`` with the new definition. Nothing here raises for bad
content: a statement or file that cannot be read becomes a note
(``schema.sql:14: could not parse CREATE TABLE users: ...``) and the rest is
still read.

Every UNIQUE and PRIMARY KEY constraint also becomes an :class:`Index` with
``constraint`` set, because engines back them with indexes; their names
follow each engine's own naming (``sqlite_autoindex_t_1``, ``t_pkey``,
``PRIMARY``) so DDL and live schemas line up.
"""

from __future__ import annotations

import fnmatch
import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from audits.engine.schema import (
    Check,
    Column,
    ForeignKey,
    Index,
    IndexColumn,
    Schema,
    Table,
)
from audits.engine.schema import Trigger as SchemaTrigger
from audits.engine.sources import SourceError
from audits.engine.sources.ddl_split import (
    Snippet,
    looks_like_ddl,
    markdown_sql_blocks,
    python_sql_strings,
    split_statements,
)
from audits.engine.vocabulary import skipped_dir

MAX_FILE_BYTES = 8 * 1024 * 1024

_DIALECT_ALIASES = {
    "postgresql": "postgres",
    "pg": "postgres",
    "psql": "postgres",
    "mariadb": "mysql",
    "sqlite3": "sqlite",
}


def normalise_dialect(dialect: str) -> str:
    """Return sqlglot's name for ``dialect``; raise SourceError if unknown."""
    name = _DIALECT_ALIASES.get(dialect.strip().lower(), dialect.strip().lower())
    try:
        sqlglot.Dialect.get_or_raise(name)
    except ValueError as exc:
        raise SourceError(f"unknown SQL dialect {dialect!r}") from exc
    return name


_GUESSES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("sqlite", re.compile(r"\bAUTOINCREMENT\b|\bPRAGMA\b|\bWITHOUT\s+ROWID\b", re.I)),
    (
        "postgres",
        re.compile(
            r"\b(?:BIG|SMALL)?SERIAL\b|::\s*[a-z]|\bTIMESTAMPTZ\b|\bJSONB\b"
            r"|\bWITH(?:OUT)?\s+TIME\s+ZONE\b|\bGENERATED\s+(?:ALWAYS|BY\s+DEFAULT)"
            r"\s+AS\s+IDENTITY\b|\$\$|\bBYTEA\b|\bCREATE\s+EXTENSION\b",
            re.I,
        ),
    ),
    ("mysql", re.compile(r"`|\bENGINE\s*=|\bAUTO_INCREMENT\b|\bUNSIGNED\b", re.I)),
)


def guess_dialect(text: str) -> str:
    """Return the dialect ``text`` most likely uses; sqlite when unsure."""
    best, best_hits = "sqlite", 0
    for name, pattern in _GUESSES:
        hits = len(pattern.findall(text))
        if hits > best_hits:
            best, best_hits = name, hits
    return best


# --------------------------------------------------------------------------
# The mutable model statements are applied to


@dataclass
class _TableState:
    name: str
    columns: list[Column] = field(default_factory=list)
    primary_key: tuple[str, ...] = ()
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    without_rowid: bool = False
    file: str | None = None
    line: int | None = None
    constraint_count: int = 0

    def column_index(self, name: str) -> int:
        wanted = name.lower()
        for i, col in enumerate(self.columns):
            if col.name.lower() == wanted:
                return i
        return -1


class _IndexMap:
    """The model's indexes by key, with each table's keys kept apart.

    A constraint index is added only when its table has no equal one yet;
    asking every index in the schema made loading quadratic.
    """

    def __init__(self) -> None:
        self._all: dict[str, Index] = {}
        self._by_table: dict[str, dict[str, None]] = {}

    def __setitem__(self, key: str, index: Index) -> None:
        old = self._all.get(key)
        if old is not None:
            self._forget(key, old)
        self._all[key] = index
        self._by_table.setdefault(index.table.lower(), {})[key] = None

    def __delitem__(self, key: str) -> None:
        self._forget(key, self._all.pop(key))

    def __contains__(self, key: object) -> bool:
        return key in self._all

    def __len__(self) -> int:
        return len(self._all)

    def _forget(self, key: str, index: Index) -> None:
        keys = self._by_table.get(index.table.lower())
        if keys is not None:
            keys.pop(key, None)

    def discard(self, key: str) -> None:
        """Remove the index stored under ``key``, if any."""
        if key in self._all:
            del self[key]

    def items(self) -> list[tuple[str, Index]]:
        """Return (key, index) pairs in the order they were first added."""
        return list(self._all.items())

    def values(self) -> list[Index]:
        """Return the indexes in the order they were first added."""
        return list(self._all.values())

    def of_table(self, table: str) -> list[Index]:
        """Return the indexes on ``table`` (case-insensitive)."""
        return [self._all[k] for k in self._by_table.get(table.lower(), ())]


@dataclass
class _Model:
    dialect: str
    tables: dict[str, _TableState] = field(default_factory=dict)
    indexes: _IndexMap = field(default_factory=_IndexMap)  # lower name -> index
    triggers: dict[str, SchemaTrigger] = field(default_factory=dict)
    functions: dict[str, str] = field(default_factory=dict)  # lower name -> body
    notes: list[str] = field(default_factory=list)
    plain: bool = True  # read common CREATE TABLEs without sqlglot

    def table(self, name: str) -> _TableState | None:
        return self.tables.get(name.lower())

    def drop_table(self, name: str) -> None:
        key = name.lower()
        self.tables.pop(key, None)
        for index_name in [
            k for k, v in self.indexes.items() if v.table.lower() == key
        ]:
            del self.indexes[index_name]
        for trig in [k for k, v in self.triggers.items() if v.table.lower() == key]:
            del self.triggers[trig]

    def rename_table(self, old: str, new: str) -> None:
        state = self.tables.pop(old.lower(), None)
        if state is None:
            return
        self.drop_table(new)
        state.name = new
        self.tables[new.lower()] = state
        auto_prefix = f"sqlite_autoindex_{old.lower()}_"
        for key, index in list(self.indexes.items()):
            if index.table.lower() == old.lower():
                renamed = replace(index, table=new)
                # SQLite renames a table's automatic indexes with the table.
                if index.name.lower().startswith(auto_prefix):
                    suffix = index.name[len(auto_prefix) :]
                    renamed = replace(renamed, name=f"sqlite_autoindex_{new}_{suffix}")
                self.indexes[key] = renamed
        for key, trig in list(self.triggers.items()):
            if trig.table.lower() == old.lower():
                self.triggers[key] = replace(trig, table=new)
        # Since SQLite 3.26 (and always on PostgreSQL and MySQL) a rename
        # rewrites the references other tables hold to the renamed table.
        for other in self.tables.values():
            other.foreign_keys = [
                replace(fk, ref_table=new)
                if fk.ref_table.lower() == old.lower()
                else fk
                for fk in other.foreign_keys
            ]

    def freeze(self, source: str) -> Schema:
        by_table: dict[str, list[Index]] = {}
        for index in self.indexes.values():
            by_table.setdefault(index.table.lower(), []).append(index)
        trig_by_table: dict[str, list[SchemaTrigger]] = {}
        for trig in self.triggers.values():
            trig_by_table.setdefault(trig.table.lower(), []).append(trig)
        tables = []
        for key, state in self.tables.items():
            tables.append(
                Table(
                    name=state.name,
                    columns=tuple(state.columns),
                    primary_key=state.primary_key,
                    foreign_keys=tuple(state.foreign_keys),
                    indexes=tuple(by_table.get(key, ())),
                    checks=tuple(state.checks),
                    triggers=tuple(trig_by_table.get(key, ())),
                    without_rowid=state.without_rowid,
                    file=state.file,
                    line=state.line,
                )
            )
        return Schema(tables=tuple(tables), dialect=self.dialect, source=source)


# --------------------------------------------------------------------------
# Statement classification and helpers


_HEAD = re.compile(
    r"^\s*(?P<verb>CREATE|ALTER|DROP)\s+"
    r"(?:OR\s+REPLACE\s+)?(?:DEFINER\s*=\s*\S+\s+)?"
    r"(?P<mods>(?:(?:UNIQUE|TEMP|TEMPORARY|GLOBAL|LOCAL|UNLOGGED|VIRTUAL|FULLTEXT"
    r"|SPATIAL|CONSTRAINT)\s+)*)"
    r"(?P<kind>TABLE|INDEX|TRIGGER|TYPE|FUNCTION|PROCEDURE|VIEW|MATERIALIZED\s+VIEW"
    r"|SEQUENCE|EXTENSION|SCHEMA|DATABASE|DOMAIN)\b",
    re.IGNORECASE,
)
_WITHOUT_ROWID = re.compile(r"\)\s*((?:WITHOUT\s+ROWID|STRICT)\s*,?\s*)+$", re.I)
_NAME = r"(?:`[^`]+`|\"[^\"]+\"|\[[^\]]+\]|[\w$]+)"
_QNAME = rf"(?:{_NAME}\s*\.\s*)?({_NAME})"
_RENAME_TABLE = re.compile(
    rf"^\s*ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?{_QNAME}\s+RENAME\s+TO\s+{_QNAME}\s*$",
    re.I,
)
_RENAME_COLUMN = re.compile(
    rf"^\s*ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?{_QNAME}\s+RENAME\s+"
    rf"(?:COLUMN\s+)?({_NAME})\s+TO\s+({_NAME})\s*$",
    re.I,
)
_ALTER_HEAD = re.compile(
    rf"^\s*ALTER\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?{_QNAME}\s+", re.I
)
_ADD_INDEX = re.compile(
    rf"^\s*ADD\s+(UNIQUE\s+)?(?:INDEX|KEY)\s+(?:IF\s+NOT\s+EXISTS\s+)?({_NAME})?\s*"
    r"(?:USING\s+\w+\s*)?\((.*)\)\s*$",
    re.I | re.S,
)
_TRIGGER = re.compile(
    rf"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?(?:DEFINER\s*=\s*\S+\s+)?"
    rf"(?:TEMP\s+|TEMPORARY\s+)?(?:CONSTRAINT\s+)?TRIGGER\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    rf"{_QNAME}\s+(BEFORE|AFTER|INSTEAD\s+OF)?\s*"
    r"((?:INSERT|UPDATE|DELETE|TRUNCATE)(?:\s+OF\s+[\w\s,\"`]+?)?"
    r"(?:\s+OR\s+(?:INSERT|UPDATE|DELETE|TRUNCATE)(?:\s+OF\s+[\w\s,\"`]+?)?)*)"
    rf"\s+ON\s+{_QNAME}(.*)$",
    re.I | re.S,
)
_FUNCTION = re.compile(
    rf"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?FUNCTION\s+{_QNAME}\s*\((.*)$", re.I | re.S
)
_EXECUTE_FUNCTION = re.compile(rf"EXECUTE\s+(?:FUNCTION|PROCEDURE)\s+{_QNAME}", re.I)
_CONSTRAINT_WORDS = frozenset(
    {
        "PRIMARY",
        "NOT",
        "NULL",
        "UNIQUE",
        "DEFAULT",
        "CHECK",
        "REFERENCES",
        "COLLATE",
        "CONSTRAINT",
        "GENERATED",
        "AS",
    }
)
_NEXT_STATEMENT = re.compile(
    r"\n[ \t]*(?=(?:CREATE|ALTER|DROP)\s+(?:UNIQUE\s+|TEMP\s+|TEMPORARY\s+)*"
    r"(?:TABLE|INDEX|TRIGGER)\b)",
    re.I,
)
_ACTION = re.compile(
    r"\bON\s+(DELETE|UPDATE)\s+(CASCADE|SET\s+NULL|SET\s+DEFAULT|RESTRICT|NO\s+ACTION)",
    re.I,
)


def _unquote(name: str) -> str:
    name = name.strip()
    if len(name) >= 2 and name[0] in '`"[' and name[-1] in '`"]':
        return name[1:-1]
    return name


def _first_words(text: str, limit: int = 60) -> str:
    words = " ".join(text.split())
    return words if len(words) <= limit else words[: limit - 3] + "..."


def _error_reason(exc: Exception) -> str:
    if isinstance(exc, ParseError) and exc.errors:
        first = exc.errors[0]
        desc = str(first.get("description") or "syntax error")
        return desc
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


@contextmanager
def _quiet_sqlglot() -> Iterator[None]:
    # sqlglot logs a warning for every statement it falls back to a Command
    # for; those are reported as notes here, so the log noise is muted.
    logger = logging.getLogger("sqlglot")
    old = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(old)


def _ident(node: exp.Expression | None) -> str:
    if node is None:
        return ""
    if isinstance(node, exp.Ordered):
        node = node.this
    if isinstance(node, exp.Column | exp.Identifier | exp.Table):
        return node.name
    return node.sql()


def _col_names(nodes: Iterable[exp.Expression]) -> tuple[str, ...]:
    return tuple(_ident(n) for n in nodes)


def _actions(text: str) -> tuple[str | None, str | None]:
    on_delete = on_update = None
    for kind, action in _ACTION.findall(text):
        norm = " ".join(action.upper().split())
        if kind.upper() == "DELETE":
            on_delete = norm
        else:
            on_update = norm
    return on_delete, on_update


def _unwrap(node: exp.Expression) -> exp.Expression:
    while isinstance(node, exp.Paren | exp.Cast):
        node = node.this
    return node


def _literal_value(node: exp.Expression) -> str | None:
    node = _unwrap(node)
    if isinstance(node, exp.Literal):
        return str(node.this)
    if isinstance(node, exp.Boolean):
        return "1" if node.this else "0"
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal):
        return f"-{node.this.this}"
    return None


def _in_values(node: exp.Expression) -> tuple[str, tuple[str, ...]] | None:
    """Return (column, values) when ``node`` restricts one column to a list."""
    node = _unwrap(node)
    if isinstance(node, exp.In) and isinstance(_unwrap(node.this), exp.Column):
        values = [_literal_value(v) for v in node.expressions]
        if values and all(v is not None for v in values):
            return _unwrap(node.this).name, tuple(v for v in values if v is not None)
        return None
    if isinstance(node, exp.EQ):
        left, right = _unwrap(node.this), _unwrap(node.expression)
        if isinstance(left, exp.Column):
            if isinstance(right, exp.Any):
                array = _unwrap(right.this)
                if isinstance(array, exp.Array):
                    values = [_literal_value(v) for v in array.expressions]
                    if values and all(v is not None for v in values):
                        return left.name, tuple(v for v in values if v is not None)
                return None
            value = _literal_value(right)
            if value is not None:
                return left.name, (value,)
        return None
    if isinstance(node, exp.Or):
        left_part = _in_values(node.this)
        right_part = _in_values(node.expression)
        if left_part and right_part and left_part[0].lower() == right_part[0].lower():
            return left_part[0], left_part[1] + right_part[1]
    return None


def parse_check(
    expression: exp.Expression,
    *,
    dialect: str,
    name: str | None = None,
    column: str | None = None,
) -> Check:
    """Return a :class:`Check` for a CHECK expression, with its value set."""
    text = expression.sql(dialect=dialect)
    found = _in_values(expression)
    values: tuple[str, ...] | None = None
    if found:
        column = found[0]
        values = found[1]
    else:
        cols = {c.name.lower(): c.name for c in expression.find_all(exp.Column)}
        if len(cols) == 1:
            column = next(iter(cols.values()))
    return Check(expression=text, name=name, column=column, values=values)


def plain_check(
    check: PlainCheck, *, name: str | None = None, column: str | None = None
) -> Check:
    """Return the :class:`Check` parse_check gives for the same expression."""
    values: tuple[str, ...] | None = None
    if check.subject is not None:
        column, values = check.subject, check.values
    elif len(check.columns) == 1:
        column = check.columns[0]
    return Check(expression=check.expression, name=name, column=column, values=values)


# --------------------------------------------------------------------------
# The loader


@dataclass
class _Loader:
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

    # ---- statements

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
            self.recover(text, line, f"could not parse {{}}: {_error_reason(exc)}")
        except Exception as exc:  # noqa: BLE001 - bad content never sinks a scan
            reason = f"{type(exc).__name__}: {_error_reason(exc)}"
            self.recover(text, line, f"could not read {{}}: {reason}")

    def recover(self, text: str, line: int, message: str) -> None:
        """Note a failed statement and apply any statement glued onto it.

        A truncated statement has no terminator, so the splitter glues the
        next statement onto it; a DDL keyword at the start of a later line
        marks where that next statement begins.
        """
        glued = _NEXT_STATEMENT.search(text, 1)
        head = text[: glued.start()] if glued else text
        self.text, self.line = head, line
        self.note(message.format(_first_words(head)))
        if glued:
            rest_line = line + text.count("\n", 0, glued.start()) + 1
            self.apply(text[glued.start() :].strip(), rest_line)

    def parse(self, text: str) -> exp.Expression:
        with _quiet_sqlglot():
            parsed = sqlglot.parse(text, read=self.dialect)
        statements = [p for p in parsed if p is not None]
        if not statements:
            raise ParseError("empty statement")
        return statements[0]

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
        state.columns.append(
            Column(
                name=name,
                type=type_text,
                nullable=nullable,
                default=default,
                collation=collation,
                primary_key=primary,
                autoincrement=autoinc,
                comment=self.comments.get(name.lower()),
                line=col_line,
            )
        )
        if primary:
            state.primary_key = (name,)
            self.add_constraint_index(state, (name,), "primary key", None, col_line)

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
        comment = self.comments.get(name.lower())
        state.columns.append(
            Column(
                name=name,
                type=type_text,
                nullable=nullable,
                default=default,
                collation=collation,
                primary_key=primary,
                autoincrement=autoinc,
                comment=comment,
                line=col_line,
            )
        )
        if primary:
            state.primary_key = (name,)
            self.add_constraint_index(state, (name,), "primary key", None, col_line)

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
            self.model.indexes[iname.lower()] = Index(
                name=iname,
                table=state.name,
                columns=self.index_columns(cols_nodes),
                unique=False,
                line=self.line,
            )
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
            self.model.indexes[iname.lower()] = Index(
                name=iname,
                table=state.name,
                columns=self.index_columns(cols),
                unique=unique,
                line=self.line,
            )
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


_PLAIN_NAME = r"(?:[A-Za-z_][\w$]*|\"[^\"]+\"|`[^`]+`)"
_PLAIN_INDEX = re.compile(
    rf"^\s*CREATE\s+(?P<unique>UNIQUE\s+)?INDEX\s+(?P<exists>IF\s+NOT\s+EXISTS\s+)?"
    rf"(?P<name>{_PLAIN_NAME})\s+ON\s+(?P<table>{_PLAIN_NAME})\s*"
    rf"\((?P<cols>\s*{_PLAIN_NAME}(?:\s+(?:ASC|DESC))?"
    rf"(?:\s*,\s*{_PLAIN_NAME}(?:\s+(?:ASC|DESC))?)*)\s*\)\s*;?\s*$",
    re.IGNORECASE,
)
_PLAIN_COLUMN = re.compile(rf"\s*({_PLAIN_NAME})(?:\s+(ASC|DESC))?\s*$", re.I)
_KEYWORDS: dict[str, frozenset[str]] = {}


def _dialect_keywords(dialect: str) -> frozenset[str]:
    """Return every word the dialect's tokenizer treats as a keyword."""
    words = _KEYWORDS.get(dialect)
    if words is None:
        tokenizer = sqlglot.Dialect.get_or_raise(dialect).tokenizer_class
        words = frozenset(w for key in tokenizer.KEYWORDS for w in key.split())
        _KEYWORDS[dialect] = words
    return words


def plain_index(
    text: str, dialect: str
) -> tuple[str, str, tuple[IndexColumn, ...], bool, bool] | None:
    """Read a CREATE INDEX over plain columns without sqlglot, or return None.

    Return (name, table, columns, unique, if-not-exists). Anything else
    (expressions, a WHERE, USING, schema-qualified or keyword names, quotes
    the dialect reads differently) returns None, so sqlglot reads it and
    the result is the same either way; parsing costs milliseconds a
    statement, and a migration folder holds thousands of these.
    """
    match = _PLAIN_INDEX.match(text)
    if match is None:
        return None
    keywords = _dialect_keywords(dialect)
    quote_char = "`" if dialect == "mysql" else '"'

    def name_of(token: str) -> str | None:
        if token[0] in '`"':
            return token[1:-1] if token[0] == quote_char else None
        return None if token.upper() in keywords else token

    name = name_of(match.group("name"))
    table = name_of(match.group("table"))
    if not name or not table:
        return None
    columns: list[IndexColumn] = []
    for part in match.group("cols").split(","):
        column = _PLAIN_COLUMN.match(part)
        if column is None:
            return None  # a quoted name holding a comma
        col = name_of(column.group(1))
        if not col:
            return None
        columns.append(
            IndexColumn(col, descending=(column.group(2) or "").upper() == "DESC")
        )
    return (
        name,
        table,
        tuple(columns),
        bool(match.group("unique")),
        bool(match.group("exists")),
    )


# --------------------------------------------------------------------------
# The plain CREATE TABLE reader


_PLAIN_TOKEN = re.compile(
    r"(?P<space>\s+)|(?P<comment>--[^\n]*|/\*.*?\*/)"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<number>\d+(?:\.\d+)?)(?![\w.])"
    r"|(?P<string>'[^'\\\n]*')(?!')"
    r"|(?P<quoted>\"[^\"\n]+\"|`[^`\n]+`|\[[^\]\n]+\])"
    r"|(?P<op><=|>=|<>|!=|[=<>(),;-])",
    re.S,
)
# Type words the reader accepts; sqlglot still spells the type (once per
# distinct type), so only the words that may make up a type are listed.
_PLAIN_TYPE_WORDS = frozenset(
    {
        "INTEGER",
        "INT",
        "BIGINT",
        "SMALLINT",
        "TINYINT",
        "MEDIUMINT",
        "TEXT",
        "VARCHAR",
        "CHAR",
        "CHARACTER",
        "VARYING",
        "NVARCHAR",
        "NCHAR",
        "REAL",
        "FLOAT",
        "DOUBLE",
        "PRECISION",
        "NUMERIC",
        "DECIMAL",
        "BOOLEAN",
        "BOOL",
        "DATE",
        "DATETIME",
        "TIMESTAMP",
        "TIMESTAMPTZ",
        "TIME",
        "WITH",
        "WITHOUT",
        "ZONE",
        "BLOB",
        "BYTEA",
        "JSON",
        "JSONB",
        "UUID",
        "SERIAL",
        "BIGSERIAL",
        "SMALLSERIAL",
        "UNSIGNED",
        "CLOB",
        "LONGTEXT",
        "MEDIUMTEXT",
        "TINYTEXT",
    }
)
_PLAIN_ACTIONS = {
    ("CASCADE",): "CASCADE",
    ("RESTRICT",): "RESTRICT",
    ("SET", "NULL"): "SET NULL",
    ("SET", "DEFAULT"): "SET DEFAULT",
    ("NO", "ACTION"): "NO ACTION",
}
_PLAIN_COMPARISONS = {"=": "=", "<>": "<>", "!=": "<>", "<": "<", "<=": "<="}
_PLAIN_COMPARISONS.update({">": ">", ">=": ">="})
_PLAIN_CONSTRAINT_STARTS = frozenset(
    {
        "NOT",
        "NULL",
        "PRIMARY",
        "AUTOINCREMENT",
        "AUTO_INCREMENT",
        "UNIQUE",
        "DEFAULT",
        "COLLATE",
        "REFERENCES",
        "CHECK",
    }
)
# Keywords that still name columns at the start of a column definition.
_PLAIN_KEYWORD_COLUMNS = frozenset(
    {"TIMESTAMP", "DATE", "TIME", "TEXT", "NAME", "YEAR", "VERSION", "NUMBER"}
)
_PLAIN_DEFAULT_WORDS = frozenset(
    {"CURRENT_TIMESTAMP", "CURRENT_DATE", "CURRENT_TIME", "TRUE", "FALSE"}
)


@dataclass(frozen=True)
class PlainCheck:
    """A CHECK expression the plain reader understood."""

    expression: str  # as sqlglot writes it
    columns: tuple[str, ...]  # distinct columns named, as sqlglot's tree has them
    subject: str | None = None  # the column of a top-level IN or `col = literal`
    values: tuple[str, ...] | None = None  # that IN list's or literal's values
    is_in: bool = False


@dataclass(frozen=True)
class PlainReference:
    """A REFERENCES clause the plain reader understood."""

    table: str
    columns: tuple[str, ...]
    on_delete: str | None = None
    on_update: str | None = None


@dataclass(frozen=True)
class PlainConstraint:
    """One column or table constraint, in declaration order.

    ``kind`` is one of "not null", "null", "primary key", "autoincrement",
    "unique", "default", "collate", "references", "check" (column level)
    and "primary key", "unique", "foreign key", "check" (table level).
    """

    kind: str
    name: str | None = None
    columns: tuple[str, ...] = ()
    text: str | None = None  # a default's SQL text or a collation's name
    reference: PlainReference | None = None
    check: PlainCheck | None = None


@dataclass(frozen=True)
class PlainColumn:
    """A column definition the plain reader understood."""

    name: str
    type: str  # as sqlglot writes it for the DDL loader, "" when absent
    constraints: tuple[PlainConstraint, ...] = ()


@dataclass(frozen=True)
class PlainTable:
    """A CREATE TABLE the plain reader understood, items in order."""

    name: str
    if_not_exists: bool
    items: tuple[PlainColumn | PlainConstraint, ...]


class _Unsure(Exception):
    """The statement is outside what the plain reader is sure of."""


@lru_cache(maxsize=4096)
def _sqlglot_type(raw: str, dialect: str) -> str | None:
    """Return a column type as the DDL loader writes it, or None if unsure."""
    node = _sqlglot_column(f"c {raw}", dialect)
    if node is None or node.args.get("constraints"):
        return None
    kind = node.args.get("kind")
    if not isinstance(kind, exp.DataType) or kind.this in (
        exp.DataType.Type.ENUM,
        exp.DataType.Type.SET,
    ):
        return None
    # As in _Loader.add_column: SQLite keeps types as declared.
    return kind.sql(dialect=None if dialect == "sqlite" else dialect).upper()


@lru_cache(maxsize=4096)
def _sqlglot_default(text: str, dialect: str) -> str | None:
    """Return a default (CURRENT_TIMESTAMP, a parenthesised one) as sqlglot does."""
    node = _sqlglot_column(f"c INT DEFAULT {text}", dialect)
    constraints = node.args.get("constraints") if node is not None else None
    if not constraints or len(constraints) != 1:
        return None
    kind = constraints[0].args.get("kind")
    if not isinstance(kind, exp.DefaultColumnConstraint):
        return None
    spelt: str = kind.this.sql(dialect=dialect)
    return spelt


def _sqlglot_column(column: str, dialect: str) -> exp.ColumnDef | None:
    try:
        with _quiet_sqlglot():
            node = sqlglot.parse_one(f"CREATE TABLE t ({column})", read=dialect)
    except (ParseError, TokenError):
        return None
    schema = node.this if isinstance(node, exp.Create) else None
    if not isinstance(schema, exp.Schema) or len(schema.expressions) != 1:
        return None
    found = schema.expressions[0]
    return found if isinstance(found, exp.ColumnDef) else None


class _PlainReader:
    """A strict recursive-descent reader over one CREATE TABLE's tokens."""

    def __init__(self, text: str, dialect: str) -> None:
        self.dialect = dialect
        self.keywords = _dialect_keywords(dialect)
        self.quote = "`" if dialect == "mysql" else '"'
        self.text = text
        # (kind, text, text upper-cased for words, follows a comment, start)
        self.tokens: list[tuple[str, str, str, bool, int]] = []
        pos, comment = 0, False
        for match in _PLAIN_TOKEN.finditer(text):
            if match.start() != pos:
                raise _Unsure  # a character no token starts with
            pos = match.end()
            kind = match.lastgroup or ""
            if kind == "space":
                continue
            if kind == "comment":
                comment = True
                continue
            value = match.group(kind)
            key = value.upper() if kind == "word" else value
            self.tokens.append((kind, value, key, comment, match.start()))
            comment = False
        if pos != len(text) or comment:
            raise _Unsure
        self.pos = 0
        self.comment_ok = -1  # the token a comment may precede

    # ---- token helpers

    def peek(self, ahead: int = 0) -> tuple[str, str]:
        i = self.pos + ahead
        if i >= len(self.tokens):
            return ("end", "")
        kind, _, key, comment, _ = self.tokens[i]
        # sqlglot attaches comments to nearby nodes and writes them into
        # the SQL text it generates; only a comment before a column or
        # table constraint is known to land nowhere the loader reads.
        if comment and i != self.comment_ok:
            raise _Unsure
        return kind, key

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token[0] == "end":
            raise _Unsure
        value = self.tokens[self.pos][1]
        self.pos += 1
        return token[0], value

    def word(self, *words: str) -> bool:
        """Consume the given words in sequence if they come next."""
        for i, wanted in enumerate(words):
            if self.peek(i) != ("word", wanted):
                return False
        self.pos += len(words)
        return True

    def expect(self, *words: str) -> None:
        if not self.word(*words):
            raise _Unsure

    def punct(self, char: str) -> bool:
        if self.peek() == ("op", char):
            self.pos += 1
            return True
        return False

    def expect_punct(self, char: str) -> None:
        if not self.punct(char):
            raise _Unsure

    def name(self) -> str:
        kind, value = self.take()
        if kind == "word" and value.upper() not in self.keywords:
            return value
        if kind == "quoted" and value[0] == self.quote:
            return value[1:-1]
        raise _Unsure

    def names(self) -> tuple[str, ...]:
        self.expect_punct("(")
        found = [self.name()]
        while self.punct(","):
            found.append(self.name())
        self.expect_punct(")")
        return tuple(found)

    # ---- grammar

    def table(self) -> PlainTable:
        self.expect("CREATE", "TABLE")
        exists = self.word("IF", "NOT", "EXISTS")
        name = self.name()
        self.expect_punct("(")
        items: list[PlainColumn | PlainConstraint] = [self.item()]
        while self.punct(","):
            items.append(self.item())
        self.expect_punct(")")
        self.punct(";")
        if self.peek()[0] != "end":
            raise _Unsure
        return PlainTable(name=name, if_not_exists=exists, items=tuple(items))

    def item(self) -> PlainColumn | PlainConstraint:
        self.comment_ok = self.pos
        kind, value = self.peek()
        if kind == "word" and value in (
            "CONSTRAINT",
            "PRIMARY",
            "UNIQUE",
            "FOREIGN",
            "CHECK",
        ):
            name = self.name() if self.word("CONSTRAINT") else None
            return self.table_constraint(name)
        return self.column()

    def table_constraint(self, name: str | None) -> PlainConstraint:
        if self.word("PRIMARY", "KEY"):
            return PlainConstraint("primary key", name, columns=self.names())
        if self.word("UNIQUE"):
            return PlainConstraint("unique", name, columns=self.names())
        if self.word("FOREIGN", "KEY"):
            columns = self.names()
            self.expect("REFERENCES")
            return PlainConstraint(
                "foreign key", name, columns=columns, reference=self.reference()
            )
        if self.word("CHECK"):
            return PlainConstraint("check", name, check=self.check())
        raise _Unsure

    def column(self) -> PlainColumn:
        kind, value = self.peek()
        if kind == "word" and value in _PLAIN_KEYWORD_COLUMNS:
            # sqlglot reads any word as a column definition's name.
            name = self.take()[1]
        else:
            name = self.name()
        type_words: list[str] = []
        while True:
            kind, value = self.peek()
            if kind != "word" or value not in _PLAIN_TYPE_WORDS:
                break
            type_words.append(value)
            self.pos += 1
        raw = " ".join(type_words)
        if type_words and self.punct("("):
            sizes = [self.number()]
            if self.punct(","):
                sizes.append(self.number())
            self.expect_punct(")")
            raw += f"({', '.join(sizes)})"
        type_text = ""
        if raw:
            found = _sqlglot_type(raw, self.dialect)
            if found is None:
                raise _Unsure
            type_text = found
        constraints: list[PlainConstraint] = []
        while self.peek() not in (("op", ","), ("op", ")")):
            constraints.append(self.column_constraint())
        if not raw and not constraints:
            raise _Unsure  # sqlglot reads a bare name as no column at all
        return PlainColumn(name=name, type=type_text, constraints=tuple(constraints))

    def number(self) -> str:
        kind, value = self.take()
        if kind != "number":
            raise _Unsure
        return value

    def column_constraint(self) -> PlainConstraint:
        name = self.name() if self.word("CONSTRAINT") else None
        kind, value = self.peek()
        if kind != "word" or value not in _PLAIN_CONSTRAINT_STARTS:
            raise _Unsure
        if self.word("NOT", "NULL"):
            return PlainConstraint("not null", name)
        if self.word("NULL"):
            return PlainConstraint("null", name)
        if self.word("PRIMARY", "KEY"):
            return PlainConstraint("primary key", name)
        if self.word("AUTOINCREMENT") or self.word("AUTO_INCREMENT"):
            return PlainConstraint("autoincrement", name)
        if self.word("UNIQUE"):
            # MySQL reads a word after a column's UNIQUE as the key's name.
            if self.dialect == "mysql" and self.peek() not in (
                ("op", ","),
                ("op", ")"),
            ):
                raise _Unsure
            return PlainConstraint("unique", name)
        if self.word("DEFAULT"):
            return PlainConstraint("default", name, text=self.default())
        if self.word("COLLATE"):
            return PlainConstraint("collate", name, text=self.name())
        if self.word("REFERENCES"):
            return PlainConstraint("references", name, reference=self.reference())
        if self.word("CHECK"):
            return PlainConstraint("check", name, check=self.check())
        raise _Unsure

    def default(self) -> str:
        kind, value = self.peek()
        if (kind, value) == ("op", "("):
            # A parenthesised default is whole in itself: sqlglot spells it
            # once per distinct text, as it would inside the statement.
            found = _sqlglot_default(self.balanced(), self.dialect)
            if found is None:
                raise _Unsure
            return found
        if kind == "word" and value == "NULL":
            self.pos += 1
            return "NULL"
        if kind == "word" and value in _PLAIN_DEFAULT_WORDS:
            self.pos += 1
            found = _sqlglot_default(value, self.dialect)
            if found is None:
                raise _Unsure
            return found
        return self.literal()[0]

    def balanced(self) -> str:
        """Consume a parenthesised group and return its text as written."""
        start, depth = self.tokens[self.pos][4], 0
        while True:
            kind, value = self.take()
            if kind == "op" and value == "(":
                depth += 1
            elif kind == "op" and value == ")":
                depth -= 1
            elif kind == "op" and value == ";":
                raise _Unsure
            if depth == 0:
                return self.text[start : self.tokens[self.pos - 1][4] + len(value)]

    def literal(self) -> tuple[str, str]:
        """Return a literal's SQL text as sqlglot writes it, and its value."""
        kind, value = self.take()
        if kind == "string":
            return value, value[1:-1]
        if kind == "number":
            return value, value
        if kind == "op" and value == "-":
            number = self.number()
            return f"-{number}", f"-{number}"
        raise _Unsure

    def reference(self) -> PlainReference:
        table = self.name()
        columns = self.names() if self.peek() == ("op", "(") else ()
        actions: dict[str, str] = {}
        while self.word("ON"):
            event = self.take()[1].upper()
            if event not in ("DELETE", "UPDATE") or event in actions:
                raise _Unsure
            for words, action in _PLAIN_ACTIONS.items():
                if self.word(*words):
                    actions[event] = action
                    break
            else:
                raise _Unsure
        return PlainReference(
            table, columns, actions.get("DELETE"), actions.get("UPDATE")
        )

    def check(self) -> PlainCheck:
        self.expect_punct("(")
        columns: dict[str, str] = {}
        parts = [self.comparison(columns)]
        while self.word("AND"):
            parts.append(self.comparison(columns))
        self.expect_punct(")")
        text = " AND ".join(p[0] for p in parts)
        subject, values, is_in = (None, None, False) if len(parts) > 1 else parts[0][1:]
        return PlainCheck(text, tuple(columns.values()), subject, values, is_in)

    def comparison(
        self, columns: dict[str, str]
    ) -> tuple[str, str | None, tuple[str, ...] | None, bool]:
        """Read ``a op b`` or ``col IN (literals)``.

        Return its SQL text, and the column and values when it restricts
        one column to literals.
        """
        left, left_col, _ = self.operand(columns)
        if left_col is not None and self.word("IN"):
            self.expect_punct("(")
            found = [self.literal()]
            while self.punct(","):
                found.append(self.literal())
            self.expect_punct(")")
            listed = ", ".join(t for t, _ in found)
            values = tuple(v for _, v in found)
            return f"{left} IN ({listed})", left_col, values, True
        if self.word("BETWEEN"):
            low = self.operand(columns)[0]
            self.expect("AND")
            high = self.operand(columns)[0]
            return f"{left} BETWEEN {low} AND {high}", None, None, False
        kind, op = self.take()
        if kind != "op" or op not in _PLAIN_COMPARISONS:
            raise _Unsure
        op = _PLAIN_COMPARISONS[op]
        right, _, right_value = self.operand(columns)
        text = f"{left} {op} {right}"
        if op == "=" and left_col is not None and right_value is not None:
            return text, left_col, (right_value,), False
        return text, None, None, False

    def operand(self, columns: dict[str, str]) -> tuple[str, str | None, str | None]:
        """Return an operand's SQL text, its column name, its literal value."""
        kind, value = self.peek()
        if kind in ("word", "quoted"):
            name = self.name()
            columns[name.lower()] = name
            text = f"{self.quote}{name}{self.quote}" if kind == "quoted" else name
            return text, name, None
        text, literal = self.literal()
        return text, None, literal


def plain_table(text: str, dialect: str) -> PlainTable | None:
    """Read a CREATE TABLE of the common shapes without sqlglot, or return None.

    Columns with types, NOT NULL, literal and parenthesised defaults,
    PRIMARY KEY, UNIQUE, REFERENCES with ON DELETE/UPDATE, simple CHECKs
    (comparisons and BETWEEN joined by AND, ``col IN (literals)``) and
    table-level PRIMARY KEY, UNIQUE, FOREIGN KEY and CHECK constraints are
    read; anything else (other CHECK expressions, options after the body,
    qualified or keyword names, quote styles the dialect reads differently,
    comments sqlglot would keep) returns None so sqlglot reads the
    statement and the result is the same either way. Types and
    non-literal defaults are still spelt by sqlglot, once per distinct
    text. ``text`` is the statement without SQLite's table options.
    """
    try:
        return _PlainReader(text, dialect).table()
    except _Unsure:
        return None


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


def _split_top_level(text: str) -> list[str]:
    """Split ALTER TABLE actions on commas outside parentheses and quotes."""
    parts: list[str] = []
    depth = 0
    quote = ""
    current: list[str] = []
    for ch in text:
        if quote:
            current.append(ch)
            if ch == quote:
                quote = ""
            continue
        if ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    tail = "".join(current).strip()
    if tail:
        parts.append(tail)
    return [p for p in parts if p]


# --------------------------------------------------------------------------
# Public API


def _apply_snippets(model: _Model, file: str, snippets: Iterable[Snippet]) -> None:
    loader = _Loader(model, file=file)
    for snippet in snippets:
        for statement in split_statements(snippet.text):
            loader.apply(statement.text, snippet.line + statement.line - 1)


def load_text(
    text: str, *, dialect: str | None = None, file: str = "", plain: bool = True
) -> tuple[Schema, list[str]]:
    """Return the schema that applying the DDL ``text`` in order produces.

    ``dialect`` is any dialect sqlglot reads; guessed from the text when
    None. Problems with statements come back as notes, never as exceptions.
    ``plain=False`` reads every CREATE TABLE with sqlglot, for comparing
    the plain reader with it.
    """
    name = normalise_dialect(dialect) if dialect else guess_dialect(text)
    model = _Model(dialect=name, plain=plain)
    _apply_snippets(model, file, [Snippet(text, 1)])
    return model.freeze(file or "text"), model.notes


_NUMBER = re.compile(r"(\d+)")


def natural_key(path: Path) -> tuple[tuple[int, str, int], ...]:
    """Return a sort key that puts ``0002_x.sql`` after ``0001_y.sql``, V10 after V9."""
    key: list[tuple[int, str, int]] = []
    for part in path.parts:
        for chunk in _NUMBER.split(part.lower()):
            if chunk.isdigit():
                key.append((1, "", int(chunk)))
            elif chunk:
                key.append((0, chunk, 0))
        key.append((-1, "", 0))
    return tuple(key)


def _wanted(rel: Path, exclude: tuple[str, ...], include_python: bool) -> bool:
    if any(skipped_dir(part) for part in rel.parts[:-1]):
        return False
    text = rel.as_posix()
    for pattern in exclude:
        if fnmatch.fnmatch(text, pattern) or fnmatch.fnmatch(rel.name, pattern):
            return False
        if any(fnmatch.fnmatch(p, pattern) for p in rel.parts[:-1]):
            return False
    suffix = rel.suffix.lower()
    return suffix in (".sql", ".ddl", ".md", ".markdown") or (
        include_python and suffix == ".py"
    )


def _files(path: Path, exclude: tuple[str, ...], include_python: bool) -> list[Path]:
    if path.is_file():
        return [path]
    found = []
    for candidate in path.rglob("*"):
        rel = candidate.relative_to(path)
        if candidate.is_file() and _wanted(rel, exclude, include_python):
            found.append(candidate)
    # Schema files before Python: an application applies its schema file,
    # then the ALTERs its start-up code runs on top of it.
    return sorted(
        found,
        key=lambda p: (p.suffix == ".py", natural_key(p.relative_to(path))),
    )


def _read_text(path: Path, label: str, notes: list[str]) -> str | None:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            notes.append(f"{label}: skipped, {size} bytes is larger than the limit")
            return None
        data = path.read_bytes()
    except OSError as exc:
        notes.append(f"{label}: could not read the file: {exc.strerror or exc}")
        return None
    if b"\x00" in data[:8192]:
        notes.append(f"{label}: skipped, the file is binary, not SQL text")
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        notes.append(
            f"{label}: not valid UTF-8 (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start}); read as Latin-1"
        )
        return data.decode("latin-1")


def _snippets(path: Path, text: str, label: str, notes: list[str]) -> list[Snippet]:
    suffix = path.suffix.lower()
    if suffix in (".md", ".markdown"):
        return markdown_sql_blocks(text)
    if suffix == ".py":
        if not looks_like_ddl(text):
            return []
        try:
            return python_sql_strings(text)
        except (SyntaxError, ValueError) as exc:
            line = getattr(exc, "lineno", None)
            where = f"{label}:{line}" if line else label
            notes.append(f"{where}: could not parse the Python file: {exc}")
            return []
    return [Snippet(text, 1)]


def load_path(
    path: Path | str,
    *,
    dialect: str | None = None,
    include_python: bool = False,
    exclude: Iterable[str] = (),
) -> tuple[Schema, list[str]]:
    """Return the schema the DDL under ``path`` produces, and notes.

    ``path`` is a file or a folder (walked in natural order, so migrations
    apply in sequence). Markdown contributes its SQL code blocks; Python
    files (when ``include_python``) their DDL string literals, in source
    order, after the schema files. Unreadable files and statements become
    notes.
    """
    root = Path(path)
    if not root.exists():
        raise SourceError(f"{root}: no such file or folder")
    exclude_t = tuple(exclude)
    notes: list[str] = []
    sources: list[tuple[str, list[Snippet]]] = []
    base = root if root.is_dir() else root.parent
    for file in _files(root, exclude_t, include_python):
        label = file.relative_to(base).as_posix()
        text = _read_text(file, label, notes)
        if text is None:
            continue
        snippets = _snippets(file, text, label, notes)
        if snippets:
            sources.append((label, snippets))
    name = (
        normalise_dialect(dialect)
        if dialect
        else guess_dialect("\n".join(s.text for _, snips in sources for s in snips))
    )
    model = _Model(dialect=name, notes=notes)
    for label, snippets in sources:
        _apply_snippets(model, label, snippets)
    return model.freeze(str(root)), model.notes
