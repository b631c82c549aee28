"""Understand SQL text found in Python code.

The code source hands over SQL templates: string literals, f-strings and
``%``/``.format`` templates with their interpolations replaced by markers.
This module parses them with sqlglot (once per distinct text), and returns
what the checks need: the statement kind, the tables, the columns the WHERE
clause tests, the literal values written to columns, and a normalised text
that identifies the statement in fingerprints.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from functools import lru_cache

import sqlglot
from sqlglot import exp

from audits.engine.sources.ddl_split import split_outside_quotes

# Interpolated values become this identifier prefix plus their index, so
# the template still parses and the checks can tell where a value went.
DYN = "__plumb_dyn"
_PARAM = "__plumb_p"

_SQL_START = re.compile(
    r"^\s*(?:--[^\n]*\n\s*)*\(?\s*("
    r"select\s.+\sfrom\s|select\s+(?:count|1|\w+\()|insert\s+(?:or\s+\w+\s+)?into\s"
    r"|replace\s+into\s|update\s+[\w\"`.\[\]]+\s+set\s|delete\s+from\s"
    r"|create\s+(?:unique\s+|temp\s+|temporary\s+|virtual\s+)?"
    r"(?:table|index|trigger|view)\s|alter\s+table\s|drop\s+(?:table|index)\s"
    r"|pragma\s|vacuum\b|analyze\b|with\s+\w+(?:\s*\([^)]*\))?\s+as\s*\("
    r"|begin(?:\s+(?:immediate|exclusive|deferred|transaction))?\s*;?\s*$"
    r"|commit\s*;?\s*$|rollback\b|savepoint\s|reindex\b)",
    re.IGNORECASE | re.DOTALL,
)
_PRAGMA = re.compile(
    r"^\s*pragma\s+(?:\w+\.)?(\w+)\s*(?:=\s*|\(\s*)?['\"]?([\w.-]*)",
    re.IGNORECASE,
)
_WRITE_KINDS = frozenset({"insert", "update", "delete", "replace"})
_AGGREGATES = (exp.Count, exp.Sum, exp.Avg, exp.Max, exp.Min, exp.GroupConcat)


def looks_like_sql(text: str) -> bool:
    """Return True when ``text`` reads as a SQL statement."""
    return bool(_SQL_START.match(text))


@dataclass(frozen=True)
class SqlInfo:
    """What one SQL statement does, as far as the checks care."""

    kind: str  # select, insert, update, delete, replace, create, alter, pragma, ...
    normalised: str  # identifies the statement in fingerprints
    parsed: bool
    tables: tuple[str, ...] = ()
    where_columns: tuple[str, ...] = ()
    set_columns: tuple[str, ...] = ()  # UPDATE SET and ON CONFLICT DO UPDATE SET
    # column -> literal value, or -> "?n"/":name" naming the parameter
    written: tuple[tuple[str, str], ...] = ()
    has_limit: bool = False
    aggregate: bool = False  # aggregate functions in the select list
    group_by: bool = False
    upsert: bool = False  # ON CONFLICT, OR REPLACE/IGNORE, REPLACE INTO
    locking: bool = False  # BEGIN IMMEDIATE/EXCLUSIVE, FOR UPDATE
    pragma: tuple[str, str] | None = None  # (name, value) lower-cased
    dynamic_in_identifier: tuple[int, ...] = ()  # marker indexes used as names
    dynamic_in_value: tuple[int, ...] = ()  # marker indexes used as values
    param_count: int = 0
    statements: int = 1

    @property
    def is_write(self) -> bool:
        """Return True for INSERT, UPDATE, DELETE and REPLACE."""
        return self.kind in _WRITE_KINDS

    @property
    def written_columns(self) -> dict[str, str]:
        """Return the written column -> value/parameter mapping."""
        return dict(self.written)


def _number_placeholders(text: str) -> tuple[str, int]:
    """Return ``text`` with positional placeholders renamed, and their count.

    ``?`` and ``%s`` become ``:__plumb_pN`` so each can be told apart after
    parsing; ``%(name)s`` becomes ``:name``. Quoted strings are left alone.
    """
    count = 0

    def rename(match: re.Match[str]) -> str:
        nonlocal count
        token = match.group(0)
        if token[0] in "'\"":
            return token
        if match.group(1) is not None:
            return ":" + match.group(1)
        count += 1
        return f":{_PARAM}{count - 1}"

    return _PLACEHOLDER.sub(rename, text), count


# A quoted string (to the end if unterminated), ``?``, ``%s`` or ``%(name)s``.
_PLACEHOLDER = re.compile(r"'[^']*(?:'|\Z)|\"[^\"]*(?:\"|\Z)|\?|%s|%\((.*?)\)s", re.S)


def _unparam(text: str) -> str:
    return re.sub(rf":{_PARAM}\d+", "?", text)


def _fallback_normalise(text: str) -> str:
    return re.sub(r"\s+", " ", _unparam(text)).strip().lower()


def _param_ref(node: exp.Expression) -> str | None:
    """Return ``?n`` / ``:name`` for a placeholder node, else None."""
    if isinstance(node, exp.Placeholder):
        name = str(node.this or "")
        if name.startswith(_PARAM):
            return "?" + name[len(_PARAM) :]
        return ":" + name if name else None
    return None


def _value_text(node: exp.Expression) -> str | None:
    ref = _param_ref(node)
    if ref is not None:
        return ref
    if isinstance(node, exp.Literal) and node.is_string:
        return "'" + str(node.this) + "'"
    if isinstance(node, exp.Literal):
        return str(node.this)
    if isinstance(node, exp.Null):
        return "NULL"
    if isinstance(node, exp.Boolean):
        return "TRUE" if node.this else "FALSE"
    return None


def _column_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Column):
        return node.name.lower()
    if isinstance(node, exp.Identifier):
        return str(node.this).lower()
    return node.sql().lower()


def _dynamic_positions(tree: exp.Expression) -> tuple[set[int], set[int]]:
    """Return marker indexes used as identifiers and as values."""
    ident: set[int] = set()
    value: set[int] = set()
    pattern = re.compile(rf"{DYN}(\d+)")
    for node in tree.walk():
        if isinstance(node, exp.Identifier):
            match = pattern.search(str(node.this))
            if not match:
                continue
            parent = node.parent
            index = int(match.group(1))
            # A bare column reference in a comparison or a VALUES row is a
            # value someone formatted in; a table or a SELECT/ORDER BY/SET
            # target name is an identifier.
            column = parent if isinstance(parent, exp.Column) else None
            holder = column.parent if column is not None else None
            if column is not None and isinstance(
                holder,
                exp.Binary | exp.In | exp.Tuple | exp.Like | exp.Between | exp.Limit,
            ):
                if (
                    isinstance(holder, exp.EQ)
                    and isinstance(holder.parent, exp.Update | exp.OnConflict)
                    and holder.this is column
                ):
                    ident.add(index)
                else:
                    value.add(index)
            elif isinstance(parent, exp.Limit | exp.Offset):
                value.add(index)
            else:
                ident.add(index)
        elif isinstance(node, exp.Literal) and node.is_string:
            for match in pattern.finditer(str(node.this)):
                value.add(int(match.group(1)))
    return ident, value


def _details(tree: exp.Expression, kind: str) -> dict[str, object]:
    tables = tuple(
        dict.fromkeys(t.name.lower() for t in tree.find_all(exp.Table) if t.name)
    )
    where_columns: list[str] = []
    for where in tree.find_all(exp.Where):
        where_columns.extend(_column_name(c) for c in where.find_all(exp.Column))
    set_columns: list[str] = []
    written: list[tuple[str, str]] = []
    upsert = False
    if isinstance(tree, exp.Update):
        for eq in tree.expressions:
            if isinstance(eq, exp.EQ):
                name = _column_name(eq.this)
                set_columns.append(name)
                value = _value_text(eq.expression)
                if value is not None:
                    written.append((name, value))
    if isinstance(tree, exp.Insert):
        schema = tree.this
        columns = (
            [_column_name(c) for c in schema.expressions]
            if isinstance(schema, exp.Schema)
            else []
        )
        values = tree.expression
        if isinstance(values, exp.Values) and columns:
            for row in values.expressions:
                items = row.expressions if isinstance(row, exp.Tuple) else [row]
                for name, item in zip(columns, items, strict=False):
                    value = _value_text(item)
                    if value is not None:
                        written.append((name, value))
        conflict = tree.args.get("conflict")
        if conflict is not None:
            upsert = True
            for eq in conflict.expressions or []:
                if isinstance(eq, exp.EQ):
                    set_columns.append(_column_name(eq.this))
        alternative = str(tree.args.get("alternative") or "").upper()
        if alternative in ("REPLACE", "IGNORE"):
            upsert = True
    select = tree if isinstance(tree, exp.Select) else None
    aggregate = False
    group_by = False
    has_limit = False
    locking = False
    if select is not None:
        aggregate = any(
            isinstance(e, _AGGREGATES) or any(e.find_all(*_AGGREGATES))
            for e in select.expressions
        )
        group_by = select.args.get("group") is not None
        has_limit = select.args.get("limit") is not None
        locking = bool(select.args.get("locks"))
    elif tree.find(exp.Limit) is not None:
        has_limit = True
    return {
        "tables": tables,
        "where_columns": tuple(dict.fromkeys(where_columns)),
        "set_columns": tuple(dict.fromkeys(set_columns)),
        "written": tuple(written),
        "has_limit": has_limit,
        "aggregate": aggregate,
        "group_by": group_by,
        "upsert": upsert,
        "locking": locking,
    }


# A parsed statement's kind: the first kind whose sqlglot classes it is an
# instance of (a UNION reads as a select, START TRANSACTION as a begin).
_KINDS: dict[str, tuple[type[exp.Expression], ...]] = {
    "select": (exp.Select, exp.Union),
    "insert": (exp.Insert,),
    "update": (exp.Update,),
    "delete": (exp.Delete,),
    "create": (exp.Create,),
    "alter": (exp.Alter,),
    "drop": (exp.Drop,),
    "pragma": (exp.Pragma,),
    "begin": (exp.Transaction,),
    "commit": (exp.Commit,),
    "rollback": (exp.Rollback,),
}


def _first_word(text: str) -> str:
    match = re.match(r"\s*\(?\s*(\w+)", text)
    return match.group(1).lower() if match else ""


def _keywords() -> frozenset[str]:
    from sqlglot.tokens import Tokenizer

    words = {w.lower() for key in Tokenizer.KEYWORDS for w in key.split()}
    words.update(_EXTRA_KEYWORDS)
    return frozenset(w for w in words if w.isidentifier())


_EXTRA_KEYWORDS = [
    "conflict",
    "nothing",
    "do",
    "replace",
    "ignore",
    "immediate",
    "exclusive",
    "deferred",
    "abort",
    "fail",
    "rollback",
    "excluded",
    "returning",
    "nulls",
    "first",
    "last",
    "rowid",
    "indexed",
    "without",
    "temp",
    "temporary",
    "if",
    "exists",
    "add",
    "rename",
    "to",
    "column",
    "cascade",
    "restrict",
    "action",
    "no",
    "set",
    "default",
    "glob",
    "regexp",
    "match",
    "escape",
    "collate",
    "nocase",
    "window",
    "over",
    "partition",
    "filter",
    "within",
    "recursive",
    "materialized",
    "limit",
    "offset",
    "plan",
    "query",
    "explain",
    "vacuum",
    "analyze",
    "reindex",
    "attach",
    "detach",
    "database",
    "savepoint",
    "release",
    "transaction",
    "instead",
    "of",
    "each",
    "row",
    "for",
    "trigger",
    "view",
    "virtual",
    "using",
    "current_timestamp",
    "current_date",
    "current_time",
    "true",
    "false",
    "null",
    "is",
    "not",
    "like",
    "in",
    "and",
    "or",
    "key",
    "share",
    "nowait",
    "skip",
    "locked",
    "update",
    "delete",
    "insert",
    "into",
    "values",
    "select",
    "from",
    "where",
    "group",
    "by",
    "order",
    "having",
    "join",
    "inner",
    "left",
    "right",
    "outer",
    "cross",
    "on",
    "as",
    "distinct",
    "union",
    "all",
    "case",
    "when",
    "then",
    "else",
    "end",
    "between",
    "asc",
    "desc",
    "primary",
    "foreign",
    "references",
    "check",
    "unique",
    "index",
    "table",
    "create",
    "drop",
    "alter",
    "begin",
    "commit",
    "pragma",
]
_TOKEN = re.compile(
    r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|`[^`]*`|:[A-Za-z_]\w*|[A-Za-z_]\w*"
    r"|\d+(?:\.\d+)?|\S",
)
_KEYWORD_SET: frozenset[str] | None = None


def _shape(text: str) -> tuple[str, dict[str, str], str] | None:
    """Return (shape, slot -> name, normalised text) for ``text``.

    Every plain identifier becomes a slot (``__s0``, ``__s1``...), so
    statements that differ only in table and column names share one sqlglot
    parse. Function names, keywords, literals and parameters stay as they are.
    """
    global _KEYWORD_SET
    if _KEYWORD_SET is None:
        _KEYWORD_SET = _keywords()
    keywords = _KEYWORD_SET
    tokens = _TOKEN.findall(text)
    if not tokens:
        return None
    slots: dict[str, str] = {}
    by_name: dict[str, str] = {}
    out: list[str] = []
    norm: list[str] = []
    previous = ""
    last = len(tokens) - 1
    known = _TOKENS
    for i, tok in enumerate(tokens):
        token = known.get(tok)
        if token is None:
            token = _token(tok, keywords)
            if len(known) < 100_000:
                known[tok] = token
        low, name, normal = token
        # After INTO a word is a table even when its column list follows
        # without a space, so ``INSERT INTO t(a, b)`` shares a parse too.
        if name and (i == last or tokens[i + 1] != "(" or previous == "into"):
            slot = by_name.get(low)
            if slot is None:
                slot = f"__s{len(by_name)}"
                by_name[low] = slot
                slots[slot] = low
            out.append(slot)
        else:
            out.append(tok)
        norm.append(normal)
        previous = low
    joined = _OPEN_SPACE.sub("(", " ".join(norm))
    normalised = _DOT_SPACE.sub(".", _SPACE_CLOSE.sub(r"\1", joined))
    return " ".join(out), slots, normalised


def _token(tok: str, keywords: frozenset[str]) -> tuple[str, bool, str]:
    """Return (lower case, may be a name, normalised form) of one token."""
    low = tok.lower()
    first = tok[0]
    name = (
        (first.isalpha() or first == "_")
        and low not in keywords
        and not low.startswith(_MARKERS)
    )
    return low, name, "?" if low.startswith(_PARAM_REF) else low


# token -> _token(token): the same words recur from statement to statement
_TOKENS: dict[str, tuple[str, bool, str]] = {}
_MARKERS = (_PARAM, DYN)
_PARAM_REF = ":" + _PARAM
_OPEN_SPACE = re.compile(r"\(\s+")
_SPACE_CLOSE = re.compile(r"\s+([,)])")
_DOT_SPACE = re.compile(r"\s*\.\s*")
_SLOT = re.compile(r"__s\d+")


def _unslot(value: str, slots: dict[str, str]) -> str:
    whole = slots.get(value)
    if whole is not None:
        return whole
    if "__s" not in value:
        return value
    return _SLOT.sub(lambda m: slots.get(m.group(0), m.group(0)), value)


def analyse_sql(text: str, dialect: str = "sqlite") -> SqlInfo:
    """Return what the SQL template ``text`` does.

    Statements are parsed once per shape (the text with its identifiers
    replaced by slots) and once per distinct text, so large code bases with
    many similar queries cost few sqlglot parses.
    """
    return _analyse_text(text, dialect)


@lru_cache(maxsize=65536)
def _analyse_text(text: str, dialect: str) -> SqlInfo:
    if _PRAGMA.match(text):
        return _analyse(text, dialect)
    numbered, params = _number_placeholders(text)
    shaped = _shape(numbered)
    if shaped is None:
        return _analyse(text, dialect)
    shape, slots, normalised = shaped
    info = _analyse(shape, dialect)
    if not info.parsed:
        return replace(_analyse(text, dialect), normalised=normalised)
    # Built directly: dataclasses.replace() costs more than the rest of this
    # function, which runs once per distinct statement text.
    return SqlInfo(
        normalised=normalised,
        param_count=params,
        tables=tuple([_unslot(t, slots) for t in info.tables]),
        where_columns=tuple([_unslot(c, slots) for c in info.where_columns]),
        set_columns=tuple([_unslot(c, slots) for c in info.set_columns]),
        written=tuple([(_unslot(c, slots), v) for c, v in info.written]),
        **{name: getattr(info, name) for name in _KEPT_FIELDS},
    )


# The fields a shared parse hands on unchanged to each text of its shape.
_KEPT_FIELDS = tuple(
    f.name
    for f in fields(SqlInfo)
    if f.name
    not in (
        "normalised",
        "param_count",
        "tables",
        "where_columns",
        "set_columns",
        "written",
    )
)


@lru_cache(maxsize=16384)
def _analyse(text: str, dialect: str = "sqlite") -> SqlInfo:
    """Parse one SQL text with sqlglot and return its analysis."""
    numbered, params = _number_placeholders(text)
    first = _first_word(text)
    pragma_match = _PRAGMA.match(text)
    if pragma_match:
        name, value = pragma_match.group(1).lower(), pragma_match.group(2).lower()
        return SqlInfo(
            kind="pragma",
            normalised=f"pragma {name}={value}",
            parsed=True,
            pragma=(name, value),
        )
    try:
        trees = [
            t
            for t in sqlglot.parse(numbered, read=dialect or "sqlite")
            if t is not None
        ]
    except Exception:  # noqa: BLE001 - sqlglot raises many kinds; fall back
        trees = []
    if not trees:
        kind = "replace" if first == "replace" else first
        locking = bool(re.match(r"\s*begin\s+(immediate|exclusive)", text, re.I))
        return SqlInfo(
            kind=kind or "other",
            normalised=_fallback_normalise(text),
            parsed=False,
            param_count=params,
            locking=locking,
            upsert=bool(re.search(r"\bon\s+conflict\b|\bor\s+replace\b", text, re.I)),
        )
    tree = trees[0]
    kind = next((k for k, t in _KINDS.items() if isinstance(tree, t)), first or "other")
    if kind == "insert" and first == "replace":
        kind = "insert"
    try:
        normalised = "; ".join(
            _unparam(t.sql(dialect=dialect or "sqlite", normalize=True)) for t in trees
        ).lower()
    except Exception:  # noqa: BLE001 - generation can fail on odd input
        normalised = _fallback_normalise(text)
    details = _details(tree, kind)
    ident, value = _dynamic_positions(tree)
    locking = bool(details.pop("locking"))
    if kind == "begin" and re.match(r"\s*begin\s+(immediate|exclusive)", text, re.I):
        locking = True
    upsert = bool(details.pop("upsert")) or first == "replace"
    return SqlInfo(
        kind=kind,
        normalised=normalised,
        parsed=True,
        locking=locking,
        upsert=upsert,
        dynamic_in_identifier=tuple(sorted(ident)),
        dynamic_in_value=tuple(sorted(value)),
        param_count=params,
        statements=len(trees),
        **details,  # type: ignore[arg-type]
    )


def split_script(text: str) -> list[str]:
    """Return the statements of a script, split on semicolons outside quotes."""
    return split_outside_quotes(text, ";", "'\"")


def clear_cache() -> None:
    """Forget every cached analysis (for benchmarks and long-lived workers)."""
    _analyse_text.cache_clear()
    _analyse.cache_clear()
