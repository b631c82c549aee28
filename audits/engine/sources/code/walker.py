"""Walk one function body (or a module's top level) in source order.

``FunctionWalker`` is assembled from the mixins of this package: the state
(:mod:`.state`), SQL resolution (:mod:`.resolve`), recording of connections
and statements (:mod:`.recording`) and ORM calls (:mod:`.orm`); this module
holds the visiting itself: loops, ``with`` blocks, ``try``, assignments and
calls.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from .context import _Collector, _constant_facts, _Module
from .facts import CallSite, FunctionInfo, LoopInfo
from .knowledge import reads_database
from .orm import OrmCalls, _orm_model
from .patterns import (
    _EXECUTE_METHODS,
    _ONE_ROW,
    _RAW_METHODS,
    _SQL_FIRST_METHODS,
    _TRANSACTION_CTX,
)
from .recording import SqlRecording
from .syntax import (
    _LEAF_TYPES,
    FUNCTION_TYPES,
    NAME_OR_FIELD,
    SEQUENCE_TYPES,
    _any_accumulates,
    _child_fields,
    _dotted,
    _is_literal,
    _names,
    _snippet,
    _source_text,
    _targets,
    _unwrap_await,
    _walk,
)

# FunctionInfo field -> the walker's list it is read from, as a tuple
_GATHERED_LISTS = (
    ("calls", "calls"),
    ("txn", "txn"),
    ("loops", "loop_infos"),
    ("local_conns", "local_conns"),
    ("alters_in_try", "alters_in_try"),
    ("assigns", "assigns"),
    ("if_tests", "if_tests"),
    ("aggregate_calls", "aggregates"),
    ("helper_conns", "helper_conns"),
)
# FunctionInfo fields the walker holds under the same name
_GATHERED_VALUES = (
    "returns_connection",
    "yields_connection",
    "commits_after_yield",
    "sql_param",
    "params_param",
    "returns_call",
)

# node type -> the walker method that visits it, filled as types are met
_DISPATCH: dict[type[ast.AST], Callable[[FunctionWalker, ast.AST], None]] = {}


def _method_for(cls: type[ast.AST]) -> Callable[[FunctionWalker, ast.AST], None]:
    """Return (and remember) the walker method that visits nodes of ``cls``."""
    method = _DISPATCH[cls] = (
        FunctionWalker._skip
        if issubclass(cls, _LEAF_TYPES)
        else getattr(
            FunctionWalker, "visit_" + cls.__name__, FunctionWalker.generic_visit
        )
    )
    return method


def _walk_function(
    mod: _Module,
    col: _Collector,
    qualname: str,
    node: ast.FunctionDef | ast.AsyncFunctionDef,
    class_name: str,
) -> None:
    decorators = tuple(_dotted(d) for d in node.decorator_list)
    walker = FunctionWalker(mod, col, qualname, node, class_name)
    walker.run()
    col.functions.append(walker.finish(node, decorators))
    for d in node.args.defaults + node.args.kw_defaults:
        if d is not None:
            walker.visit(d)


def _walk_class(mod: _Module, col: _Collector, node: ast.ClassDef, outer: str) -> None:
    prefix = (
        mod.module + "."
        if outer == "<module>" and mod.module
        else ("" if outer == "<module>" else outer + ".")
    )
    qual = prefix + node.name
    bases = tuple(_dotted(b) for b in node.bases)
    resolved = []
    for base in bases:
        head, _, rest = base.partition(".")
        full = mod.names.get(head, "")
        resolved.append(f"{full}.{rest}" if full and rest else full or base)
    col.class_bases[qual] = tuple(resolved)
    top = FunctionWalker(mod, col, outer if outer != "<module>" else "<module>", None)
    for b in node.bases + [k.value for k in node.keywords] + node.decorator_list:
        top.visit(b)
    model = _orm_model(mod, node, bases)
    if model is not None:
        col.models.append(model)
    class_walker = FunctionWalker(mod, col, "<module>", None, class_name=node.name)
    for stmt in node.body:
        if isinstance(stmt, FUNCTION_TYPES):
            decorators = tuple(_dotted(d) for d in stmt.decorator_list)
            for d in stmt.decorator_list:
                class_walker.visit(d)
            walker = FunctionWalker(
                mod, col, f"{qual}.{stmt.name}", stmt, class_name=node.name
            )
            walker.run()
            info = walker.finish(stmt, decorators)
            # Methods a framework calls by convention are entry points.
            if bases and stmt.name in (
                "ready",
                "handle",
                "run",
                "setup",
                "dispatch",
                "get",
                "post",
                "put",
                "patch",
                "delete",
                "execute",
                "perform_create",
                "save",
            ):
                info = replace(info, decorators=info.decorators + ("framework-hook",))
            col.functions.append(info)
        elif isinstance(stmt, ast.ClassDef):
            _walk_class(mod, col, stmt, qual)
        else:
            class_walker.visit(stmt)


_RECEIVERS = frozenset({"self", "cls"})


class FunctionWalker(SqlRecording, OrmCalls):
    """Walk one function body (or a module's top level) in source order."""

    def visit(self, node: ast.AST) -> None:
        """Visit ``node``; the method for each node type is looked up once."""
        method = _DISPATCH.get(node.__class__) or _method_for(node.__class__)
        method(self, node)

    def generic_visit(self, node: ast.AST) -> None:
        """Visit the children of ``node`` (as :class:`ast.NodeVisitor` does).

        Each child's method is called straight from the dispatch table: this
        runs for most of the hundreds of thousands of nodes a scan reads.
        """
        dispatch = _DISPATCH
        for name in _child_fields(node.__class__):
            value = getattr(node, name, None)
            if value.__class__ is list:
                for item in value:
                    if isinstance(item, ast.AST):
                        cls = item.__class__
                        (dispatch.get(cls) or _method_for(cls))(self, item)
            elif isinstance(value, ast.AST):
                cls = value.__class__
                (dispatch.get(cls) or _method_for(cls))(self, value)

    def _skip(self, node: ast.AST) -> None:
        return None

    def _arg_origin(self, used: tuple[str, ...]) -> tuple[str, ...]:
        """Return the parameters and request names an argument is computed from.

        The receiver (``self``, ``cls``) is the object, not data, and a
        parameter annotated as a number or literal carries no SQL.
        """
        if not used:
            return ()
        if len(used) == 1 and used[0] not in self.derived:
            # One name that is not computed from others: itself or nothing
            # (the commonest argument, answered without building sets).
            alone = self._origin_list(used)
            if not alone or alone[0] in self.safe_params or alone[0] in _RECEIVERS:
                return ()
            return alone
        found = self._origins_of(used) - self.safe_params
        return tuple(sorted(found - _RECEIVERS)) if found else ()

    def run(self) -> None:
        if isinstance(self.node, FUNCTION_TYPES):
            self._note_parameters(self.node)
        body = getattr(self.node, "body", None) if self.node is not None else None
        stmts = body if isinstance(body, list) else self.mod.tree.body
        for stmt in stmts:
            self.visit(stmt)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._nested(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._nested(node)

    def _nested(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for dec in node.decorator_list:
            self.visit(dec)
        prefix = "" if self.qualname == "<module>" else self.qualname + "."
        if self.qualname == "<module>":
            prefix = self.mod.module + "." if self.mod.module else ""
        if self.node is not None:
            self.local_names[node.name] = prefix + node.name
        _walk_function(self.mod, self.col, prefix + node.name, node, self.class_name)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        _walk_class(self.mod, self.col, node, self.qualname)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self.visit(node.body)

    def _loop(self, node: ast.For | ast.AsyncFor | ast.While) -> None:
        if isinstance(node, ast.While):
            self.visit(node.test)
            kind, iter_names, iter_sql = "while", _names(node.test), None
        else:
            self.visit(node.iter)
            kind = "async for" if isinstance(node, ast.AsyncFor) else "for"
            iter_names = _names(node.iter)
            inner = _unwrap_await(node.iter)
            iter_sql = (
                node.iter.lineno
                if isinstance(inner, ast.Call)
                and isinstance(inner.func, ast.Attribute)
                and inner.func.attr in _EXECUTE_METHODS | {"fetchall", "all", "scalars"}
                else None
            )
            if isinstance(node.target, ast.Name):
                self.loop_vars[node.target.id] = node.iter
            self.assigns.append((node.lineno, _targets(node.target), iter_names))
            self._derive(_targets(node.target), iter_names)
            self.bound.update(_targets(node.target))
        accumulates = _any_accumulates(node.body, self.mod.accumulating)
        self.loops.append(node.lineno)
        self.loop_exit_depth.append(len(self.exits))
        self._visit_block(node.body)
        self.loop_exit_depth.pop()
        self.loops.pop()
        for stmt in node.orelse:
            self.visit(stmt)
        iterated = None if isinstance(node, ast.While) else node.iter
        self.loop_infos.append(
            LoopInfo(
                line=node.lineno,
                end_line=getattr(node, "end_lineno", node.lineno) or node.lineno,
                kind=kind,
                iter_names=iter_names,
                iter_sql_line=iter_sql,
                accumulates=accumulates,
                iter_text=_source_text(iterated, self.mod.lines)
                if iterated is not None
                else "",
                literal_size=self._literal_size(iterated),
            )
        )

    visit_For = _loop
    visit_AsyncFor = _loop
    visit_While = _loop

    def _comprehension(
        self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp
    ) -> None:
        first, *rest = node.generators
        self.visit(first.iter)
        for gen in node.generators:
            if isinstance(gen.target, ast.Name):
                self.loop_vars[gen.target.id] = gen.iter
            iter_names = _names(gen.iter)
            self.assigns.append((node.lineno, _targets(gen.target), iter_names))
            self._derive(_targets(gen.target), iter_names)
        for gen in node.generators:
            for cond in gen.ifs:
                if any(
                    isinstance(n, ast.Compare)
                    and any(isinstance(op, ast.In) for op in n.ops)
                    for n in _walk(cond)
                ):
                    self.allowlisted.update(self.pending_targets)
        self.loops.append(node.lineno)
        self.loop_exit_depth.append(len(self.exits))
        for gen in rest:
            self.visit(gen.iter)
        for gen in node.generators:
            for cond in gen.ifs:
                self.visit(cond)
        if isinstance(node, ast.DictComp):
            self.visit(node.key)
            self.visit(node.value)
        else:
            self.visit(node.elt)
        self.loop_exit_depth.pop()
        self.loops.pop()
        self.loop_infos.append(
            LoopInfo(
                line=node.lineno,
                end_line=getattr(node, "end_lineno", node.lineno) or node.lineno,
                kind="comprehension",
                iter_names=_names(first.iter),
                iter_text=_source_text(first.iter, self.mod.lines),
                literal_size=self._literal_size(first.iter),
            )
        )

    visit_ListComp = _comprehension
    visit_SetComp = _comprehension
    visit_GeneratorExp = _comprehension
    visit_DictComp = _comprehension

    def _with(self, node: ast.With | ast.AsyncWith) -> None:
        pushed = 0
        txn = 0
        for item in node.items:
            expr = _unwrap_await(item.context_expr)
            self.visit(item.context_expr)
            name = (
                item.optional_vars.id
                if isinstance(item.optional_vars, ast.Name)
                else ""
            )
            if name:
                self.bound.add(name)
            dotted = _dotted(expr.func) if isinstance(expr, ast.Call) else _dotted(expr)
            conn_id = self._connection_expr(
                expr, name, "with" if isinstance(node, ast.With) else "async with"
            )
            if conn_id:
                if name:
                    self.conns[name] = conn_id
                self.with_conns.append(conn_id)
                pushed += 1
            elif isinstance(expr, NAME_OR_FIELD) and _dotted(expr) in self.conns:
                # ``with conn:`` on sqlite3 commits or rolls back the block.
                self.with_conns.append(self.conns[_dotted(expr)])
                pushed += 1
                txn += 1
            elif _TRANSACTION_CTX.search(dotted.rstrip("()")) or dotted.endswith(
                ("closing", "contextlib.closing")
            ):
                txn += 1
            if (
                name
                and isinstance(expr, ast.Call)
                and isinstance(expr.func, ast.Attribute)
                and expr.func.attr in ("cursor", "execute")
            ):
                base = _dotted(expr.func.value)
                self.conns[name] = self._conn_of(base)
        self.txn_blocks += txn
        self._visit_block(node.body)
        self.txn_blocks -= txn
        for _ in range(pushed):
            self.with_conns.pop()

    visit_With = _with
    visit_AsyncWith = _with

    def visit_Try(self, node: ast.Try) -> None:
        rollback = any(
            isinstance(n, ast.Attribute) and n.attr == "rollback"
            for h in node.handlers
            for n in _walk(h)
        ) or any(
            isinstance(n, ast.Attribute) and n.attr in ("rollback", "close")
            for s in node.finalbody
            for n in _walk(s)
        )
        silent = any(
            all(
                isinstance(s, ast.Pass | ast.Continue)
                or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
                for s in h.body
            )
            or any(isinstance(s, ast.Pass) for s in h.body)
            for h in node.handlers
        )
        self.try_rollback.append(rollback)
        self.in_silent_try += int(silent)
        self._visit_block(node.body)
        self.in_silent_try -= int(silent)
        self.try_rollback.pop()
        for h in node.handlers:
            if h.type is not None:
                self.visit(h.type)
            self._visit_block(h.body)
        self._visit_block(node.orelse)
        self._visit_block(node.finalbody)

    visit_TryStar = visit_Try  # type: ignore[assignment]

    def visit_If(self, node: ast.If) -> None:
        self.if_tests.append((node.lineno, _names(node.test)))
        self._note_allowlist(node.test)
        self.visit(node.test)
        self._visit_block(node.body)
        self._visit_block(node.orelse)

    def visit_Assert(self, node: ast.Assert) -> None:
        self._note_allowlist(node.test)
        self.generic_visit(node)

    def _note_allowlist(self, test: ast.expr) -> None:
        for n in _walk(test):
            if isinstance(n, ast.Compare) and any(
                isinstance(op, ast.In | ast.NotIn) for op in n.ops
            ):
                for name in _names(n.left):
                    self.allowlisted.add(name)
                # ``'"' not in name``: the value is refused when it could quote out
                if isinstance(n.left, ast.Constant) and str(n.left.value) in (
                    '"',
                    "'",
                    ";",
                ):
                    for comparator in n.comparators:
                        self.allowlisted.update(_names(comparator))

    def visit_Return(self, node: ast.Return) -> None:
        if node.value is not None:
            self.returned.update(_names(node.value))
            value = _unwrap_await(node.value)
            if self._connection_expr(value, "", "return") or (
                isinstance(value, ast.Name)
                and value.id in self.conns
                and self.conns[value.id].startswith("local:")
            ):
                self.returns_connection = True
            elif isinstance(value, ast.Call):
                self.returns_call = _dotted(value.func).split(".")[-1]
            self.visit(node.value)

    def visit_Yield(self, node: ast.Yield) -> None:
        if isinstance(node.value, ast.Name) and node.value.id in self.conns:
            self.yields_connection = True
        self.yielded = True
        if node.value is not None:
            self.visit(node.value)

    def _assign_common(
        self, targets: list[ast.expr], value: ast.expr | None, line: int
    ) -> None:
        names: tuple[str, ...] = ()
        for t in targets:
            names += _targets(t)
        if value is None:
            return
        value_names = _names(value)
        self.assigns.append((line, names, value_names))
        # Rows read from the database are the database's values, not input.
        self._derive(names, () if reads_database(value) else value_names)
        inner = _unwrap_await(value)
        single = [t.id for t in targets if isinstance(t, ast.Name)]
        self._note_types(targets, inner)
        if single:
            conn_id = self._connection_expr(inner, single[0], "assign")
            if (
                isinstance(inner, ast.Call)
                and isinstance(inner.func, ast.Name)
                and inner.func.id[:1].isupper()
            ):
                for n in single:
                    self.col.instances[n] = inner.func.id
            if conn_id:
                for n in single:
                    self.conns[n] = conn_id
            elif (
                isinstance(inner, ast.Call)
                and isinstance(inner.func, ast.Attribute)
                and inner.func.attr in ("cursor", "execute", "connection", "connect")
                and _dotted(inner.func.value) in self.conns
            ):
                for n in single:
                    self.conns[n] = self.conns[_dotted(inner.func.value)]
            for n in single:
                self.str_assigns.setdefault(n, []).append(value)
        for t in targets:
            if isinstance(t, ast.Attribute) and isinstance(value, ast.Constant):
                self._orm_attribute_write(t, value, line)
            if (
                not single
                and isinstance(t, ast.Attribute)
                and isinstance(t.value, ast.Name)
                and t.value.id == "self"
            ):
                # ``self.conn = sqlite3.connect(...)``: a connection kept on the object
                self._connection_expr(inner, f"self.{t.attr}", "assign")
        self.pending_targets = names
        self.visit(value)
        self.pending_targets = ()

    def visit_Assign(self, node: ast.Assign) -> None:
        self._assign_common(node.targets, node.value, node.lineno)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        hint = self._type_name(node.annotation)
        self._assign_common([node.target], node.value, node.lineno)
        if hint and isinstance(node.target, ast.Name):
            self.var_types[node.target.id] = hint

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.target, ast.Name) and isinstance(node.op, ast.Add):
            self.str_assigns.setdefault(node.target.id, []).append(
                ast.BinOp(
                    left=ast.Name(id=node.target.id, ctx=ast.Load()),
                    op=ast.Add(),
                    right=node.value,
                    lineno=node.lineno,
                    col_offset=0,
                )
            )
        refs = _names(node.value) + _targets(node.target)
        self.assigns.append((node.lineno, _targets(node.target), refs))
        self._derive(_targets(node.target), refs)
        if isinstance(node.target, ast.Name) and isinstance(node.value, ast.List):
            self.appended.setdefault(node.target.id, []).extend(node.value.elts)
        self.visit(node.value)

    def visit_Import(self, node: ast.Import) -> None:
        self.col.imports.update(a.name.split(".")[0] for a in node.names)
        self._note_import(node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module:
            self.col.imports.add(node.module.split(".")[0])
        self._note_import(node)

    def visit_Expr(self, node: ast.Expr) -> None:
        if isinstance(node.value, ast.Constant):
            return  # a docstring or a bare string: prose, not a call or a command
        self.visit(node.value)

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self._ref(node.id)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in _ONE_ROW:
            inner = _unwrap_await(node.value)
            if isinstance(inner, ast.Call):
                self.single_calls.add(id(inner))
        self._ref(node.attr)
        self.visit(node.value)

    def visit_Constant(self, node: ast.Constant) -> None:
        if not isinstance(node.value, str):
            return
        text = node.value
        facts = self.col.constant_facts.get(text)
        if facts is None:
            facts = self.col.constant_facts[text] = _constant_facts(text)
        kinds, words = facts
        self.col.keywords.update(kinds)
        for word in words:
            self._ref(word)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        dotted = _dotted(func)
        name = (
            func.attr
            if isinstance(func, ast.Attribute)
            else (func.id if isinstance(func, ast.Name) else "")
        )
        receiver = _dotted(func.value) if isinstance(func, ast.Attribute) else ""
        handled = False
        if (
            name in _EXECUTE_METHODS
            or name in _SQL_FIRST_METHODS
            or name in _RAW_METHODS
            or name == "text"
        ):
            handled = self._execute_call(node, name, receiver)
        if name in ("append", "extend", "insert") and node.args:
            self._note_append(func, node.args, name)
        if name in ("fetchone", "first", "scalar", "one", "one_or_none") and receiver:
            self.fetchone_names.add(receiver.split(".")[0])
        if name in ("commit", "rollback") and isinstance(func, ast.Attribute):
            self._txn(node, name, receiver)
        if name == "declarative_base":
            self._use(node, "declarative_base")
        if name in ("filter", "where", "filter_by", "having"):
            self._orm_filter(node)
        if name in ("create", "update", "get_or_create", "update_or_create") or (
            name and name[:1].isupper() and node.keywords
        ):
            self._orm_kwargs_write(node, name, receiver)
        if name == "backup" or name == "iterdump":
            self.col.keywords.add("backup")
        if name in ("set_trace_callback", "listens_for", "execute_wrapper"):
            self.col.keywords.add("slowlog")
        if (
            name in ("sum", "max", "min", "mean", "fmean", "median", "Counter")
            and node.args
        ):
            self.aggregates.append((node.lineno, _names(node.args[0])))
        if name and not handled:
            self.calls.append(self._call_site(node, name, dotted, func))
            self._maybe_wrapper_call(node, name, dotted, receiver)
        self.generic_visit(node)

    def _call_site(
        self, node: ast.Call, name: str, dotted: str, func: ast.expr
    ) -> CallSite:
        """Return the call graph's record of one call, its arguments' origins.

        What a caller passes (each argument's origins, constants, keywords)
        and the call's target are read only when a project function has the
        call's name: calls.resolve_call finds no other.
        """
        defined = self.col.defined_names
        reaches = defined is None or name in defined
        snippet = _snippet(self.mod.lines, node.lineno)
        loop_line = self.loops[-1] if self.loops else None
        target = self._call_target(func) if reaches else ""
        arg_names: tuple[str, ...] = ()
        conn_args: list[str] = []
        # Where each argument comes from: the caller's parameters or
        # request names (see CallSite.arg_origins).
        origins: list[tuple[str, ...]] = []
        conns = self.conns
        for arg in [*node.args, *(kw.value for kw in node.keywords)]:
            used = _names(arg)
            arg_names += used
            if reaches:
                origin = self._arg_origin(used)
                # A value passed through quoting or an allow-list carries no SQL.
                origins.append(origin if origin and not self._safe(arg) else ())
            if arg.__class__ is ast.Name or arg.__class__ is ast.Attribute:
                d = _dotted(arg)
                if d in conns:
                    conn_args.append(conns[d])
                    self.col.conn_args.append(
                        (self.qualname, dotted, node.lineno, conns[d], -1)
                    )
        const_args: tuple[bool, ...] = ()
        const_kwargs: tuple[str, ...] = ()
        keywords: tuple[str, ...] = ()
        if reaches:
            const_args = tuple([self._constant_arg(a) for a in node.args])
            const_kwargs = tuple(
                [k.arg for k in node.keywords if k.arg and _is_literal(k.value)]
            )
            keywords = tuple([k.arg or "**" for k in node.keywords])
            if any(a.__class__ is ast.Starred for a in node.args):
                keywords += ("*",)
        return CallSite(
            name=name,
            dotted=dotted,
            line=node.lineno,
            loop_depth=len(self.loops),
            loop_line=loop_line,
            result_names=self.pending_targets,
            arg_names=arg_names,
            conn_args=tuple(conn_args),
            snippet=snippet,
            target=target,
            once=self._runs_once(),
            const_args=const_args,
            const_kwargs=const_kwargs,
            keywords=keywords,
            arg_origins=tuple(origins),
        )

    def _note_append(self, func: ast.expr, args: list[ast.expr], name: str) -> None:
        """Remember what a list is filled with: constant fragments stay constant."""
        if not isinstance(func, ast.Attribute) or not isinstance(func.value, ast.Name):
            return
        values = self.appended.setdefault(func.value.id, [])
        added = args[-1]
        if name == "extend" and isinstance(added, SEQUENCE_TYPES):
            values.extend(added.elts)
        else:
            values.append(added)
        self._derive(
            [func.value.id], (func.value.id, *(n for a in args for n in _names(a)))
        )

    def _gathered(self) -> dict[str, Any]:
        """Return the FunctionInfo fields the walk gathered, read off ``_GATHERED``."""
        out: dict[str, Any] = {
            field: tuple(getattr(self, attr)) for field, attr in _GATHERED_LISTS
        }
        for field in _GATHERED_VALUES:
            out[field] = getattr(self, field)
        return out

    def finish(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef, decorators: tuple[str, ...]
    ) -> FunctionInfo:
        """Return the function's facts."""
        fetchone = self.fetchone_names
        for i in range(self.first_use, len(self.col.sql) if fetchone else 0):
            use = self.col.sql[i]
            if not fetchone.isdisjoint(use.result_names):
                self.col.sql[i] = replace(use, single_row=True)
        for i in range(self.first_pending, len(self.col.pending) if fetchone else 0):
            pending = self.col.pending[i]
            if not fetchone.isdisjoint(pending[0].result_names):
                self.col.pending[i] = (replace(pending[0], single_row=True),) + pending[
                    1:
                ]
        return FunctionInfo(
            qualname=self.qualname,
            name=node.name,
            file=self.mod.rel,
            line=node.lineno,
            end_line=node.end_lineno or node.lineno,
            class_name=self.class_name,
            is_async=isinstance(node, ast.AsyncFunctionDef),
            params=tuple(self.params),
            decorators=decorators,
            in_test=self.mod.is_test,
            **self._gathered(),
            kwargs_param=node.args.kwarg.arg if node.args.kwarg else "",
            returned_names=tuple(sorted(self.returned)),
            appended_names=tuple(sorted(self.appended)),
        )
