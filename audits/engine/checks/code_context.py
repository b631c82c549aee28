"""What the code around a finding says about its weight.

The code checks find a shape (a query in a loop, a commit with no rollback);
whether that shape matters depends on where it runs and on what. These
predicates answer the questions a reviewer asks before signing a finding:
is this on a request path, does the loop walk query results or a handful of
constants, is the loop's time spent on the network anyway, does a framework
already roll back the session, is the database SQLite in the same process.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from audits.engine.issues import Severity, Step
from audits.engine.sources.code import (
    CallSite,
    CodeFacts,
    FunctionInfo,
    Interpolation,
    LoopInfo,
    SqlUse,
)

from .code_facts import callees, live_functions, summaries

# A literal list of this many items or fewer is configuration, not data.
SMALL_LITERAL = 10

# Decorators and names that make a function answer web requests.
_WEB_DECORATOR = re.compile(
    r"(^|\.)(route|get|post|put|patch|delete|api_route|websocket|api_view|action|"
    r"endpoint|view|expose|login_required|permission_required|require_http_methods|"
    r"require_POST|require_GET|admins_only|authed_only|during_ctf_time_only)$",
    re.I,
)
_WEB_METHODS = frozenset(
    {"get", "post", "put", "patch", "delete", "dispatch", "list", "retrieve"}
)
# Work per item that costs far more than a query: network, models, images.
_HEAVY_CALL = re.compile(
    r"(^|\.)(requests|httpx|aiohttp|urllib|urlopen|boto3?|s3|smtp|smtplib|bot|client|"
    r"http|api|intent|webhook|mail|Image|PIL|cv2|torch|model|pipeline|"
    r"subprocess|shutil)(\.|$)|"
    r"(^|\.)(send|send_message|send_mail|send_email|post|upload|upload_file|download|"
    r"fetch_url|urlopen|request|kick_user|invite_user|fit|train|predict|transcribe|"
    r"thumbnail|resize|convert|render_template|sleep|remove_all|rmtree|"
    r"delete_file|store|sync_contributor)$",
    re.I,
)
_ROWS_TEXT = re.compile(
    r"(\.all\(\)|\.objects\.|\.query\b|\.filter(_by)?\(|\.select\(|scalars\(|"
    r"fetchall\(|fetch\(|\.execute\(|\.iterator\(|\.values(_list)?\()"
)
_DB_RECEIVER = re.compile(
    r"(^|_)(conn|connection|con|db|database|session|sess|cursor|cur|tx|txn|"
    r"transaction|engine|sqlite|store|storage|repo)$",
    re.I,
)


def sqlite_only(code: CodeFacts) -> bool:
    """Return True when every connection the code opens is SQLite."""
    cached = getattr(code, "_plumb_sqlite_only", None)
    if isinstance(cached, bool):
        return cached
    sites = [c for c in code.connects if not c.in_test]
    answer = bool(sites) and all(
        c.driver == "sqlite" or "sqlite" in c.url.lower() for c in sites
    )
    object.__setattr__(code, "_plumb_sqlite_only", answer)
    return answer


def sqlite_here(code: CodeFacts, fn: FunctionInfo) -> bool:
    """Return True when the connections opened in ``fn``'s file are all SQLite."""
    if sqlite_only(code):
        return True
    sites = [c for c in code.connects if c.file == fn.file and not c.in_test]
    owner = fn.qualname.rsplit(".", 1)[0] + "." if fn.class_name else ""
    mine = [c for c in sites if owner and c.function.startswith(owner)]
    sites = mine or sites
    return bool(sites) and all(
        c.driver == "sqlite" or "sqlite" in c.url.lower() for c in sites
    )


def reads_rows(code: CodeFacts, fn: FunctionInfo) -> bool:
    """Return True when ``fn`` (or what it calls) reads rows, not only writes."""
    if summaries(code)[fn.qualname].own_reads:
        return True
    if any(u.sql.kind == "select" for u in code.sql_by_function.get(fn.qualname, ())):
        return True
    for _call, callee in callees(code, fn):
        if (
            any(
                u.sql.kind == "select"
                for u in code.sql_by_function.get(callee.qualname, ())
            )
            or summaries(code)[callee.qualname].own_reads
        ):
            return True
    return False


