"""The code-to-plan join on a real PostgreSQL: the sample shop's statements, planned read-only.

The shop (``fixtures/plan_app``) runs one statement per function; its
database on the session's private server leaves ``orders.email`` and
``order_line.order_id`` without an index and indexes ``orders.customer_id``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from audits.engine.checks import plans as plan_checks
from audits.engine.issues import Issue, Severity
from audits.engine.scan import Target, scan
from audits.engine.sources import SourceError, pg_plans, postgres
from audits.engine.sources.pg_plans import PlanSession, refusal, to_postgres
from tests.engine.private_postgres import PrivateServer

pytestmark = pytest.mark.postgres

SHOP = Path(__file__).parent / "fixtures" / "plan_app"
CHECK = "query-plan-missing-index"

SCHEMA = """
CREATE TABLE customer (id serial PRIMARY KEY, email text NOT NULL);
CREATE TABLE orders (id serial PRIMARY KEY, customer_id int NOT NULL,
    email text, status text, created_at timestamptz, total numeric);
CREATE INDEX orders_customer ON orders (customer_id);
CREATE TABLE order_line (id serial PRIMARY KEY, order_id int NOT NULL, sku text,
    qty int);
INSERT INTO customer (email) SELECT 'c' || g || '@example.org'
    FROM generate_series(1, 5000) g;
INSERT INTO orders (customer_id, email, status, created_at, total)
    SELECT 1 + g % 5000, 'c' || (g % 5000) || '@example.org',
    (ARRAY['new', 'paid', 'sent'])[1 + g % 3], now() - g * interval '1 minute', g
    FROM generate_series(1, 30000) g;
INSERT INTO order_line (order_id, sku, qty)
    SELECT 1 + g % 30000, 'sku' || g, 1 FROM generate_series(1, 60000) g;
ANALYZE;
"""


@pytest.fixture
def shop_db(private_pg: PrivateServer) -> Iterator[tuple[str, psycopg.Connection[Any]]]:
    name = f"plumbline_health_{uuid.uuid4().hex[:8]}"
    with (
        private_pg.database(name) as url,
        psycopg.connect(url, autocommit=True) as conn,
    ):
        conn.execute(SCHEMA)
        yield url, conn


def line_of(function: str) -> int:
    """Return the line of the execute call in one of the shop's functions."""
    lines = (SHOP / "shop.py").read_text().splitlines()
    start = next(i for i, t in enumerate(lines) if t.startswith(f"def {function}("))
    return next(i for i in range(start, len(lines)) if "cur.execute(" in lines[i]) + 1


def plan_findings(url: str) -> dict[str, Issue]:
    result = scan([Target("code", str(SHOP)), Target("postgresql", url)])
    assert result.ok, [t.error for t in result.targets]
    code = next(t for t in result.targets if t.target.kind == "code")
    assert CHECK in code.checks_run
    return {i.function.rsplit(".", 1)[-1]: i for i in code.issues if i.check == CHECK}


def test_missing_indexes_are_found_at_the_code_line_and_indexed_ones_left_alone(
    shop_db: Any,
) -> None:
    url, _conn = shop_db
    found = plan_findings(url)
    assert set(found) == {"orders_by_email", "latest_orders", "order_lines"}
    email = found["orders_by_email"]
    assert (email.file, email.line) == ("shop.py", line_of("orders_by_email"))
    assert email.title == "Statement scans orders without an index"
    assert email.object == "orders (email)"
    assert email.fix_sql == "CREATE INDEX CONCURRENTLY ON orders (email);"
    assert "scans orders (about 30,000 rows) sequentially" in email.evidence
    assert "Estimated cost " in email.evidence and ", about " in email.evidence
    assert "estimated from the planner's cost settings, without a hypothetical" in (
        email.evidence
    )
    assert found["latest_orders"].object == "orders (created_at DESC)"
    assert found["order_lines"].object == "order_line (order_id)"
    assert found["order_lines"].title == "Statement joins order_line without an index"


def test_the_cost_after_the_index_is_below_the_cost_before(shop_db: Any) -> None:
    url, _conn = shop_db
    schema = postgres.probe(url)
    from audits.engine.sources import code

    facts = code.load_code(SHOP)
    plans, notes = pg_plans.explain_code(facts, schema, url)
    assert notes == []
    for entry in plans.values():
        for problem in entry["problems"]:
            assert 0 < problem["cost_after"] < problem["cost_before"]
    by_customer = next(e for t, e in plans.items() if "customer_id" in t)
    assert by_customer["problems"] == ()
    assert by_customer["statement"] == (
        "SELECT id, total FROM orders WHERE customer_id = $1"
    )


def test_with_hypopg_the_cost_after_is_planned_with_a_hypothetical_index(
    shop_db: Any,
) -> None:
    url, conn = shop_db
    if not conn.execute(
        "SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg'"
    ).fetchone():
        pytest.skip("the hypopg extension is not installed on this machine")
    conn.execute("CREATE EXTENSION hypopg")
    email = plan_findings(url)["orders_by_email"]
    assert "planned with a hypothetical index (hypopg)" in email.evidence
    before, after = re.findall(r"cost ([\d,]+), about ([\d,]+)", email.evidence)[0]
    assert int(after.replace(",", "")) < int(before.replace(",", ""))
    # Hypothetical indexes live in the planning session only.
    assert conn.execute("SELECT count(*) FROM hypopg_list_indexes").fetchone() == (0,)
    assert conn.execute(
        "SELECT count(*) FROM pg_indexes WHERE tablename = 'orders'"
    ).fetchone() == (2,)


