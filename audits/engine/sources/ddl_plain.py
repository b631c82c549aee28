"""A plain, strict reader of the common CREATE TABLE and CREATE INDEX shapes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from audits.engine.schema import IndexColumn
from audits.engine.sources.ddl_model import PlainCheck, _quiet_sqlglot

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


_PLAIN_COMPARISONS = {
    "=": "=",
    "<>": "<>",
    "!=": "<>",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
}


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
