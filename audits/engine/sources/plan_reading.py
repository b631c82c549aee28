"""Read PostgreSQL plans: which node reads a large table without an index, and what would.

Pure functions over ``EXPLAIN (FORMAT JSON)`` output and the planner's cost
settings; :mod:`.pg_plans` runs the statements and asks these what a plan
says. Three shapes are problems:

- a sequential scan of a large table that filters its rows (``seq scan``);
- a sort of rows a large table gave by a sequential scan (``sort``);
- a join that reads a large table whole for few rows of the other side: a
  nested loop rescanning it, or a hash join building on all of it while the
  other side brings a handful of rows (``join``).

Each comes with the index that would serve it (equality columns first, then
one range or sort column) and, for the estimate without a hypothetical
index, the cost an index scan of the matching rows would have under the
planner's own cost settings.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp

# Tables with fewer estimated rows are never called large: reading them
# whole is as cheap as an index.
LARGE_TABLE_ROWS = 10_000
# A hash join over a large table is a problem when the other side brings
# at most this share of its rows.
JOIN_SELECTIVE_SHARE = 0.01

_RANGE = (exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between)
_SORT_KEY = re.compile(r"^(?:\w+\.)?\"?(\w+)\"?(?:\s+(DESC|ASC))?(?:\s+NULLS\s+\w+)?$")


@dataclass(frozen=True)
class Relation:
    """A table as the planner sees it: its rows and pages, its column names."""

    name: str  # schema-qualified unless in public
    rows: float
    pages: int
    columns: frozenset[str]


@dataclass(frozen=True)
class Problem:
    """One node of a plan that a missing index makes expensive."""

    kind: str  # "seq scan", "sort", "join"
    table: str
    columns: tuple[str, ...]
    detail: str  # the condition or sort key, as the plan states it
    node_cost: float  # what the index would replace
    other_cost: float  # what stays: the other side of a join
    probes: float  # index lookups: 1, or the other side's rows for a join
    matched: float  # rows each lookup returns


def nodes(
    plan: dict[str, Any],
) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
    """Yield each node of a plan with its parent."""
    stack: list[tuple[dict[str, Any], dict[str, Any] | None]] = [(plan, None)]
    while stack:
        node, parent = stack.pop()
        yield node, parent
        stack.extend((child, node) for child in reversed(node.get("Plans", ())))


def relation_of(node: dict[str, Any]) -> str:
    """Return the table a scan node reads, as the probe names tables."""
    schema = node.get("Schema", "public")
    name = str(node.get("Relation Name", ""))
    return name if schema == "public" else f"{schema}.{name}"


def condition_columns(
    text: str, alias: str, columns: frozenset[str], dialect: str = "postgres"
) -> tuple[list[str], list[str]]:
    """Return the equality and range columns of ``alias`` a plan condition tests."""
    try:
        tree = sqlglot.parse_one(text, read=dialect)
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError):
        return [], []
    equal: list[str] = []
    ranged: list[str] = []
    for node in tree.walk():
        if isinstance(node, exp.EQ | exp.In | exp.Is):
            target = equal
        elif isinstance(node, _RANGE):
            target = ranged
        else:
            continue
        for column in _own_columns(node, alias, columns):
            if column not in equal and column not in target:
                target.append(column)
    return equal, [c for c in ranged if c not in equal]


def _own_columns(
    node: exp.Expression, alias: str, columns: frozenset[str]
) -> list[str]:
    """Return the columns of this table a comparison sets against other values."""
    sides = [node.this, *([node.expression] if node.expression else [])]
    own = []
    for side in sides:
        while isinstance(side, exp.Cast | exp.Paren):
            side = side.this
        if not isinstance(side, exp.Column):
            continue
        if side.table and side.table != alias:
            continue
        if side.name in columns:
            own.append(side.name)
    return own if len(own) == 1 else []  # col = col compares the table to itself


def sort_columns(keys: list[str], columns: frozenset[str]) -> list[str]:
    """Return the plain columns of a Sort Key, with DESC kept, or [] if any is not."""
    found = []
    for key in keys:
        match = _SORT_KEY.match(key.strip())
        if match is None or match.group(1) not in columns:
            return []
        found.append(match.group(1) + (" DESC" if match.group(2) == "DESC" else ""))
    return found


def _sort_problem(
    node: dict[str, Any],
    relation: Relation,
    sort: dict[str, Any],
    limit: dict[str, Any] | None,
) -> Problem | None:
    """Return the sort of a scanned table an index in sort order would avoid.

    Under a LIMIT the index reads only the rows the limit keeps, so the
    limit, the sort and the scan are what it replaces.
    """
    alias = str(node.get("Alias", ""))
    equal, _ = condition_columns(node.get("Filter", ""), alias, relation.columns)
    ordered = sort_columns(list(sort.get("Sort Key", ())), relation.columns)
    if not ordered:
        return None
    top = limit if limit is not None else sort
    return Problem(
        "sort",
        relation.name,
        tuple(equal + ordered),
        "ORDER BY " + ", ".join(sort["Sort Key"]),
        float(top["Total Cost"]),
        0.0,
        1.0,
        float(top.get("Plan Rows", 1)),
    )


def _scan_problem(node: dict[str, Any], relation: Relation) -> Problem | None:
    alias = str(node.get("Alias", ""))
    equal, ranged = condition_columns(node.get("Filter", ""), alias, relation.columns)
    if not equal and not ranged:
        return None  # reads the whole table on purpose
    return Problem(
        "seq scan",
        relation.name,
        tuple(equal + ranged[:1]),
        str(node["Filter"]),
        float(node["Total Cost"]),
        0.0,
        1.0,
        float(node.get("Plan Rows", 1)),
    )


def _join_sides(node: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Return (side read whole, other side) pairs of a join worth an index."""
    if len(node.get("Plans", ())) != 2:
        return []
    first, second = node["Plans"]
    if second.get("Node Type") in ("Hash", "Materialize"):
        second = second["Plans"][0]
    if node.get("Node Type") == "Nested Loop":
        return [(second, first)]  # the inner side is read again per outer row
    if node.get("Node Type") == "Hash Join":
        return [(second, first), (first, second)]
    return []


