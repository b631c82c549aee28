"""Read Python source into code facts: SQL, connections, transactions, models.

:func:`load_code` walks a folder of Python files, parses each with :mod:`ast`
and records what the code checks need: every execute-like call with its SQL
(literals, f-strings, ``%``/``.format`` templates, concatenations, names
assigned earlier), the connections the code opens and how it configures them,
commits and rollbacks, loops, a call graph by name, SQLAlchemy and Django
models with their filters. Nothing is imported or executed.
"""

from __future__ import annotations

import ast
import fnmatch
import gc
import os
import re
import tokenize
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

from audits.engine.vocabulary import skipped_dir

from .code_sql import DYN, SqlInfo, analyse_sql, looks_like_sql, split_script

_CONFIG_FILES = (".sh", ".yml", ".yaml", ".toml", ".cfg", ".ini", ".conf", ".service")
_CONFIG_NAMES = ("Makefile", "Dockerfile", "Procfile", "crontab", "docker-compose.yml")

_EXECUTE_METHODS = frozenset(
    {"execute", "executemany", "executescript", "execute_fetchall", "exec_driver_sql"}
)
_SQL_FIRST_METHODS = frozenset(
    {"fetch", "fetchrow", "fetchval", "read_sql", "read_sql_query", "mogrify"}
)
_RAW_METHODS = frozenset({"raw", "extra"})
_SQLITE_FACTORIES = {"sqlite3.connect": "sqlite", "aiosqlite.connect": "sqlite"}
_SERVER_FACTORIES = {
    "psycopg.connect": "postgresql",
    "psycopg2.connect": "postgresql",
    "psycopg.AsyncConnection.connect": "postgresql",
    "asyncpg.connect": "postgresql",
    "asyncpg.create_pool": "pool",
    "pymysql.connect": "mysql",
    "MySQLdb.connect": "mysql",
    "mysql.connector.connect": "mysql",
    "aiomysql.connect": "mysql",
    "create_engine": "engine",
    "sqlalchemy.create_engine": "engine",
    "create_async_engine": "engine",
    "ConnectionPool": "pool",
    "AsyncConnectionPool": "pool",
    "psycopg_pool.ConnectionPool": "pool",
    "psycopg2.pool.SimpleConnectionPool": "pool",
    "psycopg2.pool.ThreadedConnectionPool": "pool",
}
_CONN_PARAM = re.compile(
    r"^(conn|connection|db|database|cur|cursor|session|sess|c|tx)$|_(conn|db|session|cursor)$"
)
_SESSION_CALL = re.compile(
    r"(Session|SessionLocal|session_factory|sessionmaker|scoped_session)$"
)
_TRANSACTION_CTX = re.compile(
    r"(\.begin|\.begin_nested|atomic|transaction|\.transaction)$"
)
_WRAPPING_DECORATORS = frozenset(
    {
        "staticmethod",
        "classmethod",
        "property",
        "cached_property",
        "functools.wraps",
        "wraps",
        "cache",
        "lru_cache",
        "functools.lru_cache",
        "functools.cache",
        "contextmanager",
        "contextlib.contextmanager",
        "asynccontextmanager",
        "contextlib.asynccontextmanager",
        "abstractmethod",
        "abc.abstractmethod",
        "override",
        "dataclass",
        "retry",
        "shared_task",
        "task",
        "app.task",
        "celery.task",
        "overload",
        "typing.overload",
    }
)
_SAFE_CALLS = frozenset({"int", "float", "len", "bool", "round", "abs"})
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


# ---------------------------------------------------------------- result types


@dataclass(frozen=True)
class Interpolation:
    """A value formatted into a SQL template (f-string, ``%``, ``.format``, +)."""

    index: int
    expr: str
    safe: bool  # a constant, an allowlisted name, a placeholder list, an int
    identifiers: bool = False  # builds a list of names (``", ".join(...)``)


@dataclass(frozen=True)
class SqlUse:
    """One execute-like call and the SQL it runs."""

    file: str
    line: int
    function: str  # qualified name, "<module>" at module level
    method: str  # execute, executemany, raw, text, or a project wrapper's name
    receiver: str  # "conn", "self.db", "" for plain calls
    conn: str  # connection identity inside the function
    sql: SqlInfo
    template: str
    built: str  # literal, fstring, percent, format, concat
    interpolations: tuple[Interpolation, ...] = ()
    param_literals: tuple[tuple[str, str], ...] = ()  # ("?0", "'x'")
    loop_depth: int = 0
    loop_line: int | None = None  # the innermost enclosing loop
    result_names: tuple[str, ...] = ()
    arg_names: tuple[str, ...] = ()
    single_row: bool = False
    via: str = ""  # the project wrapper the SQL went through
    in_test: bool = False
    snippet: str = ""

    def literal_writes(self) -> dict[str, str]:
        """Return column -> literal string value this statement writes."""
        params = dict(self.param_literals)
        out: dict[str, str] = {}
        for column, value in self.sql.written:
            resolved = params.get(value, value) if value[:1] in "?:" else value
            if resolved.startswith("'") and resolved.endswith("'"):
                out[column] = resolved[1:-1]
        return out


@dataclass(frozen=True)
class ConnectSite:
    """A call that opens a connection, engine or pool, and how it is set up."""

    file: str
    line: int
    function: str
    factory: str  # "sqlite3.connect", "create_engine", ...
    driver: str  # sqlite, postgresql, mysql, engine, pool
    name: str = ""  # the variable it is bound to
    context: str = "assign"  # with, async with, assign, return, expr
    timeout: float | None = None  # timeout= when given as a number
    timeout_given: bool = False
    pragmas: tuple[tuple[str, str], ...] = ()
    readonly: bool = False
    url: str = ""
    keywords: tuple[str, ...] = ()
    pool_pre_ping: bool = False
    pool_recycle: bool = False
    loop_depth: int = 0
    in_test: bool = False
    snippet: str = ""


@dataclass(frozen=True)
class CallSite:
    """A call of something by name, for the call graph."""

    name: str  # the last name: ``helper`` in ``mod.helper(...)``
    dotted: str  # ``self.helper``, ``mod.helper``
    line: int
    loop_depth: int = 0
    loop_line: int | None = None
    result_names: tuple[str, ...] = ()
    arg_names: tuple[str, ...] = ()
    conn_args: tuple[str, ...] = ()  # connection identities passed as arguments
    snippet: str = ""


@dataclass(frozen=True)
class TxnOp:
    """A commit or rollback."""

    line: int
    op: str  # commit, rollback
    receiver: str
    conn: str
    protected: bool  # inside try/except-rollback, a transaction block or finally
    loop_line: int | None = None


@dataclass(frozen=True)
class LoopInfo:
    line: int
    end_line: int
    kind: str  # for, async for, while, comprehension
    iter_names: tuple[str, ...] = ()
    iter_sql_line: int | None = None  # iterating straight over an execute call
    accumulates: bool = False  # += or x = x + ... inside


