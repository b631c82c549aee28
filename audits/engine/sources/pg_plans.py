"""Plan the code's SQL statements on a live PostgreSQL: EXPLAIN only, read-only.

The SELECT statements the code source found are planned on the project's
database, never run: ``EXPLAIN`` without ``ANALYZE`` in a transaction that
is read-only three times over (the session's ``default_transaction_read_only``,
``BEGIN READ ONLY``, ``SET TRANSACTION READ ONLY``, checked with ``SHOW
transaction_read_only`` before the first plan), under ``statement_timeout``
and a client-side watchdog. A statement that is not a plain read (a write,
a data-modifying CTE, ``SELECT INTO``) is refused before it reaches the
server.

Parameters stay parameters: the statement is planned as a generic plan,
with ``EXPLAIN (GENERIC_PLAN)`` on PostgreSQL 16 and later and a prepared
statement under ``plan_cache_mode = force_generic_plan`` before, so the
plan is the one the application gets for any value.

For each problem :mod:`.plan_reading` finds, the cost after the suggested
index is planned with a hypothetical index when the ``hypopg`` extension
is installed, else estimated from the planner's cost settings; the fact
says which. Where ``pg_stat_statements`` is installed, each statement
carries how often it ran.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any

import psycopg
import sqlglot
from sqlglot import exp

from audits.engine import guard
from audits.engine.schema import Schema
from audits.engine.sources import SourceError, plan_reading, postgres
from audits.engine.sources._health import mask_literals
from audits.engine.sources._probe import Watchdog, first_line
from audits.engine.sources.code_sql import DYN
from audits.engine.sources.plan_reading import Problem, Relation

GENERIC_PLAN_VERSION = 160000
STATEMENT_SHOWN = 300  # characters of a statement kept in its plan fact
# Statements planned per scan, and the time all of them may take (in
# statement timeouts, at least PLAN_BUDGET_MIN seconds).
STATEMENT_LIMIT = 300
PLAN_BUDGET_TIMEOUTS = 6
PLAN_BUDGET_MIN = 30.0
HYPOPG = "planned with a hypothetical index (hypopg)"
PLANNER = (
    "estimated from the planner's cost settings, without a hypothetical index "
    "(the hypopg extension is not installed)"
)

_COST_SETTINGS = (
    "random_page_cost",
    "cpu_tuple_cost",
    "cpu_index_tuple_cost",
    "cpu_operator_cost",
)
# Quoted strings and identifiers are skipped; then placeholders: ?, %s,
# %(name)s, :name (not a :: cast), $n, and the code source's markers.
_TOKEN = re.compile(
    r"'(?:[^']|'')*'|\"[^\"]*\"|::"
    r"|(\?)|(%s)|%\((\w+)\)s|(?<![:\w]):([A-Za-z_]\w*)|\$(\d+)"
    rf"|({DYN}\d+)"
)
_WRITES = (
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Merge,
    exp.Create,
    exp.Drop,
    exp.Command,
    exp.Into,
)


def to_postgres(template: str) -> tuple[str, int]:
    """Return ``template`` with its placeholders as ``$1..$n``, and ``n``."""
    names: dict[str, int] = {}
    count = 0

    def number(key: str) -> str:
        nonlocal count
        if key not in names:
            count += 1
            names[key] = count
        return f"${names[key]}"

    def rename(match: re.Match[str]) -> str:
        token = match.group(0)
        if match.group(1) or match.group(2):
            return number(f"#{match.start()}")
        for group in (3, 4, 6):
            if match.group(group):
                return number(match.group(group))
        if match.group(5):
            return number(f"${match.group(5)}")
        return token

    text = _TOKEN.sub(rename, template).strip().rstrip(";")
    if "%s" in template or "%(" in template:
        text = text.replace("%%", "%")  # the driver's escape, wherever it stands
    return text, count


def refusal(text: str, dialect: str = "postgres") -> str | None:
    """Return why ``text`` may not be planned here, or None for a plain read."""
    try:
        trees = [t for t in sqlglot.parse(text, read=dialect) if t is not None]
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
        return "it could not be read as one SELECT statement"
    if len(trees) != 1:
        return "it is not one statement"
    tree = trees[0]
    if not isinstance(tree, exp.Query) or any(tree.find_all(*_WRITES)):
        return "it is not a plain read (only SELECT statements are planned)"
    return None


class PlanSession:
    """One read-only connection that plans statements and prices indexes."""

    def __init__(self, conn: psycopg.Connection[Any], timeout: float) -> None:
        self.conn = conn
        self.timeout = timeout
        self.watchdog = Watchdog(conn.fileno())
        self.version = conn.info.server_version
        self.relations: dict[str, Relation] = {}
        self.count = 0
        self.q("SET TRANSACTION READ ONLY")
        self.read_only = self.q("SHOW transaction_read_only")[0][0] == "on"
        if not self.read_only:
            raise SourceError("the planning session is not read-only; nothing planned")
        self.settings = {
            name: float(value)
            for name, value in self.q(
                "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
                list(_COST_SETTINGS),
            )
        }
        self.hypopg = "hypopg" in postgres.installed_extensions(self.q)
        self.calls = self._statement_calls()

    def q(self, statement: Any, *params: Any) -> list[tuple[Any, ...]]:
        self.watchdog.kick(2 * self.timeout + 5)
        return postgres.query(self.conn, statement, params or None)

    def close(self) -> None:
        self.watchdog.close()

    def _statement_calls(self) -> dict[str, tuple[int, float]]:
        """Return calls and mean ms per normalised statement, when recorded."""
        try:
            with self.conn.transaction():
                rows = self.q(
                    "SELECT query, calls, total_exec_time FROM pg_stat_statements "
                    "WHERE dbid = (SELECT oid FROM pg_database "
                    "WHERE datname = current_database())"
                )
        except SourceError:
            return {}
        found: dict[str, tuple[int, float]] = {}
        for text, calls, total in rows:
            key = statement_key(str(text))
            before = found.get(key, (0, 0.0))
            found[key] = (before[0] + int(calls), before[1] + float(total))
        return {k: (c, t / c if c else 0.0) for k, (c, t) in found.items()}

    def plan(self, text: str, params: int) -> dict[str, Any]:
        """Return the generic plan of a read, in a savepoint; refuse anything else."""
        why = refusal(text)
        if why is not None:
            raise SourceError(f"not planned: {why}")
        with self.conn.transaction():
            if self.version >= GENERIC_PLAN_VERSION or params == 0:
                option = "GENERIC_PLAN, " if params else ""
                rows = self.q(f"EXPLAIN ({option}FORMAT JSON) {text}")
            else:
                self.count += 1
                name = f"plumbline_plan_{self.count}"
                self.q("SET LOCAL plan_cache_mode = force_generic_plan")
                self.q(f"PREPARE {name} AS {text}")
                try:
                    nulls = ", ".join(["NULL"] * params)
                    rows = self.q(f"EXPLAIN (FORMAT JSON) EXECUTE {name} ({nulls})")
                finally:
                    self.q(f"DEALLOCATE {name}")
        document = rows[0][0]
        if isinstance(document, str):
            document = json.loads(document)
        return dict(document[0]["Plan"])

    def describe(self, plan: dict[str, Any]) -> dict[str, Relation]:
        """Return the tables a plan scans, with their size and column names."""
        wanted = {
            plan_reading.relation_of(node)
            for node, _ in plan_reading.nodes(plan)
            if node.get("Relation Name")
        } - set(self.relations)
        if wanted:
            for name, rows, pages, columns in self.q(
                "SELECT CASE WHEN n.nspname = 'public' THEN c.relname "
                "ELSE n.nspname || '.' || c.relname END, c.reltuples::float8, "
                "c.relpages::bigint, ARRAY(SELECT a.attname::text FROM pg_attribute a "
                "WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) "
                "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE CASE WHEN n.nspname = 'public' THEN c.relname "
                "ELSE n.nspname || '.' || c.relname END = ANY(%s)",
                sorted(wanted),
            ):
                self.relations[name] = Relation(
                    name, max(float(rows), 0.0), int(pages), frozenset(columns)
                )
        return self.relations

    def cost_after(
        self, text: str, params: int, problem: Problem, before: float
    ) -> tuple[float, str]:
        """Return the statement's cost with the suggested index, and how it was had."""
        relation = self.relations[problem.table]
        if self.hypopg:
            try:
                with self.conn.transaction():
                    self.q(
                        "SELECT indexrelid FROM hypopg_create_index(%s)",
                        plan_reading.index_sql(problem).replace(" CONCURRENTLY", ""),
                    )
                    cost = float(self.plan(text, params)["Total Cost"])
                    self.q("SELECT hypopg_reset()")
                return cost, HYPOPG
            except SourceError:
                pass  # fall back on the estimate
        replaced = plan_reading.index_scan_cost(problem, relation, self.settings)
        return before - problem.node_cost + replaced, PLANNER


