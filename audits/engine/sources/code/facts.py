"""The code facts the checks read: SQL uses, connections, functions, ORM models."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property
from operator import attrgetter
from typing import TypeVar, dataclass_transform

from audits.engine.sources.code_sql import SqlInfo

from .calls import Index, resolve_call
from .patterns import _WRAPPING_DECORATORS

_T = TypeVar("_T")


def _grouped(items: Iterable[_T], key: Callable[[_T], str]) -> dict[str, list[_T]]:
    """Return ``items`` grouped by ``key``, each group in the order given."""
    out: dict[str, list[_T]] = {}
    for item in items:
        out.setdefault(key(item), []).append(item)
    return out


@dataclass_transform(frozen_default=True)
def fact(cls: type[_T]) -> type[_T]:
    """Make ``cls`` a slotted, hashable record that mypy holds frozen.

    A scan builds a record for every call, statement and function it reads,
    tens of thousands of them; a frozen dataclass sets each field through
    ``object.__setattr__``, which made construction about a third slower.
    Nothing in the engine assigns to a fact (mypy strict refuses it, as for
    ``frozen=True``), equality and hashing are the same as a frozen
    dataclass's, and ``dataclasses.replace`` works unchanged.
    """
    return dataclass(slots=True, unsafe_hash=True)(cls)


@fact
class Located:
    """Where a fact was found: the file, the line and the function it is in."""

    file: str
    line: int
    function: str  # qualified name, "<module>" at module level


@fact
class Interpolation:
    """A value formatted into a SQL template (f-string, ``%``, ``.format``, +)."""

    index: int
    expr: str
    safe: bool  # a constant, an allowlisted name, a placeholder list, an int
    identifiers: bool = False  # builds a list of names (``", ".join(...)``)
    # positions of the function's parameters the value is computed from; a
    # value from none of them (nor from request data) is the code's own
    params: tuple[int, ...] = ()
    external: bool = True  # reaches a parameter or request data


@fact
class SqlUse(Located):
    """One execute-like call and the SQL it runs."""

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
    once: bool = False  # the loop ends right after it (break/return/raise)
    # names used by each positional SQL parameter, in placeholder order
    param_names: tuple[tuple[str, ...], ...] = ()
    # parameters of the function (or request names) the SQL parameters come from
    param_origins: tuple[str, ...] = ()
    # the same, per positional SQL parameter
    position_origins: tuple[tuple[str, ...], ...] = ()
    # whether each positional SQL parameter is a field of an object (``todo.id``)
    position_attrs: tuple[bool, ...] = ()

    def literal_writes(self) -> dict[str, str]:
        """Return column -> literal string value this statement writes."""
        params = dict(self.param_literals)
        out: dict[str, str] = {}
        for column, value in self.sql.written:
            resolved = params.get(value, value) if value[:1] in "?:" else value
            if resolved.startswith("'") and resolved.endswith("'"):
                out[column] = resolved[1:-1]
        return out


@fact
class ConnectSite(Located):
    """A call that opens a connection, engine or pool, and how it is set up."""

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


@fact
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
    # What the callee is known to be: "name:pkg.mod.func", "self" (a method
    # of the caller's class), "super", "obj:pkg.mod.Class" (a method of an
    # instance whose class is known), "attr:<attribute>" (a method of an
    # attribute of self), or "" when the receiver's type is unknown.
    target: str = ""
    once: bool = False  # the loop ends right after it (break/return/raise)
    const_args: tuple[bool, ...] = ()  # which positional arguments are constants
    const_kwargs: tuple[str, ...] = ()  # keyword arguments given as constants
    # Every keyword the call names, "**" when it splats a mapping and "*"
    # when it splats a sequence: a parameter neither given by position nor
    # named takes its default.
    keywords: tuple[str, ...] = ()
    # For each argument, positional ones first, then each keyword's in the
    # order of ``keywords``: the caller's parameters and request names it is
    # computed from (empty: the caller's own value, or a constant).
    arg_origins: tuple[tuple[str, ...], ...] = ()


@fact
class TxnOp:
    """A commit or rollback."""

    line: int
    op: str  # commit, rollback
    receiver: str
    conn: str
    protected: bool  # inside try/except-rollback, a transaction block or finally
    loop_line: int | None = None


@fact
class LoopInfo:
    line: int
    end_line: int
    kind: str  # for, async for, while, comprehension
    iter_names: tuple[str, ...] = ()
    iter_sql_line: int | None = None  # iterating straight over an execute call
    accumulates: bool = False  # += or x = x + ... inside
    iter_text: str = ""  # the iterated expression, as written
    literal_size: int | None = None  # items of a literal list/tuple/range iterated


@fact
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
    kwargs_param: str = ""  # the name of ``**kwargs``, if any
    returned_names: tuple[str, ...] = ()  # names used in return statements
    appended_names: tuple[str, ...] = ()  # lists the function appends to

    @property
    def entry_point(self) -> bool:
        """Return True when a decorator registers it (route, hook, job)."""
        return any(d.split("(")[0] not in _WRAPPING_DECORATORS for d in self.decorators)


@fact
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
    inherited_from: str = ""  # the mixin or abstract model that declares it


@fact
class OrmRelationship:
    attr: str
    target: str
    back_populates: str | None = None
    backref: str | None = None
    line: int = 0


@fact
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
    bases: tuple[str, ...] = ()  # short names of the classes it inherits from

    def column(self, attr: str) -> OrmColumn | None:
        """Return the column mapped to attribute or column ``attr``."""
        for col in self.columns:
            if attr in (col.attr, col.name):
                return col
        return None


@fact
class OrmFilter(Located):
    """A comparison inside an ORM filter/where call."""

    model: str
    column: str
    op: str  # ==, !=, is_, is_not, isnull
    value: str  # None, True, False
    text: str


@fact
class OrmWrite(Located):
    """A literal value an ORM call writes to a model's column."""

    model: str
    column: str
    value: str