@dataclass(frozen=True)
class FunctionInfo:
    """A function or method: what it calls, runs, opens and commits."""

    qualname: str
    name: str
    file: str
    line: int
    end_line: int
    class_name: str = ""
    is_async: bool = False
    params: tuple[str, ...] = ()
    decorators: tuple[str, ...] = ()
    in_test: bool = False
    calls: tuple[CallSite, ...] = ()
    txn: tuple[TxnOp, ...] = ()
    loops: tuple[LoopInfo, ...] = ()
    local_conns: tuple[str, ...] = ()  # connection identities opened here
    returns_connection: bool = False
    yields_connection: bool = False
    commits_after_yield: bool = False
    alters_in_try: tuple[int, ...] = ()  # lines of ALTER TABLE guarded by except
    assigns: tuple[tuple[int, tuple[str, ...], tuple[str, ...]], ...] = ()
    if_tests: tuple[tuple[int, tuple[str, ...]], ...] = ()
    aggregate_calls: tuple[tuple[int, tuple[str, ...]], ...] = ()
    sql_param: int | None = None  # index of the parameter that carries SQL
    params_param: int | None = None
    # (connection identity, callee) for results of calls that may be
    # connections; settled once every function is known
    helper_conns: tuple[tuple[str, str], ...] = ()
    returns_call: str = ""  # the callee whose result is returned

    @property
    def entry_point(self) -> bool:
        """Return True when a decorator registers it (route, hook, job)."""
        return any(d.split("(")[0] not in _WRAPPING_DECORATORS for d in self.decorators)


@dataclass(frozen=True)
class OrmColumn:
    attr: str
    name: str
    type: str | None
    type_unset: bool = False
    foreign_key: str | None = None
    index: bool = False
    unique: bool = False
    primary_key: bool = False
    onupdate: str | None = None
    default: str | None = None
    server_default: str | None = None
    line: int = 0


@dataclass(frozen=True)
class OrmRelationship:
    attr: str
    target: str
    back_populates: str | None = None
    backref: str | None = None
    line: int = 0


@dataclass(frozen=True)
class OrmModel:
    """An ORM model class (SQLAlchemy declarative or Django)."""

    name: str
    table: str
    file: str
    line: int
    kind: str  # sqlalchemy, django
    columns: tuple[OrmColumn, ...] = ()
    relationships: tuple[OrmRelationship, ...] = ()
    indexes: tuple[tuple[str, ...], ...] = ()

    def column(self, attr: str) -> OrmColumn | None:
        """Return the column mapped to attribute or column ``attr``."""
        for col in self.columns:
            if attr in (col.attr, col.name):
                return col
        return None


@dataclass(frozen=True)
class OrmFilter:
    """A comparison inside an ORM filter/where call."""

    file: str
    line: int
    function: str
    model: str
    column: str
    op: str  # ==, !=, is_, is_not, isnull
    value: str  # None, True, False
    text: str


@dataclass(frozen=True)
class OrmWrite:
    """A literal value an ORM call writes to a model's column."""

    file: str
    line: int
    function: str
    model: str
    column: str
    value: str


@dataclass(frozen=True)
class CodeUse:
    """A use of an API a check cares about (``declarative_base()``...)."""

    file: str
    line: int
    function: str
    what: str
    text: str


@dataclass(frozen=True)
class FileInfo:
    path: str  # relative, POSIX separators
    crlf: int = 0
    lf: int = 0
    lines: int = 0
    is_test: bool = False


@dataclass(frozen=True)
class CodeFacts:
    """Everything the code source learnt about one folder of Python code."""

    root: str
    files: tuple[FileInfo, ...] = ()
    functions: tuple[FunctionInfo, ...] = ()
    sql: tuple[SqlUse, ...] = ()
    connects: tuple[ConnectSite, ...] = ()
    models: tuple[OrmModel, ...] = ()
    filters: tuple[OrmFilter, ...] = ()
    orm_writes: tuple[OrmWrite, ...] = ()
    uses: tuple[CodeUse, ...] = ()
    # name -> qualified names (or "<module>") of non-test code that mention it
    references: tuple[tuple[str, tuple[str, ...]], ...] = ()
    keywords: frozenset[str] = frozenset()  # backup/maintenance/logging markers
    imports: frozenset[str] = frozenset()
    notes: tuple[str, ...] = ()
    other_files: tuple[FileInfo, ...] = ()  # .sql and config files, for line endings

    @cached_property
    def by_qualname(self) -> dict[str, FunctionInfo]:
        """Return the functions keyed by qualified name."""
        return {f.qualname: f for f in self.functions}

    @cached_property
    def by_name(self) -> dict[str, list[FunctionInfo]]:
        """Return the functions keyed by their short name."""
        out: dict[str, list[FunctionInfo]] = {}
        for f in self.functions:
            out.setdefault(f.name, []).append(f)
        return out

    @cached_property
    def refs(self) -> dict[str, tuple[str, ...]]:
        """Return name -> who mentions it."""
        return dict(self.references)

    @cached_property
    def sql_by_function(self) -> dict[str, list[SqlUse]]:
        """Return the SQL uses grouped by qualified function name."""
        out: dict[str, list[SqlUse]] = {}
        for use in self.sql:
            out.setdefault(use.function, []).append(use)
        return out

    @cached_property
    def connects_by_function(self) -> dict[str, list[ConnectSite]]:
        """Return the connection sites grouped by qualified function name."""
        out: dict[str, list[ConnectSite]] = {}
        for site in self.connects:
            out.setdefault(site.function, []).append(site)
        return out

    @cached_property
    def _candidates(
        self,
    ) -> dict[
        str,
        tuple[
            dict[str, FunctionInfo], dict[str, list[FunctionInfo]], list[FunctionInfo]
        ],
    ]:
        """Return, per short name shared by several functions, its candidates
        by class (first of each), by file, and outside tests.

        Indexed once, so resolving a call to a common name such as ``get``
        does not scan every function of that name again.
        """
        out: dict[
            str,
            tuple[
                dict[str, FunctionInfo],
                dict[str, list[FunctionInfo]],
                list[FunctionInfo],
            ],
        ] = {}
        for name, functions in self.by_name.items():
            if len(functions) < 2:
                continue
            by_class: dict[str, FunctionInfo] = {}
            by_file: dict[str, list[FunctionInfo]] = {}
            for f in functions:
                if f.class_name:
                    by_class.setdefault(f.class_name, f)
                by_file.setdefault(f.file, []).append(f)
            out[name] = (by_class, by_file, [f for f in functions if not f.in_test])
        return out

    def resolve(self, call: CallSite, caller: FunctionInfo) -> FunctionInfo | None:
        """Return the project function ``call`` most likely reaches, or None."""
        candidates = self.by_name.get(call.name)
        if not candidates:
            return None
        if len(candidates) == 1:
            return candidates[0]
        by_class, by_file, non_test = self._candidates[call.name]
        if call.dotted.startswith(("self.", "cls.")) and caller.class_name:
            same_class = by_class.get(caller.class_name)
            if same_class is not None:
                return same_class
        same_file = by_file.get(caller.file, ())
        if len(same_file) == 1 and "." not in call.dotted:
            return same_file[0]
        if len(non_test) == 1:
            return non_test[0]
        return None


# ------------------------------------------------------------------ the walker


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


@dataclass
class _Resolved:
    template: str
    built: str
    interps: list[tuple[ast.expr, bool]] = field(default_factory=list)  # (expr, ids)


