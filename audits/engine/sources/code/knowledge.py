"""What the walker knows beyond the SQL: call targets, value origins, loop shapes.

A call names its target only when the receiver's type is known; a value is
input only when it is computed from a parameter or from request data; a
statement repeats only when its loop can come round again.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable

from .calls import class_qualname
from .context import import_names
from .patterns import _INPUT_NAMES, _SAFE_ANNOTATION
from .state import WalkerState
from .syntax import (
    FIELD_OR_ITEM,
    LOOP_EXITS,
    NAME_OR_FIELD,
    _dotted,
    _names,
)

# Calls whose value is rows read from the database, not input.
_READ_METHODS = frozenset(
    {
        "fetch",
        "fetchrow",
        "fetchval",
        "fetchone",
        "fetchall",
        "fetchmany",
        "execute",
        "scalars",
        "scalar",
        "mappings",
        "all",
        "first",
        "one",
        "one_or_none",
        "execute_fetchall",
    }
)
_COMPREHENSIONS = (ast.ListComp, ast.GeneratorExp, ast.SetComp)
_IDENTIFIER = re.compile(r"[A-Za-z_][\w.]*")


def reads_database(node: ast.expr) -> bool:
    """Return True when an expression's value is rows read from the database."""
    todo: list[ast.AST] = [node]
    while todo:
        current = todo.pop()
        if isinstance(current, ast.Await):
            todo.append(current.value)
        elif isinstance(current, ast.Call):
            func = current.func
            if isinstance(func, ast.Attribute):
                if func.attr in _READ_METHODS:
                    return True
                todo.append(func.value)
        elif isinstance(current, FIELD_OR_ITEM):
            todo.append(current.value)
        elif isinstance(current, _COMPREHENSIONS):
            todo.extend(g.iter for g in current.generators)
    return False