def is_web_entry(fn: FunctionInfo) -> bool:
    """Return True when a framework calls ``fn`` to answer a web request."""
    for decorator in fn.decorators:
        if _WEB_DECORATOR.search(decorator.split("(")[0]):
            return True
    if "framework-hook" in fn.decorators and fn.name in _WEB_METHODS:
        return True
    return bool(fn.params[:1] == ("request",) or fn.params[1:2] == ("request",))


def on_request_path(code: CodeFacts, fn: FunctionInfo) -> bool:
    """Return True when ``fn`` answers web requests or is called from code that does."""
    cached = getattr(code, "_plumb_request_path", None)
    if not isinstance(cached, set):
        reached: set[str] = set()
        todo = [f for f in code.functions if not f.in_test and is_web_entry(f)]
        for f in todo:
            reached.add(f.qualname)
        depth = 0
        while todo and depth < 4:
            following = []
            for f in todo:
                for _call, callee in callees(code, f):
                    if callee.qualname not in reached:
                        reached.add(callee.qualname)
                        following.append(callee)
            todo = following
            depth += 1
        cached = reached
        object.__setattr__(code, "_plumb_request_path", cached)
    return fn.qualname in cached


_SCRIPT_FOLDERS = frozenset({"scripts", "script", "bin", "tools", "contrib"})
_SCRIPT_NAME = re.compile(r"^(import|migrate|fix|backfill|export|one_?off|seed)_")


def is_script(fn: FunctionInfo) -> bool:
    """Return True for code in a one-off script (scripts/, or an import_*.py at the root)."""
    parts = fn.file.split("/")
    return parts[0] in _SCRIPT_FOLDERS or (
        len(parts) == 1 and bool(_SCRIPT_NAME.match(parts[0]))
    )


def loop_at(fn: FunctionInfo, line: int | None) -> LoopInfo | None:
    """Return the loop of ``fn`` that starts at ``line``."""
    for loop in fn.loops:
        if loop.line == line:
            return loop
    return None


def small_literal(loop: LoopInfo | None) -> bool:
    """Return True for a loop over a short literal list or ``range(n)``."""
    return (
        loop is not None
        and loop.literal_size is not None
        and loop.literal_size <= SMALL_LITERAL
    )


def row_sources(code: CodeFacts, fn: FunctionInfo, before: int) -> set[str]:
    """Return the names that, at line ``before``, hold rows read from the database."""
    rows: set[tuple[str, int]] = set()
    for use in code.sql_by_function.get(fn.qualname, ()):
        if use.sql.kind == "select" and not use.single_row:
            rows.update((n, use.line) for n in use.result_names)
    sums = summaries(code)
    for call, callee in callees(code, fn):
        if sums[callee.qualname].touches_db:
            rows.update((n, call.line) for n in call.result_names)
    latest: dict[str, int] = {}
    for line, targets, _refs in fn.assigns:
        if line < before:
            for target in targets:
                latest[target] = max(latest.get(target, 0), line)
    return {name for name, line in rows if latest.get(name) == line}


def loops_over_rows(code: CodeFacts, fn: FunctionInfo, loop: LoopInfo | None) -> bool:
    """Return True when ``loop`` walks query results (or a chain of ORM calls)."""
    if loop is None:
        return False
    if loop.iter_sql_line is not None or _ROWS_TEXT.search(loop.iter_text):
        return True
    rows = row_sources(code, fn, loop.line)
    if not rows:
        return False
    derived = set(rows)
    for line, targets, refs in sorted(fn.assigns, key=lambda a: a[0]):
        if line < loop.line and derived & set(refs):
            derived.update(targets)
    return bool(derived & set(loop.iter_names))


def heavy_work(
    fn: FunctionInfo, loop_line: int | None, *, anywhere: bool = False
) -> str:
    """Return a call in the loop (or, ``anywhere``, in ``fn``) that costs more
    than a query, or ""."""
    if loop_line is None and not anywhere:
        return ""
    for call in fn.calls:
        if not anywhere and call.loop_line != loop_line:
            continue
        if _HEAVY_CALL.search(call.dotted):
            return call.dotted
    return ""


