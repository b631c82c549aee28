"""Running-health probes on the local MariaDB, with the states planted for real.

Each test gets its own database (``plumbline_health_*``); sessions are
planted from other connections to it: a statement sleeping, a row lock
held while another update waits, a transaction left open.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from audits.engine.checks import activity
from audits.engine.issues import Severity
from audits.engine.schema import Schema
from audits.engine.sources import mysql as probe_mysql
from audits.engine.sources import mysql_health
from tests.engine.conftest import mariadb_database
from tests.engine.health_helpers import findings, wait_for

pytestmark = pytest.mark.mysql


def connect(database: str | None = None) -> Any:
    return pymysql.connect(
        host="127.0.0.1",
        port=3306,
        user="root",
        password="",
        database=database,
        connect_timeout=3,
        autocommit=True,
    )


@pytest.fixture
def my() -> Iterator[tuple[str, str, Any]]:
    """Yield a fresh database's name, URL and an autocommit cursor in it."""
    with mariadb_database("plumbline_health_") as (name, cur):
        yield name, f"mysql://root@127.0.0.1:3306/{name}", cur


def in_thread(database: str, statement: str) -> tuple[threading.Thread, int]:
    """Run ``statement`` on its own connection in a thread; return it and its id."""
    conn = connect(database)
    pid = conn.thread_id()

    def run() -> None:
        with contextlib.suppress(pymysql.err.MySQLError), conn.cursor() as cur:
            cur.execute(statement)
        conn.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, pid


def seconds_of(cur: Any, pid: int) -> tuple[str, int] | None:
    cur.execute(
        "SELECT COMMAND, TIME FROM information_schema.PROCESSLIST WHERE ID = %s", (pid,)
    )
    return cur.fetchone()


def test_long_statement_is_reported_from_the_processlist(
    my: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, url, cur = my
    monkeypatch.setattr(activity, "LONG_QUERY_SECONDS", 1)
    thread, pid = in_thread(name, "SELECT SLEEP(30) AS report")
    try:
        wait_for(
            "the statement runs past a second",
            lambda: (seconds_of(cur, pid) or ("", 0))[1] >= 2,
        )
        schema = probe_mysql.probe(url)
    finally:
        cur.execute(f"KILL QUERY {pid}")
        thread.join(10)
    (issue,) = findings(schema, "query-long-running")
    assert f"session {pid}, root, running" in issue.evidence
    assert "SELECT SLEEP(?) AS report" in issue.evidence
    assert issue.fix_sql == f"KILL QUERY {pid};"


def test_lock_wait_names_the_holding_session(
    my: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, url, cur = my
    monkeypatch.setattr(activity, "LOCK_WAIT_SECONDS", 1)
    cur.execute("CREATE TABLE account (id INT PRIMARY KEY, balance INT) ENGINE=InnoDB")
    cur.execute("INSERT INTO account VALUES (1, 100)")
    holder = connect(name)
    holder.begin()
    holder.cursor().execute("UPDATE account SET balance = 90 WHERE id = 1")
    thread, pid = in_thread(name, "UPDATE account SET balance = 80 WHERE id = 1")
    try:
        wait_for(
            "the second update waits on the row lock",
            lambda: (seconds_of(cur, pid) or ("", 0))[1] >= 2,
        )
        schema = probe_mysql.probe(url)
    finally:
        holder.rollback()
        holder.close()
        thread.join(10)
    (issue,) = findings(schema, "query-blocked")
    assert f"session {pid}, root has waited" in issue.evidence
    assert f"for session {holder.thread_id()} (idle in transaction" in issue.evidence
    assert "UPDATE account SET balance = ? WHERE id = ?" in issue.evidence


def test_idle_transaction_is_reported_as_on_postgresql(
    my: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    name, url, cur = my
    monkeypatch.setattr(mysql_health, "IDLE_IN_TRANSACTION_SECONDS", 1)
    cur.execute("CREATE TABLE account (id INT PRIMARY KEY) ENGINE=InnoDB")
    cur.execute("INSERT INTO account VALUES (1)")
    idle = connect(name)
    idle.begin()
    idle.cursor().execute("SELECT * FROM account FOR UPDATE")
    try:
        wait_for(
            "the session sleeps in its transaction",
            lambda: (seconds_of(cur, idle.thread_id()) or ("", 0))[1] >= 2,
        )
        schema = probe_mysql.probe(url)
    finally:
        idle.rollback()
        idle.close()
    (issue,) = findings(schema, "connections-near-limit")
    assert issue.title == "Sessions left idle in a transaction"
    (session,) = schema.fact("activity")
    assert session["state"] == "idle in transaction"


def test_quiet_database_has_no_activity_findings(my: Any) -> None:
    _name, url, _cur = my
    schema = probe_mysql.probe(url)
    assert schema.fact("activity") == ()
    for check in ("query-long-running", "query-blocked", "connections-near-limit"):
        assert findings(schema, check) == []
    assert schema.fact("history_length") is not None
    assert "InnoDB pages" in schema.fact("cache")
    assert schema.fact("probe_notes") == ()


def test_performance_schema_off_is_one_finding_saying_how_to_enable_it(
    my: Any,
) -> None:
    _name, url, _cur = my
    schema = probe_mysql.probe(url)
    if schema.fact("performance_schema"):
        pytest.skip("this server has performance_schema on")
    if schema.fact("slow_query_log"):
        (issue,) = findings(schema, "query-stats-missing")
        assert issue.evidence == (
            "performance_schema is OFF, so no statement digests are kept."
        )
    else:  # nothing records slow statements: one cause, the older public id
        assert findings(schema, "query-stats-missing") == []
        (issue,) = findings(schema, "slow-query-visibility-missing")
        assert issue.evidence == "slow_query_log is OFF and performance_schema is OFF."
    assert "performance_schema = ON" in issue.fix_sql


def test_space_lists_the_largest_tables(my: Any) -> None:
    _name, url, cur = my
    cur.execute("CREATE TABLE big (id INT PRIMARY KEY, body TEXT) ENGINE=InnoDB")
    cur.execute("CREATE TABLE small (id INT PRIMARY KEY) ENGINE=InnoDB")
    cur.execute("INSERT INTO big SELECT seq, REPEAT('x', 200) FROM seq_1_to_5000")
    cur.execute("ANALYZE TABLE big")
    schema = probe_mysql.probe(url)
    space = schema.fact("space")
    assert space["largest"][0]["table"] == "big"
    assert space["database_bytes"] >= space["largest"][0]["bytes"] > 0


def test_findings_from_the_shared_shapes_match_postgresql_wording() -> None:
    schema = Schema(
        facts=(
            ("engine", "mysql"),
            ("database", "shop"),
            ("history_length", 12_000_000),
            ("cache", {"InnoDB pages": {"hit": 800_000, "read": 200_000}}),
        )
    )
    (history,) = findings(schema, "innodb-history-long")
    assert history.severity == Severity.HIGH
    (cache,) = findings(schema, "cache-hit-low")
    assert cache.title == "Reads of InnoDB pages miss the cache"
    assert cache.severity == Severity.MEDIUM