def statement_key(text: str) -> str:
    """Return a statement as pg_stat_statements and the code both reduce to."""
    masked = re.sub(r"\$\d+", "?", mask_literals(text, None)).lower().rstrip("; ")
    return re.sub(r"\s+", "", masked)


def candidates(code: Any) -> list[str]:
    """Return the code's distinct SELECT templates worth planning, in order."""
    found: dict[str, None] = {}
    for use in code.sql:
        if use.in_test or use.sql.kind != "select" or use.sql.dynamic_in_identifier:
            continue
        if len(found) < STATEMENT_LIMIT:
            found.setdefault(use.template)
    return list(found)


def shown(text: str) -> str:
    """Return a planned statement as its plan fact keeps it.

    The code's own text: its literals are the code's, not customers'.
    """
    return text if len(text) <= STATEMENT_SHOWN else text[:STATEMENT_SHOWN] + "…"


def indexed(schema: Schema | None, problem: Problem) -> bool:
    """Return True when a valid index already leads with the suggested columns."""
    table = schema.table(problem.table) if schema is not None else None
    if table is None:
        return False
    wanted = [c.split()[0].lower() for c in problem.columns]
    return any(
        index.valid and [c.lower() for c in index.column_names[: len(wanted)]] == wanted
        for index in table.indexes
    )


