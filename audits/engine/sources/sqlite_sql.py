"""Read the CREATE statements SQLite keeps in ``sqlite_master``.

The pragmas leave out what only the stored SQL says (FK actions, CHECKs,
collations, AUTOINCREMENT, WITHOUT ROWID, partial index predicates, trigger
bodies); the probe reads it here, through the plain DDL reader first and
sqlglot when the plain reader is not sure.
"""

from __future__ import annotations

import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from audits.engine.schema import (
    Check,
    Trigger,
)
from audits.engine.sources._probe import check_parts
from audits.engine.sources.ddl_model import PlainCheck
from audits.engine.sources.ddl_plain import (
    PlainColumn,
    PlainReference,
    PlainTable,
    plain_table,
)

_ACTION = re.compile(
    r"ON\s+(DELETE|UPDATE)\s+(SET\s+NULL|SET\s+DEFAULT|CASCADE|RESTRICT|NO\s+ACTION)",
    re.IGNORECASE,
)


_TABLE_OPTIONS = re.compile(
    r"\)\s*(?:WITHOUT\s+ROWID|STRICT)(?:\s*,\s*(?:WITHOUT\s+ROWID|STRICT))*\s*;?\s*$",
    re.IGNORECASE,
)


class _ParsedFk:
    def __init__(
        self,
        columns: tuple[str, ...],
        ref_table: str,
        options: str,
        declared: str,
        name: str | None,
    ) -> None:
        self.columns = tuple(c.lower() for c in columns)
        self.ref_table = ref_table.lower()
        self.on_delete: str | None = None
        self.on_update: str | None = None
        for event, action in _ACTION.findall(options):
            action = " ".join(action.upper().split())
            if event.upper() == "DELETE":
                self.on_delete = action
            else:
                self.on_update = action
        self.declared = declared
        self.name = name


class _ParsedTable:
    def __init__(self) -> None:
        self.collations: dict[str, str] = {}
        self.inline_pk: set[str] = set()
        self.autoincrement: set[str] = set()
        self.fks: list[_ParsedFk] = []
        self.checks: list[Check] = []
        self.ok = False


def _reference_parts(ref: exp.Reference) -> tuple[str, tuple[str, ...], str]:
    target = ref.this
    if isinstance(target, exp.Schema):
        table = target.this.name if isinstance(target.this, exp.Table) else ""
        cols = tuple(e.name for e in target.expressions)
    else:
        table = target.name if target is not None else ""
        cols = ()
    options = " ".join(str(o) for o in ref.args.get("options") or [])
    return table, cols, options


# The pragmas tell columns, keys, defaults, FKs and indexes; only these
# words declare what they leave out (FK styles and names, CHECKs,
# collations, inline keys, AUTOINCREMENT).
_NEEDS_SQL = re.compile(
    r"\b(?:REFERENCES|CHECK|COLLATE|AUTOINCREMENT|PRIMARY)\b", re.IGNORECASE
)


def _parse_table_sql(sql: str | None, *, plain: bool = True) -> _ParsedTable:
    """Return what a table's stored SQL declares beyond the pragmas.

    The plain reader reads the common shapes; sqlglot reads the rest.
    ``plain=False`` always uses sqlglot, for comparing the two.
    """
    parsed = _ParsedTable()
    if not sql:
        return parsed
    # sqlglot does not read SQLite's table options; they are learnt apart.
    sql = _TABLE_OPTIONS.sub(")", sql)
    if plain:
        if not _NEEDS_SQL.search(sql):
            parsed.ok = True
            return parsed
        read = plain_table(sql, "sqlite")
        if read is not None:
            return _from_plain(read)
    try:
        tree = sqlglot.parse_one(sql, read="sqlite", error_level=ErrorLevel.RAISE)
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
        return parsed
    body = tree.this if isinstance(tree, exp.Create) else None
    if not isinstance(body, exp.Schema):
        return parsed
    for item in body.expressions:
        if isinstance(item, exp.ColumnDef):
            _parse_column_def(item, parsed)
            continue
        name = None
        kinds: list[exp.Expression] = [item]
        if isinstance(item, exp.Constraint):
            name = item.name or None
            kinds = list(item.expressions)
        for kind in kinds:
            if isinstance(kind, exp.ForeignKey):
                ref = kind.args.get("reference")
                if isinstance(ref, exp.Reference):
                    table, _cols, options = _reference_parts(ref)
                    columns = tuple(e.name for e in kind.expressions)
                    parsed.fks.append(_ParsedFk(columns, table, options, "table", name))
            elif isinstance(kind, exp.CheckColumnConstraint):
                parsed.checks.append(_make_check(kind.this, name, None))
    parsed.ok = True
    return parsed


