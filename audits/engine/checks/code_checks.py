"""Checks that read application code: transactions, connections, queries, SQL safety."""

from __future__ import annotations

from collections.abc import Iterator

from audits.engine.issues import Evidence, Issue, Severity
from audits.engine.registry import CheckSpec, Facts, implements
from audits.engine.sources.code import CodeFacts, ConnectSite, FunctionInfo, SqlUse

from .code_common import (
    callees,
    code_of,
    is_growth_table,
    is_secret_column,
    live_functions,
    live_sql,
    loop_kind,
    never_called,
    short,
    sql_key,
    summaries,
    tainted,
)

CODE = {Evidence.CODE}


def _loc(use: SqlUse) -> dict[str, object]:
    return {"file": use.file, "line": use.line, "function": use.function}


# ------------------------------------------------------------------ integrity


def _loop_writes_own_connection(
    code: CodeFacts, fn: FunctionInfo
) -> Iterator[tuple[int, str, str, str]]:
    """Yield (line, key part, what, snippet) for per-item writes in loops."""
    sums = summaries(code)
    for call, callee in callees(code, fn):
        if not call.loop_depth or loop_kind(fn, call.loop_line) == "while":
            continue
        s = sums[callee.qualname]
        if s.own_writes and callee.sql_param is None:
            yield call.line, callee.qualname, f"`{callee.name}()`", call.snippet


