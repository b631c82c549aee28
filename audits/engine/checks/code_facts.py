"""Helpers the code checks share: summaries of functions across the call graph.

Summaries and call targets are worked out once per scan and kept on the
code facts they came from, so every check that follows calls shares them.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from audits.engine.sources.code import (
    CallSite,
    CodeFacts,
    ConnectSite,
    FunctionInfo,
    OrmFilter,
    OrmModel,
    OrmWrite,
    SqlUse,
)
from audits.engine.vocabulary import is_growth_table

from .base import Facts, Location, Place


def code_of(facts: Facts) -> CodeFacts | None:
    """Return the code facts of a scan, or None when no code was read."""
    code = facts.code
    return code if isinstance(code, CodeFacts) else None


def sql_key(use: SqlUse) -> list[str]:
    """Return the fingerprint key of a SQL use: file, function, statement."""
    return [use.file, use.function, use.sql.normalised]


def live_sql(code: CodeFacts) -> Iterator[SqlUse]:
    """Yield the SQL uses outside tests."""
    return (u for u in code.sql if not u.in_test)


def live_functions(code: CodeFacts) -> Iterator[FunctionInfo]:
    """Yield the functions outside tests."""
    return (f for f in code.functions if not f.in_test)


def short(qualname: str) -> str:
    """Return the last part of a qualified name, for messages."""
    return qualname.rsplit(".", 1)[-1]


@dataclass
class Summary:
    """What a function does to the database when called, callees included."""

    touches_db: bool = False
    own_writes: set[str] = field(default_factory=set)  # tables written on own conns
    own_reads: set[str] = field(default_factory=set)
    opens_connection: bool = False
    commits: bool = False


def _own(conn: str, fn: FunctionInfo) -> bool:
    return conn.startswith("own:") or conn in fn.local_conns


def summaries(code: CodeFacts) -> dict[str, Summary]:
    """Return each function's database summary, following calls by name."""
    cached = getattr(code, "_plumb_summaries", None)
    if isinstance(cached, dict):
        return cached
    out: dict[str, Summary] = {}
    by_function = code.sql_by_function
    for fn in code.functions:
        s = Summary()
        opens = bool(fn.local_conns)
        for use in by_function.get(fn.qualname, ()):
            s.touches_db = True
            if use.conn.startswith("own:"):
                opens = True
            own = _own(use.conn, fn)
            if own and use.sql.is_write:
                s.own_writes.update(use.sql.tables)
            if own and use.sql.kind == "select":
                s.own_reads.update(use.sql.tables)
        s.opens_connection = opens
        if fn.txn:
            s.commits = any(t.op == "commit" for t in fn.txn)
        if fn.local_conns or fn.txn or fn.sql_param is not None:
            s.touches_db = True
        out[fn.qualname] = s
    targets = call_targets(code)
    resolved: dict[str, list[Summary]] = {}
    for fn in code.functions:
        resolved[fn.qualname] = [
            out[callee.qualname] for _call, callee in targets[id(fn)]
        ]
    # Functions that call no project function take nothing from others.
    work = [
        (out[fn.qualname], resolved[fn.qualname])
        for fn in code.functions
        if resolved[fn.qualname]
    ]
    # A few rounds reach helpers of helpers without risking cycles.
    for _ in range(4):
        changed = False
        for s, reached in work:
            for c in reached:
                if not (
                    c.touches_db or c.opens_connection or c.own_writes or c.own_reads
                ):
                    continue  # nothing to pass on, as yet
                before = (s.touches_db, len(s.own_writes), len(s.own_reads))
                s.touches_db |= c.touches_db
                s.own_writes |= c.own_writes
                s.own_reads |= c.own_reads
                s.opens_connection |= c.opens_connection
                if before != (s.touches_db, len(s.own_writes), len(s.own_reads)):
                    changed = True
        if not changed:
            break
    object.__setattr__(code, "_plumb_summaries", out)
    return out


def call_targets(
    code: CodeFacts,
) -> dict[int, list[tuple[CallSite, FunctionInfo]]]:
    """Return, by ``id()`` of each function, its calls with the functions they reach.

    Keyed by identity, not qualified name, because a module may define a name
    twice. Resolved once per scan and shared by every check that follows calls.
    """
    cached = getattr(code, "_plumb_call_targets", None)
    if isinstance(cached, dict):
        return cached
    out: dict[int, list[tuple[CallSite, FunctionInfo]]] = {}
    for fn in code.functions:
        pairs = out[id(fn)] = []
        for call in fn.calls:
            callee = code.resolve(call, fn)
            if callee is not None and callee.qualname != fn.qualname:
                pairs.append((call, callee))
    object.__setattr__(code, "_plumb_call_targets", out)
    return out