_PERCENT = re.compile(r"%(?:\((\w+)\))?[-#0 +]*\d*(?:\.\d+)?[sdifr]|%%")
_BRACES = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")


class _Module:
    """Per-file state: constants, imports and the functions being built."""

    def __init__(self, rel: str, module: str, tree: ast.Module, lines: list[str]):
        self.rel = rel
        self.module = module
        self.tree = tree
        self.lines = lines
        self.is_test = _is_test_path(rel)
        self.constants: dict[str, ast.expr] = {}
        self.imports: list[ast.Import | ast.ImportFrom] = []
        # id of a ``.join`` call -> whether it joins placeholders; the tree
        # outlives the walk of the file, so the ids stay unique meanwhile.
        self.placeholder_joins: dict[int, bool] = {}
        # Module and class level only: constants live there, and walking
        # every function body twice would double the cost of a scan.
        pending: list[ast.stmt] = list(tree.body)
        while pending:
            node = pending.pop()
            if isinstance(node, ast.Import | ast.ImportFrom):
                self.imports.append(node)
            elif isinstance(node, ast.ClassDef):
                pending.extend(node.body)
            elif isinstance(node, ast.If | ast.Try):
                pending.extend(node.body + node.orelse)
            elif isinstance(node, ast.Assign) and isinstance(
                node.value, _CONSTANT_NODES
            ):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        self.constants.setdefault(target.id, node.value)
            elif (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(node.value, ast.Constant)
            ):
                self.constants.setdefault(node.target.id, node.value)


_CONSTANT_NODES = (
    ast.Constant,
    ast.Tuple,
    ast.List,
    ast.Set,
    ast.Dict,
    ast.JoinedStr,
    ast.BinOp,
)


def _is_test_path(rel: str) -> bool:
    parts = rel.split("/")
    name = parts[-1]
    return (
        name.startswith("test_")
        or name.endswith("_test.py")
        or name == "conftest.py"
        or any(p in ("tests", "test") for p in parts[:-1])
    )


class _Collector:
    """Project-wide accumulators filled while walking each file."""

    def __init__(self) -> None:
        self.functions: list[FunctionInfo] = []
        self.sql: list[SqlUse] = []
        self.pending: list[tuple[SqlUse, str, int, int | None, list[ast.expr]]] = []
        self.connects: list[ConnectSite] = []
        self.models: list[OrmModel] = []
        self.filters: list[OrmFilter] = []
        self.orm_writes: list[OrmWrite] = []
        self.uses: list[CodeUse] = []
        self.refs: dict[str, set[str]] = {}
        self.keywords: set[str] = set()
        self.imports: set[str] = set()
        # qualname -> [(param name, pragma name, value)]
        self.param_pragmas: dict[str, list[tuple[str, str, str]]] = {}
        self.instances: dict[str, str] = {}  # variable -> project class called
        self.conn_args: list[tuple[str, str, int, str, int]] = []
        # string constant -> (keyword kinds, words): the same strings recur
        self.constant_facts: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}


_KEYWORD_PATTERNS = {
    "backup": re.compile(
        r"\.backup\(|\bvacuum\s+into\b|pg_dump|pg_basebackup|mysqldump|litestream|wal-g|pgbackrest|barman|iterdump|sqlite3_backup|mariabackup|xtrabackup|\.backup\b",
        re.I,
    ),
    "maintenance": re.compile(
        r"\bvacuum\b|\banalyze\b|pragma\s+optimize|auto_vacuum|incremental_vacuum|pg_repack|reindex",
        re.I,
    ),
    "slowlog": re.compile(
        r"log_min_duration_statement|before_cursor_execute|after_cursor_execute|pg_stat_statements|set_trace_callback|slow_query_log|long_query_time|execute_wrapper|django\.db\.backends|auto_explain",
        re.I,
    ),
    "migrations": re.compile(
        r"alembic|schema_migrations|django_migrations|schema_version|yoyo|flyway|liquibase|user_version|migrate\(",
        re.I,
    ),
}


def _keyword_hints() -> tuple[str, ...] | None:
    """Return words one of which every keyword match contains, or None.

    Each alternative of the patterns above is a plain phrase, so its longest
    run of word characters must appear in any text it matches. Looking for
    those words is far cheaper than running the patterns on every string.
    """
    hints: set[str] = set()
    for pattern in _KEYWORD_PATTERNS.values():
        if re.search(r"(?<!\\)[?*{\[(]", pattern.pattern):
            return None  # optional parts or groups: no safe hint
        for alternative in pattern.pattern.split("|"):
            runs = re.split(r"\\.|[^A-Za-z0-9_]", alternative)
            longest = max(runs, key=len)
            if not longest:
                return None
            hints.add(longest.lower())
    return tuple(sorted(hints))


_KEYWORD_HINTS = _keyword_hints()


def _may_hold_keyword(text: str) -> bool:
    if _KEYWORD_HINTS is None:
        return True
    return any(map(text.lower().__contains__, _KEYWORD_HINTS))


