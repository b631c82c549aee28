"""Small helpers over Python syntax trees: dotted names, fast walks, snippets."""

from __future__ import annotations

import ast
import re

from audits.engine.sources.code_sql import DYN

# Node classes tested together on hot paths: a tuple built once, where ``A | B``
# would build a union object at every test.
FUNCTION_TYPES = (ast.FunctionDef, ast.AsyncFunctionDef)
SEQUENCE_TYPES = (ast.Tuple, ast.List)
NAME_OR_FIELD = (ast.Name, ast.Attribute)
FIELD_OR_ITEM = (ast.Attribute, ast.Subscript)
LOOP_EXITS = (ast.Break, ast.Return, ast.Raise)


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
    of times. Operators and contexts sit only in fields :func:`_child_fields`
    leaves out (``op``, ``ops``, ``ctx``), so no child needs testing for them.
    """
    out = [node]
    append = out.append
    fields_of = _CHILD_FIELDS
    for n in out:  # grows as it goes: each node's children join the end
        cls = n.__class__
        fields = fields_of.get(cls)
        if fields is None:
            fields = _child_fields(cls)
        for name in fields:
            value = getattr(n, name, None)
            if value.__class__ is list:
                for item in value:
                    if isinstance(item, ast.AST):
                        append(item)
            elif isinstance(value, ast.AST):
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
    name = ast.Name
    return tuple(dict.fromkeys([n.id for n in _walk(node) if n.__class__ is name]))


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


def _any_accumulates(body: list[ast.stmt], known: dict[int, bool]) -> bool:
    """Return True when a statement in ``body``, nested blocks included, accumulates.

    Only statements can assign, so the walk follows statement blocks and never
    looks inside expressions. ``known`` holds the answer for assignments already
    weighed (by id, while their tree lives): an inner loop's body is weighed
    again for each loop around it.
    """
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        if _accumulates(node, known):
            return True
        for field in _BLOCK_FIELDS:
            block = getattr(node, field, None)
            if block:
                stack.extend(block)
    return False


# The fields of a statement (or handler, or match case) that hold statements.
_BLOCK_FIELDS = ("body", "orelse", "finalbody", "handlers", "cases")
_ADD_OR_SUB = (ast.Add, ast.Sub)


def _accumulates(node: ast.AST, known: dict[int, bool]) -> bool:
    """Return True for ``x += v`` and ``x[k] = x.get(k, 0) + v``."""
    cls = node.__class__
    if cls is ast.AugAssign:
        return isinstance(node.op, _ADD_OR_SUB)  # type: ignore[attr-defined]
    if cls is not ast.Assign:
        return False
    value = node.value  # type: ignore[attr-defined]
    if value.__class__ is not ast.BinOp or not isinstance(value.op, _ADD_OR_SUB):
        return False
    answer = known.get(id(node))
    if answer is None:
        answer = known[id(node)] = _adds_to_itself(node.targets, value)  # type: ignore[attr-defined]
    return answer


def _adds_to_itself(targets: list[ast.expr], value: ast.BinOp) -> bool:
    """Return True when ``value`` adds to (or subtracts from) one of ``targets``."""
    text = ""
    for t in targets:
        if isinstance(t, ast.Name):
            if t.id in _names(value):
                return True
        elif isinstance(t, FIELD_OR_ITEM):
            # ``d[k] = d[k] + v`` or ``d[k] = d.get(k, 0) + v``, not a new
            # field computed from others of the same row
            text = text or ast.unparse(value)
            if ast.unparse(t) in text or f"{ast.unparse(t.value)}.get(" in text:
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