def _reference_fk(
    columns: tuple[str, ...],
    ref: PlainReference,
    declared: str,
    name: str | None,
) -> _ParsedFk:
    """Return the FK a plain REFERENCES clause declares on ``columns``."""
    fk = _ParsedFk(columns, ref.table, "", declared, name)
    fk.on_delete, fk.on_update = ref.on_delete, ref.on_update
    return fk


def _plain_make_check(check: PlainCheck, name: str | None, column: str | None) -> Check:
    """Return the :class:`Check` _make_check gives for the same expression."""
    found = check.columns[0] if len(check.columns) == 1 else None
    return Check(
        expression=check.expression,
        name=name,
        column=column or found,
        values=check.values if check.is_in else None,
    )


def _from_plain(table: PlainTable) -> _ParsedTable:
    """Return what _parse_table_sql learns, from the plain reader's table."""
    parsed = _ParsedTable()
    for item in table.items:
        if isinstance(item, PlainColumn):
            col = item.name
            for c in item.constraints:
                if c.kind == "collate" and c.text:
                    parsed.collations[col.lower()] = c.text
                elif c.kind == "primary key":
                    parsed.inline_pk.add(col.lower())
                elif c.kind == "autoincrement":
                    parsed.autoincrement.add(col.lower())
                elif c.kind == "references" and c.reference is not None:
                    parsed.fks.append(
                        _reference_fk((col,), c.reference, "column", c.name)
                    )
                elif c.kind == "check" and c.check is not None:
                    parsed.checks.append(_plain_make_check(c.check, c.name, col))
        elif item.kind == "foreign key" and item.reference is not None:
            parsed.fks.append(
                _reference_fk(item.columns, item.reference, "table", item.name)
            )
        elif item.kind == "check" and item.check is not None:
            parsed.checks.append(_plain_make_check(item.check, item.name, None))
    parsed.ok = True
    return parsed


def _parse_column_def(item: exp.ColumnDef, parsed: _ParsedTable) -> None:
    col = item.name
    for constraint in item.args.get("constraints") or []:
        kind = constraint.args.get("kind")
        cname = constraint.name or None
        if isinstance(kind, exp.CollateColumnConstraint):
            parsed.collations[col.lower()] = kind.this.name or kind.this.sql()
        elif isinstance(kind, exp.PrimaryKeyColumnConstraint):
            parsed.inline_pk.add(col.lower())
        elif isinstance(kind, exp.AutoIncrementColumnConstraint):
            parsed.autoincrement.add(col.lower())
        elif isinstance(kind, exp.Reference):
            table, _cols, options = _reference_parts(kind)
            parsed.fks.append(_ParsedFk((col,), table, options, "column", cname))
        elif isinstance(kind, exp.CheckColumnConstraint):
            parsed.checks.append(_make_check(kind.this, cname, col))


def _make_check(node: exp.Expression, name: str | None, column: str | None) -> Check:
    found_column, values = check_parts(node, "sqlite")
    return Check(
        expression=node.sql(dialect="sqlite"),
        name=name,
        column=column or found_column,
        values=values,
    )


def _parse_index_sql(sql: str | None) -> tuple[list[str], str | None]:
    """Return an index's key expressions as SQL text and its predicate."""
    if not sql:
        return [], None
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
        match = re.search(r"\bWHERE\b(.*)$", sql, re.IGNORECASE | re.DOTALL)
        return [], match.group(1).strip() if match else None
    index = tree.this if isinstance(tree, exp.Create) else None
    params = index.args.get("params") if isinstance(index, exp.Index) else None
    if not isinstance(params, exp.IndexParameters):
        return [], None
    exprs = []
    for col in params.args.get("columns") or []:
        node = col.this if isinstance(col, exp.Ordered) else col
        exprs.append(node.sql(dialect="sqlite"))
    where = params.args.get("where")
    predicate = (
        where.this.sql(dialect="sqlite") if isinstance(where, exp.Where) else None
    )
    return exprs, predicate


_TRIGGER = re.compile(
    r"CREATE\s+(?:TEMP\w*\s+)?TRIGGER\s+(?:IF\s+NOT\s+EXISTS\s+)?\S+\s+"
    r"(BEFORE|AFTER|INSTEAD\s+OF)?\s*(INSERT|UPDATE|DELETE)",
    re.IGNORECASE,
)


def _trigger(name: str, table: str, sql: str | None) -> Trigger:
    text = sql or ""
    match = _TRIGGER.search(text)
    timing = " ".join((match.group(1) or "BEFORE").upper().split()) if match else ""
    event = match.group(2).upper() if match else ""
    begin = re.search(r"\bBEGIN\b", text, re.IGNORECASE)
    body = text[begin.start() :] if begin else text
    return Trigger(name=name, table=table, timing=timing, event=event, body=body)