def test_an_index_created_since_clears_the_finding(shop_db: Any) -> None:
    url, conn = shop_db
    conn.execute("CREATE INDEX orders_email ON orders (email)")
    conn.execute("ANALYZE orders")
    assert "orders_by_email" not in plan_findings(url)


def test_suggestions_are_weighed_by_how_often_the_statement_runs(
    shop_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, conn = shop_db
    monkeypatch.setattr(plan_checks, "PLAN_CALLS_HIGH", 30)
    conn.execute("CREATE EXTENSION pg_stat_statements")
    conn.execute("SELECT pg_stat_statements_reset()")
    for n in range(40):  # the application's own calls, bound server-side
        conn.execute("SELECT id, total FROM orders WHERE email = %s", (f"c{n}@x",))
    conn.execute("SELECT id FROM orders ORDER BY created_at DESC LIMIT 20")
    found = plan_findings(url)
    assert found["orders_by_email"].severity == Severity.HIGH
    assert "pg_stat_statements: 40 calls" in found["orders_by_email"].evidence
    assert found["latest_orders"].severity == Severity.LOW
    assert "pg_stat_statements: 1 calls" in found["latest_orders"].evidence
    assert found["order_lines"].severity == Severity.MEDIUM
    assert "has no record of this statement" in found["order_lines"].evidence


def test_code_without_a_postgresql_target_is_not_planned() -> None:
    result = scan([Target("code", str(SHOP))])
    (code,) = result.targets
    assert CHECK not in code.checks_run


# --- read-only ------------------------------------------------------------------------


@pytest.fixture
def session(shop_db: Any) -> Iterator[PlanSession]:
    url, _conn = shop_db
    conn = postgres.connect(url, timeout=2)
    try:
        with conn.transaction():
            planner = PlanSession(conn, 2)
            yield planner
            planner.close()
    finally:
        conn.close()


def test_plans_are_made_in_a_read_only_transaction(session: PlanSession) -> None:
    assert session.read_only
    assert session.q("SHOW transaction_read_only") == [("on",)]
    with pytest.raises(SourceError, match="read-only transaction"):
        session.q("CREATE TABLE planted (id int)")


def test_write_statements_fed_to_the_planner_are_refused(
    session: PlanSession, shop_db: Any
) -> None:
    _url, conn = shop_db
    for statement in (
        "DELETE FROM orders",
        "UPDATE orders SET total = 0",
        "INSERT INTO orders (customer_id) VALUES (1)",
        "WITH gone AS (DELETE FROM orders RETURNING id) SELECT * FROM gone",
        "SELECT * INTO copy FROM orders",
        "SELECT 1; DELETE FROM orders",
    ):
        with pytest.raises(SourceError, match="not planned"):
            session.plan(statement, 0)
    assert conn.execute("SELECT count(*) FROM orders").fetchone() == (30000,)


def test_planning_never_runs_the_statement(session: PlanSession) -> None:
    started = time.monotonic()
    plan = session.plan(
        "SELECT count(*) FROM orders WHERE pg_sleep(30) IS NOT NULL AND id = $1", 1
    )
    assert time.monotonic() - started < 2  # the timeout is 2 s: nothing slept
    assert plan["Node Type"] == "Aggregate"
    assert "Actual Total Time" not in plan  # EXPLAIN, never ANALYZE


# --- statement texts --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("SELECT a FROM t WHERE b = ? AND c = ?", ("SELECT a FROM t WHERE b = $1 AND c = $2", 2)),
        ("SELECT a FROM t WHERE b = %s AND c LIKE 'x%%'", ("SELECT a FROM t WHERE b = $1 AND c LIKE 'x%'", 1)),
        ("SELECT a FROM t WHERE b = %(v)s OR c = %(v)s", ("SELECT a FROM t WHERE b = $1 OR c = $1", 1)),
        ("SELECT a::text FROM t WHERE b = :name AND c = '?:x'", ("SELECT a::text FROM t WHERE b = $1 AND c = '?:x'", 1)),
        ("SELECT a FROM t WHERE b = $2 AND c = $1;", ("SELECT a FROM t WHERE b = $1 AND c = $2", 2)),
    ],
)  # fmt: skip
def test_placeholders_become_numbered_parameters(
    template: str, expected: tuple[str, int]
) -> None:
    assert to_postgres(template) == expected


def test_only_plain_reads_are_accepted() -> None:
    assert refusal("SELECT a FROM t JOIN u USING (id) WHERE b = $1") is None
    assert refusal("WITH x AS (SELECT 1) SELECT * FROM x UNION SELECT 2") is None
    assert refusal("UPDATE t SET a = 1") is not None
    assert refusal("SELECT 1; SELECT 2") == "it is not one statement"


def test_the_command_line_plans_a_folder_against_a_database_url(shop_db: Any) -> None:
    url, _conn = shop_db
    plumbline = Path(sys.executable).with_name("plumbline")
    done = subprocess.run(
        [str(plumbline), "scan", str(SHOP), url, "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )
    findings = json.loads(done.stdout)["findings"]
    planned = {(f["file"], f["line"]) for f in findings if f["check"] == CHECK}
    assert ("shop.py", line_of("orders_by_email")) in planned
    assert ("shop.py", line_of("orders_of_customer")) not in planned