class _FunctionWalker(ast.NodeVisitor):
    """Walk one function body (or a module's top level) in source order."""

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
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            a = node.args
            self.params = [p.arg for p in a.posonlyargs + a.args + a.kwonlyargs]
        self.loops: list[int] = []
        self.loop_infos: list[LoopInfo] = []
        self.with_conns: list[str] = []
        self.txn_blocks = 0
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
        self.returns_connection = False
        self.yields_connection = False
        self.yielded = False
        self.commits_after_yield = False
        self.alters_in_try: list[int] = []
        self.in_silent_try = 0
        self.sql_param: int | None = None
        self.params_param: int | None = None
        self.pending_targets: tuple[str, ...] = ()
        self.helper_conns: list[tuple[str, str]] = []
        self.single_calls: set[int] = set()
        self.handled_calls: set[int] = set()
        self.returns_call = ""
        self.fetchone_names: set[str] = set()
        self.first_use = len(col.sql)
        self.first_pending = len(col.pending)
        for p in self.params:
            if _CONN_PARAM.search(p):
                self.conns[p] = f"param:{p}"

    # -- helpers

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

    # -- visiting

    def visit(self, node: ast.AST) -> None:
        """Visit ``node``; the method for each node type is looked up once."""
        cls = node.__class__
        method = _DISPATCH.get(cls)
        if method is None:
            method = _DISPATCH[cls] = (
                _FunctionWalker._skip
                if issubclass(cls, _LEAF_TYPES)
                else getattr(
                    _FunctionWalker,
                    "visit_" + cls.__name__,
                    _FunctionWalker.generic_visit,
                )
            )
        method(self, node)

    def generic_visit(self, node: ast.AST) -> None:
        """Visit the children of ``node`` (as :class:`ast.NodeVisitor` does)."""
        visit = self.visit
        for name in _child_fields(node.__class__):
            value = getattr(node, name, None)
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.AST):
                        visit(item)
            elif isinstance(value, ast.AST):
                visit(value)

    def _skip(self, node: ast.AST) -> None:
        return None

    def run(self) -> None:
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
        accumulates = any(_accumulates(n) for stmt in node.body for n in _walk(stmt))
        self.loops.append(node.lineno)
        for stmt in node.body:
            self.visit(stmt)
        self.loops.pop()
        for stmt in node.orelse:
            self.visit(stmt)
        self.loop_infos.append(
            LoopInfo(
                line=node.lineno,
                end_line=getattr(node, "end_lineno", node.lineno) or node.lineno,
                kind=kind,
                iter_names=iter_names,
                iter_sql_line=iter_sql,
                accumulates=accumulates,
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
            self.assigns.append((node.lineno, _targets(gen.target), _names(gen.iter)))
        for gen in node.generators:
            for cond in gen.ifs:
                if any(
                    isinstance(n, ast.Compare)
                    and any(isinstance(op, ast.In) for op in n.ops)
                    for n in _walk(cond)
                ):
                    self.allowlisted.update(self.pending_targets)
        self.loops.append(node.lineno)
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
        self.loops.pop()
        self.loop_infos.append(
            LoopInfo(
                line=node.lineno,
                end_line=getattr(node, "end_lineno", node.lineno) or node.lineno,
                kind="comprehension",
                iter_names=_names(first.iter),
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
            dotted = _dotted(expr.func) if isinstance(expr, ast.Call) else _dotted(expr)
            conn_id = self._connection_expr(
                expr, name, "with" if isinstance(node, ast.With) else "async with"
            )
            if conn_id:
                if name:
                    self.conns[name] = conn_id
                self.with_conns.append(conn_id)
                pushed += 1
            elif (
                isinstance(expr, ast.Name | ast.Attribute)
                and _dotted(expr) in self.conns
            ):
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
        for stmt in node.body:
            self.visit(stmt)
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
        for stmt in node.body:
            self.visit(stmt)
        self.in_silent_try -= int(silent)
        self.try_rollback.pop()
        for h in node.handlers:
            self.visit(h)
        for stmt in node.orelse + node.finalbody:
            self.visit(stmt)

    visit_TryStar = visit_Try  # type: ignore[assignment]

    def visit_If(self, node: ast.If) -> None:
        self.if_tests.append((node.lineno, _names(node.test)))
        self._note_allowlist(node.test)
        self.generic_visit(node)

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

    def visit_Return(self, node: ast.Return) -> None:
        if node.value is not None:
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
        self.assigns.append((line, names, _names(value)))
        inner = _unwrap_await(value)
        single = [t.id for t in targets if isinstance(t, ast.Name)]
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
        self.pending_targets = names
        self.visit(value)
        self.pending_targets = ()

    def visit_Assign(self, node: ast.Assign) -> None:
        self._assign_common(node.targets, node.value, node.lineno)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._assign_common([node.target], node.value, node.lineno)

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
        self.assigns.append(
            (
                node.lineno,
                _targets(node.target),
                _names(node.value) + _targets(node.target),
            )
        )
        self.visit(node.value)

    def visit_Import(self, node: ast.Import) -> None:
        self.col.imports.update(a.name.split(".")[0] for a in node.names)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module:
            self.col.imports.add(node.module.split(".")[0])

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

    # -- connections

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
        keywords = tuple(kw.arg for kw in expr.keywords if kw.arg)
        pre_ping = _kw(expr, "pool_pre_ping")
        readonly = "mode=ro" in url or "immutable=1" in url
        self.col.connects.append(
            ConnectSite(
                file=self.mod.rel,
                line=expr.lineno,
                function=self.qualname,
                factory=factory,
                driver=driver,
                name=name,
                context=context,
                timeout=timeout,
                timeout_given=timeout_node is not None,
                readonly=readonly,
                url=url,
                keywords=keywords,
                pool_pre_ping=isinstance(pre_ping, ast.Constant)
                and bool(pre_ping.value),
                pool_recycle=_kw(expr, "pool_recycle") is not None
                or _kw(expr, "check") is not None
                or _kw(expr, "max_idle") is not None,
                loop_depth=len(self.loops),
                in_test=self.mod.is_test,
                snippet=_snippet(self.mod.lines, expr.lineno),
            )
        )
        self.local_conns.append(conn_id)
        return conn_id

    # -- calls

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
            arg_names: tuple[str, ...] = ()
            conn_args: list[str] = []
            for arg in list(node.args) + [kw.value for kw in node.keywords]:
                arg_names += _names(arg)
                if isinstance(arg, ast.Name | ast.Attribute):
                    d = _dotted(arg)
                    if d in self.conns:
                        conn_args.append(self.conns[d])
                        self.col.conn_args.append(
                            (self.qualname, dotted, node.lineno, self.conns[d], -1)
                        )
            self.calls.append(
                CallSite(
                    name=name,
                    dotted=dotted,
                    line=node.lineno,
                    loop_depth=len(self.loops),
                    loop_line=self._loop_line(),
                    result_names=self.pending_targets,
                    arg_names=arg_names,
                    conn_args=tuple(conn_args),
                    snippet=_snippet(self.mod.lines, node.lineno),
                )
            )
            self._maybe_wrapper_call(node, name, dotted, receiver)
        self.generic_visit(node)

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
        if isinstance(node, ast.Tuple | ast.List):
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
            Interpolation(i, ast.unparse(expr)[:120], self._safe(expr), ids)
            for i, (expr, ids) in enumerate(resolved.interps)
        )
        template = resolved.template
        pieces = split_script(template) if method == "executescript" else [template]
        params = self._params_literals(params_node)
        arg_names: tuple[str, ...] = ()
        for a in list(node.args[1:]) + [k.value for k in node.keywords]:
            arg_names += _names(a)
        single = id(node) in self.single_calls or _single_row_name(node)
        for piece in pieces or [template]:
            info = analyse_sql(piece)
            use = SqlUse(
                file=self.mod.rel,
                line=node.lineno,
                function=self.qualname,
                method=method,
                receiver=receiver,
                conn=conn,
                sql=info,
                template=piece,
                built=resolved.built,
                interpolations=interps,
                param_literals=params,
                loop_depth=len(self.loops),
                loop_line=self._loop_line(),
                result_names=self.pending_targets,
                arg_names=arg_names,
                single_row=single,
                via=via,
                in_test=self.mod.is_test,
                snippet=_snippet(self.mod.lines, node.lineno),
            )
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

    # -- SQL text resolution

    def _resolve(self, node: ast.AST, depth: int) -> _Resolved | None:
        """Return the SQL template an expression builds, or None if unknown."""
        if depth > 6:
            return None
        node = _unwrap_await(node)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return _Resolved(node.value, "literal")
        if isinstance(node, ast.JoinedStr):
            out = _Resolved("", "fstring")
            for part in node.values:
                if isinstance(part, ast.Constant):
                    out.template += str(part.value)
                elif isinstance(part, ast.FormattedValue):
                    inner = self._const_value(part.value, depth)
                    if inner is not None:
                        out.template += inner
                    else:
                        self._interp(out, part.value)
            return out
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left = self._resolve(node.left, depth + 1)
            right = self._resolve(node.right, depth + 1)
            if left is None and right is None:
                return None
            out = _Resolved("", "concat")
            for side, raw in ((left, node.left), (right, node.right)):
                if side is None:
                    self._interp(out, raw)
                else:
                    offset = len(out.interps)
                    out.template += (
                        _shift(side.template, offset) if offset else side.template
                    )
                    out.interps.extend(side.interps)
                    if side.built != "literal":
                        out.built = (
                            side.built
                            if out.built == "concat" and side.built != "concat"
                            else out.built
                        )
            if (
                left is not None
                and right is not None
                and left.built == right.built == "literal"
            ):
                out.built = "literal"
            return out
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            left = self._resolve(node.left, depth + 1)
            if left is None or left.interps:
                return None
            values: list[ast.expr] = []
            named: dict[str, ast.expr] = {}
            expr: ast.expr | None
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
            out = _Resolved("", "percent")
            pos = 0
            last = 0
            for match in _PERCENT.finditer(left.template):
                out.template += left.template[last : match.start()]
                last = match.end()
                if match.group(0) == "%%":
                    out.template += "%"
                    continue
                key = match.group(1)
                expr = (
                    named.get(key)
                    if key
                    else (values[pos] if pos < len(values) else None)
                )
                pos += 0 if key else 1
                inner = self._const_value(expr, depth) if expr is not None else None
                if inner is not None:
                    out.template += inner
                elif expr is not None:
                    self._interp(out, expr)
            out.template += left.template[last:]
            return out
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "format":
                base = self._resolve(node.func.value, depth + 1)
                if base is None or base.interps:
                    return None
                out = _Resolved("", "format")
                auto = 0
                last = 0
                for match in _BRACES.finditer(base.template):
                    out.template += base.template[last : match.start()]
                    last = match.end()
                    if match.group(0) in ("{{", "}}"):
                        out.template += match.group(0)[0]
                        continue
                    field_name = (match.group(1) or "").split(":")[0].split("!")[0]
                    if field_name == "":
                        expr = node.args[auto] if auto < len(node.args) else None
                        auto += 1
                    elif field_name.isdigit():
                        i = int(field_name)
                        expr = node.args[i] if i < len(node.args) else None
                    else:
                        expr = _kw(node, field_name.split(".")[0].split("[")[0])
                    inner = self._const_value(expr, depth) if expr is not None else None
                    if inner is not None:
                        out.template += inner
                    elif expr is not None:
                        self._interp(out, expr)
                out.template += base.template[last:]
                return out
            if node.func.attr == "join" and node.args:
                sep = self._resolve(node.func.value, depth + 1)
                arg = node.args[0]
                if sep is not None and isinstance(arg, ast.List | ast.Tuple):
                    parts = [self._resolve(e, depth + 1) for e in arg.elts]
                    if all(p is not None and not p.interps for p in parts):
                        return _Resolved(
                            sep.template.join(p.template for p in parts if p), "concat"
                        )
                return None
            if node.func.attr in ("strip", "lstrip", "rstrip", "upper", "lower"):
                return self._resolve(node.func.value, depth + 1)
        if (
            isinstance(node, ast.Call)
            and _dotted(node.func).split(".")[-1] == "text"
            and node.args
        ):
            return self._resolve(node.args[0], depth + 1)
        if isinstance(node, ast.Name) and node.id not in self.str_assigns:
            loop_iter = self.loop_vars.get(node.id)
            if isinstance(loop_iter, ast.Tuple | ast.List) and loop_iter.elts:
                # ``for sql in ("ALTER ...", "ALTER ..."):`` - one stands for all
                return self._resolve(loop_iter.elts[0], depth + 1)
        if isinstance(node, ast.Name):
            assigned = self.str_assigns.get(node.id)
            if assigned:
                if (
                    len(assigned) > 1
                    and isinstance(assigned[-1], ast.BinOp)
                    and isinstance(assigned[-1].left, ast.Name)
                    and assigned[-1].left.id == node.id
                ):
                    # ``sql = "..."`` then ``sql += "..."`` (perhaps repeated)
                    return self._resolve_augmented(node.id, assigned, depth)
                return self._resolve(assigned[-1], depth + 1)
            if node.id in self.params:
                return None
            const = self.mod.constants.get(node.id)
            if const is not None:
                return self._resolve(const, depth + 1)
            return None
        if isinstance(node, ast.Attribute):
            const = self.mod.constants.get(node.attr) or self.mod.constants.get(
                _dotted(node)
            )
            if const is not None:
                return self._resolve(const, depth + 1)
        if isinstance(node, ast.IfExp):
            return self._resolve(node.body, depth + 1)
        return None

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
        if isinstance(node, ast.Name | ast.Attribute):
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
            text = ast.unparse(call.args[0])
            has_placeholder = _QUOTED_PLACEHOLDER.search(text) is not None
            names_only = not _FSTRING_START.search(text)
            known = self.mod.placeholder_joins[key] = has_placeholder and names_only
        return known

    def _safe(self, expr: ast.expr, depth: int = 0) -> bool:
        """Return True when a formatted-in value cannot carry user input."""
        if depth > 4:
            return False
        if isinstance(expr, ast.Constant):
            return True
        if isinstance(expr, ast.Call):
            fname = _dotted(expr.func)
            if fname in _SAFE_CALLS:
                return True
            if isinstance(expr.func, ast.Attribute) and expr.func.attr == "join":
                if self._placeholder_join(expr):
                    return True
                return self._join_allowlisted(expr)
            return False
        if isinstance(expr, ast.Name):
            if expr.id in self.allowlisted:
                return True
            if expr.id in self.loop_vars:
                return self._constant_collection(self.loop_vars[expr.id])
            assigned = self.str_assigns.get(expr.id)
            if assigned:
                return all(self._safe(a, depth + 1) for a in assigned)
            if expr.id in self.params:
                return False
            return expr.id in self.mod.constants or expr.id.isupper()
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
            )
        if isinstance(expr, ast.IfExp):
            return self._safe(expr.body, depth + 1) and self._safe(
                expr.orelse, depth + 1
            )
        if isinstance(expr, ast.BinOp):
            return self._safe(expr.left, depth + 1) and self._safe(
                expr.right, depth + 1
            )
        if isinstance(expr, ast.JoinedStr):
            return all(
                self._safe(v.value, depth + 1)
                for v in expr.values
                if isinstance(v, ast.FormattedValue)
            )
        return False

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
            for cond in gen.ifs:
                if isinstance(cond, ast.Compare) and any(
                    isinstance(op, ast.In) for op in cond.ops
                ):
                    return True
            names = _names(gen.iter)
            return any(n in self.allowlisted for n in names)
        if isinstance(arg, ast.Name):
            return self._safe(arg)
        return False

    # -- ORM

    def _orm_filter(self, node: ast.Call) -> None:
        for arg in node.args:
            for n in _walk(arg):
                if (
                    isinstance(n, ast.Compare)
                    and len(n.ops) == 1
                    and isinstance(n.left, ast.Attribute)
                    and isinstance(n.comparators[0], ast.Constant)
                ):
                    value = n.comparators[0].value
                    if value is None or isinstance(value, bool):
                        op = (
                            "=="
                            if isinstance(n.ops[0], ast.Eq)
                            else "!="
                            if isinstance(n.ops[0], ast.NotEq)
                            else ""
                        )
                        if op:
                            self._filter(n, n.left, op, repr(value))
                elif (
                    isinstance(n, ast.Call)
                    and isinstance(n.func, ast.Attribute)
                    and n.func.attr in ("is_", "isnot", "is_not")
                    and isinstance(n.func.value, ast.Attribute)
                ):
                    value = ast.unparse(n.args[0]) if n.args else ""
                    self._filter(n, n.func.value, n.func.attr, value)
                elif isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name):
                    self._filter(n, n, "ref", "")
        for kw in node.keywords:
            if kw.arg and "__isnull" in kw.arg:
                column = kw.arg.split("__")[0]
                model = _dotted(node.func).split(".")[0]
                self.col.filters.append(
                    OrmFilter(
                        self.mod.rel,
                        node.lineno,
                        self.qualname,
                        model,
                        column,
                        "isnull",
                        ast.unparse(kw.value),
                        ast.unparse(node)[:120],
                    )
                )
            elif kw.arg:
                model = _dotted(node.func).split(".")[0]
                self.col.filters.append(
                    OrmFilter(
                        self.mod.rel,
                        node.lineno,
                        self.qualname,
                        model,
                        kw.arg.split("__")[0],
                        "kw",
                        ast.unparse(kw.value)[:40],
                        ast.unparse(node)[:120],
                    )
                )

    def _filter(self, node: ast.AST, attr: ast.Attribute, op: str, value: str) -> None:
        model = _dotted(attr.value)
        self.col.filters.append(
            OrmFilter(
                self.mod.rel,
                getattr(node, "lineno", 0),
                self.qualname,
                model,
                attr.attr,
                op,
                value,
                ast.unparse(node)[:120],
            )
        )

    def _orm_kwargs_write(self, node: ast.Call, name: str, receiver: str) -> None:
        model = name if name[:1].isupper() else receiver.split(".")[0]
        for kw in node.keywords:
            if (
                kw.arg
                and isinstance(kw.value, ast.Constant)
                and isinstance(kw.value.value, str)
            ):
                self.col.orm_writes.append(
                    OrmWrite(
                        self.mod.rel,
                        node.lineno,
                        self.qualname,
                        model,
                        kw.arg,
                        kw.value.value,
                    )
                )

    def _orm_attribute_write(
        self, target: ast.Attribute, value: ast.Constant, line: int
    ) -> None:
        if isinstance(value.value, str):
            self.col.orm_writes.append(
                OrmWrite(
                    self.mod.rel, line, self.qualname, "", target.attr, value.value
                )
            )

    # -- result

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
            calls=tuple(self.calls),
            txn=tuple(self.txn),
            loops=tuple(self.loop_infos),
            local_conns=tuple(self.local_conns),
            returns_connection=self.returns_connection,
            yields_connection=self.yields_connection,
            commits_after_yield=self.commits_after_yield,
            alters_in_try=tuple(self.alters_in_try),
            assigns=tuple(self.assigns),
            if_tests=tuple(self.if_tests),
            aggregate_calls=tuple(self.aggregates),
            sql_param=self.sql_param,
            params_param=self.params_param,
            helper_conns=tuple(self.helper_conns),
            returns_call=self.returns_call,
        )


