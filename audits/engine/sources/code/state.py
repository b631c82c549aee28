"""The walker's state while it reads one function, and the helpers over it."""

from __future__ import annotations

import ast

from .context import _Collector, _Module
from .facts import CallSite, LoopInfo, TxnOp
from .patterns import _CONN_PARAM
from .syntax import FUNCTION_TYPES


class WalkerState(ast.NodeVisitor):
    """The state of one function walk: connections, loops, assignments, calls."""

    # Flags and single values start at their class default: the walker builds
    # one state per function, tens of thousands per scan.
    txn_blocks = 0
    returns_connection = False
    yields_connection = False
    yielded = False
    commits_after_yield = False
    in_silent_try = 0
    sql_param: int | None = None
    params_param: int | None = None
    pending_targets: tuple[str, ...] = ()
    returns_call = ""

    def __init__(
        self,
        mod: _Module,
        col: _Collector,
        qualname: str,
        node: ast.AST | None,
        class_name: str = "",
        class_bases: tuple[str, ...] = (),
    ) -> None:
        self.mod = mod
        self.col = col
        self.qualname = qualname
        self.node = node
        self.class_name = class_name
        self.params: list[str] = []
        if isinstance(node, FUNCTION_TYPES):
            a = node.args
            self.params = [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs]
            # *args and **kwargs last, so positions of the others stay
            self.params += [v.arg for v in (a.vararg, a.kwarg) if v is not None]
        self.loops: list[int] = []
        self.loop_infos: list[LoopInfo] = []
        self.with_conns: list[str] = []
        self.try_rollback: list[bool] = []
        self.conns: dict[str, str] = {}
        self.local_conns: list[str] = []
        self.str_assigns: dict[str, list[ast.expr]] = {}
        self.loop_vars: dict[str, ast.expr] = {}
        self.allowlisted: set[str] = set()
        self.calls: list[CallSite] = []
        self.txn: list[TxnOp] = []
        self.assigns: list[tuple[int, tuple[str, ...], tuple[str, ...]]] = []
        self.if_tests: list[tuple[int, tuple[str, ...]]] = []
        self.aggregates: list[tuple[int, tuple[str, ...]]] = []
        self.alters_in_try: list[int] = []
        self.helper_conns: list[tuple[str, str]] = []
        self.single_calls: set[int] = set()
        self.handled_calls: set[int] = set()
        self.fetchone_names: set[str] = set()
        self.first_use = len(col.sql)
        self.first_pending = len(col.pending)
        # Names bound in this function (they hide imports of the same name),
        # function-local imports and nested functions, and the classes of
        # variables known from a constructor call or an annotation.
        self.bound: set[str] = set(self.params)
        self.local_names: dict[str, str] = {}
        self.var_types: dict[str, str] = {}
        # Whether each enclosing block ends the innermost loop, and where the
        # blocks of each loop start.
        self.exits: list[bool] = []
        self.loop_exit_depth: list[int] = []
        # name -> the parameters (or request names) its value is computed
        # from; a parameter not yet reassigned stands for itself
        self.derived: dict[str, frozenset[str]] = {}
        self.seeds: set[str] = set(self.params) - {"self", "cls"}
        self.appended: dict[str, list[ast.expr]] = {}  # list name -> appended values
        self.safe_params: set[str] = set()  # annotated as numbers or literals
        self.returned: set[str] = set()
        for p in self.params:
            if _CONN_PARAM.search(p):
                self.conns[p] = f"param:{p}"

    def _owner(self) -> str:
        return self.qualname

    def _loop_line(self) -> int | None:
        return self.loops[-1] if self.loops else None

    def _ref(self, name: str) -> None:
        if self.mod.is_test:
            return
        holders = self.col.refs.get(name)
        if holders is None:
            self.col.refs[name] = {self.qualname}
        else:
            holders.add(self.qualname)

    def _conn_of(self, receiver: str) -> str:
        base = receiver.split(".")[0] if receiver else ""
        if receiver in self.conns:
            return self.conns[receiver]
        if base in self.conns and not receiver.startswith("self."):
            return self.conns[base]
        if receiver.startswith(("self.", "cls.")):
            return f"attr:{receiver}"
        if receiver:
            return f"global:{receiver}"
        return "unknown"
