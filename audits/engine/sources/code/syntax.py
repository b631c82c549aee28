"""Small helpers over Python syntax trees: dotted names, fast walks, snippets."""

from __future__ import annotations

import ast
import re

from audits.engine.sources.code_sql import DYN


def _dotted(node: ast.AST) -> str:
    """Return ``a.b.c`` for a name/attribute chain, ``a.b()`` for calls."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else node.attr
    if isinstance(node, ast.Call):
        base = _dotted(node.func)
        return f"{base}()" if base else ""
    if isinstance(node, ast.Await):
        return _dotted(node.value)
    if isinstance(node, ast.Subscript):
        return _dotted(node.value)
    return ""


# Node types that never hold a name or a call: walking into them is wasted.
_LEAF_TYPES = (ast.expr_context, ast.operator, ast.cmpop, ast.unaryop, ast.boolop)


# Fields that hold names, numbers, operators or contexts, never a node.
_NON_NODE_FIELDS = frozenset(
    {
        "ctx",
        "op",
        "ops",
        "id",
        "attr",
        "arg",
        "kind",
        "type_comment",
        "conversion",
        "level",
        "module",
        "is_async",
    }
)


# node type -> the fields that may hold child nodes, filled as types are met
_CHILD_FIELDS: dict[type[ast.AST], tuple[str, ...]] = {}


def _child_fields(cls: type[ast.AST]) -> tuple[str, ...]:
    try:
        return _CHILD_FIELDS[cls]
    except KeyError:
        fields = (
            ()
            if cls is ast.Constant
            else tuple(f for f in cls._fields if f not in _NON_NODE_FIELDS)
        )
        _CHILD_FIELDS[cls] = fields
        return fields


def _walk(node: ast.AST) -> list[ast.AST]:
    """Return ``node`` and everything under it in :func:`ast.walk` order.

    Breadth first like :func:`ast.walk`, so names come out in the same order,
    but without its nested generators: a scan calls this tens of thousands
    of times.
    """
    out = [node]
    append = out.append
    i = 0
    while i < len(out):
        n = out[i]
        i += 1
        for name in _child_fields(n.__class__):
            value = getattr(n, name, None)
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.AST) and not isinstance(item, _LEAF_TYPES):
                        append(item)
            elif isinstance(value, ast.AST) and not isinstance(value, _LEAF_TYPES):
                append(value)
    return out


def _names(node: ast.AST | None) -> tuple[str, ...]:
    if node is None:
        return ()
    cls = node.__class__
    if cls is ast.Name:
        return (node.id,)  # type: ignore[attr-defined]
    if cls is ast.Constant:
        return ()
    # Shortcuts for the commonest arguments, in the order _walk gives.
    if cls is ast.Attribute:
        base = node.value  # type: ignore[attr-defined]
        while base.__class__ is ast.Attribute:
            base = base.value
        if base.__class__ is ast.Name:
            return (base.id,)
    elif cls is ast.Tuple or cls is ast.List:
        elts = node.elts  # type: ignore[attr-defined]
        if all(e.__class__ is ast.Name or e.__class__ is ast.Constant for e in elts):
            return tuple(dict.fromkeys(e.id for e in elts if e.__class__ is ast.Name))
    return tuple(dict.fromkeys(n.id for n in _walk(node) if isinstance(n, ast.Name)))


def _is_literal(node: ast.expr) -> bool:
    """Return True for a literal, or an f-string with nothing formatted in."""
    return isinstance(node, ast.Constant) or (
        isinstance(node, ast.JoinedStr)
        and all(isinstance(v, ast.Constant) for v in node.values)
    )


def _targets(node: ast.AST) -> tuple[str, ...]:
    if isinstance(node, ast.Name):
        return (node.id,)
    return tuple(n.id for n in _walk(node) if isinstance(n, ast.Name))


def _unwrap_await(node: ast.AST) -> ast.AST:
    while isinstance(node, ast.Await):
        node = node.value
    return node


def _const_str(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _kw(call: ast.Call, name: str) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg == name:
            return kw.value
    return None


def _snippet(lines: list[str], line: int) -> str:
    if 0 < line <= len(lines):
        return lines[line - 1].strip()[:160]
    return ""


def _any_accumulates(body: list[ast.stmt]) -> bool:
    """Return True when a statement in ``body``, nested blocks included, accumulates.

    Only statements can assign, so the walk follows statement blocks and never
    looks inside expressions.
    """
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        if _accumulates(node):
            return True
        for field in _BLOCK_FIELDS:
            block = getattr(node, field, None)
            if block:
                stack.extend(block)
    return False


# The fields of a statement (or handler, or match case) that hold statements.
_BLOCK_FIELDS = ("body", "orelse", "finalbody", "handlers", "cases")


def _accumulates(node: ast.AST) -> bool:
    """Return True for ``x += v`` and ``x[k] = x.get(k, 0) + v``."""
    if isinstance(node, ast.AugAssign):
        return isinstance(node.op, ast.Add | ast.Sub)
    if (
        isinstance(node, ast.Assign)
        and isinstance(node.value, ast.BinOp)
        and isinstance(node.value.op, ast.Add | ast.Sub)
    ):
        for t in node.targets:
            if isinstance(t, ast.Name):
                if t.id in _names(node.value):
                    return True
            elif isinstance(t, ast.Subscript | ast.Attribute):
                # ``d[k] = d[k] + v`` or ``d[k] = d.get(k, 0) + v``, not a new
                # field computed from others of the same row
                value = ast.unparse(node.value)
                if ast.unparse(t) in value or f"{ast.unparse(t.value)}.get(" in value:
                    return True
    return False


def _source_text(node: ast.AST, lines: list[str], limit: int = 200) -> str:
    """Return the source of a one-line expression as written, else its unparsed form."""
    line = getattr(node, "lineno", 0)
    if line and line == getattr(node, "end_lineno", None) and line <= len(lines):
        start, end = getattr(node, "col_offset", 0), getattr(node, "end_col_offset", 0)
        return lines[line - 1][start:end][:limit]
    return ast.unparse(node)[:limit]


_DYN_INDEX = re.compile(rf"{DYN}(\d+)")


def _shift(template: str, offset: int) -> str:
    return _DYN_INDEX.sub(lambda m: f"{DYN}{int(m.group(1)) + offset}", template)