@implements("txn-not-atomic", requires=CODE)
def txn_not_atomic(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report multi-step writes spread over one connection or commit per item."""
    code = code_of(facts)
    if code is None:
        return
    for fn in live_functions(code):
        for line, key, what, snippet in _loop_writes_own_connection(code, fn):
            yield spec.issue(
                key=[fn.file, fn.qualname, key],
                file=fn.file,
                line=line,
                function=fn.qualname,
                object=fn.qualname,
                evidence=f"{snippet}  # {what} opens its own connection and commits, once per item",
                remediation=(
                    f"Do the whole of `{fn.name}` on one connection in one transaction: "
                    f"pass the connection into {what} (or insert the rows with "
                    "`executemany`) and commit once at the end."
                ),
            )
        uses = code.sql_by_function.get(fn.qualname, [])
        commit_loops = {t.loop_line for t in fn.txn if t.op == "commit" and t.loop_line}
        for use in uses:
            if not use.sql.is_write or not use.loop_depth:
                continue
            if loop_kind(fn, use.loop_line) == "while":
                continue
            per_item = use.conn.startswith("own:") or use.loop_line in commit_loops
            if not per_item:
                continue
            yield spec.issue(
                key=sql_key(use),
                evidence=f"{use.snippet}  # committed once per loop iteration",
                remediation=(
                    f"Run the loop in `{short(fn.qualname)}` on one connection inside one "
                    "transaction (`executemany` for the rows) and commit once after it."
                ),
                object=fn.qualname,
                **_loc(use),  # type: ignore[arg-type]
            )


def _access_events(
    code: CodeFacts, fn: FunctionInfo
) -> list[tuple[int, str, str, str, tuple[str, ...], tuple[str, ...], SqlUse | None]]:
    """Return (line, kind, table, conn, result names, arg names, use) in order."""
    events: list[
        tuple[int, str, str, str, tuple[str, ...], tuple[str, ...], SqlUse | None]
    ] = []
    for use in code.sql_by_function.get(fn.qualname, []):
        kind = (
            "read" if use.sql.kind == "select" else "write" if use.sql.is_write else ""
        )
        if not kind:
            continue
        for table in use.sql.tables:
            events.append(
                (use.line, kind, table, use.conn, use.result_names, use.arg_names, use)
            )
    sums = summaries(code)
    for call, callee in callees(code, fn):
        if callee.sql_param is not None:
            continue
        s = sums[callee.qualname]
        conn = f"call:{call.line}:{callee.qualname}"
        for table in s.own_reads:
            events.append(
                (
                    call.line,
                    "read",
                    table,
                    conn,
                    call.result_names,
                    call.arg_names,
                    None,
                )
            )
        for table in s.own_writes:
            events.append(
                (
                    call.line,
                    "write",
                    table,
                    conn,
                    call.result_names,
                    call.arg_names,
                    None,
                )
            )
    events.sort(key=lambda e: e[0])
    return events


@implements("txn-lost-update", requires=CODE)
def txn_lost_update(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report a read and a dependent write of one table on two connections."""
    code = code_of(facts)
    if code is None:
        return
    for fn in live_functions(code):
        uses = code.sql_by_function.get(fn.qualname, [])
        if any(u.sql.locking for u in uses):
            continue
        events = _access_events(code, fn)
        reported: set[str] = set()
        for i, (r_line, r_kind, table, r_conn, r_names, _, _) in enumerate(events):
            if r_kind != "read" or table in reported or not r_names:
                continue
            derived = tainted(fn, r_names, r_line)
            guarded = any(
                r_line <= line and set(refs) & derived for line, refs in fn.if_tests
            )
            for w_line, w_kind, w_table, w_conn, _, w_args, w_use in events[i + 1 :]:
                if w_kind != "write" or w_table != table or w_conn == r_conn:
                    continue
                if (
                    w_conn.startswith(("param:", "attr:", "global:"))
                    and r_conn == w_conn
                ):
                    continue
                if w_use is not None and _version_checked(w_use):
                    continue
                guarded_before = guarded and any(
                    r_line <= line <= w_line and set(refs) & derived
                    for line, refs in fn.if_tests
                )
                if not (set(w_args) & derived or guarded_before):
                    continue
                reported.add(table)
                yield spec.issue(
                    key=[fn.file, fn.qualname, table],
                    file=fn.file,
                    line=r_line,
                    function=fn.qualname,
                    object=table,
                    evidence=(
                        f"reads {table} at line {r_line} and writes it at line {w_line} "
                        "on another connection"
                    ),
                    remediation=(
                        f"Make `{fn.name}` one atomic statement: "
                        "`INSERT ... ON CONFLICT DO UPDATE` with the arithmetic in SQL, "
                        "or read and write on one connection after `BEGIN IMMEDIATE`."
                    ),
                )
                break


def _version_checked(use: SqlUse) -> bool:
    where = set(use.sql.where_columns)
    return bool(where & {"version", "updated_at", "row_version", "revision"}) or bool(
        where & set(use.sql.set_columns)
    )


@implements("commit-without-rollback", requires=CODE)
def commit_without_rollback(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report commits on shared connections or sessions with no rollback path."""
    code = code_of(facts)
    if code is None:
        return
    for fn in live_functions(code):
        if any(t.op == "rollback" for t in fn.txn) or fn.yields_connection:
            continue
        for op in fn.txn:
            if op.op != "commit" or op.protected:
                continue
            if not op.conn.startswith(("param:", "attr:", "global:", "unknown")):
                continue
            yield spec.issue(
                key=[fn.file, fn.qualname, op.receiver],
                file=fn.file,
                line=op.line,
                function=fn.qualname,
                object=fn.qualname,
                evidence=f"{op.receiver}.commit() with no try/except rollback",
                remediation=(
                    f"In `{fn.name}`, wrap the work in `try: ... {op.receiver}.commit() "
                    f"except Exception: {op.receiver}.rollback(); raise` (or a "
                    "transaction context manager) so a failure does not leave the "
                    "transaction open."
                ),
            )
            break


@implements("commit-ownership-unclear", requires=CODE)
def commit_ownership_unclear(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report a unit of work that commits while the code it serves commits too."""
    code = code_of(facts)
    if code is None:
        return
    providers = [f for f in live_functions(code) if f.commits_after_yield]
    if not providers:
        return
    inner = [
        (f, op)
        for f in live_functions(code)
        if not f.commits_after_yield
        for op in f.txn
        if op.op == "commit" and op.conn.startswith(("param:", "attr:"))
    ]
    if not inner:
        return
    for provider in providers:
        other, op = inner[0]
        yield spec.issue(
            key=[provider.file, provider.qualname],
            file=provider.file,
            line=provider.line,
            function=provider.qualname,
            object=provider.qualname,
            evidence=(
                f"`{provider.name}` commits after the caller's block, and "
                f"{len(inner)} other function(s) commit too, e.g. `{other.qualname}` "
                f"({other.file}:{op.line})"
            ),
            remediation=(
                f"Let one layer own the transaction: either `{provider.name}` commits "
                "and repositories only flush, or repositories commit and the provider "
                "only closes."
            ),
        )


@implements("sqlite-foreign-keys-off", requires=CODE)
def sqlite_foreign_keys_off(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report SQLite connections that write without ``PRAGMA foreign_keys=ON``."""
    code = code_of(facts)
    if code is None:
        return
    sites = [c for c in code.connects if c.driver == "sqlite" and not c.in_test]
    if not sites:
        return
    uses_fk = any(
        dict(c.pragmas).get("foreign_keys") in ("on", "1", "true", "yes") for c in sites
    ) or any(
        "references" in u.template.lower()
        for u in live_sql(code)
        if u.sql.kind == "create"
    )
    if facts.schema is not None:
        uses_fk = uses_fk or any(t.foreign_keys for t in facts.schema.tables)
    if not uses_fk:
        return
    for site in sites:
        if site.readonly or dict(site.pragmas).get("foreign_keys") in (
            "on",
            "1",
            "true",
        ):
            continue
        if not _site_writes(code, site, facts):
            continue
        yield spec.issue(
            key=[site.file, site.function, site.factory],
            file=site.file,
            line=site.line,
            function=site.function,
            object=site.function,
            evidence=f"{site.snippet}  # no PRAGMA foreign_keys = ON on this connection",
            remediation=(
                f"Run `PRAGMA foreign_keys = ON` right after connecting in "
                f"`{short(site.function)}`; SQLite enforces foreign keys only on "
                "connections that ask for it."
            ),
        )


def _site_writes(code: CodeFacts, site: ConnectSite, facts: Facts) -> bool:
    """Return True when FK enforcement matters for what ``site`` is used for."""
    fn = code.by_qualname.get(site.function)
    if fn is None or fn.returns_connection or fn.yields_connection:
        return True
    if fn.sql_param is not None:
        # A helper that runs whatever its callers pass: judge by what they pass.
        return any(u.via == fn.qualname and u.sql.is_write for u in code.sql)
    related: set[str] | None = None
    if facts.schema is not None:
        related = set()
        for table in facts.schema.tables:
            if table.foreign_keys:
                related.add(table.name.lower())
                related.update(fk.ref_table.lower() for fk in table.foreign_keys)
    for use in code.sql_by_function.get(site.function, []):
        base = use.receiver.split(".")[0]
        if not use.sql.is_write or (site.name and base != site.name):
            continue
        if related is None or set(use.sql.tables) & related:
            return True
    return False


@implements("sqlite-synchronous-normal", requires=CODE)
def sqlite_synchronous_normal(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report code that lowers ``synchronous`` below FULL on SQLite."""
    code = code_of(facts)
    if code is None:
        return
    for site in code.connects:
        value = dict(site.pragmas).get("synchronous")
        if site.in_test or value not in ("normal", "1", "off", "0"):
            continue
        off = value in ("off", "0")
        yield spec.issue(
            key=[site.file, site.function, "synchronous"],
            severity=Severity.MEDIUM if off else None,
            file=site.file,
            line=site.line,
            function=site.function,
            object=site.function,
            evidence=f"PRAGMA synchronous = {value.upper()} in `{short(site.function)}`",
            remediation=(
                "Keep `synchronous = NORMAL` only if losing the last transactions on "
                "power loss is acceptable; otherwise set `PRAGMA synchronous = FULL`."
            ),
        )


# ---------------------------------------------------------------- performance


@implements("query-n-plus-one", requires=CODE)
def query_n_plus_one(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report queries, or helpers that query, run once per item of a loop."""
    code = code_of(facts)
    if code is None:
        return
    sums = summaries(code)
    for fn in live_functions(code):
        uses = code.sql_by_function.get(fn.qualname, [])
        commit_loops = {t.loop_line for t in fn.txn if t.op == "commit" and t.loop_line}
        sql_lines = {u.line for u in uses}
        for use in uses:
            if not use.loop_depth or loop_kind(fn, use.loop_line) == "while":
                continue
            if use.method == "executemany":
                continue
            per_item_conn = use.conn.startswith("own:")
            if use.sql.kind == "select" or (
                use.sql.is_write and (per_item_conn or use.loop_line in commit_loops)
            ):
                fix = (
                    "fetch every row in one query before the loop (`WHERE id IN (...)` "
                    "or a JOIN)"
                    if use.sql.kind == "select"
                    else "use one connection and `executemany` for the rows"
                )
                yield spec.issue(
                    key=sql_key(use),
                    object=fn.qualname,
                    evidence=use.snippet
                    + ("  # opens a connection per item" if per_item_conn else ""),
                    remediation=f"In `{short(fn.qualname)}`, {fix}.",
                    **_loc(use),  # type: ignore[arg-type]
                )
        for call, callee in callees(code, fn):
            if not call.loop_depth or call.line in sql_lines:
                continue
            if loop_kind(fn, call.loop_line) == "while":
                continue
            s = sums[callee.qualname]
            if not s.touches_db or callee.sql_param is not None:
                continue
            conn_note = (
                " (each call opens its own connection)" if s.opens_connection else ""
            )
            yield spec.issue(
                key=[fn.file, fn.qualname, callee.qualname],
                file=fn.file,
                line=call.line,
                function=fn.qualname,
                object=fn.qualname,
                evidence=f"{call.snippet}  # `{callee.name}()` queries the database{conn_note}",
                remediation=(
                    f"In `{fn.name}`, replace the per-item `{callee.name}()` calls with one "
                    "batched statement on one connection (`executemany`, or one query "
                    "with `IN (...)`)."
                ),
            )


@implements("query-unbounded", requires=CODE)
def query_unbounded(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report list queries without LIMIT on tables that grow without bound."""
    code = code_of(facts)
    if code is None:
        return
    for use in live_sql(code):
        info = use.sql
        if info.kind != "select" or info.has_limit or use.single_row:
            continue
        if info.aggregate and not info.group_by:
            continue
        growing = [t for t in info.tables if is_growth_table(t)]
        if not growing or "id" in info.where_columns:
            continue
        yield spec.issue(
            key=sql_key(use),
            object=growing[0],
            evidence=use.snippet,
            remediation=(
                f"Paginate the query in `{short(use.function)}`: add `LIMIT ? OFFSET ?` "
                "(or keyset pagination on an indexed column) and select only the "
                "columns the caller needs."
            ),
            **_loc(use),  # type: ignore[arg-type]
        )


def _row_sources(
    code: CodeFacts, fn: FunctionInfo
) -> list[tuple[int, tuple[str, ...], str]]:
    """Return (line, names, statement) for multi-row reads inside ``fn``."""
    out = []
    for use in code.sql_by_function.get(fn.qualname, []):
        if use.sql.kind == "select" and not (
            use.single_row or use.sql.group_by or use.sql.aggregate
        ):
            out.append((use.line, use.result_names, use.sql.normalised))
    for call, callee in callees(code, fn):
        inner = [
            u
            for u in code.sql_by_function.get(callee.qualname, [])
            if u.sql.kind == "select" and not u.single_row
        ]
        if len(inner) == 1 and not inner[0].sql.group_by and not inner[0].sql.aggregate:
            out.append((call.line, call.result_names, inner[0].sql.normalised))
    return out


@implements("query-aggregation-in-app", requires=CODE)
def query_aggregation_in_app(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report rows fetched whole and then summed or counted in Python loops."""
    code = code_of(facts)
    if code is None:
        return
    for fn in live_functions(code):
        for line, names, statement in _row_sources(code, fn):
            if not names:
                continue
            derived = tainted(fn, names, line)
            hit = next(
                (
                    loop.line
                    for loop in fn.loops
                    if loop.line >= line
                    and loop.accumulates
                    and set(loop.iter_names) & derived
                ),
                None,
            )
            if hit is None:
                hit = next(
                    (
                        ln
                        for ln, refs in fn.aggregate_calls
                        if ln >= line and set(refs) & derived
                    ),
                    None,
                )
            if hit is None:
                continue
            yield spec.issue(
                key=[fn.file, fn.qualname, statement],
                file=fn.file,
                line=hit,
                function=fn.qualname,
                object=fn.qualname,
                evidence=f"rows from `{statement[:100]}` are totalled in a Python loop",
                remediation=(
                    f"Aggregate in SQL for `{fn.name}`: `SELECT key, SUM(...), AVG(...) "
                    "... GROUP BY key` (normalise JSON blobs into columns first if needed)."
                ),
            )
            break


@implements("connection-per-operation", requires=CODE)
def connection_per_operation(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report helpers that open a new connection for every statement they run."""
    code = code_of(facts)
    if code is None:
        return
    callers: dict[str, int] = {}
    for use in code.sql:
        if use.via:
            callers[use.via] = callers.get(use.via, 0) + 1
    for fn in live_functions(code):
        if fn.sql_param is None or not fn.local_conns:
            continue
        sites = code.connects_by_function.get(fn.qualname, [])
        pragmas = sorted({name for site in sites for name, _ in site.pragmas})
        extra = (
            f" plus {len(pragmas)} PRAGMA(s) ({', '.join(pragmas)})" if pragmas else ""
        )
        yield spec.issue(
            key=[fn.file, fn.qualname],
            file=fn.file,
            line=fn.line,
            function=fn.qualname,
            object=fn.qualname,
            evidence=(
                f"`{fn.name}` opens a connection{extra} for each of its "
                f"{callers.get(fn.qualname, 0)} call site(s)' single statement"
            ),
            remediation=(
                f"Open the connection once and reuse it (a long-lived connection or a "
                f"small pool), setting PRAGMAs once, instead of per call in `{fn.name}`."
            ),
        )


# ----------------------------------------------------------------- operations


@implements("sqlite-busy-timeout-missing", requires=CODE)
def sqlite_busy_timeout_missing(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report SQLite connections whose effective busy timeout is zero.

    ``sqlite3.connect`` and ``aiosqlite.connect`` wait five seconds by
    default, so only ``timeout=0`` or ``PRAGMA busy_timeout = 0`` count.
    """
    code = code_of(facts)
    if code is None:
        return
    for site in code.connects:
        if site.driver != "sqlite" or site.in_test:
            continue
        pragma = dict(site.pragmas).get("busy_timeout")
        if pragma is not None:
            zero = pragma in ("0", "")
        else:
            zero = site.timeout_given and site.timeout == 0
        if not zero:
            continue
        yield spec.issue(
            key=[site.file, site.function, site.factory],
            file=site.file,
            line=site.line,
            function=site.function,
            object=site.function,
            evidence=f"{site.snippet}  # waits 0 ms on a locked database",
            remediation=(
                f"Give the connection in `{short(site.function)}` a busy timeout: "
                "drop `timeout=0` (the driver default waits 5 s) or run "
                "`PRAGMA busy_timeout = 5000` after connecting."
            ),
        )


@implements("sqlite-wal-disabled", requires=CODE)
def sqlite_wal_disabled(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report code that switches SQLite out of WAL, or never turns WAL on."""
    code = code_of(facts)
    if code is None:
        return
    sites = [c for c in code.connects if c.driver == "sqlite" and not c.in_test]
    modes = [(s, dict(s.pragmas).get("journal_mode")) for s in sites]
    for site, mode in modes:
        if mode and mode != "wal":
            yield spec.issue(
                key=[site.file, site.function, "journal_mode"],
                file=site.file,
                line=site.line,
                function=site.function,
                object=site.function,
                evidence=f"PRAGMA journal_mode = {mode.upper()} in `{short(site.function)}`",
                remediation="Set `PRAGMA journal_mode = WAL` once at start-up (it persists in the file).",
            )
    if facts.schema is not None and facts.schema.is_live:
        return  # the live probe reads the mode the file really has
    wal_anywhere = any(mode == "wal" for _, mode in modes) or any(
        u.sql.pragma is not None and u.sql.pragma[0] == "journal_mode" for u in code.sql
    )
    if len(sites) >= 2 and not wal_anywhere and not any(mode for _, mode in modes):
        first = sites[0]
        yield spec.issue(
            key=["project", "journal_mode"],
            file=first.file,
            line=first.line,
            function=first.function,
            object="project",
            evidence=f"{len(sites)} SQLite connection sites and no `PRAGMA journal_mode = WAL`",
            remediation=(
                "Run `PRAGMA journal_mode = WAL` once at start-up (for example where the "
                "schema is created); readers then stop blocking the writer."
            ),
        )


@implements("cleanup-never-called", requires=CODE)
def cleanup_never_called(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report cleanup/purge/expire/prune functions that nothing calls or schedules."""
    code = code_of(facts)
    if code is None:
        return
    import re

    pattern = re.compile(
        r"(clean_?up|purge|prune|expire|evict|reap|sweep|retention|delete_old|delete_expired|remove_old|remove_expired|rotate)",
        re.I,
    )
    sums = summaries(code)
    cleanups = [f for f in live_functions(code) if pattern.search(f.name)]
    # file -> the first cleanup in it that something calls
    called_in_file: dict[str, str] = {}
    for f in cleanups:
        if not never_called(code, f):
            called_in_file.setdefault(f.file, f.name)
    for fn in cleanups:
        if not sums[fn.qualname].touches_db:
            continue
        if not never_called(code, fn):
            continue
        sibling = called_in_file.get(fn.file, "")
        hint = f" beside the existing `{sibling}()` call" if sibling else ""
        yield spec.issue(
            key=[fn.file, fn.qualname],
            file=fn.file,
            line=fn.line,
            function=fn.qualname,
            object=fn.qualname,
            evidence=f"def {fn.name}(...) is defined but never called, scheduled or registered",
            remediation=(
                f"Call `{fn.name}()` from the application start-up or a periodic job"
                f"{hint}, or delete it if the data really needs no cleanup."
            ),
        )


def _uses_database(code: CodeFacts) -> bool:
    return any(not c.in_test for c in code.connects) or any(
        True for _ in live_sql(code)
    )


def _project_issue(
    spec: CheckSpec, code: CodeFacts, evidence: str, remediation: str
) -> Issue:
    return spec.issue(
        key=["project"], object="project", evidence=evidence, remediation=remediation
    )


@implements("backup-missing", requires=CODE)
def backup_missing(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report a database-using project with no backup mechanism anywhere."""
    code = code_of(facts)
    if code is None or not _uses_database(code) or "backup" in code.keywords:
        return
    sqlite = any(c.driver == "sqlite" for c in code.connects)
    how = (
        "a scheduled `sqlite3` `.backup()` (or `VACUUM INTO`) to another disk"
        if sqlite
        else "scheduled `pg_dump`/base backups with a tested restore"
    )
    yield _project_issue(
        spec,
        code,
        "no `.backup()`, `VACUUM INTO`, pg_dump, mysqldump or backup tool configured",
        f"Add {how}, keep copies off the machine, and document the restore.",
    )


@implements("maintenance-missing", requires=CODE)
def maintenance_missing(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report a database-using project that never runs VACUUM/ANALYZE/optimize."""
    code = code_of(facts)
    if code is None or not _uses_database(code) or "maintenance" in code.keywords:
        return
    kinds = {u.sql.kind for u in code.sql}
    if kinds & {"vacuum", "analyze"} or any(
        u.sql.pragma is not None and u.sql.pragma[0] == "optimize" for u in code.sql
    ):
        return
    yield _project_issue(
        spec,
        code,
        "no VACUUM, ANALYZE or `PRAGMA optimize` anywhere in the code",
        "Run `PRAGMA optimize` (SQLite) or ANALYZE periodically and VACUUM after large "
        "deletes, for example from the same job that deletes expired rows.",
    )


@implements("slow-query-visibility-missing", requires=CODE)
def slow_query_visibility_missing(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report a database-using project with no slow-query logging hook."""
    code = code_of(facts)
    if code is None or not _uses_database(code) or "slowlog" in code.keywords:
        return
    yield _project_issue(
        spec,
        code,
        "no query timing hook (`set_trace_callback`, `before_cursor_execute`, "
        "`log_min_duration_statement`, pg_stat_statements)",
        "Log statements slower than a threshold: a timing wrapper around the execute "
        "helper, an SQLAlchemy `before/after_cursor_execute` listener, or "
        "`log_min_duration_statement` on PostgreSQL.",
    )


@implements("migrations-unversioned", requires=CODE)
def migrations_unversioned(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report ALTER TABLE statements retried at start-up behind a silent except."""
    code = code_of(facts)
    if code is None or "migrations" in code.keywords:
        return
    for fn in live_functions(code):
        if not fn.alters_in_try:
            continue
        yield spec.issue(
            key=[fn.file, fn.qualname],
            file=fn.file,
            line=fn.alters_in_try[0],
            function=fn.qualname,
            object=fn.qualname,
            evidence=(
                f"{len(fn.alters_in_try)} ALTER TABLE statement(s) in `{fn.name}` run "
                "inside try/except and are re-run on every start"
            ),
            remediation=(
                "Record the schema version (`PRAGMA user_version`, or a migrations table "
                "via Alembic) and apply each ALTER once, in order."
            ),
        )


@implements("connection-leak-prone", requires=CODE)
def connection_leak_prone(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report helpers that return a raw connection every caller must close."""
    code = code_of(facts)
    if code is None:
        return
    for fn in live_functions(code):
        if not fn.returns_connection or fn.yields_connection:
            continue
        if any("contextmanager" in d for d in fn.decorators):
            continue
        yield spec.issue(
            key=[fn.file, fn.qualname],
            file=fn.file,
            line=fn.line,
            function=fn.qualname,
            object=fn.qualname,
            evidence=f"`{fn.name}()` returns an open connection; each caller must close it",
            remediation=(
                f"Turn `{fn.name}` into a context manager (`@contextmanager` that yields "
                "the connection and closes it in `finally`), or use "
                "`with closing(...)` at every call site."
            ),
        )


@implements("pool-health-check-missing", requires=CODE)
def pool_health_check_missing(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report engines/pools of server databases with no pre-ping or recycle."""
    code = code_of(facts)
    if code is None:
        return
    for site in code.connects:
        if site.in_test or site.driver not in ("engine", "pool"):
            continue
        if site.factory.startswith("asyncpg"):
            continue
        if "sqlite" in site.url.lower() or site.pool_pre_ping or site.pool_recycle:
            continue
        yield spec.issue(
            key=[site.file, site.function, site.factory],
            file=site.file,
            line=site.line,
            function=site.function,
            object=site.function,
            evidence=site.snippet,
            remediation=(
                "Pass `pool_pre_ping=True` (and `pool_recycle` below the server's idle "
                "timeout) to `create_engine`, or `check=ConnectionPool.check_connection` "
                "to a psycopg pool."
            ),
        )


@implements("line-endings-mixed", requires=CODE)
def line_endings_mixed(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report files mixing CRLF and LF, and file kinds split between the two."""
    code = code_of(facts)
    if code is None:
        return
    files = list(code.files) + list(code.other_files)
    for f in files:
        if f.crlf and f.lf:
            yield spec.issue(
                key=[f.path],
                file=f.path,
                object=f.path,
                evidence=f"{f.crlf} CRLF and {f.lf} LF line endings in one file",
                remediation="Normalise the file to LF and add a `.gitattributes` rule (`* text=auto eol=lf`).",
            )
    kinds: dict[str, tuple[list[str], list[str]]] = {}
    for f in files:
        ext = f.path.rsplit(".", 1)[-1] if "." in f.path else f.path
        crlf, lf = kinds.setdefault(ext, ([], []))
        if f.crlf and not f.lf:
            crlf.append(f.path)
        elif f.lf and not f.crlf:
            lf.append(f.path)
    for ext, (crlf, lf) in sorted(kinds.items()):
        if crlf and lf:
            yield spec.issue(
                key=[f"*.{ext}"],
                object=f"*.{ext}",
                file=crlf[0],
                evidence=f"{len(crlf)} .{ext} file(s) use CRLF (e.g. {crlf[0]}), {len(lf)} use LF",
                remediation="Pick LF for every file of a kind and enforce it with `.gitattributes`.",
            )


# ------------------------------------------------------------------- security


@implements("sql-injection", requires=CODE)
def sql_injection(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report SQL built by formatting non-constant values into the text."""
    code = code_of(facts)
    if code is None:
        return
    for use in live_sql(code):
        unsafe = [i for i in use.interpolations if not i.safe]
        if not unsafe:
            continue
        values = [
            i
            for i in unsafe
            if not i.identifiers
            and (i.index in use.sql.dynamic_in_value or not use.sql.parsed)
        ]
        if not values:
            continue
        names = ", ".join(f"`{i.expr}`" for i in values)
        yield spec.issue(
            key=sql_key(use),
            object=use.function,
            evidence=f"{use.snippet}  # {names} formatted into the SQL ({use.built})",
            remediation=(
                f"Pass {names} as parameters (`?` / `%s` placeholders and a params "
                f"tuple) in `{short(use.function)}` instead of formatting them into the SQL."
            ),
            **_loc(use),  # type: ignore[arg-type]
        )


@implements("sql-dynamic-identifier", requires=CODE)
def sql_dynamic_identifier(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report table/column names formatted into SQL without an allowlist."""
    code = code_of(facts)
    if code is None:
        return
    for use in live_sql(code):
        idents = [
            i
            for i in use.interpolations
            if not i.safe
            and (i.identifiers or i.index in use.sql.dynamic_in_identifier)
        ]
        if not idents:
            continue
        names = ", ".join(f"`{i.expr}`" for i in idents)
        yield spec.issue(
            key=sql_key(use),
            object=use.function,
            evidence=f"{use.snippet}  # identifier(s) {names} come from variables",
            remediation=(
                f"Check {names} against a fixed allowlist of column/table names in "
                f"`{short(use.function)}` before building the SQL (or quote them with "
                "the driver's identifier quoting)."
            ),
            **_loc(use),  # type: ignore[arg-type]
        )


@implements("empty-credential-stored", requires=CODE)
def empty_credential_stored(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report a literal empty string written to a password/secret column."""
    code = code_of(facts)
    if code is None:
        return
    for use in live_sql(code):
        if not use.sql.is_write:
            continue
        for column, value in use.literal_writes().items():
            if value == "" and is_secret_column(column):
                table = use.sql.tables[0] if use.sql.tables else ""
                yield spec.issue(
                    key=[use.file, use.function, table, column],
                    object=f"{table}.{column}",
                    evidence=f"{use.snippet}  # '' written to {column}",
                    remediation=(
                        f"Store NULL (and allow it) for accounts without a {column} in "
                        f"`{short(use.function)}`, so an empty string can never match a "
                        "login check."
                    ),
                    **_loc(use),  # type: ignore[arg-type]
                )
    models = {m.name: m for m in code.models}
    for write in code.orm_writes:
        model = models.get(write.model)
        if model is None or write.value != "" or not is_secret_column(write.column):
            continue
        yield spec.issue(
            key=[write.file, write.function, model.table, write.column],
            file=write.file,
            line=write.line,
            function=write.function,
            object=f"{model.table}.{write.column}",
            evidence=f"{write.model}({write.column}='')",
            remediation=f"Store None for accounts without a {write.column}.",
        )


# ------------------------------------------------------------------------ ORM


@implements("orm-boolean-comparison", requires=CODE)
def orm_boolean_comparison(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report ``== None/True/False`` inside ORM filter expressions."""
    code = code_of(facts)
    if code is None:
        return
    for flt in code.filters:
        if flt.op not in ("==", "!=") or flt.value not in ("None", "True", "False"):
            continue
        if flt.file.startswith("tests/") or "/tests/" in flt.file:
            continue
        method = "is_" if flt.op == "==" else "is_not"
        yield spec.issue(
            key=[
                flt.file,
                flt.function,
                f"{flt.model}.{flt.column} {flt.op} {flt.value}",
            ],
            file=flt.file,
            line=flt.line,
            function=flt.function,
            object=f"{flt.model}.{flt.column}",
            evidence=flt.text,
            remediation=f"Write `{flt.model}.{flt.column}.{method}({flt.value})`.",
        )


@implements("orm-deprecated-api", requires=CODE)
def orm_deprecated_api(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report ``declarative_base()`` and ``datetime.utcnow`` column defaults."""
    code = code_of(facts)
    if code is None:
        return
    for use in code.uses:
        if use.what == "declarative_base":
            yield spec.issue(
                key=[use.file, "declarative_base"],
                file=use.file,
                line=use.line,
                function=use.function,
                object="declarative_base",
                evidence=use.text,
                remediation="Subclass `sqlalchemy.orm.DeclarativeBase` instead of calling `declarative_base()`.",
            )
    for model in code.models:
        for col in model.columns:
            for what in (col.default, col.onupdate):
                if what and "utcnow" in what:
                    yield spec.issue(
                        key=[model.file, model.name, col.attr, "utcnow"],
                        file=model.file,
                        line=col.line,
                        object=f"{model.table}.{col.name}",
                        evidence=f"{model.name}.{col.attr} uses {what}",
                        remediation=(
                            "Use a timezone-aware default: `default=lambda: "
                            "datetime.now(timezone.utc)` or `server_default=func.now()`."
                        ),
                    )
                    break


@implements("orm-relationship-one-sided", requires=CODE)
def orm_relationship_one_sided(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report ``back_populates`` that the other model does not answer."""
    code = code_of(facts)
    if code is None:
        return
    models = {m.name: m for m in code.models}
    for model in code.models:
        for rel in model.relationships:
            if not rel.back_populates:
                continue
            target = models.get(rel.target.split(".")[-1])
            if target is None:
                continue
            other = next(
                (r for r in target.relationships if r.attr == rel.back_populates), None
            )
            if other is not None and other.back_populates in (rel.attr, None):
                continue
            yield spec.issue(
                key=[model.file, model.name, rel.attr],
                file=model.file,
                line=rel.line,
                object=f"{model.name}.{rel.attr}",
                evidence=(
                    f"{model.name}.{rel.attr} back_populates='{rel.back_populates}' but "
                    f"{target.name} has no matching relationship"
                ),
                remediation=(
                    f'Add `{rel.back_populates} = relationship("{model.name}", '
                    f'back_populates="{rel.attr}")` to {target.name}.'
                ),
            )


@implements("orm-column-type-unset", requires=CODE)
def orm_column_type_unset(spec: CheckSpec, facts: Facts) -> Iterator[Issue]:
    """Report ORM columns declared without a type."""
    code = code_of(facts)
    if code is None:
        return
    for model in code.models:
        for col in model.columns:
            if not col.type_unset:
                continue
            yield spec.issue(
                key=[model.file, model.name, col.attr],
                file=model.file,
                line=col.line,
                object=f"{model.table}.{col.name}",
                evidence=f"{model.name}.{col.attr} = Column(... no type ...)",
                remediation="Declare the column type in the model (e.g. `JSON`, `String(255)`) so the ORM and migrations agree.",
            )


# ------------------------------------------------------------------- helpers


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
