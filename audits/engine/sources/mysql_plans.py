"""Plan the code's SQL statements on a live MySQL or MariaDB: EXPLAIN only, read-only.

The SELECT statements the code source found are planned on the project's
database, never run: ``EXPLAIN FORMAT=JSON``, never ``ANALYZE``, in the
probe's session, read-only twice over (``SET SESSION TRANSACTION READ
ONLY``, ``START TRANSACTION READ ONLY``, checked before the first plan),
under the server's statement time limit. A statement that is not a plain
read is refused before it reaches the server.

MySQL plans values, not parameters: each placeholder is planned as the
string ``'0'`` (``1`` after LIMIT or OFFSET), which MySQL compares with a
column of any type without giving up an index on it. A table read whole
(``access_type`` ``ALL``) of :data:`.plan_reading.LARGE_TABLE_ROWS` rows or
more whose condition tests its own columns is a problem; MySQL has no
hypothetical index, so the rows read before and with the suggested index
are estimated from the plan (its filtered share of the rows, else MySQL's
own default of one row in ten for a condition it has no statistics for).
Tables are found by the names the statement gives them (aliases too);
a plan MySQL settles while planning (a key lookup of the planned value
finding no row: "Impossible WHERE") has nothing to judge and stays quiet,
as do sorts and derived tables, which are not read yet.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

import sqlglot
from sqlglot import exp

from audits.engine.schema import Schema
from audits.engine.sources import SourceError, mysql, pg_plans, plan_reading
from audits.engine.sources._probe import first_line
from audits.engine.sources.plan_reading import Problem, Relation

# A condition MySQL has no statistics for keeps this share of the rows
# (its own default selectivity of an equality).
UNKNOWN_SHARE = 0.1
ROWS = "rows read, as MySQL's plan estimates them (MySQL plans no hypothetical index)"
_PARAMETER = re.compile(r"'(?:[^']|'')*'|`[^`]*`|\$(\d+)")
_COUNTED = re.compile(r"\b(?:LIMIT|OFFSET)\s*$|\bLIMIT\s+\S+\s*,\s*$", re.IGNORECASE)


def to_mysql(template: str) -> str:
    """Return ``template`` with each placeholder as a value MySQL can plan."""
    text, _count = pg_plans.to_postgres(template)

    def value(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return match.group(0)  # a quoted string or name
        return "1" if _COUNTED.search(text[: match.start()]) else "'0'"

    return _PARAMETER.sub(value, text)


def scans(document: Any) -> Iterator[dict[str, Any]]:
    """Yield every table access of an ``EXPLAIN FORMAT=JSON`` document."""
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            table = node.get("table")
            if isinstance(table, dict) and "table_name" in table:
                yield table
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


class MySqlPlanSession:
    """The probe's read-only session, planning statements."""

    def __init__(self, conn: mysql.ProbeConnection, database: str) -> None:
        self.conn = conn
        self.database = database
        self.relations: dict[str, Relation] = {}
        flag = "@@session.tx_read_only" if _mariadb(conn) else "@@transaction_read_only"
        if not int(self.q(f"SELECT {flag}")[0][0]):
            raise SourceError("the planning session is not read-only; nothing planned")

    def q(self, statement: str, *params: Any) -> list[tuple[Any, ...]]:
        return mysql.query(self.conn, statement, params or None)

    def plan(self, text: str) -> dict[str, Any]:
        """Return the plan of a read; refuse anything else."""
        why = pg_plans.refusal(text, dialect="mysql")
        if why is not None:
            raise SourceError(f"not planned: {why}")
        document = json.loads(self.q(f"EXPLAIN FORMAT=JSON {text}")[0][0])
        return dict(document)

    def describe(self, names: set[str]) -> dict[str, Relation]:
        """Return the tables named, with their estimated rows and column names."""
        wanted = sorted(names - set(self.relations))
        if wanted:
            found: dict[str, tuple[float, int, set[str]]] = {}
            marks = ", ".join(["%s"] * len(wanted))
            for name, rows, pages, column in self.q(
                "SELECT t.TABLE_NAME, t.TABLE_ROWS, t.DATA_LENGTH DIV 16384, "
                "c.COLUMN_NAME FROM information_schema.TABLES t "
                "JOIN information_schema.COLUMNS c ON c.TABLE_SCHEMA = t.TABLE_SCHEMA "
                "AND c.TABLE_NAME = t.TABLE_NAME "
                f"WHERE t.TABLE_SCHEMA = %s AND t.TABLE_NAME IN ({marks})",
                self.database,
                *wanted,
            ):
                entry = found.setdefault(
                    str(name), (float(rows or 0), int(pages or 0), set())
                )
                entry[2].add(str(column))
            for name, (rows, pages, columns) in found.items():
                self.relations[name] = Relation(name, rows, pages, frozenset(columns))
        return self.relations