def database_receiver(receiver: str) -> bool:
    """Return True when a receiver's name says it is a connection or session."""
    last = receiver.rsplit(".", 1)[-1]
    return bool(_DB_RECEIVER.search(last))


def managed_session(code: CodeFacts, receiver: str, conn: str) -> str:
    """Return why a framework rolls back a failed commit on ``receiver``, or ""."""
    if receiver.endswith("session") and "flask_sqlalchemy" in code.imports:
        return "Flask-SQLAlchemy removes the request's scoped session, rolling it back"
    if receiver.split(".")[-1] == "transaction" and "django" in code.imports:
        return "Django closes the transaction with the request or the command"
    if conn.startswith("param:") and any(
        f.yields_connection and not f.in_test for f in code.functions
    ):
        return "the session comes from a provider that closes it (and rolls back)"
    return ""


def n_plus_one_severity(
    code: CodeFacts, fn: FunctionInfo, loop: LoopInfo | None, default: Severity
) -> tuple[Severity, str]:
    """Return the severity a query per loop item deserves, and why.

    High needs a loop over query results or request input on a request path
    against a server database; off the request path it is medium; on
    SQLite, in process, many small queries are cheap, so low.
    """
    if sqlite_here(code, fn):
        return (
            Severity.LOW,
            "SQLite runs in process, so each query is a call, not a round trip",
        )
    over_rows = loops_over_rows(code, fn, loop)
    web = on_request_path(code, fn)
    if over_rows and web:
        return default, "a loop over query results on a request path"
    if over_rows and is_script(fn):
        return Severity.LOW, "a one-off script, run by hand"
    if over_rows:
        return Severity.MEDIUM, "a loop over query results, off the request path"
    if web:
        return Severity.MEDIUM, "a loop over request data on a request path"
    return Severity.LOW, "a loop over a bounded set, off the request path"


def callers_of(code: CodeFacts) -> dict[str, list[tuple[FunctionInfo, CallSite]]]:
    """Return callee qualname -> (caller, call site) for every resolved call."""
    cached = getattr(code, "_plumb_callers", None)
    if isinstance(cached, dict):
        return cached
    out: dict[str, list[tuple[FunctionInfo, CallSite]]] = {}
    for fn in code.functions:
        for call, callee in callees(code, fn):
            out.setdefault(callee.qualname, []).append((fn, call))
    object.__setattr__(code, "_plumb_callers", out)
    return out


def value_origin(
    code: CodeFacts, fn: FunctionInfo, interp: Interpolation, *, names: bool = False
) -> tuple[str, str]:
    """Return (how sure, why) a formatted-in value can come from outside.

    "sure": request data, or a parameter of a function a framework calls;
    "callers": a parameter some caller fills with a value that is not a
    constant; "unknown": a parameter no resolved caller fills; "operator":
    a command-line option, typed by whoever runs the tool and so already
    holds the database; "" when the value is the code's own (a constant, a
    row it read, a count) or every caller passes a constant. A caller that
    passes on a parameter of its own is followed to where that one comes from.
    """
    if not interp.external:
        return "", "computed inside the function from its own values"
    if not interp.params:
        return "sure", f"`{interp.expr}` comes from request or command-line input"
    return _param_origin(code, fn, interp.params, names, frozenset())


# How far a parameter passed on from caller to caller is followed.
_PASSED_ON_DEPTH = 4
_COMMAND_LINE = re.compile(r"(^|\.)(command|group|option|argument|callback)$")
# A parameter named for the SQL it takes: a function's contract, as in a
# library's ``rows_where(where=..., order_by=...)``.
_SQL_PARAM = re.compile(
    r"^(sql|query|where|where_clause|clause|condition|conditions|select|order_by)$",
    re.I,
)
# From the surest to the least sure an origin is outside the code.
ORIGINS = ("sure", "callers", "unknown", "operator", "")


