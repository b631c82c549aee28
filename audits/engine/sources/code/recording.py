"""Record connections, execute calls and their SQL as the walker meets them."""

from __future__ import annotations

import ast
import re
from typing import Any, NamedTuple

from audits.engine.sources.code_sql import (
    DYN,
    analyse_sql,
    looks_like_sql,
    split_script,
)

from .facts import CodeUse, ConnectSite, Interpolation, SqlUse, TxnOp
from .patterns import (
    _CONN_PARAM,
    _EXECUTE_METHODS,
    _ONE_ROW_WORD,
    _SERVER_FACTORIES,
    _SESSION_CALL,
    _SQL_FIRST_METHODS,
    _SQLITE_FACTORIES,
)
from .resolve import Resolution, _Resolved
from .syntax import (
    FIELD_OR_ITEM,
    SEQUENCE_TYPES,
    _const_str,
    _dotted,
    _kw,
    _names,
    _snippet,
    _unwrap_await,
)


def _expr_text(expr: ast.expr) -> str:
    """Return ``ast.unparse(expr)``, a plain name or ``a.b.c`` without unparsing."""
    node = expr
    while node.__class__ is ast.Attribute:
        node = node.value
    if node.__class__ is ast.Name:
        return _dotted(expr)
    return ast.unparse(expr)


def _single_row_name(node: ast.Call) -> bool:
    """Return True when the called helper's name says it returns one row."""
    name = _dotted(node.func).split(".")[-1]
    return name in ("fetchrow", "fetchval") or bool(
        _ONE_ROW_WORD.search(name.replace("_", " "))
    )


class _SqlArguments(NamedTuple):
    """The names a statement's arguments use, under SqlUse's field names."""

    arg_names: tuple[str, ...]  # every name the arguments use
    param_names: tuple[tuple[str, ...], ...]  # per positional placeholder
    param_origins: tuple[str, ...]  # parameters or request names they come from
    position_origins: tuple[tuple[str, ...], ...]
    position_attrs: tuple[bool, ...]  # a field of an object in hand