def _plan_one(
    session: PlanSession, text: str, params: int, schema: Schema | None
) -> dict[str, Any]:
    plan = session.plan(text, params)
    relations = session.describe(plan)
    before = float(plan["Total Cost"])
    found = []
    for problem in plan_reading.problems(plan, relations):
        if indexed(schema, problem):
            continue  # the planner had an index and chose not to use it
        after, method = session.cost_after(text, params, problem, before)
        if after >= before:
            continue
        found.append(
            {
                "kind": problem.kind,
                "table": problem.table,
                "rows": int(relations[problem.table].rows),
                "columns": problem.columns,
                "detail": problem.detail,
                "index_sql": plan_reading.index_sql(problem),
                "cost_before": before,
                "cost_after": after,
                "method": method,
            }
        )
    calls = session.calls.get(statement_key(text)) if session.calls else None
    return {
        "statement": shown(text),
        "problems": tuple(found),
        "calls": calls[0] if calls else None,
        "mean_ms": calls[1] if calls else None,
        "statistics": bool(session.calls),
    }


def plan_each(
    statements: dict[str, str],
    plan_one: Callable[[str, str], dict[str, Any]],
    timeout: float,
    notes: list[str],
) -> dict[str, dict[str, Any]]:
    """Plan each statement (template: the text to plan) within the time budget.

    ``plan_one(template, text)`` returns one plan fact; statements that
    cannot be planned, and those the budget leaves, become one note each.
    """
    budget = time.monotonic() + max(PLAN_BUDGET_TIMEOUTS * timeout, PLAN_BUDGET_MIN)
    plans: dict[str, dict[str, Any]] = {}
    failed: list[str] = []
    for template, text in statements.items():
        if time.monotonic() > budget:
            notes.append(
                f"query plans: time budget spent after {len(plans)} of "
                f"{len(statements)} statements"
            )
            break
        try:
            plans[template] = plan_one(template, text)
        except SourceError as exc:
            failed.append(f"{mask_literals(text, 80)}: {first_line(exc)}")
    if failed:
        notes.append(
            f"query plans: {len(failed)} statement(s) could not be planned, "
            f"for example {failed[0]}"
        )
    return plans


def explain_code(
    code: Any,
    schema: Schema | None,
    url: str,
    *,
    password: str | None = None,
    timeout: float = 10.0,
    policy: guard.NetworkPolicy | None = None,
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Plan the code's SELECT statements on the database at ``url``.

    Return the plans by statement template (the ``template`` of each
    ``SqlUse``) and notes; a database that cannot be reached is a note.
    """
    converted = {t: to_postgres(t) for t in candidates(code)}
    if not converted:
        return {}, []
    notes: list[str] = []
    try:
        conn = postgres.connect(url, password=password, timeout=timeout, policy=policy)
    except SourceError as exc:
        return {}, [f"query plans: {exc}"]
    try:
        with conn.transaction():
            session = PlanSession(conn, timeout)
            try:
                plans = plan_each(
                    {t: text for t, (text, _) in converted.items()},
                    lambda t, text: _plan_one(session, text, converted[t][1], schema),
                    timeout,
                    notes,
                )
                return plans, notes
            finally:
                session.close()
    except (SourceError, psycopg.Error) as exc:
        return {}, [*notes, f"query plans: {first_line(exc)}"]
    finally:
        conn.close()