def _param_origin(
    code: CodeFacts,
    fn: FunctionInfo,
    params: tuple[int, ...],
    names: bool,
    seen: frozenset[str],
) -> tuple[str, str]:
    """Return (how sure, why) parameters ``params`` of ``fn`` come from outside."""
    given = [fn.params[i] for i in params if i < len(fn.params)]
    shown = ", ".join(f"`{n}`" for n in given)
    if is_web_entry(fn):
        return "sure", f"parameter {shown} of `{fn.name}`, which a framework calls"
    if fn.entry_point:
        if any(_COMMAND_LINE.search(d.split("(")[0]) for d in fn.decorators):
            return "operator", (
                f"parameter {shown} of `{fn.name}`, a command-line option typed by "
                "whoever runs the tool"
            )
        return "sure", f"parameter {shown} of `{fn.name}`, which a framework calls"
    sites = callers_of(code).get(fn.qualname, [])
    if not sites:
        if all(_SQL_PARAM.match(n) for n in given):
            return "", (
                f"parameter {shown} of `{fn.name}` is named for the SQL it takes: "
                "what goes in is its callers' to decide, and none was found"
            )
        return "unknown", f"parameter {shown} of `{fn.name}`; no caller was found"
    if names and all(fn.params[i] == fn.kwargs_param for i in params):
        return "", f"names are the keywords `{fn.name}`'s callers pass"
    offset = 1 if fn.params[:1] in (("self",), ("cls",)) else 0
    found = ("", f"every caller of `{fn.name}` passes a constant or its own value")
    for caller, call in sites:
        for index in params:
            position, param = index - offset, fn.params[index]
            if position < 0 or param in call.const_kwargs:
                continue
            if _takes_default(call, position, param):
                continue
            if position < len(call.const_args) and call.const_args[position]:
                continue
            origins = _origins_of_argument(call, position, param)
            if origins == ():
                continue  # the caller computes it from its own values
            through = tuple(
                caller.params.index(o) for o in origins or () if o in caller.params
            )
            if (
                origins is None
                or len(through) < len(origins)
                or len(seen) >= _PASSED_ON_DEPTH
                or caller.qualname in seen
            ):
                return (
                    "callers",
                    f"parameter {shown} of `{fn.name}`, filled by `{caller.name}` "
                    f"({caller.file}:{call.line}) with a value that is not a constant",
                )
            how, why = _param_origin(code, caller, through, names, seen | {fn.qualname})
            # Input passed on through helpers is likely, not sure: high at most.
            how = "callers" if how == "sure" else how
            if ORIGINS.index(how) < ORIGINS.index(found[0]):
                found = (how, f"`{param}` of `{fn.name}`, passed on by `{caller.name}` "
                              f"({caller.file}:{call.line}) from its {why}")  # fmt: skip
    return found


def _origins_of_argument(
    call: CallSite, position: int, param: str
) -> tuple[str, ...] | None:
    """Return what the argument filling ``param`` is computed from, None if unknown."""
    if not call.arg_origins:
        return None
    if 0 <= position < len(call.const_args):
        return call.arg_origins[position]
    if param in call.keywords:
        at = len(call.const_args) + call.keywords.index(param)
        return call.arg_origins[at] if at < len(call.arg_origins) else None
    return None


def _takes_default(call: CallSite, position: int, param: str) -> bool:
    """Return True when ``call`` leaves the parameter to its default value."""
    if position < len(call.const_args) or "*" in call.keywords or "**" in call.keywords:
        return False
    return param not in call.keywords


# A lookup by a row identifier returns the rows of one thing; a filter by an
# owner's id lists everything that owner has.
KEY_COLUMN = re.compile(r"(^|_)(id|uuid|key|hash|tgid|mxid)$|id$", re.I)
OWNER_COLUMN = re.compile(
    r"^(user|team|workspace|tenant|org|organization|account|owner|author|creator|"
    r"guild|room|chat|channel|space|parent|project|suite|group|customer|member)_?id$",
    re.I,
)


def by_key(columns: Iterable[str]) -> bool:
    """Return True when a WHERE clause names a row identifier (not an owner)."""
    return any(KEY_COLUMN.search(c) and not OWNER_COLUMN.search(c) for c in columns)


def few_rows(use: SqlUse) -> bool:
    """Return True for a batch (LIMIT) or the rows of one thing (by its key)."""
    return use.sql.has_limit or by_key(use.sql.where_columns)


# ------------------------------------------------------------ batches


_BATCH = re.compile(
    r"(import|restore|load|seed|copy|clone|duplicate|bulk|batch|migrat|ingest)", re.I
)