@fact
class CodeUse(Located):
    """A use of an API a check cares about (``declarative_base()``...)."""

    what: str
    text: str


@fact
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
    # The files read: the Python ones, and the .sql and config files (for
    # their line endings); and what the whole code mentions.
    files: tuple[FileInfo, ...] = ()
    other_files: tuple[FileInfo, ...] = ()
    keywords: frozenset[str] = frozenset()  # backup/maintenance/logging markers
    imports: frozenset[str] = frozenset()
    # What the code does with a database: statements, connections, API uses.
    sql: tuple[SqlUse, ...] = ()
    connects: tuple[ConnectSite, ...] = ()
    uses: tuple[CodeUse, ...] = ()
    # The functions, and what resolving a call to one of them needs.
    functions: tuple[FunctionInfo, ...] = ()
    # name -> qualified names (or "<module>") of non-test code that mention it
    references: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # class qualname -> qualnames (or dotted names) of its bases
    class_bases: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # "class qualname.attribute" -> the class qualname of what is assigned to it
    attr_types: tuple[tuple[str, str], ...] = ()
    # The ORM models, and the filters and writes that use them.
    models: tuple[OrmModel, ...] = ()
    filters: tuple[OrmFilter, ...] = ()
    orm_writes: tuple[OrmWrite, ...] = ()
    notes: tuple[str, ...] = ()  # what could not be read, and why

    @cached_property
    def by_qualname(self) -> dict[str, FunctionInfo]:
        """Return the functions keyed by qualified name."""
        return {f.qualname: f for f in self.functions}

    @cached_property
    def by_name(self) -> dict[str, list[FunctionInfo]]:
        """Return the functions keyed by their short name."""
        return _grouped(self.functions, attrgetter("name"))

    @cached_property
    def refs(self) -> dict[str, tuple[str, ...]]:
        """Return name -> who mentions it."""
        return dict(self.references)

    @cached_property
    def sql_by_function(self) -> dict[str, list[SqlUse]]:
        """Return the SQL uses grouped by qualified function name."""
        return _grouped(self.sql, attrgetter("function"))

    @cached_property
    def connects_by_function(self) -> dict[str, list[ConnectSite]]:
        """Return the connection sites grouped by qualified function name."""
        return _grouped(self.connects, attrgetter("function"))

    @cached_property
    def _index(self) -> Index:
        """Return the functions and classes indexed for call resolution."""
        bases = dict(self.class_bases)
        classes: dict[str, list[str]] = {}
        for qual in bases:
            classes.setdefault(qual.rsplit(".", 1)[-1], []).append(qual)
        by_tail = _grouped(
            self.functions, lambda fn: ".".join(fn.qualname.rsplit(".", 2)[-2:])
        )
        return Index(
            self.by_qualname,
            self.by_name,
            bases,
            dict(self.attr_types),
            classes,
            by_tail,
        )

    def resolve(self, call: CallSite, caller: FunctionInfo) -> FunctionInfo | None:
        """Return the project function ``call`` reaches, or None when not known."""
        if not call.target:
            return None
        return resolve_call(call, caller, self._index)