class SqlRecording(Resolution):
    """Record connection sites, execute calls and the SQL they run."""

    def _connection_expr(self, expr: ast.AST, name: str, context: str) -> str:
        """Record ``expr`` if it opens a connection; return its identity."""
        if not isinstance(expr, ast.Call):
            return ""
        dotted = _dotted(expr.func)
        factory = dotted
        driver = _SQLITE_FACTORIES.get(dotted) or _SERVER_FACTORIES.get(dotted)
        if (
            driver is None
            and dotted.endswith(".connect")
            and dotted.split(".")[0] in ("sqlite3", "aiosqlite")
        ):
            driver = "sqlite"
        conn_id = f"local:{name or 'expr'}@{expr.lineno}:{expr.col_offset}"
        if driver is None:
            if _SESSION_CALL.search(dotted) and not dotted.startswith("self."):
                self.local_conns.append(conn_id)
                return conn_id
            # Perhaps a project helper that hands out connections; whether
            # it does is settled once every function is known.
            if name and (
                _CONN_PARAM.search(name) or re.search(r"conn|db|session|cursor", name)
            ):
                self.helper_conns.append((conn_id, dotted.split(".")[-1]))
                return conn_id
            return ""
        self.col.connects.append(
            ConnectSite(
                **self._where(expr.lineno),
                factory=factory,
                driver=driver,
                name=name,
                context=context,
                **self._connect_options(expr, driver),
            )
        )
        self.local_conns.append(conn_id)
        return conn_id

    def _where(self, line: int) -> dict[str, Any]:
        """Return the fields every fact found at ``line`` of this function shares."""
        return {
            "file": self.mod.rel,
            "line": line,
            "function": self.qualname,
            "loop_depth": len(self.loops),
            "in_test": self.mod.is_test,
            "snippet": _snippet(self.mod.lines, line),
        }

    def _connect_options(self, expr: ast.Call, driver: str) -> dict[str, Any]:
        """Return how a connection is set up: its timeout, URL and pool options."""
        timeout_node = _kw(expr, "timeout")
        if timeout_node is None and driver == "sqlite" and len(expr.args) > 1:
            timeout_node = expr.args[1]
        timeout: float | None = None
        if isinstance(timeout_node, ast.Constant) and isinstance(
            timeout_node.value, int | float
        ):
            timeout = float(timeout_node.value)
        url = ""
        if expr.args:
            url = _const_str(expr.args[0]) or _dotted(expr.args[0])
            resolved = self._resolve(expr.args[0], 0)
            if resolved is not None and not resolved.interps:
                url = resolved.template
            elif resolved is not None and "mode=ro" in resolved.template:
                url = resolved.template  # a read-only URI around a formatted path
        pre_ping = _kw(expr, "pool_pre_ping")
        return {
            "timeout": timeout,
            "timeout_given": timeout_node is not None,
            "readonly": "mode=ro" in url or "immutable=1" in url,
            "url": url,
            "keywords": tuple(kw.arg for kw in expr.keywords if kw.arg),
            "pool_pre_ping": isinstance(pre_ping, ast.Constant)
            and bool(pre_ping.value),
            "pool_recycle": _kw(expr, "pool_recycle") is not None
            or _kw(expr, "check") is not None
            or _kw(expr, "max_idle") is not None,
        }

    def _use(self, node: ast.AST, what: str) -> None:
        line = getattr(node, "lineno", 0)
        self.col.uses.append(
            CodeUse(
                self.mod.rel, line, self.qualname, what, _snippet(self.mod.lines, line)
            )
        )

    def _txn(self, node: ast.Call, op: str, receiver: str) -> None:
        conn = self._conn_of(receiver)
        protected = (
            self.txn_blocks > 0 or any(self.try_rollback) or conn in self.with_conns
        )
        if op == "commit" and self.yielded:
            self.commits_after_yield = True
        self.txn.append(
            TxnOp(node.lineno, op, receiver, conn, protected, self._loop_line())
        )

    def _params_literals(self, node: ast.expr | None) -> tuple[tuple[str, str], ...]:
        if node is None:
            return ()
        if isinstance(node, ast.Name) and node.id in self.str_assigns:
            node = self.str_assigns[node.id][-1]
        out: list[tuple[str, str]] = []
        if isinstance(node, SEQUENCE_TYPES):
            for i, elt in enumerate(node.elts):
                lit = self._literal(elt)
                if lit is not None:
                    out.append((f"?{i}", lit))
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=False):
                k = _const_str(key)
                lit = self._literal(value)
                if k is not None and lit is not None:
                    out.append((f":{k}", lit))
        return tuple(out)

    def _literal(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, str):
                return "'" + node.value + "'"
            if node.value is None:
                return "NULL"
            return str(node.value)
        return None

    def _execute_call(self, node: ast.Call, method: str, receiver: str) -> bool:
        if not node.args:
            sql_node = _kw(node, "sql") or _kw(node, "statement") or _kw(node, "query")
            if sql_node is None:
                return False
        else:
            sql_node = node.args[0]
        sql_node = _unwrap_await(sql_node)  # type: ignore[assignment]
        assert isinstance(sql_node, ast.expr)
        # ``conn.execute(text("..."))`` - the SQL is inside text().
        if isinstance(sql_node, ast.Call):
            self.handled_calls.add(id(sql_node))
        if (
            isinstance(sql_node, ast.Call)
            and _dotted(sql_node.func).split(".")[-1] == "text"
            and sql_node.args
        ):
            sql_node = sql_node.args[0]
        if (
            isinstance(sql_node, ast.Name)
            and sql_node.id in self.params
            and sql_node.id not in self.str_assigns
        ):
            if method in _EXECUTE_METHODS or method in _SQL_FIRST_METHODS:
                self.sql_param = self.params.index(sql_node.id)
                if (
                    len(node.args) > 1
                    and isinstance(node.args[1], ast.Name)
                    and node.args[1].id in self.params
                ):
                    self.params_param = self.params.index(node.args[1].id)
            return False
        resolved = self._resolve(sql_node, 0)
        if resolved is None:
            return False
        if method in _SQL_FIRST_METHODS | {"text"} and not looks_like_sql(
            resolved.template.replace(DYN, "x")
        ):
            return False
        if method == "text" and receiver not in ("", "sa", "sqlalchemy", "sql"):
            return False
        if method == "text" and id(node) in self.handled_calls:
            return True
        params_node = (
            node.args[1]
            if len(node.args) > 1
            else (_kw(node, "params") or _kw(node, "parameters"))
        )
        if method == "extra":
            return False
        self._record_sql(
            node,
            method,
            receiver,
            self._conn_of(receiver),
            resolved,
            params_node,
            via="",
        )
        return True

    def _record_sql(
        self,
        node: ast.Call,
        method: str,
        receiver: str,
        conn: str,
        resolved: _Resolved,
        params_node: ast.expr | None,
        via: str,
        pending: bool = False,
        arg_index: int = 0,
    ) -> None:
        interps = tuple(
            self._interpolation(i, expr, ids)
            for i, (expr, ids) in enumerate(resolved.interps)
        )
        template = resolved.template
        pieces = split_script(template) if method == "executescript" else [template]
        params = self._params_literals(params_node)
        # The pieces of a script share everything but their SQL.
        shared: dict[str, Any] = {
            **self._where(node.lineno),
            "method": method,
            "receiver": receiver,
            "conn": conn,
            "built": resolved.built,
            "interpolations": interps,
            "param_literals": params,
            "loop_line": self._loop_line(),
            "result_names": self.pending_targets,
            "single_row": id(node) in self.single_calls or _single_row_name(node),
            "via": via,
            "once": self._runs_once(),
            **self._sql_arguments(node, params_node, template)._asdict(),
        }
        for piece in pieces or [template]:
            info = analyse_sql(piece)
            use = SqlUse(sql=info, template=piece, **shared)
            if pending:
                self.col.pending.append(
                    (use, _dotted(node.func), arg_index, None, list(node.args))
                )
            else:
                self.col.sql.append(use)
            if info.kind == "alter" and self.in_silent_try:
                self.alters_in_try.append(node.lineno)
            if info.kind == "pragma" and info.pragma and receiver:
                base = receiver.split(".")[0]
                if base in self.params:
                    self.col.param_pragmas.setdefault(self.qualname, []).append(
                        (base, *info.pragma)
                    )

    def _sql_arguments(
        self, node: ast.Call, params_node: ast.expr | None, template: str
    ) -> _SqlArguments:
        """Return the names a statement's arguments use and where they come from."""
        args = node.args
        positional = self._positional_params(node, params_node, template)
        per_arg = [_names(a) for a in args[1:]]
        if positional and len(args) > 1 and positional[0] is args[1]:
            position_names = tuple(per_arg)
        else:
            position_names = tuple([_names(a) for a in positional])
        names: tuple[str, ...] = per_arg[0] if len(per_arg) == 1 else ()
        if len(per_arg) > 1:
            for used in per_arg:
                names += used
        for k in node.keywords:
            names += _names(k.value)
        attrs = tuple([isinstance(a, FIELD_OR_ITEM) for a in positional])
        if not names:
            return _SqlArguments(
                (), position_names, (), ((),) * len(position_names), attrs
            )
        # Every name the arguments use, traced once to the parameters it comes from.
        origins = self._origins_of(names)
        if origins:
            origin_list = self._origin_list
            position_origins = tuple([origin_list(used) for used in position_names])
        else:
            position_origins = ((),) * len(position_names)
        return _SqlArguments(
            names, position_names, tuple(sorted(origins)), position_origins, attrs
        )

    def _positional_params(
        self, node: ast.Call, params_node: ast.expr | None, template: str
    ) -> list[ast.expr]:
        """Return the expressions bound to the statement's positional placeholders."""
        args = node.args
        if len(args) < 2 and params_node is None:
            return []
        for a in args:
            if a.__class__ is ast.Starred:
                return []  # ``*args``: which value fills which placeholder is unknown
        if len(args) > 2 or (len(args) == 2 and "$1" in template):
            return list(node.args[1:])  # asyncpg style: conn.execute(sql, a, b)
        if params_node is not None and isinstance(params_node, SEQUENCE_TYPES):
            return list(params_node.elts)
        return []

    def _interpolation(self, index: int, expr: ast.expr, ids: bool) -> Interpolation:
        """Return a formatted-in value: whether it is safe and where it comes from."""
        origins = self._origins(expr)
        params = tuple(
            sorted(self.params.index(o) for o in origins if o in self.params)
        )
        return Interpolation(
            index,
            _expr_text(expr)[:120],
            self._safe(expr),
            ids,
            params=params,
            external=bool(origins - self.safe_params),
        )

    def _maybe_wrapper_call(
        self, node: ast.Call, name: str, dotted: str, receiver: str
    ) -> None:
        """Remember a call that passes SQL to what may be a project wrapper."""
        for index, arg in enumerate(node.args[:2]):
            resolved = self._resolve(arg, 0)
            if resolved is None or not looks_like_sql(
                resolved.template.replace(DYN, "x")
            ):
                continue
            params_node = node.args[index + 1] if len(node.args) > index + 1 else None
            self._record_sql(
                node,
                name,
                receiver,
                "",
                resolved,
                params_node,
                via=dotted,
                pending=True,
                arg_index=index,
            )
            return
