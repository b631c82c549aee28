"""Resolve the SQL an expression builds, and whether formatted-in values are safe.

``Resolution.resolve_sql`` turns an expression into a template (literals,
f-strings, ``+`` concatenation, ``%`` and ``.format`` formatting, ``join``,
names assigned earlier, module constants) with a placeholder for each
value it cannot know; one small method handles each kind of node.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from audits.engine.sources.code_sql import DYN

from .knowledge import Knowledge
from .patterns import _FSTRING_START, _QUOTED_PLACEHOLDER, _QUOTING, _SAFE_CALLS
from .syntax import (
    NAME_OR_FIELD,
    SEQUENCE_TYPES,
    _dotted,
    _kw,
    _names,
    _shift,
    _unwrap_await,
    _walk,
)


@dataclass
class _Resolved:
    template: str
    built: str
    interps: list[tuple[ast.expr, bool]] = field(default_factory=list)  # (expr, ids)


_PERCENT = re.compile(r"%(?:\((\w+)\))?[-#0 +]*\d*(?:\.\d+)?[sdifr]|%%")


_BRACES = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


class Resolution(Knowledge):
    """Resolve the SQL text an expression builds, one method per kind of node."""

    def _resolve(self, node: ast.AST, depth: int) -> _Resolved | None:
        """Return the SQL template an expression builds, or None if unknown."""
        if depth > 6:
            return None
        node = _unwrap_await(node)
        handler = _RESOLVERS.get(type(node))
        return None if handler is None else handler(self, node, depth)

    def _resolve_constant(self, node: ast.Constant, depth: int) -> _Resolved | None:
        if isinstance(node.value, str):
            return _Resolved(node.value, "literal")
        return None

    def _resolve_fstring(self, node: ast.JoinedStr, depth: int) -> _Resolved | None:
        out = _Resolved("", "fstring")
        for part in node.values:
            if isinstance(part, ast.Constant):
                out.template += str(part.value)
            elif isinstance(part, ast.FormattedValue):
                self._fill(out, part.value, depth)
        return out

    def _resolve_binop(self, node: ast.BinOp, depth: int) -> _Resolved | None:
        if isinstance(node.op, ast.Add):
            return self._resolve_concat(node, depth)
        if isinstance(node.op, ast.Mod):
            return self._resolve_percent(node, depth)
        return None

    def _resolve_concat(self, node: ast.BinOp, depth: int) -> _Resolved | None:
        """Resolve ``a + b``: either side may be unknown, not both."""
        left = self._resolve(node.left, depth + 1)
        right = self._resolve(node.right, depth + 1)
        if left is None and right is None:
            return None
        out = _Resolved("", "concat")
        for side, raw in ((left, node.left), (right, node.right)):
            if side is None:
                self._interp(out, raw)
                continue
            offset = len(out.interps)
            out.template += _shift(side.template, offset) if offset else side.template
            out.interps.extend(side.interps)
            if side.built != "literal" and out.built == "concat":
                out.built = side.built
        if (
            left is not None
            and right is not None
            and left.built == right.built == "literal"
        ):
            out.built = "literal"
        return out

    def _resolve_percent(self, node: ast.BinOp, depth: int) -> _Resolved | None:
        """Resolve ``"..." % values`` with positional or named conversions."""
        left = self._resolve(node.left, depth + 1)
        if left is None or left.interps:
            return None
        values: list[ast.expr] = []
        named: dict[str, ast.expr] = {}
        if isinstance(node.right, ast.Tuple):
            values = list(node.right.elts)
        elif isinstance(node.right, ast.Dict):
            named = {
                k.value: v
                for k, v in zip(node.right.keys, node.right.values, strict=False)
                if isinstance(k, ast.Constant) and isinstance(k.value, str)
            }
        else:
            values = [node.right]
        positional = iter(values)

        def conversion(match: re.Match[str]) -> ast.expr | str | None:
            if match.group(0) == "%%":
                return "%"
            key = match.group(1)
            return named.get(key) if key else next(positional, None)

        return self._substitute(left.template, _PERCENT, "percent", conversion, depth)

    def _resolve_call(self, node: ast.Call, depth: int) -> _Resolved | None:
        """Resolve ``.format()``, ``.join()``, case and strip calls, ``text()``."""
        if isinstance(node.func, ast.Attribute):
            attr = node.func.attr
            if attr == "format":
                return self._resolve_format(node, node.func, depth)
            if attr == "join" and node.args:
                return self._resolve_join(node, node.func, depth)
            if attr in ("strip", "lstrip", "rstrip", "upper", "lower"):
                return self._resolve(node.func.value, depth + 1)
        if _dotted(node.func).split(".")[-1] == "text" and node.args:
            return self._resolve(node.args[0], depth + 1)
        return None

    def _resolve_format(
        self, node: ast.Call, func: ast.Attribute, depth: int
    ) -> _Resolved | None:
        base = self._resolve(func.value, depth + 1)
        if base is None or base.interps:
            return None
        automatic = iter(node.args)

        def field(match: re.Match[str]) -> ast.expr | str | None:
            if match.group(0) in ("{{", "}}"):
                return match.group(0)[0]
            name = (match.group(1) or "").split(":")[0].split("!")[0]
            if name == "":
                return next(automatic, None)
            if name.isdigit():
                i = int(name)
                return node.args[i] if i < len(node.args) else None
            return _kw(node, name.split(".")[0].split("[")[0])

        return self._substitute(base.template, _BRACES, "format", field, depth)

    def _substitute(
        self,
        template: str,
        pattern: re.Pattern[str],
        built: str,
        value_of: Callable[[re.Match[str]], ast.expr | str | None],
        depth: int,
    ) -> _Resolved:
        """Copy ``template``, each match of ``pattern`` replaced by what it stands for.

        ``value_of`` gives a match's text (an escaped ``%%`` or ``{{``), the
        expression formatted in there, or None when the call supplies none.
        """
        out = _Resolved("", built)
        last = 0
        for match in pattern.finditer(template):
            out.template += template[last : match.start()]
            last = match.end()
            value = value_of(match)
            if isinstance(value, str):
                out.template += value
            else:
                self._fill(out, value, depth)
        out.template += template[last:]
        return out

    def _resolve_join(
        self, node: ast.Call, func: ast.Attribute, depth: int
    ) -> _Resolved | None:
        sep = self._resolve(func.value, depth + 1)
        arg = node.args[0]
        if sep is None or not isinstance(arg, SEQUENCE_TYPES):
            return None
        parts = [self._resolve(e, depth + 1) for e in arg.elts]
        if all(p is not None and not p.interps for p in parts):
            return _Resolved(
                sep.template.join(p.template for p in parts if p), "concat"
            )
        return None

    def _resolve_name(self, node: ast.Name, depth: int) -> _Resolved | None:
        assigned = self.str_assigns.get(node.id)
        if node.id not in self.str_assigns:
            loop_iter = self.loop_vars.get(node.id)
            if isinstance(loop_iter, SEQUENCE_TYPES) and loop_iter.elts:
                # ``for sql in ("ALTER ...", "ALTER ..."):`` - one stands for all
                return self._resolve(loop_iter.elts[0], depth + 1)
        if assigned:
            last = assigned[-1]
            if (
                len(assigned) > 1
                and isinstance(last, ast.BinOp)
                and isinstance(last.left, ast.Name)
                and last.left.id == node.id
            ):
                # ``sql = "..."`` then ``sql += "..."`` (perhaps repeated)
                return self._resolve_augmented(node.id, assigned, depth)
            return self._resolve(last, depth + 1)
        if node.id in self.params:
            return None
        const = self.mod.constants.get(node.id)
        return None if const is None else self._resolve(const, depth + 1)

    def _resolve_attribute(self, node: ast.Attribute, depth: int) -> _Resolved | None:
        constants = self.mod.constants
        const = constants.get(node.attr) or constants.get(_dotted(node))
        return None if const is None else self._resolve(const, depth + 1)

    def _resolve_ifexp(self, node: ast.IfExp, depth: int) -> _Resolved | None:
        return self._resolve(node.body, depth + 1)

    def _fill(self, out: _Resolved, expr: ast.expr | None, depth: int) -> None:
        """Append a formatted-in value: its text when constant, else a slot."""
        inner = self._const_value(expr, depth) if expr is not None else None
        if inner is not None:
            out.template += inner
        elif expr is not None:
            self._interp(out, expr)

    def _resolve_augmented(
        self, name: str, assigned: list[ast.expr], depth: int
    ) -> _Resolved | None:
        base_index = 0
        for i in range(len(assigned) - 1, -1, -1):
            a = assigned[i]
            if not (
                isinstance(a, ast.BinOp)
                and isinstance(a.left, ast.Name)
                and a.left.id == name
            ):
                base_index = i
                break
        base = self._resolve(assigned[base_index], depth + 1)
        if base is None:
            return None
        out = _Resolved(base.template, base.built, list(base.interps))
        for a in assigned[base_index + 1 :]:
            assert isinstance(a, ast.BinOp)
            part = self._resolve(a.right, depth + 1)
            if part is None:
                self._interp(out, a.right)
                out.built = "concat"
            else:
                out.template += _shift(part.template, len(out.interps))
                out.interps.extend(part.interps)
                if part.built != "literal":
                    out.built = part.built
        return out

    def _const_value(self, node: ast.expr | None, depth: int) -> str | None:
        """Return the text of a constant string/number expression, else None."""
        if node is None:
            return None
        if isinstance(node, ast.Constant) and isinstance(node.value, str | int | float):
            return str(node.value)
        if isinstance(node, NAME_OR_FIELD):
            key = node.id if isinstance(node, ast.Name) else node.attr
            if isinstance(node, ast.Name) and (
                node.id in self.params or node.id in self.loop_vars
            ):
                return None
            assigned = self.str_assigns.get(key) if isinstance(node, ast.Name) else None
            candidate = (
                assigned[-1]
                if assigned and len(assigned) == 1
                else (
                    None
                    if assigned
                    else self.mod.constants.get(key)
                    or self.mod.constants.get(_dotted(node))
                )
            )
            if isinstance(candidate, ast.Constant) and isinstance(
                candidate.value, str | int | float
            ):
                return str(candidate.value)
        return None

    def _interp(self, out: _Resolved, expr: ast.expr) -> None:
        ids = (
            isinstance(expr, ast.Call)
            and isinstance(expr.func, ast.Attribute)
            and expr.func.attr == "join"
            and not self._placeholder_join(expr)
        )
        if isinstance(expr, ast.Name):
            assigned = self.str_assigns.get(expr.id)
            if assigned and isinstance(assigned[-1], ast.Call):
                call = assigned[-1]
                ids = (
                    isinstance(call.func, ast.Attribute)
                    and call.func.attr == "join"
                    and not self._placeholder_join(call)
                )
        out.template += f"{DYN}{len(out.interps)}"
        out.interps.append((expr, ids))

    def _placeholder_join(self, call: ast.Call) -> bool:
        """Return True for ``", ".join("?" * n)`` and its kin."""
        if not call.args:
            return False
        key = id(call)
        known = self.mod.placeholder_joins.get(key)
        if known is None:
            # Only a string holding ``?`` or ``%s`` can make a quoted placeholder:
            # look for one before writing the argument out as text.
            known = any(
                isinstance(n, ast.Constant)
                and isinstance(n.value, str)
                and ("?" in n.value or "%s" in n.value)
                for n in _walk(call.args[0])
            )
            if known:
                text = ast.unparse(call.args[0])
                has_placeholder = _QUOTED_PLACEHOLDER.search(text) is not None
                known = has_placeholder and not _FSTRING_START.search(text)
            self.mod.placeholder_joins[key] = known
        return known

    def _safe(
        self, expr: ast.expr, depth: int = 0, seen: frozenset[str] = frozenset()
    ) -> bool:
        """Return True when a formatted-in value cannot carry user input."""
        if depth > 6:
            return False
        if isinstance(expr, ast.Constant):
            return True
        if isinstance(expr, ast.List | ast.Tuple | ast.Set):
            return all(self._safe(e, depth + 1, seen) for e in expr.elts)
        if isinstance(expr, ast.ListComp | ast.GeneratorExp | ast.SetComp):
            # [f"{quote_identifier(c)} = ?" for c in cols]: every item is safe.
            return self._safe(expr.elt, depth + 1, seen)
        if isinstance(expr, ast.Call):
            return self._safe_call(expr, depth, seen)
        if isinstance(expr, ast.Name):
            return self._safe_name(expr, depth, seen)
        if isinstance(expr, ast.Subscript):
            # ``COLUMNS[key]`` maps input onto a fixed set of names.
            return isinstance(expr.value, ast.Name) and (
                expr.value.id in self.mod.constants or expr.value.id.isupper()
            )
        if isinstance(expr, ast.Attribute):
            return (
                expr.attr.isupper()
                or expr.attr in ("__tablename__", "db_table")
                or _dotted(expr) in self.mod.constants
                or expr.attr in self.mod.constants
            )
        if isinstance(expr, ast.IfExp):
            return self._safe(expr.body, depth + 1, seen) and self._safe(
                expr.orelse, depth + 1, seen
            )
        if isinstance(expr, ast.BinOp):
            return self._safe_binop(expr, depth, seen)
        if isinstance(expr, ast.JoinedStr):
            return all(
                self._safe(v.value, depth + 1, seen)
                for v in expr.values
                if isinstance(v, ast.FormattedValue)
            )
        if isinstance(expr, ast.UnaryOp):
            return self._safe(expr.operand, depth + 1, seen)
        return False

    def _safe_call(self, expr: ast.Call, depth: int, seen: frozenset[str]) -> bool:
        fname = _dotted(expr.func)
        if fname in _SAFE_CALLS or _QUOTING.search(fname.rsplit(".", 1)[-1]):
            return True
        if not isinstance(expr.func, ast.Attribute):
            return False
        attr = expr.func.attr
        if attr == "join":
            return self._placeholder_join(expr) or self._join_allowlisted(expr)
        if attr in ("strip", "rstrip", "lstrip", "upper", "lower"):
            return self._safe(expr.func.value, depth + 1, seen)
        if attr == "format":
            return self._safe(expr.func.value, depth + 1, seen) and all(
                self._safe(a, depth + 1, seen)
                for a in [*expr.args, *(k.value for k in expr.keywords)]
            )
        return False

    def _safe_name(self, expr: ast.Name, depth: int, seen: frozenset[str]) -> bool:
        name = expr.id
        if name in self.allowlisted or name in seen or name in self.safe_params:
            return True
        if name in self.loop_vars:
            return self._constant_collection(self.loop_vars[name])
        assigned = self.str_assigns.get(name)
        if assigned:
            inner = seen | {name}
            # A list of constant fragments stays constant whatever is appended.
            values = [*assigned, *self.appended.get(name, ())]
            return all(self._safe(a, depth + 1, inner) for a in values)
        if name in self.params:
            return False
        return name in self.mod.constants or name.isupper()

    def _safe_binop(self, expr: ast.BinOp, depth: int, seen: frozenset[str]) -> bool:
        if isinstance(expr.op, ast.Mult) and any(
            isinstance(side, ast.Constant) and isinstance(side.value, str)
            for side in (expr.left, expr.right)
        ):
            return True  # ``"?," * len(items)``: a run of placeholders
        return self._safe(expr.left, depth + 1, seen) and self._safe(
            expr.right, depth + 1, seen
        )

    def _constant_collection(self, node: ast.expr) -> bool:
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            return all(isinstance(e, ast.Constant) for e in node.elts)
        if isinstance(node, ast.Name):
            return (
                node.id in self.mod.constants
                or node.id.isupper()
                or node.id in self.allowlisted
            )
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("items", "keys", "values")
        ):
            return self._constant_collection(node.func.value)
        return False

    def _join_allowlisted(self, call: ast.Call) -> bool:
        arg = call.args[0] if call.args else None
        if isinstance(arg, ast.GeneratorExp | ast.ListComp):
            gen = arg.generators[0]
            if self._constant_collection(gen.iter):
                return True
            # Each item passed through a quoting function: quote_identifier(c).
            if isinstance(arg.elt, ast.Call) and _QUOTING.search(
                _dotted(arg.elt.func).rsplit(".", 1)[-1]
            ):
                return True
            for cond in gen.ifs:
                if isinstance(cond, ast.Compare) and any(
                    isinstance(op, ast.In) for op in cond.ops
                ):
                    return True
            names = _names(gen.iter)
            return any(n in self.allowlisted for n in names)
        if isinstance(arg, ast.Name | ast.List | ast.Tuple):
            return self._safe(arg)
        return False


# One resolver per kind of node; any other node builds no SQL we can read.
_RESOLVERS: dict[type[ast.AST], Callable[[Any, Any, int], _Resolved | None]] = {
    ast.Constant: Resolution._resolve_constant,
    ast.JoinedStr: Resolution._resolve_fstring,
    ast.BinOp: Resolution._resolve_binop,
    ast.Call: Resolution._resolve_call,
    ast.Name: Resolution._resolve_name,
    ast.Attribute: Resolution._resolve_attribute,
    ast.IfExp: Resolution._resolve_ifexp,
}
