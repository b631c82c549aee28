"""The mutable schema model DDL statements are applied to, and the small parsers they share."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from audits.engine.schema import Check, Column, ForeignKey, Index, Schema, Table
from audits.engine.schema import Trigger as SchemaTrigger
from audits.engine.sources import SourceError

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


@dataclass(frozen=True)
class PlainCheck:
    """A CHECK expression the plain reader understood."""

    expression: str  # as sqlglot writes it
    columns: tuple[str, ...]  # distinct columns named, as sqlglot's tree has them
    subject: str | None = None  # the column of a top-level IN or `col = literal`
    values: tuple[str, ...] | None = None  # that IN list's or literal's values
    is_in: bool = False


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