@dataclass(frozen=True)
class PerItemCommit:
    """A loop that writes and commits item by item, in a batch meant as one."""

    fn: FunctionInfo
    loop_line: int
    line: int
    key: list[str]  # the fingerprint key of the finding
    what: str  # "`create_item()`" or the statement
    snippet: str
    callee: FunctionInfo | None
    use: SqlUse | None
    why: str  # why the items belong together

    @property
    def parent_first(self) -> bool:
        """Return True when a parent row is committed before its children."""
        return self.why.startswith("parent")


def batch_intent(code: CodeFacts, fn: FunctionInfo, loop_line: int | None) -> str:
    """Return why the items of a loop belong together, or "" when they stand alone.

    A loop is one unit of work when it fills in the children of a parent
    written just before it, or when it loads a batch the caller expects all
    or nothing. Items that each stand complete on their own (a status per
    row, a heartbeat, a checkpoint, an admin action per selected item) are not.
    """
    loop = loop_at(fn, loop_line)
    for use in code.sql_by_function.get(fn.qualname, ()):
        if (
            use.sql.kind == "insert"
            and not use.loop_depth
            and use.line < (loop_line or 0)
        ):
            return (
                f"parent row written at line {use.line}, then its children one by one"
            )
    if _BATCH.search(fn.name) or (loop is not None and _BATCH.search(loop.iter_text)):
        return f"`{fn.name}` loads a batch its caller expects all or nothing"
    return ""


def _quiet(fn: FunctionInfo, loop_line: int | None, once: bool) -> bool:
    loop = loop_at(fn, loop_line)
    return once or loop is None or loop.kind == "while" or small_literal(loop)


def per_item_commits(code: CodeFacts) -> list[PerItemCommit]:
    """Return every batch loop that commits item by item (cached per scan)."""
    cached = getattr(code, "_plumb_per_item", None)
    if isinstance(cached, list):
        return cached
    out: list[PerItemCommit] = []
    sums = summaries(code)
    for fn in live_functions(code):
        for call, callee in callees(code, fn):
            if not call.loop_depth or call.loop_line is None:
                continue
            if _quiet(fn, call.loop_line, call.once):
                continue
            if not sums[callee.qualname].own_writes or callee.sql_param is not None:
                continue
            why = batch_intent(code, fn, call.loop_line)
            if why:
                key = [fn.file, fn.qualname, callee.qualname]
                what = f"`{callee.name}()`"
                out.append(
                    PerItemCommit(
                        fn,
                        call.loop_line,
                        call.line,
                        key,
                        what,
                        call.snippet,
                        callee,
                        None,
                        why,
                    )
                )
        commit_loops = {t.loop_line for t in fn.txn if t.op == "commit" and t.loop_line}
        for use in code.sql_by_function.get(fn.qualname, ()):
            if not use.sql.is_write or not use.loop_depth or use.loop_line is None:
                continue
            if _quiet(fn, use.loop_line, use.once):
                continue
            if not (use.conn.startswith("own:") or use.loop_line in commit_loops):
                continue
            why = batch_intent(code, fn, use.loop_line)
            if why:
                key = [use.file, use.function, use.sql.normalised]
                out.append(
                    PerItemCommit(
                        fn,
                        use.loop_line,
                        use.line,
                        key,
                        "each statement",
                        use.snippet,
                        None,
                        use,
                        why,
                    )
                )
    object.__setattr__(code, "_plumb_per_item", out)
    return out


def not_atomic_loops(code: CodeFacts) -> set[tuple[str, int]]:
    """Return (function, loop line) of the loops reported as not atomic."""
    return {(item.fn.qualname, item.loop_line) for item in per_item_commits(code)}


def steps(*items: tuple[str, int | None, str]) -> tuple[Step, ...]:
    """Return the chain of reasoning of a finding."""
    return tuple(Step(file, line, message) for file, line, message in items)


def lines_of(items: Iterable[int]) -> str:
    """Return line numbers as text: "12, 15 and 20"."""
    values = [str(i) for i in sorted(set(items))]
    if len(values) <= 1:
        return "".join(values)
    return ", ".join(values[:-1]) + " and " + values[-1]