def _constant_facts(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return the keyword kinds a string constant shows and the words it names."""
    sql = looks_like_sql(text)
    kinds = (
        tuple(
            kind
            for kind, pattern in _KEYWORD_PATTERNS.items()
            if (sql or kind != "maintenance") and pattern.search(text)
        )
        if _may_hold_keyword(text)
        else ()
    )
    words = (
        tuple(dict.fromkeys(_WORD.findall(text))) if not sql and len(text) < 400 else ()
    )
    return kinds, words


# node type -> the walker method that visits it, filled as types are met
_DISPATCH: dict[type[ast.AST], Callable[[_FunctionWalker, ast.AST], None]] = {}


def _accumulates(node: ast.AST) -> bool:
    """Return True for ``x += v`` and ``x[k] = x.get(k, 0) + v``."""
    if isinstance(node, ast.AugAssign):
        return isinstance(node.op, ast.Add | ast.Sub)
    if (
        isinstance(node, ast.Assign)
        and isinstance(node.value, ast.BinOp)
        and isinstance(node.value.op, ast.Add | ast.Sub)
    ):
        targets = {_dotted(t) for t in node.targets}
        return bool(targets & set(_names(node.value)))
    return False


def _shift(template: str, offset: int) -> str:
    return _DYN_INDEX.sub(lambda m: f"{DYN}{int(m.group(1)) + offset}", template)


_DYN_INDEX = re.compile(rf"{DYN}(\d+)")
_QUOTED_PLACEHOLDER = re.compile(r"['\"](\?|%s)['\"]")
_FSTRING_START = re.compile(r"f['\"]")
_ONE_ROW_WORD = re.compile(r"(one|row|scalar|first|single|exists|count|get)\b")


_ONE_ROW = frozenset(
    {
        "fetchone",
        "first",
        "scalar",
        "scalar_one",
        "one",
        "one_or_none",
        "scalar_one_or_none",
        "fetchval",
        "fetchrow",
    }
)


def _single_row_name(node: ast.Call) -> bool:
    """Return True when the called helper's name says it returns one row."""
    name = _dotted(node.func).split(".")[-1]
    return name in ("fetchrow", "fetchval") or bool(
        _ONE_ROW_WORD.search(name.replace("_", " "))
    )


def _walk_function(
    mod: _Module,
    col: _Collector,
    qualname: str,
    node: ast.FunctionDef | ast.AsyncFunctionDef,
    class_name: str,
) -> None:
    decorators = tuple(_dotted(d) for d in node.decorator_list)
    walker = _FunctionWalker(mod, col, qualname, node, class_name)
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
    top = _FunctionWalker(mod, col, outer if outer != "<module>" else "<module>", None)
    for b in node.bases + [k.value for k in node.keywords] + node.decorator_list:
        top.visit(b)
    model = _orm_model(mod, node, bases)
    if model is not None:
        col.models.append(model)
    class_walker = _FunctionWalker(mod, col, "<module>", None, class_name=node.name)
    for stmt in node.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            decorators = tuple(_dotted(d) for d in stmt.decorator_list)
            for d in stmt.decorator_list:
                class_walker.visit(d)
            walker = _FunctionWalker(
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


_SA_TYPES = re.compile(
    r"^(sa\.|sqlalchemy\.|db\.)?(Integer|String|Text|Boolean|DateTime|Date|Time|Float|Numeric|BigInteger|SmallInteger|JSON|JSONB|UUID|Uuid|LargeBinary|Enum|Interval|ARRAY|Unicode|UnicodeText|TIMESTAMP|VARCHAR|CHAR|INTEGER|BOOLEAN|TEXT|Double|DECIMAL|PickleType|TypeDecorator)\b"
)


def _orm_model(
    mod: _Module, node: ast.ClassDef, bases: tuple[str, ...]
) -> OrmModel | None:
    django = any(b.endswith("models.Model") for b in bases)
    columns: list[OrmColumn] = []
    rels: list[OrmRelationship] = []
    indexes: list[tuple[str, ...]] = []
    table = ""
    for stmt in node.body:
        target: str | None = None
        value: ast.expr | None = None
        annotation = ""
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
        ):
            target, value = stmt.targets[0].id, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            target, value = stmt.target.id, stmt.value
            annotation = ast.unparse(stmt.annotation)
        if target is None or value is None:
            continue
        if target == "__tablename__":
            table = _const_str(value) or ""
            continue
        if target == "__table_args__":
            for n in _walk(value):
                if (
                    isinstance(n, ast.Call)
                    and _dotted(n.func).split(".")[-1] == "Index"
                ):
                    indexes.append(
                        tuple(
                            _const_str(a)
                            or (a.attr if isinstance(a, ast.Attribute) else "")
                            for a in n.args[1:]
                        )
                    )
            continue
        if not isinstance(value, ast.Call):
            continue
        fname = _dotted(value.func).split(".")[-1]
        if fname in ("Column", "mapped_column"):
            columns.append(_sa_column(target, value, annotation))
        elif fname == "relationship":
            first = value.args[0] if value.args else None
            rel_target = _const_str(first) or (
                _dotted(first) if first is not None else ""
            )
            if not rel_target:
                m = re.search(
                    r"Mapped\[(?:list\[|List\[|Optional\[|set\[)?['\"]?(\w+)",
                    annotation,
                )
                rel_target = m.group(1) if m else ""
            rels.append(
                OrmRelationship(
                    target,
                    rel_target,
                    _const_str(_kw(value, "back_populates")),
                    _const_str(_kw(value, "backref")),
                    stmt.lineno,
                )
            )
        elif django or _dotted(value.func).startswith("models."):
            django = True
            columns.append(
                OrmColumn(
                    attr=target,
                    name=target
                    + ("_id" if fname in ("ForeignKey", "OneToOneField") else ""),
                    type=fname,
                    foreign_key=(_const_str(value.args[0]) or _dotted(value.args[0]))
                    if fname in ("ForeignKey", "OneToOneField") and value.args
                    else None,
                    index=isinstance(_kw(value, "db_index"), ast.Constant)
                    or fname in ("ForeignKey", "OneToOneField"),
                    unique=isinstance(_kw(value, "unique"), ast.Constant),
                    onupdate="auto_now"
                    if isinstance(_kw(value, "auto_now"), ast.Constant)
                    else None,
                    default=ast.unparse(d)
                    if (d := _kw(value, "default")) is not None
                    else None,
                    line=stmt.lineno,
                )
            )
    if not columns and not rels:
        return None
    if not table:
        table = (
            _snake(node.name)
            if not django
            else f"{mod.module.split('.')[-2] if mod.module.count('.') else 'app'}_{node.name.lower()}"
        )
    return OrmModel(
        name=node.name,
        table=table,
        file=mod.rel,
        line=node.lineno,
        kind="django" if django else "sqlalchemy",
        columns=tuple(columns),
        relationships=tuple(rels),
        indexes=tuple(indexes),
    )


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _sa_column(attr: str, call: ast.Call, annotation: str) -> OrmColumn:
    name = attr
    col_type: str | None = None
    fk: str | None = None
    for arg in call.args:
        s = _const_str(arg)
        if s is not None and name == attr and col_type is None:
            name = s
            continue
        if (
            isinstance(arg, ast.Call)
            and _dotted(arg.func).split(".")[-1] == "ForeignKey"
        ):
            fk = _const_str(arg.args[0]) if arg.args else None
            if fk is None and arg.args:
                fk = ast.unparse(arg.args[0])
            continue
        text = ast.unparse(arg)
        if col_type is None and (
            _SA_TYPES.match(text)
            or isinstance(arg, ast.Name | ast.Attribute | ast.Call)
        ):
            col_type = text
    type_kw = _kw(call, "type_")
    type_unset = False
    if type_kw is not None:
        if isinstance(type_kw, ast.Constant) and type_kw.value is None:
            type_unset = True
        else:
            col_type = ast.unparse(type_kw)
    mapped = re.search(r"Mapped\[(.+)\]", annotation)
    if col_type is None and not type_unset and fk is None and not mapped:
        type_unset = True

    def flag(key: str) -> bool:
        v = _kw(call, key)
        return isinstance(v, ast.Constant) and bool(v.value)

    def text_of(key: str) -> str | None:
        v = _kw(call, key)
        return ast.unparse(v) if v is not None else None

    return OrmColumn(
        attr=attr,
        name=name,
        type=col_type or (mapped.group(1) if mapped else None),
        type_unset=type_unset,
        foreign_key=fk,
        index=flag("index"),
        unique=flag("unique"),
        primary_key=flag("primary_key"),
        onupdate=text_of("onupdate"),
        default=text_of("default"),
        server_default=text_of("server_default"),
        line=call.lineno,
    )


# ----------------------------------------------------------------- file walking


def _module_name(rel: str) -> str:
    parts = rel[:-3].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _excluded(rel: str, exclude: Iterable[str]) -> bool:
    for pattern in exclude:
        if fnmatch.fnmatch(rel, pattern) or fnmatch.fnmatch(
            rel, pattern.rstrip("/") + "/*"
        ):
            return True
        if any(fnmatch.fnmatch(part, pattern) for part in rel.split("/")):
            return True
    return False


def _iter_files(root: Path, exclude: tuple[str, ...]) -> Iterator[tuple[Path, str]]:
    if root.is_file():
        yield root, root.name
        return
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/")
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not skipped_dir(d)
            and not _excluded(f"{rel_dir}/{d}".lstrip("/"), exclude)
        )
        for filename in sorted(filenames):
            rel = f"{rel_dir}/{filename}".lstrip("/")
            if _excluded(rel, exclude):
                continue
            yield Path(dirpath) / filename, rel


