"""Running-health probes on a private PostgreSQL, with the states planted for real.

The server is the session's private one (``private_pg``): pg_stat_statements
is loaded there and replication slots can be made. Each test plants its
state from other connections (an idle transaction, a statement sleeping, a
lock held), probes, and reads the findings. Thresholds measured in minutes
are lowered for a test, never the state: the session really is idle in a
transaction, the statement really runs, the lock really waits.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from audits.engine.checks import activity
from audits.engine.issues import Severity
from audits.engine.sources import postgres as probe_pg
from tests.engine.health_helpers import findings, wait_for
from tests.engine.private_postgres import PrivateServer

pytestmark = pytest.mark.postgres


@pytest.fixture
def db(private_pg: PrivateServer) -> Iterator[tuple[str, psycopg.Connection[Any]]]:
    """Yield a fresh database's URL and an autocommit connection to it."""
    name = f"plumbline_health_{uuid.uuid4().hex[:8]}"
    with private_pg.database(name) as url:
        conn = psycopg.connect(url, autocommit=True)
        try:
            yield url, conn
        finally:
            conn.close()


def other(url: str, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    return psycopg.connect(url, autocommit=autocommit, application_name="app")


def in_thread(url: str, statement: str) -> tuple[threading.Thread, list[Any]]:
    """Run ``statement`` on its own connection in a thread; return it and its pid."""
    pid: list[Any] = []

    def run() -> None:
        with other(url) as conn:
            pid.append(conn.info.backend_pid)
            with contextlib.suppress(psycopg.errors.QueryCanceled):
                conn.execute(statement)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    wait_for("the thread's connection", lambda: bool(pid))
    return thread, pid


def state_of(conn: psycopg.Connection[Any], pid: int) -> tuple[Any, ...] | None:
    return conn.execute(
        "SELECT state, wait_event_type, "
        "extract(epoch FROM clock_timestamp() - query_start) "
        "FROM pg_stat_activity WHERE pid = %s",
        (pid,),
    ).fetchone()


# --- sessions ---------------------------------------------------------------------


def test_idle_in_transaction_session_is_reported(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, conn = db
    monkeypatch.setattr(probe_pg, "IDLE_IN_TRANSACTION_MINUTES", 0)
    idle = other(url, autocommit=False)
    try:
        idle.execute("SELECT 1")  # opens the transaction, then stays idle in it
        wait_for(
            "the session idles in its transaction",
            lambda: (state_of(conn, idle.info.backend_pid) or ("",))[0]
            == "idle in transaction",
        )
        time.sleep(1.1)
        schema = probe_pg.probe(url)
    finally:
        idle.close()
    (issue,) = findings(schema, "connections-near-limit")
    assert issue.title == "Sessions left idle in a transaction"
    assert "1 session(s) idle in a transaction" in issue.evidence
    assert [s["state"] for s in schema.fact("activity")] == ["idle in transaction"]


def test_long_running_statement_is_reported_with_its_session(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, conn = db
    monkeypatch.setattr(activity, "LONG_QUERY_SECONDS", 1)
    thread, pid = in_thread(url, "SELECT pg_sleep(60) /* the report's query */")
    try:
        wait_for(
            "the statement runs past a second",
            lambda: (state_of(conn, pid[0]) or ("", "", 0))[2] > 1.5,
        )
        schema = probe_pg.probe(url)
    finally:
        conn.execute("SELECT pg_cancel_backend(%s)", (pid[0],))
        thread.join(10)
    (issue,) = findings(schema, "query-long-running")
    assert f"session {pid[0]}, postgres, running" in issue.evidence
    assert "SELECT pg_sleep(?)" in issue.evidence  # the literal masked
    assert issue.severity == Severity.LOW
    assert issue.fix_sql == f"SELECT pg_cancel_backend({pid[0]});"


def test_short_statements_are_left_alone(db: Any) -> None:
    url, _conn = db
    thread, pid = in_thread(url, "SELECT pg_sleep(3)")
    try:
        schema = probe_pg.probe(url)
    finally:
        thread.join(10)
    assert findings(schema, "query-long-running") == []
    assert findings(schema, "query-blocked") == []


def test_lock_wait_names_the_waiting_and_the_holding_session(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, conn = db
    monkeypatch.setattr(activity, "LOCK_WAIT_SECONDS", 1)
    conn.execute("CREATE TABLE account (id int PRIMARY KEY, balance int)")
    conn.execute("INSERT INTO account VALUES (1, 100)")
    holder = other(url, autocommit=False)
    holder.execute("UPDATE account SET balance = 90 WHERE id = 1")
    holder_pid = holder.info.backend_pid
    thread, pid = in_thread(url, "UPDATE account SET balance = 80 WHERE id = 1")
    try:
        wait_for(
            "the second update waits on the lock for a while",
            lambda: (state_of(conn, pid[0]) or ("", "", 0))[1:] >= ("Lock", 1.5),
        )
        schema = probe_pg.probe(url)
    finally:
        holder.rollback()
        holder.close()
        thread.join(10)
    (issue,) = findings(schema, "query-blocked")
    assert f"session {pid[0]}, postgres has waited" in issue.evidence
    assert f"for session {holder_pid} (idle in transaction" in issue.evidence
    assert "UPDATE account SET balance = ? WHERE id = ?" in issue.evidence
    assert issue.severity == Severity.MEDIUM
    # The waiting statement is a blocked one, not a long-running one.
    monkeypatch.setattr(activity, "LONG_QUERY_SECONDS", 1)
    assert findings(schema, "query-long-running") == []


# --- vacuum, statistics, bloat ------------------------------------------------------


def flush_until(
    conn: psycopg.Connection[Any], table: str, column: str, at_least: int
) -> None:
    def arrived() -> bool:
        conn.execute("SELECT pg_stat_force_next_flush()")
        row = conn.execute(
            f"SELECT {column} FROM pg_stat_user_tables WHERE relname = %s", (table,)
        ).fetchone()
        return bool(row) and row[0] >= at_least

    wait_for(f"{column} of {table} reaches {at_least}", arrived)


def test_dead_rows_with_autovacuum_off_are_reported(db: Any) -> None:
    url, conn = db
    conn.execute(
        "CREATE TABLE event (id int PRIMARY KEY, seen bool) "
        "WITH (autovacuum_enabled = false)"
    )
    conn.execute("INSERT INTO event SELECT g, false FROM generate_series(1, 30000) g")
    conn.execute("UPDATE event SET seen = true")
    conn.execute("DELETE FROM event WHERE id > 20000")
    flush_until(conn, "event", "n_dead_tup", 40000)
    schema = probe_pg.probe(url)
    (issue,) = findings(schema, "table-dead-rows")
    assert issue.object == "event"
    assert "40,000 dead rows beside 20,000 live ones (67%)" in issue.evidence
    assert "autovacuum is turned off for this table" in issue.evidence
    assert "ALTER TABLE event RESET (autovacuum_enabled);" in issue.fix_sql


def test_vacuumed_table_has_no_dead_rows_finding(db: Any) -> None:
    url, conn = db
    conn.execute("CREATE TABLE event (id int PRIMARY KEY, seen bool)")
    conn.execute("INSERT INTO event SELECT g, false FROM generate_series(1, 30000) g")
    conn.execute("UPDATE event SET seen = true")
    flush_until(conn, "event", "n_dead_tup", 30000)
    conn.execute("VACUUM event")
    schema = probe_pg.probe(url)
    assert findings(schema, "table-dead-rows") == []


def test_bloated_table_is_estimated_from_row_widths(db: Any) -> None:
    url, conn = db
    conn.execute("CREATE TABLE note (id int PRIMARY KEY, body text)")
    conn.execute(
        "INSERT INTO note SELECT g, repeat('x', 120) FROM generate_series(1, 120000) g"
    )
    conn.execute("DELETE FROM note WHERE id <= 108000")  # the tail keeps the pages
    conn.execute("VACUUM ANALYZE note")
    schema = probe_pg.probe(url)
    (issue,) = findings(schema, "table-bloat")
    assert issue.object == "note"
    assert "estimated from the row widths in pg_stats" in issue.evidence
    tables = {b["name"]: b for b in schema.fact("bloat") if b["kind"] == "table"}
    assert tables["note"]["ratio"] > 0.8


def test_freshly_loaded_table_is_not_bloated(db: Any) -> None:
    url, conn = db
    conn.execute("CREATE TABLE note (id int PRIMARY KEY, body text)")
    conn.execute(
        "INSERT INTO note SELECT g, repeat('x', 120) FROM generate_series(1, 120000) g"
    )
    conn.execute("ANALYZE note")
    schema = probe_pg.probe(url)
    assert findings(schema, "table-bloat") == []
    assert findings(schema, "index-bloat") == []
    (entry,) = [b for b in schema.fact("bloat") if b["name"] == "note"]
    assert entry["ratio"] < 0.2


# --- statement statistics -------------------------------------------------------------


def test_slow_statement_is_read_from_pg_stat_statements(db: Any) -> None:
    url, conn = db
    conn.execute("CREATE EXTENSION pg_stat_statements")
    conn.execute("SELECT pg_stat_statements_reset()")
    for _ in range(10):
        conn.execute("SELECT pg_sleep(0.12)")
    schema = probe_pg.probe(url)
    assert findings(schema, "query-stats-missing") == []
    (issue,) = findings(schema, "query-slow")
    assert "SELECT pg_sleep($1)" in issue.evidence
    assert "10 calls averaging 12" in issue.evidence
    assert "from pg_stat_statements" in issue.evidence


def test_missing_extension_is_one_finding_saying_how_to_enable_it(db: Any) -> None:
    url, _conn = db
    schema = probe_pg.probe(url)
    (issue,) = findings(schema, "query-stats-missing")
    assert "loaded by the server but not installed" in issue.evidence
    assert issue.fix_sql == "CREATE EXTENSION pg_stat_statements;"
    assert findings(schema, "query-slow") == []


def test_statistics_the_user_may_not_read_are_a_note_not_a_crash(db: Any) -> None:
    url, conn = db
    conn.execute("CREATE EXTENSION pg_stat_statements")
    conn.execute("REVOKE ALL ON pg_stat_statements FROM PUBLIC")
    conn.execute("DROP ROLE IF EXISTS plumbline_reader")
    conn.execute("CREATE ROLE plumbline_reader LOGIN")
    try:
        schema = probe_pg.probe(url.replace("postgres@", "plumbline_reader@"))
    finally:
        conn.execute("DROP OWNED BY plumbline_reader")
        conn.execute("DROP ROLE plumbline_reader")
    notes = schema.fact("probe_notes")
    assert any(
        n.startswith("running health: statement statistics (pg_stat_statements)")
        and "permission denied" in n
        for n in notes
    )
    (issue,) = findings(schema, "query-stats-missing")
    assert "may not read it" in issue.evidence
    assert schema.fact("activity") is not None  # the other parts still count


# --- replication, wraparound, cache, space ----------------------------------------------


def test_inactive_replication_slot_is_reported(db: Any) -> None:
    url, conn = db
    name = f"plumbline_slot_{uuid.uuid4().hex[:6]}"
    conn.execute("SELECT pg_create_physical_replication_slot(%s, true)", (name,))
    try:
        schema = probe_pg.probe(url)
    finally:
        conn.execute("SELECT pg_drop_replication_slot(%s)", (name,))
    (issue,) = findings(schema, "replication-slot-inactive")
    assert issue.object == name
    assert "has no consumer connected and holds" in issue.evidence
    assert issue.severity == Severity.MEDIUM


def test_young_databases_raise_no_wraparound_finding(db: Any) -> None:
    url, _conn = db
    schema = probe_pg.probe(url)
    found = schema.fact("wraparound")
    assert url.rsplit("/", 1)[1] in {d for d, _, _ in found["databases"]}
    assert found["freeze_max_age"] == 200_000_000
    assert findings(schema, "txid-wraparound-risk") == []
    assert schema.fact("replication")["standby"] is False
    assert set(schema.fact("cache")) == {"tables", "indexes"}
    assert schema.fact("space")["database_bytes"] > 0