def index_sql(problem: Problem) -> str:
    """Return the statement that adds the suggested index, online."""
    columns = ", ".join(problem.columns)
    return (
        f"ALTER TABLE {problem.table} ADD INDEX ({columns}), "
        "ALGORITHM=INPLACE, LOCK=NONE;"
    )


def _mariadb(conn: mysql.ProbeConnection) -> bool:
    return "mariadb" in conn.get_server_info().lower()


def _problem(scan: dict[str, Any], relation: Relation) -> Problem | None:
    """Return the full read of a large table an index on its condition would avoid."""
    if (
        scan.get("access_type") != "ALL"
        or relation.rows < plan_reading.LARGE_TABLE_ROWS
    ):
        return None
    condition = str(scan.get("attached_condition") or "")
    equal, ranged = plan_reading.condition_columns(
        condition, str(scan["table_name"]), relation.columns, dialect="mysql"
    )
    if not equal and not ranged:
        return None  # reads the whole table on purpose
    read = float(
        scan.get("rows_examined_per_scan") or scan.get("rows") or relation.rows
    )
    filtered = float(scan.get("filtered") or 100)
    share = filtered / 100 if filtered < 100 else UNKNOWN_SHARE
    return Problem(
        "seq scan",
        relation.name,
        tuple(equal + ranged[:1]),
        condition,
        read,
        0.0,
        1.0,
        max(read * share, 1.0),
    )


def tables_by_alias(text: str) -> dict[str, str]:
    """Return the tables a statement reads, by the name its plan gives them."""
    try:
        tree = sqlglot.parse_one(text, read="mysql")
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
        return {}
    return {t.alias_or_name: t.name for t in tree.find_all(exp.Table) if t.name}


def _plan_one(
    session: MySqlPlanSession, text: str, schema: Schema | None
) -> dict[str, Any]:
    plan = session.plan(text)
    accesses = list(scans(plan))
    aliases = tables_by_alias(text)
    relations = session.describe(set(aliases.values()))
    found: list[dict[str, Any]] = []
    for scan in accesses:
        relation = relations.get(aliases.get(str(scan["table_name"]), ""))
        if relation is None:
            continue  # a derived table or a name not read: not sure, quiet
        problem = _problem(scan, relation)
        if problem is None or pg_plans.indexed(schema, problem):
            continue
        found.append(
            {
                "kind": problem.kind,
                "table": problem.table,
                "rows": int(relation.rows),
                "columns": problem.columns,
                "detail": problem.detail,
                "index_sql": index_sql(problem),
                "cost_before": problem.node_cost,
                "cost_after": math.log2(max(relation.rows, 2.0)) + problem.matched,
                "method": ROWS,
            }
        )
    found.sort(key=lambda p: -float(p["cost_before"]))
    return {
        "statement": pg_plans.shown(text),
        "problems": tuple(found),
        "calls": None,
        "mean_ms": None,
        "statistics": False,
        "source": "performance_schema",
    }


def explain_code(
    code: Any, schema: Schema | None, url: str, *, timeout: float = 10.0, **connect: Any
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """Plan the code's SELECT statements on the MySQL database at ``url``.

    ``connect`` holds what :func:`.mysql.connect` takes besides (the
    password, the network policy). Return the plans by statement template
    and notes; a database that cannot be reached is a note.
    """
    statements = {t: to_mysql(t) for t in pg_plans.candidates(code)}
    if not statements:
        return {}, []
    try:
        conn = mysql.connect(url, timeout=timeout, **connect)
    except SourceError as exc:
        return {}, [f"query plans: {exc}"]
    notes: list[str] = []
    try:
        database = mysql._parse(url, connect.get("password"))["database"]
        session = MySqlPlanSession(conn, database)
        plans = pg_plans.plan_each(
            statements,
            lambda _t, text: _plan_one(session, text, schema),
            timeout,
            notes,
        )
        return plans, notes
    except SourceError as exc:
        return {}, [*notes, f"query plans: {first_line(exc)}"]
    finally:
        conn.close()
