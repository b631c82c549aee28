"""Django ``Q`` objects, as written in migrations, read as SQL conditions.

A ``CheckConstraint(check=Q(...))`` (``condition=`` since Django 5.1), a
``UniqueConstraint(condition=...)`` and an ``Index(condition=...)`` carry
their condition as Python. The forms ``makemigrations`` writes and people
write by hand are read here: ``Q(price__gt=0)``, ``Q(("status__in", [...]))``,
``_connector="OR"``, ``_negated=True``, and ``&``, ``|``, ``~`` between Q
objects, with the lookups exact, iexact, gt, gte, lt, lte, in, isnull and
range on a field of the model itself, compared with a literal or an
``F("other_field")``. Anything else (a lookup across a relation, a date
computed in Python, a custom lookup) is not guessed: the reader says so and
the caller keeps a condition that asserts nothing.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping

from audits.engine.sources.migrations_python import (
    arg,
    dotted,
    last,
    sql_literal,
    value,
)

# Django's lookups with a plain comparison operator.
_OPERATORS = {"exact": "=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


class Unreadable(ValueError):
    """A condition in a form this reader does not turn into SQL."""


def condition_sql(node: ast.expr | None, columns: Mapping[str, str]) -> str:
    """Return the SQL condition a Q expression spells.

    ``columns`` maps the model's field names to their columns (a foreign key
    ``user`` to ``user_id``); a field not in it is taken as its own column.
    Raise :class:`Unreadable` for a form that is not read.
    """
    return _Reader(columns).expression(node)


class _Reader:
    def __init__(self, columns: Mapping[str, str]) -> None:
        self.columns = {k.lower(): v for k, v in columns.items()}

    def expression(self, node: ast.expr | None) -> str:
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitAnd | ast.BitOr):
            word = "AND" if isinstance(node.op, ast.BitAnd) else "OR"
            return (
                f"({self.expression(node.left)} {word} {self.expression(node.right)})"
            )
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert):
            return f"NOT ({self.expression(node.operand)})"
        if isinstance(node, ast.Call) and last(dotted(node.func)) == "Q":
            return self.q(node)
        raise Unreadable(f"not a Q object: {_shown(node)}")

    def q(self, call: ast.Call) -> str:
        parts: list[str] = []
        connector, negated = "AND", False
        for item in call.args:
            if isinstance(item, ast.Tuple) and len(item.elts) == 2:
                parts.append(self.lookup(value(item.elts[0]), item.elts[1]))
            else:
                parts.append(self.expression(item))
        for keyword in call.keywords:
            if keyword.arg == "_connector":
                found = value(keyword.value)
                if found not in ("AND", "OR"):
                    raise Unreadable(f"connector {_shown(keyword.value)}")
                connector = str(found)
            elif keyword.arg == "_negated":
                negated = value(keyword.value) is True
            elif keyword.arg is None:
                raise Unreadable("a Q built from **kwargs")
            else:
                parts.append(self.lookup(keyword.arg, keyword.value))
        if not parts:
            raise Unreadable("an empty Q")
        body = (
            parts[0]
            if len(parts) == 1
            else f" {connector} ".join(
                f"({p})" if " AND " in p or " OR " in p else p for p in parts
            )
        )
        return f"NOT ({body})" if negated else body

    def lookup(self, key: object, node: ast.expr) -> str:
        if not isinstance(key, str) or not key:
            raise Unreadable(f"lookup {key!r}")
        field, _, kind = key.partition("__")
        kind = kind or "exact"
        if "__" in kind:
            raise Unreadable(f"lookup {key!r} across a relation or transform")
        column = self.column(field)
        handler = _LOOKUPS.get(kind)
        if handler is None:
            raise Unreadable(f"lookup {key!r}")
        return handler(self, column, node)

    def column(self, field: str) -> str:
        if field == "pk":
            return self.columns.get("pk", "id")
        return self.columns.get(field.lower(), field)

    def operand(self, node: ast.expr) -> str:
        if isinstance(node, ast.Call) and last(dotted(node.func)) == "F":
            name = value(arg(node, 0, "name"))
            if isinstance(name, str) and "__" not in name:
                return self.column(name)
            raise Unreadable(f"F expression {_shown(node)}")
        found = value(node)
        if found is None or isinstance(found, str | bool | int | float):
            if found is None and not _is_none(node):
                raise Unreadable(f"value {_shown(node)}")
            return sql_literal(found)
        raise Unreadable(f"value {_shown(node)}")

    def compare(self, column: str, node: ast.expr, operator: str) -> str:
        if operator == "=" and _is_none(node):
            return f"{column} IS NULL"  # Django turns exact=None into IS NULL
        return f"{column} {operator} {self.operand(node)}"

    def iexact(self, column: str, node: ast.expr) -> str:
        if _is_none(node):
            return f"{column} IS NULL"
        return f"UPPER({column}) = UPPER({self.operand(node)})"

    def within(self, column: str, node: ast.expr) -> str:
        items = node.elts if isinstance(node, ast.List | ast.Tuple | ast.Set) else None
        if not items:
            raise Unreadable(f"__in of {_shown(node)}")
        return f"{column} IN ({', '.join(self.operand(i) for i in items)})"

    def isnull(self, column: str, node: ast.expr) -> str:
        found = value(node)
        if not isinstance(found, bool):
            raise Unreadable(f"__isnull of {_shown(node)}")
        return f"{column} IS NULL" if found else f"{column} IS NOT NULL"

    def between(self, column: str, node: ast.expr) -> str:
        if not isinstance(node, ast.List | ast.Tuple) or len(node.elts) != 2:
            raise Unreadable(f"__range of {_shown(node)}")
        low, high = (self.operand(n) for n in node.elts)
        return f"{column} BETWEEN {low} AND {high}"


def _comparison(operator: str) -> Callable[[_Reader, str, ast.expr], str]:
    def judge(reader: _Reader, column: str, node: ast.expr) -> str:
        return reader.compare(column, node, operator)

    return judge


_LOOKUPS: dict[str, Callable[[_Reader, str, ast.expr], str]] = {
    **{kind: _comparison(op) for kind, op in _OPERATORS.items()},
    "iexact": _Reader.iexact,
    "in": _Reader.within,
    "isnull": _Reader.isnull,
    "range": _Reader.between,
}


def _is_none(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _shown(node: ast.AST | None) -> str:
    if node is None:
        return "nothing"
    text = ast.unparse(node)
    return text if len(text) <= 80 else text[:77] + "..."
