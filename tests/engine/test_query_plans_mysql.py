"""The code-to-plan join on the local MariaDB: the sample shop's statements, planned read-only.

The same shop as the PostgreSQL tests (``fixtures/plan_app``); its MariaDB
database, made for each test and dropped after, leaves ``orders.email``
and ``order_line.order_id`` without an index and indexes
``orders.customer_id``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from audits.engine.issues import Issue
from audits.engine.scan import Target, scan
from audits.engine.sources import SourceError, mysql
from audits.engine.sources.mysql_plans import (
    MySqlPlanSession,
    tables_by_alias,
    to_mysql,
)
from tests.engine.test_health_mysql import my  # noqa: F401  (a fixture: its database)
from tests.engine.test_query_plans import CHECK, SHOP, line_of

pytestmark = pytest.mark.mysql

SCHEMA = (
    "CREATE TABLE customer (id INT AUTO_INCREMENT PRIMARY KEY, "
    "email VARCHAR(100) NOT NULL)",
    "CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, customer_id INT NOT NULL, "
    "email VARCHAR(100), status VARCHAR(10), created_at DATETIME, total DECIMAL(10,2), "
    "INDEX orders_customer (customer_id))",
    "CREATE TABLE order_line (id INT AUTO_INCREMENT PRIMARY KEY, order_id INT NOT NULL, "
    "sku VARCHAR(20), qty INT)",
    "INSERT INTO customer (email) SELECT CONCAT('c', seq, '@example.org') "
    "FROM seq_1_to_5000",
    "INSERT INTO orders (customer_id, email, status, created_at, total) "
    "SELECT 1 + seq % 5000, CONCAT('c', seq % 5000, '@example.org'), "
    "ELT(1 + seq % 3, 'new', 'paid', 'sent'), NOW() - INTERVAL seq MINUTE, seq "
    "FROM seq_1_to_30000",
    "INSERT INTO order_line (order_id, sku, qty) SELECT 1 + seq % 30000, "
    "CONCAT('sku', seq), 1 FROM seq_1_to_60000",
    "ANALYZE TABLE customer, orders, order_line",
)


@pytest.fixture
def shop_db(request: pytest.FixtureRequest) -> tuple[str, Any]:
    """Return the URL of the shop's MariaDB database and a cursor in it."""
    _name, url, cur = request.getfixturevalue("my")
    for statement in SCHEMA:
        cur.execute(statement)
    return url, cur


def plan_findings(url: str) -> dict[str, Issue]:
    """Return the plan findings of a scan of the shop and its MariaDB, by function."""
    targets = scan([Target("code", str(SHOP)), Target("mysql", url)]).targets
    by_kind = {t.target.kind: t for t in targets}
    assert by_kind["mysql"].ok, by_kind["mysql"].error
    assert CHECK in by_kind["code"].checks_run
    planned = (i for i in by_kind["code"].issues if i.check == CHECK)
    return {i.function.rsplit(".", 1)[-1]: i for i in planned}


def test_a_full_scan_is_found_at_the_code_line_and_indexed_reads_left_alone(
    shop_db: Any,
) -> None:
    url, _cur = shop_db
    found = plan_findings(url)
    # By the customer, by id, every status, the latest by date: indexed or
    # read whole on purpose (MySQL's sort shape is not read yet). The lines
    # of one order: MySQL reads the order by its key while planning, finds
    # none for the planned value, and plans nothing to judge: quiet.
    assert set(found) == {"orders_by_email"}
    email = found["orders_by_email"]
    assert (email.file, email.line) == ("shop.py", line_of("orders_by_email"))
    assert email.title == "Statement scans orders without an index"
    assert email.object == "orders (email)"
    assert email.fix_sql == (
        "ALTER TABLE orders ADD INDEX (email), ALGORITHM=INPLACE, LOCK=NONE;"
    )
    assert re.search(r"scans orders \(about [\d,]+ rows\) sequentially", email.evidence)
    assert "rows read, as MySQL's plan estimates them" in email.evidence
    assert "(performance_schema is not read for plans: calls unknown.)" in (
        email.evidence
    )
    before, after = re.findall(r"cost ([\d,]+), about ([\d,]+)", email.evidence)[0]
    assert int(after.replace(",", "")) < int(before.replace(",", ""))


def test_an_index_created_since_clears_the_finding(shop_db: Any) -> None:
    url, cur = shop_db
    cur.execute("CREATE INDEX orders_email ON orders (email)")
    cur.execute("ANALYZE TABLE orders")
    assert "orders_by_email" not in plan_findings(url)


def test_a_small_table_read_whole_is_left_alone(shop_db: Any) -> None:
    url, cur = shop_db
    cur.execute("DELETE FROM orders WHERE id > 500")
    cur.execute("DELETE FROM order_line WHERE id > 500")
    cur.execute("ANALYZE TABLE orders, order_line")
    assert plan_findings(url) == {}


# --- read-only ------------------------------------------------------------------------


@pytest.fixture
def session(shop_db: Any) -> Iterator[MySqlPlanSession]:
    url, _cur = shop_db
    conn = mysql.connect(url, timeout=2)
    try:
        yield MySqlPlanSession(conn, url.rsplit("/", 1)[1])
    finally:
        conn.close()


WRITES = (
    "DELETE FROM orders",
    "UPDATE orders SET total = 0",
    "INSERT INTO orders (customer_id) VALUES (1)",
    "SELECT 1; DELETE FROM orders",
)


@pytest.mark.parametrize("statement", WRITES)
def test_write_statements_fed_to_the_planner_are_refused(
    session: MySqlPlanSession, shop_db: Any, statement: str
) -> None:
    with pytest.raises(SourceError, match="not planned"):
        session.plan(statement)
    _url, cur = shop_db
    cur.execute("SELECT count(*) FROM orders")
    assert cur.fetchone() == (30000,)


def test_the_planning_session_cannot_write(session: MySqlPlanSession) -> None:
    with pytest.raises(SourceError, match="READ ONLY"):
        session.q("CREATE TABLE planted (id INT)")


def test_planning_never_runs_the_statement(session: MySqlPlanSession) -> None:
    # Run, SLEEP(30) would pass the session's 2-second limit and fail.
    plan = session.plan("SELECT count(*) FROM orders WHERE SLEEP(30) = 0")
    assert "query_block" in plan
    assert "r_rows" not in str(plan)  # EXPLAIN, never ANALYZE


# --- statement texts ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("SELECT a FROM t WHERE b = %s AND c = %s", "SELECT a FROM t WHERE b = '0' AND c = '0'"),
        ("SELECT a FROM t WHERE b = ? LIMIT ?", "SELECT a FROM t WHERE b = '0' LIMIT 1"),
        ("SELECT a FROM t LIMIT %s, %s", "SELECT a FROM t LIMIT 1, 1"),
        ("SELECT a FROM t WHERE c LIKE 'x%%' AND b = %(v)s", "SELECT a FROM t WHERE c LIKE 'x%' AND b = '0'"),
    ],
)  # fmt: skip
def test_placeholders_become_values_mysql_can_plan(
    template: str, expected: str
) -> None:
    assert to_mysql(template) == expected


def test_aliases_name_their_tables() -> None:
    assert tables_by_alias(
        "SELECT l.sku FROM order_line l JOIN orders AS o ON o.id = l.order_id"
    ) == {"l": "order_line", "o": "orders"}