class Knowledge(WalkerState):
    """Call targets, value origins and loop shapes, learnt while walking."""

    def _note_parameters(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        """Record the classes and the safe values parameters are annotated with."""
        a = node.args
        for arg in a.posonlyargs + a.args + a.kwonlyargs:
            hint = self._type_name(arg.annotation)
            if hint:
                self.var_types[arg.arg] = hint
            if arg.annotation is not None and _SAFE_ANNOTATION.match(
                ast.unparse(arg.annotation)
            ):
                self.safe_params.add(arg.arg)

    def _note_import(self, node: ast.Import | ast.ImportFrom) -> None:
        if self.node is not None:
            self.local_names.update(import_names(node, self.mod.package))

    # -- value origins

    def _derive(self, targets: Iterable[str], names: Iterable[str]) -> None:
        """Record that ``targets`` now hold values computed from ``names``."""
        sources = self._origins_of(names)
        for t in targets:
            self.seeds.discard(t)
            if sources:
                self.derived[t] = sources
            else:
                self.derived.pop(t, None)

    def _origins(self, expr: ast.AST) -> frozenset[str]:
        """Return the parameters or request names ``expr`` is computed from."""
        return self._origins_of(_names(expr))

    def _origins_of(self, names: Iterable[str]) -> frozenset[str]:
        """Return the parameters or request names the ``names`` are computed from."""
        out: set[str] = set()
        derived, seeds = self.derived, self.seeds
        for n in names:
            if n in derived:
                out |= derived[n]
            elif n in seeds or n in _INPUT_NAMES and n not in self.bound:
                out.add(n)
        return frozenset(out)

    def _origin_list(self, names: tuple[str, ...]) -> tuple[str, ...]:
        """Return ``sorted(self._origins_of(names))`` as a tuple, one name quickly."""
        if len(names) != 1:
            return tuple(sorted(self._origins_of(names)))
        name = names[0]
        if name in self.derived:
            return tuple(sorted(self.derived[name]))
        if name in self.seeds or name in _INPUT_NAMES and name not in self.bound:
            return names
        return ()

    # -- call targets

    def _lookup(self, name: str) -> str:
        """Return the dotted name a local name stands for, or ""."""
        if name in self.local_names:
            return self.local_names[name]
        if name in self.bound:
            return ""
        return self.mod.names.get(name, "")

    def _type_name(self, node: ast.expr | None) -> str:
        """Return the dotted class an annotation or constructor names, or ""."""
        if node is None:
            return ""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value.strip()
            if not _IDENTIFIER.fullmatch(text):
                return ""
            node = ast.parse(text, mode="eval").body
        if isinstance(node, ast.Subscript):  # Optional[Foo], Type[Foo]
            inner = node.slice
            return self._type_name(inner) if isinstance(inner, ast.Name) else ""
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            right = node.right
            if isinstance(right, ast.Constant) and right.value is None:
                return self._type_name(node.left)
            return ""
        dotted = _dotted(node) if isinstance(node, NAME_OR_FIELD) else ""
        head, _, rest = dotted.partition(".")
        base = self._lookup(head) if head else ""
        if not base:
            return ""
        full = f"{base}.{rest}" if rest else base
        return full if full.rsplit(".", 1)[-1][:1].isupper() else ""

    def _call_target(self, func: ast.expr) -> str:
        """Return what a call is known to reach (see :class:`CallSite`)."""
        if isinstance(func, ast.Name):
            full = self._lookup(func.id)
            return f"name:{full}" if full else ""
        if not isinstance(func, ast.Attribute):
            return ""
        value = func.value
        if isinstance(value, ast.Name):
            if value.id in ("self", "cls") and self.class_name:
                return "self"
            if value.id in self.var_types:
                return f"obj:{self.var_types[value.id]}"
            full = self._lookup(value.id)
            return f"name:{full}.{func.attr}" if full else ""
        if isinstance(value, ast.Call) and _dotted(value.func) == "super":
            return "super" if self.class_name else ""
        if (
            isinstance(value, ast.Attribute)
            and isinstance(value.value, ast.Name)
            and value.value.id in ("self", "cls")
            and self.class_name
        ):
            return f"attr:{value.attr}"
        dotted = _dotted(value)
        if not dotted or "(" in dotted or "[" in dotted:
            return ""
        head = dotted.split(".")[0]
        full = self._lookup(head)
        return f"name:{full}{dotted[len(head) :]}.{func.attr}" if full else ""

    def _class_qual(self) -> str:
        """Return the qualname of the class this function is a method of."""
        return class_qualname(self.qualname, self.class_name)

    def _note_types(self, targets: list[ast.expr], inner: ast.AST) -> None:
        """Record the class of variables (and attributes of self) a constructor fills."""
        made = ""
        if isinstance(inner, ast.Call):
            func = inner.func
            last = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else ""
            )
            if last[:1].isupper():  # a class is called: a constructor
                made = self._type_name(func)
        owner = self._class_qual()
        for t in targets:
            if isinstance(t, ast.Name):
                self.bound.add(t.id)
                if made:
                    self.var_types[t.id] = made
                else:
                    self.var_types.pop(t.id, None)
            elif (
                made
                and owner
                and isinstance(t, ast.Attribute)
                and isinstance(t.value, ast.Name)
                and t.value.id == "self"
            ):
                self.col.attr_types.setdefault(f"{owner}.{t.attr}", made)

    # -- loop shapes

    def _visit_block(self, stmts: list[ast.stmt]) -> None:
        """Visit a block, noting whether it ends the innermost loop."""
        exits = bool(self.loops) and any(isinstance(s, LOOP_EXITS) for s in stmts)
        self.exits.append(exits)
        for stmt in stmts:
            self.visit(stmt)
        self.exits.pop()

    def _runs_once(self) -> bool:
        """Return True when the current statement cannot run twice in its loop."""
        if not self.loops:
            return False
        depth = self.loop_exit_depth[-1] if self.loop_exit_depth else 0
        return any(self.exits[depth:])

    def _literal_size(self, node: ast.expr | None, depth: int = 0) -> int | None:
        """Return how many items a literal collection or ``range(n)`` holds."""
        if node is None or depth > 2:
            return None
        if isinstance(node, ast.List | ast.Tuple | ast.Set):
            if any(isinstance(e, ast.Starred) for e in node.elts):
                return None
            return len(node.elts)
        if isinstance(node, ast.Dict):
            return len(node.keys)
        if isinstance(node, ast.Call):
            return self._call_size(node, depth)
        if isinstance(node, ast.Name) and node.id not in self.bound:
            const = self.mod.constants.get(node.id)
            return self._literal_size(const, depth + 1) if const is not None else None
        return None

    def _call_size(self, node: ast.Call, depth: int) -> int | None:
        if _dotted(node.func) == "range":
            values = [
                a.value
                for a in node.args
                if isinstance(a, ast.Constant) and isinstance(a.value, int)
            ]
            if values and len(values) == len(node.args):
                return len(range(*values))
            return None
        wrapped = isinstance(node.func, ast.Name) and node.func.id in (
            "enumerate",
            "sorted",
            "reversed",
            "list",
            "tuple",
        )
        if wrapped and node.args:
            return self._literal_size(node.args[0], depth + 1)
        if isinstance(node.func, ast.Attribute) and node.func.attr in (
            "items",
            "keys",
            "values",
        ):
            return self._literal_size(node.func.value, depth + 1)
        return None

    def _constant_arg(self, node: ast.expr) -> bool:
        """Return True for a literal, or a loop variable over constants."""
        if isinstance(node, ast.Constant) or (
            isinstance(node, ast.JoinedStr)
            and all(isinstance(v, ast.Constant) for v in node.values)
        ):
            return True
        return (
            isinstance(node, ast.Name)
            and node.id in self.loop_vars
            and self._constant_collection(self.loop_vars[node.id])
        )

    def _constant_collection(self, node: ast.expr) -> bool:
        """Return True for a literal collection of constants (see Resolution)."""
        raise NotImplementedError