def _line_endings(data: bytes) -> tuple[int, int]:
    crlf = data.count(b"\r\n")
    return crlf, data.count(b"\n") - crlf


def _decode(data: bytes, rel: str) -> tuple[str | None, str]:
    if b"\x00" in data[:8192]:
        return None, f"{rel}: skipped, binary content"
    try:
        import io

        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        return data.decode(encoding), ""
    except (SyntaxError, UnicodeDecodeError, LookupError) as exc:
        return None, f"{rel}: skipped, cannot decode: {exc}"


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Run the block with the cyclic garbage collector triggered less often.

    A scan allocates hundreds of thousands of syntax nodes and facts that
    live until it ends; with the default threshold the collector walks them
    again and again, a tenth of the scan's time, finding almost nothing.
    """
    before = gc.get_threshold()
    if before[0]:  # a threshold of 0 means automatic collection is off: keep it so
        gc.set_threshold(max(before[0], 20_000), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def load_code(root: Path, *, exclude: Iterable[str] = ()) -> CodeFacts:
    """Walk ``root`` and return the code facts of every Python file in it.

    Files that cannot be read or parsed are skipped with a note; the rest
    are still read. ``exclude`` holds glob patterns of relative paths.
    """
    with _fewer_collections():
        return _load_code(Path(root), tuple(exclude))


def _load_code(root: Path, exclude: tuple[str, ...]) -> CodeFacts:
    col = _Collector()
    files: list[FileInfo] = []
    others: list[FileInfo] = []
    notes: list[str] = []
    migrations_dir = False
    for path, rel in _iter_files(root, exclude):
        suffix = path.suffix.lower()
        if suffix == ".py" and (
            "/migrations/" in f"/{rel}" or "/versions/" in f"/{rel}"
        ):
            migrations_dir = True
        if suffix in (".sql",) or suffix in _CONFIG_FILES or path.name in _CONFIG_NAMES:
            try:
                data = path.read_bytes()[:1_000_000]
            except OSError:
                continue
            crlf, lf = _line_endings(data)
            others.append(FileInfo(rel, crlf, lf, data.count(b"\n")))
            if suffix != ".sql":
                text = data.decode("utf-8", "replace")
                for kind, pattern in _KEYWORD_PATTERNS.items():
                    if pattern.search(text):
                        col.keywords.add(kind)
            continue
        if suffix != ".py":
            continue
        try:
            data = path.read_bytes()
        except OSError as exc:
            notes.append(f"{rel}: skipped, cannot read: {exc.strerror or exc}")
            continue
        decoded, problem = _decode(data, rel)
        if decoded is None:
            notes.append(problem)
            continue
        text = decoded
        try:
            tree = ast.parse(text, filename=rel)
        except SyntaxError as exc:
            notes.append(
                f"{rel}: skipped, syntax error at line {exc.lineno}: {exc.msg}"
            )
            continue
        except ValueError as exc:
            notes.append(f"{rel}: skipped, cannot parse: {exc}")
            continue
        crlf, lf = _line_endings(data)
        lines = text.splitlines()
        info = FileInfo(rel, crlf, lf, len(lines), _is_test_path(rel))
        files.append(info)
        mod = _Module(rel, _module_name(rel), tree, lines)
        for node in mod.imports:
            if isinstance(node, ast.Import):
                col.imports.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                col.imports.add(node.module.split(".")[0])
                if not mod.is_test:
                    # Importing under another name hides later calls by name.
                    for alias in (a for a in node.names if a.asname):
                        col.refs.setdefault(alias.name, set()).add(
                            f"<import:{mod.module}>"
                        )
        walker = _FunctionWalker(mod, col, "<module>", None)
        walker.run()
    _settle(col)
    if migrations_dir or {"alembic", "yoyo", "django"} & col.imports:
        col.keywords.add("migrations")
    return CodeFacts(
        root=str(root),
        files=tuple(files),
        functions=tuple(col.functions),
        sql=tuple(col.sql),
        connects=tuple(_with_pragmas(col)),
        models=tuple(col.models),
        filters=tuple(col.filters),
        orm_writes=tuple(col.orm_writes),
        uses=tuple(col.uses),
        references=tuple((k, tuple(sorted(v))) for k, v in sorted(col.refs.items())),
        keywords=frozenset(col.keywords),
        imports=frozenset(col.imports),
        notes=tuple(notes),
        other_files=tuple(others),
    )


def _settle(col: _Collector) -> None:
    """Resolve what needs every function known: connection helpers, wrappers."""
    by_name: dict[str, list[FunctionInfo]] = {}
    for f in col.functions:
        by_name.setdefault(f.name, []).append(f)
    # Functions that hand out connections, directly or through another one.
    producers = {
        f.name for f in col.functions if f.returns_connection or f.yields_connection
    }
    # Follow ``return make_conn()`` back from each producer once, rather than
    # rescanning every function for each step of a chain of helpers.
    returning: dict[str, list[str]] = {}
    for f in col.functions:
        if f.returns_call:
            returning.setdefault(f.returns_call, []).append(f.name)
    todo = list(producers)
    while todo:
        for caller in returning.get(todo.pop(), ()):
            if caller not in producers:
                producers.add(caller)
                todo.append(caller)
    settled: list[FunctionInfo] = []
    for f in col.functions:
        extra = tuple(cid for cid, callee in f.helper_conns if callee in producers)
        if extra:
            f = replace(f, local_conns=f.local_conns + extra)
            if f.returns_call in producers:
                f = replace(f, returns_connection=True)
        settled.append(f)
    col.functions[:] = settled
    opens = {f.qualname for f in col.functions if f.local_conns}
    for use, dotted, arg_index, _, _ in col.pending:
        name = dotted.split(".")[-1]
        candidates = [f for f in by_name.get(name, []) if f.sql_param is not None]
        if candidates:
            wrapper = candidates[0]
            assert wrapper.sql_param is not None
            offset = 1 if wrapper.params[:1] in (("self",), ("cls",)) else 0
            if wrapper.sql_param - offset != arg_index:
                continue
            conn = (
                f"own:{use.line}:{name}"
                if wrapper.qualname in opens
                else f"wrapper:{wrapper.qualname}"
            )
            col.sql.append(replace(use, conn=conn, via=wrapper.qualname))
        elif re.search(r"(execute|fetch|query|select|run_sql|sql)", name, re.I):
            col.sql.append(replace(use, conn="unknown", via=dotted))
    # ``db.execute(sql)`` where ``db`` is an instance of a project class
    # whose ``execute`` wraps the driver: a wrapper call, not DB-API.
    for i, use in enumerate(col.sql):
        base = use.receiver.split(".")[0]
        cls = col.instances.get(base, "")
        if use.via or use.conn.startswith("local:") or (base and not cls):
            continue
        # ``execute(sql)`` by plain name reaches a module-level wrapper.
        methods = [
            f
            for f in by_name.get(use.method, [])
            if f.class_name == cls and f.sql_param is not None
        ]
        if methods:
            wrapper = methods[0]
            conn = (
                f"own:{use.line}:{use.method}"
                if wrapper.qualname in opens
                else f"wrapper:{wrapper.qualname}"
            )
            col.sql[i] = replace(use, conn=conn, via=wrapper.qualname)


def _with_pragmas(col: _Collector) -> list[ConnectSite]:
    """Attach to each connection site the PRAGMAs run on that connection."""
    by_function: dict[str, list[SqlUse]] = {}
    for use in col.sql:
        if use.sql.kind == "pragma":
            by_function.setdefault(use.function, []).append(use)
    helper_pragmas = col.param_pragmas
    # function -> callee names that got a connection as an argument
    passed: dict[str, set[str]] = {}
    for qual, dotted, _line, _conn, kind in col.conn_args:
        if kind == -1:
            passed.setdefault(qual, set()).add(dotted.split(".")[-1])
    helper_by_name: dict[str, list[tuple[str, str]]] = {}
    for qual, items in helper_pragmas.items():
        helper_by_name.setdefault(qual.split(".")[-1], []).extend(
            (n, v) for _, n, v in items
        )
    out: list[ConnectSite] = []
    for site in col.connects:
        pragmas: list[tuple[str, str]] = []
        for use in by_function.get(site.function, []):
            base = use.receiver.split(".")[0]
            if (
                not site.name
                or base == site.name
                or use.receiver == site.name
                or not use.receiver
            ):
                assert use.sql.pragma is not None
                pragmas.append(use.sql.pragma)
        for callee in passed.get(site.function, ()):
            pragmas.extend(helper_by_name.get(callee, ()))
        out.append(replace(site, pragmas=tuple(dict.fromkeys(pragmas))))
    return out