def callees(
    code: CodeFacts, fn: FunctionInfo
) -> Iterator[tuple[CallSite, FunctionInfo]]:
    """Yield each call of ``fn`` with the project function it reaches."""
    targets = call_targets(code).get(id(fn))
    if targets is None:  # a function that is not one of ``code.functions``
        targets = [
            (call, callee)
            for call in fn.calls
            if (callee := code.resolve(call, fn)) is not None
            and callee.qualname != fn.qualname
        ]
    yield from targets


def never_called(code: CodeFacts, fn: FunctionInfo) -> bool:
    """Return True when nothing outside ``fn`` itself mentions it."""
    if fn.entry_point or fn.name.startswith("__"):
        return False
    mentions = [m for m in code.refs.get(fn.name, ()) if m != fn.qualname]
    return not mentions


def tainted(fn: FunctionInfo, seeds: Iterable[str], after: int) -> set[str]:
    """Return the names that carry values derived from ``seeds``."""
    names = set(seeds)
    for line, targets, refs in sorted(fn.assigns, key=lambda a: a[0]):
        if line < after:
            continue
        if names & set(refs):
            names.update(targets)
    return names


def loop_kind(fn: FunctionInfo, line: int | None) -> str:
    """Return the kind of the loop starting at ``line`` in ``fn``."""
    for loop in fn.loops:
        if loop.line == line:
            return loop.kind
    return ""


def table_names(facts: Facts) -> set[str]:
    """Return the lower-cased table names of the schema, if any."""
    if facts.schema is None:
        return set()
    return {t.name.lower() for t in facts.schema.tables}


def use_location(use: SqlUse) -> Location:
    """Return the file, line and function of a SQL use, as issue keywords."""
    return {"file": use.file, "line": use.line, "function": use.function}


Key = TypeVar("Key", bound=Hashable)


def at(file: str, line: int | None, function: str) -> Location:
    """Return a file, line and function as issue keywords."""
    return {"file": file, "line": line, "function": function}


def column_at(
    table: str, column: str, file: str, line: int | None, function: str
) -> Place:
    """Return a column the code reaches, at the line that reaches it, as a place."""
    return {"object": f"{table}.{column}", **at(file, line, function)}


def first_sight(seen: set[Key], key: Key) -> bool:
    """Return True the first time ``key`` is seen, and remember it."""
    if key in seen:
        return False
    seen.add(key)
    return True


def in_model(model: OrmModel, attr: str, line: int | None, obj: str) -> dict[str, Any]:
    """Return the key and place of an issue about one attribute of an ORM model."""
    return {
        "key": [model.file, model.name, attr],
        "file": model.file,
        "line": line,
        "object": obj,
    }


OrmUse = TypeVar("OrmUse", OrmFilter, OrmWrite)


def mapped(
    code: CodeFacts, uses: Iterable[OrmUse]
) -> Iterator[tuple[OrmUse, str, str]]:
    """Yield each ORM filter or write on a model the code declares, placed.

    With the use come the model's table and the column its attribute maps to
    (the attribute's own name when the model does not map it).
    """
    models = {m.name: m for m in code.models}
    for use in uses:
        model = models.get(use.model)
        if model is None:
            continue
        col = model.column(use.column)
        yield use, model.table, col.name if col is not None else use.column


def in_function(fn: FunctionInfo, line: int | None = None) -> Place:
    """Return a function as an issue's place: its file, a line, itself."""
    return {
        "file": fn.file,
        "line": fn.line if line is None else line,
        "function": fn.qualname,
        "object": fn.qualname,
    }


def at_site(site: ConnectSite) -> Place:
    """Return a connection site as an issue's place, in the function that opens it."""
    return {
        "file": site.file,
        "line": site.line,
        "function": site.function,
        "object": site.function,
    }


def growth_tables_written(code: CodeFacts) -> set[str]:
    """Return the append-only-looking tables the code inserts into."""
    return {
        t
        for u in live_sql(code)
        if u.sql.kind == "insert"
        for t in u.sql.tables
        if is_growth_table(t)
    }


def reachable_deletes(code: CodeFacts) -> set[str]:
    """Return the tables some called function deletes from."""
    out: set[str] = set()
    for use in live_sql(code):
        if use.sql.kind not in ("delete", "drop"):
            continue
        fn = code.by_qualname.get(use.function)
        if fn is not None and never_called(code, fn):
            continue
        out.update(use.sql.tables)
    return out