def _join_problem(
    node: dict[str, Any], relations: dict[str, Relation]
) -> tuple[Problem, dict[str, Any]] | None:
    for scanned, other in _join_sides(node):
        if scanned.get("Node Type") != "Seq Scan":
            continue
        relation = relations.get(relation_of(scanned))
        if relation is None or relation.rows < LARGE_TABLE_ROWS:
            continue
        other_rows = max(float(other.get("Plan Rows", 1)), 1.0)
        if other_rows > JOIN_SELECTIVE_SHARE * relation.rows:
            continue
        condition = str(
            node.get("Hash Cond") or node.get("Join Filter") or scanned.get("Filter")
        )
        equal, _ = condition_columns(
            condition, str(scanned.get("Alias", "")), relation.columns
        )
        if not equal:
            continue
        problem = Problem(
            "join",
            relation.name,
            tuple(equal[:1]),
            condition,
            float(node["Total Cost"]),
            float(other.get("Total Cost", 0.0)),
            other_rows,
            max(float(node.get("Plan Rows", 1)) / other_rows, 1.0),
        )
        return problem, scanned
    return None


def problems(plan: dict[str, Any], relations: dict[str, Relation]) -> list[Problem]:
    """Return what in ``plan`` a missing index makes expensive, worst first."""
    found: list[Problem] = []
    joined: set[int] = set()
    for node, _parent in nodes(plan):
        joined_problem = _join_problem(node, relations)
        if joined_problem is not None:
            found.append(joined_problem[0])
            joined.add(id(joined_problem[1]))
    parents = {id(node): parent for node, parent in nodes(plan)}
    for node, parent in nodes(plan):
        if node.get("Node Type") != "Seq Scan" or id(node) in joined:
            continue
        relation = relations.get(relation_of(node))
        if relation is None or relation.rows < LARGE_TABLE_ROWS:
            continue
        problem = None
        if parent is not None and parent.get("Node Type") == "Sort":
            above = parents.get(id(parent))
            limit = above if above and above.get("Node Type") == "Limit" else None
            problem = _sort_problem(node, relation, parent, limit)
        problem = problem or _scan_problem(node, relation)
        if problem is not None:
            found.append(problem)
    return sorted(found, key=lambda p: -p.node_cost)


def index_scan_cost(
    problem: Problem, relation: Relation, settings: dict[str, float]
) -> float:
    """Return what an index would cost in place of the problem's node.

    The planner's model for an index scan, simplified: descend the tree
    (one random page and a comparison per level), then per matching row an
    index tuple, a heap page (at most the table's pages) and a heap tuple;
    for a join, once per row of the other side.
    """
    levels = max(1.0, math.log2(max(relation.rows, 2.0)))
    pages = min(problem.matched, float(max(relation.pages, 1)))
    per_probe = (
        settings["random_page_cost"] * (1 + pages)
        + settings["cpu_operator_cost"] * levels
        + (settings["cpu_index_tuple_cost"] + settings["cpu_tuple_cost"])
        * problem.matched
    )
    return problem.other_cost + problem.probes * per_probe


def index_sql(problem: Problem) -> str:
    """Return the statement that creates the suggested index."""
    return (
        f"CREATE INDEX CONCURRENTLY ON {problem.table} ({', '.join(problem.columns)});"
    )
