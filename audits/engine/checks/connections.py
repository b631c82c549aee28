"""Connections: one per operation, leaked, unchecked pools, and the server's limit."""

from __future__ import annotations

from collections.abc import Iterator

from audits.engine.issues import Issue
from audits.engine.schema import Schema
from audits.engine.sources.code import CodeFacts

from .base import CODE, LIVE, CheckSpec, Topic
from .code_facts import at_site, in_function, live_functions
from .probe_facts import database_of, engine_of

TOPIC = Topic.beside(__file__)


@TOPIC.implements("connection-per-operation", requires=CODE)
def connection_per_operation(spec: CheckSpec, code: CodeFacts) -> Iterator[Issue]:
    """Report helpers that open a new connection for every statement they run."""
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
            **in_function(fn),
            evidence=(
                f"`{fn.name}` opens a connection{extra} for each of its "
                f"{callers.get(fn.qualname, 0)} call site(s)' single statement"
            ),
            remediation=(
                f"Open the connection once and reuse it (a long-lived connection or a "
                f"small pool), setting PRAGMAs once, instead of per call in `{fn.name}`."
            ),
        )


@TOPIC.implements("connection-leak-prone", requires=CODE)
def connection_leak_prone(spec: CheckSpec, code: CodeFacts) -> Iterator[Issue]:
    """Report helpers that return a raw connection every caller must close."""
    for fn in live_functions(code):
        if not fn.returns_connection or fn.yields_connection:
            continue
        if any("contextmanager" in d for d in fn.decorators):
            continue
        yield spec.issue(
            key=[fn.file, fn.qualname],
            **in_function(fn),
            evidence=f"`{fn.name}()` returns an open connection; each caller must close it",
            remediation=(
                f"Turn `{fn.name}` into a context manager (`@contextmanager` that yields "
                "the connection and closes it in `finally`), or use "
                "`with closing(...)` at every call site."
            ),
        )


@TOPIC.implements("pool-health-check-missing", requires=CODE)
def pool_health_check_missing(spec: CheckSpec, code: CodeFacts) -> Iterator[Issue]:
    """Report engines/pools of server databases with no pre-ping or recycle."""
    for site in code.connects:
        if site.in_test or site.driver not in ("engine", "pool"):
            continue
        if site.factory.startswith("asyncpg"):
            continue
        if "sqlite" in site.url.lower() or site.pool_pre_ping or site.pool_recycle:
            continue
        yield spec.issue(
            key=[site.file, site.function, site.factory],
            **at_site(site),
            evidence=site.snippet,
            remediation=(
                "Pass `pool_pre_ping=True` (and `pool_recycle` below the server's idle "
                "timeout) to `create_engine`, or `check=ConnectionPool.check_connection` "
                "to a psycopg pool."
            ),
        )


# Connections above this share of max_connections.
CONNECTIONS_THRESHOLD = 0.8


@TOPIC.implements("connections-near-limit", requires=LIVE)
def connections_near_limit(spec: CheckSpec, schema: Schema) -> Iterator[Issue]:
    """Report connections near max_connections and long idle transactions.

    Keys: ``[database, "max_connections"]`` and ``[database,
    "idle_in_transaction"]``.
    """
    if engine_of(schema) not in ("postgresql", "mysql"):
        return
    database = database_of(schema)
    limit = int(schema.fact("max_connections", 0) or 0)
    used = int(schema.fact("connections", 0) or 0)
    if limit and used / limit > CONNECTIONS_THRESHOLD:
        yield spec.issue(
            key=[database, "max_connections"],
            object=database,
            evidence=(
                f"{used} of max_connections={limit} connections are in use "
                f"({used / limit:.0%})."
            ),
        )
    idle = list(schema.fact("idle_in_transaction", ()) or ())
    if idle:
        longest = max(int(s["seconds"]) for s in idle)
        yield spec.issue(
            key=[database, "idle_in_transaction"],
            title="Sessions left idle in a transaction",
            object=database,
            evidence=(
                f"{len(idle)} session(s) idle in a transaction, the longest for "
                f"{longest // 60} min; they hold locks and keep old row "
                "versions from being vacuumed."
            ),
            fix_sql="ALTER SYSTEM SET idle_in_transaction_session_timeout = '5min';",
        )
