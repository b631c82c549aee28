"""The PostgreSQL probe and its checks against the local server.

Each test gets its own throwaway database, dropped afterwards.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from audits.engine.issues import Evidence, Issue
from audits.engine.registry import Facts, run_checks
from audits.engine.schema import Schema
from audits.engine.sources import SourceError
from audits.engine.sources import postgres as probe_pg

pytestmark = pytest.mark.postgres

ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"
LIVE = frozenset({Evidence.SCHEMA, Evidence.LIVE})


def _server_answers() -> bool:
    try:
        psycopg.connect(ADMIN).close()
    except psycopg.OperationalError:
        return False
    return True


@pytest.fixture(scope="module")
def server() -> None:
    if not _server_answers():
        pytest.skip("PostgreSQL does not answer on 127.0.0.1:5432")


@pytest.fixture
def pg(server: None) -> Iterator[tuple[str, psycopg.Connection[Any]]]:
    """Yield a fresh database's URL and an autocommit connection to it."""
    name = f"pl_probe_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    conn = psycopg.connect(
        f"host=127.0.0.1 port=5432 user=postgres dbname={name}", autocommit=True
    )
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}", conn
    finally:
        conn.close()
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def issues_of(schema: Schema, check: str) -> list[Issue]:
    issues, _ran, errors = run_checks(Facts(schema=schema, evidence=LIVE))
    assert errors == []
    return [i for i in issues if i.check == check]


def flush_stats(conn: psycopg.Connection[Any], table: str, *, seq_scans: int) -> None:
    """Wait until the statistics views show the session's scans of ``table``."""
    conn.execute("SELECT pg_stat_force_next_flush()")
    for _ in range(50):
        row = conn.execute(
            "SELECT seq_scan FROM pg_stat_user_tables WHERE relname = %s", (table,)
        ).fetchone()
        if row and row[0] >= seq_scans:
            return
        time.sleep(0.1)
    raise AssertionError(f"statistics for {table} never arrived")


SCHEMA = """
CREATE TABLE users (
    id serial PRIMARY KEY,
    email text NOT NULL UNIQUE,
    status text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'banned'))
);
CREATE TABLE orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id integer REFERENCES users (id) ON DELETE CASCADE,
    note varchar(20),
    created timestamp
);
CREATE INDEX ix_orders_note ON orders (lower(note) DESC) WHERE note IS NOT NULL;
CREATE INDEX ix_orders_user_created ON orders (user_id, created DESC);
CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS
    $$ BEGIN NEW.created := now(); RETURN NEW; END $$;
CREATE TRIGGER orders_touch BEFORE UPDATE ON orders
    FOR EACH ROW EXECUTE FUNCTION touch();
CREATE SCHEMA billing;
CREATE TABLE billing.invoices (id integer PRIMARY KEY, user_id integer
    REFERENCES public.users (id));
"""


# --- the model ------------------------------------------------------------------


def test_probe_reads_columns_keys_and_check_value_sets(pg: Any) -> None:
    url, conn = pg
    conn.execute(SCHEMA)
    schema = probe_pg.probe(url)
    users, orders = schema.table("users"), schema.table("orders")
    assert users is not None and orders is not None
    assert users.primary_key == ("id",)
    assert [c.type for c in orders.columns] == [
        "BIGINT",
        "INTEGER",
        "VARCHAR(20)",
        "TIMESTAMP",
    ]
    assert orders.columns[0].autoincrement and users.columns[0].autoincrement
    assert users.column("status") is not None
    (check,) = users.checks
    assert (check.column, check.values) == ("status", ("active", "banned"))
    (fk,) = orders.foreign_keys
    assert (fk.columns, fk.ref_table, fk.ref_columns, fk.on_delete) == (
        ("user_id",),
        "users",
        ("id",),
        "CASCADE",
    )
    invoices = schema.table("billing.invoices")
    assert invoices is not None and invoices.foreign_keys[0].on_delete is None


def test_probe_reads_indexes_with_order_predicate_and_backing_constraint(
    pg: Any,
) -> None:
    url, conn = pg
    conn.execute(SCHEMA)
    schema = probe_pg.probe(url)
    orders, users = schema.table("orders"), schema.table("users")
    assert orders is not None and users is not None
    by_name = {i.name: i for i in orders.indexes}
    composite = by_name["ix_orders_user_created"]
    assert composite.column_names == ("user_id", "created")
    assert [c.descending for c in composite.columns] == [False, True]
    partial = by_name["ix_orders_note"]
    assert partial.columns[0].expression and partial.columns[0].descending
    assert partial.predicate is not None and "note IS NOT NULL" in partial.predicate
    assert by_name["orders_pkey"].constraint == "primary key"
    assert {i.name: i.constraint for i in users.indexes} == {
        "users_pkey": "primary key",
        "users_email_key": "unique",
    }


def test_probe_reads_triggers_with_their_function_body(pg: Any) -> None:
    url, conn = pg
    conn.execute(SCHEMA)
    orders = probe_pg.probe(url).table("orders")
    assert orders is not None
    (trigger,) = orders.triggers
    assert (trigger.timing, trigger.event) == ("BEFORE", "UPDATE")
    assert "NEW.created" in trigger.body


def test_probe_records_server_facts(pg: Any) -> None:
    url, conn = pg
    conn.execute(SCHEMA)
    schema = probe_pg.probe(url)
    assert schema.fact("engine") == "postgresql"
    assert schema.fact("database") == url.rsplit("/", 1)[1]
    assert schema.fact("max_connections") > 0
    assert schema.fact("connections") >= 1
    assert schema.fact("server_version_num") >= 100000
    assert {s["table"] for s in schema.fact("table_stats")} == {
        "users",
        "orders",
        "billing.invoices",
    }


# --- read-only and errors -------------------------------------------------------


def test_probe_connection_refuses_writes(pg: Any) -> None:
    url, conn = pg
    conn.execute(SCHEMA)
    probe_conn = probe_pg.connect(url)
    try:
        with pytest.raises(SourceError, match="read-only"):
            probe_pg.query(probe_conn, "INSERT INTO users (email) VALUES ('x')")
    finally:
        probe_conn.close()
    assert conn.execute("SELECT count(*) FROM users").fetchone() == (0,)


def test_probe_connection_stays_read_only_after_commit(pg: Any) -> None:
    url, _conn = pg
    probe_conn = probe_pg.connect(url)
    try:
        probe_conn.commit()
        with pytest.raises(SourceError, match="read-only"):
            probe_pg.query(probe_conn, "CREATE TABLE sneaky (id int)")
    finally:
        probe_conn.close()


def test_statement_past_the_timeout_gives_a_source_error(pg: Any) -> None:
    url, _conn = pg
    probe_conn = probe_pg.connect(url, timeout=0.5)
    try:
        with pytest.raises(SourceError, match="timed out"):
            probe_pg.query(probe_conn, "SELECT pg_sleep(5)")
    finally:
        probe_conn.close()


def test_unreachable_server_gives_a_source_error_without_the_password(
    server: None,
) -> None:
    with pytest.raises(SourceError) as caught:
        probe_pg.probe("postgresql://app:s3cr3t-pw@127.0.0.1:1/appdb", timeout=2)
    message = str(caught.value)
    assert "127.0.0.1:1/appdb" in message
    assert "s3cr3t-pw" not in message


def test_unknown_database_gives_a_source_error_naming_it(server: None) -> None:
    with pytest.raises(SourceError, match="no_such_db_here"):
        probe_pg.probe("postgresql://postgres@127.0.0.1:5432/no_such_db_here")


def test_unknown_role_gives_a_source_error(server: None) -> None:
    with pytest.raises(SourceError, match="nobody_at_all"):
        probe_pg.probe(
            "postgresql://nobody_at_all@127.0.0.1:5432/postgres",
            password="whatever-secret",
        )


# --- checks -----------------------------------------------------------------------


def test_index_invalid_reports_a_failed_concurrent_build(pg: Any) -> None:
    url, conn = pg
    conn.execute("CREATE TABLE t (id int PRIMARY KEY, code text)")
    conn.execute("INSERT INTO t VALUES (1, 'a'), (2, 'a')")
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute("CREATE UNIQUE INDEX CONCURRENTLY ix_t_code ON t (code)")
    schema = probe_pg.probe(url)
    (issue,) = issues_of(schema, "index-invalid")
    assert issue.object == "ix_t_code"
    assert "REINDEX" in issue.fix_sql


def test_index_invalid_is_silent_when_every_index_is_valid(pg: Any) -> None:
    url, conn = pg
    conn.execute(SCHEMA)
    assert issues_of(probe_pg.probe(url), "index-invalid") == []


def test_not_valid_foreign_key_and_its_orphans_are_reported(pg: Any) -> None:
    url, conn = pg
    conn.execute(
        "CREATE TABLE users (id int PRIMARY KEY);"
        "CREATE TABLE orders (id int PRIMARY KEY, user_id int);"
        "INSERT INTO users VALUES (1);"
        "INSERT INTO orders VALUES (1, 1), (2, 99);"
        "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) "
        "REFERENCES users (id) NOT VALID;"
    )
    schema = probe_pg.probe(url)
    orders = schema.table("orders")
    assert orders is not None and orders.foreign_keys[0].validated is False
    (unvalidated,) = issues_of(schema, "integrity-check-failed")
    assert unvalidated.object == "orders.orders_user_fk"
    assert "VALIDATE CONSTRAINT orders_user_fk" in unvalidated.fix_sql
    (orphans,) = issues_of(schema, "fk-violations")
    assert orphans.object == "orders.user_id"
    assert "at least 1 row" in orphans.evidence


def test_validated_constraints_without_orphans_are_silent(pg: Any) -> None:
    url, conn = pg
    conn.execute(SCHEMA)
    conn.execute(
        "INSERT INTO users (email) VALUES ('a'); INSERT INTO orders "
        "(user_id) VALUES (1)"
    )
    schema = probe_pg.probe(url)
    assert issues_of(schema, "integrity-check-failed") == []
    assert issues_of(schema, "fk-violations") == []


def test_sequence_near_exhaustion_reports_a_serial_past_three_quarters(
    pg: Any,
) -> None:
    url, conn = pg
    conn.execute("CREATE TABLE events (id serial PRIMARY KEY, big bigserial)")
    conn.execute("SELECT setval('events_id_seq', 2000000000)")
    conn.execute("SELECT setval('events_big_seq', 2000000000)")
    (issue,) = issues_of(probe_pg.probe(url), "sequence-near-exhaustion")
    assert issue.object == "events.id"
    assert "ALTER COLUMN id TYPE bigint" in issue.fix_sql


def test_sequence_near_exhaustion_is_silent_on_young_sequences(pg: Any) -> None:
    url, conn = pg
    conn.execute("CREATE TABLE events (id serial PRIMARY KEY)")
    conn.execute("INSERT INTO events DEFAULT VALUES")
    assert issues_of(probe_pg.probe(url), "sequence-near-exhaustion") == []


def test_index_unused_reports_a_never_scanned_index_on_a_read_table(pg: Any) -> None:
    url, conn = pg
    conn.execute(
        "CREATE TABLE logs (id int PRIMARY KEY, level text, body text);"
        "CREATE INDEX ix_logs_level ON logs (level);"
        "INSERT INTO logs SELECT i, 'info', 'x' FROM generate_series(1, 100) i;"
    )
    conn.execute("SELECT count(*) FROM logs WHERE body = 'y'")
    flush_stats(conn, "logs", seq_scans=1)
    (issue,) = issues_of(probe_pg.probe(url), "index-unused")
    assert issue.object == "ix_logs_level"
    assert issue.fix_sql == "DROP INDEX CONCURRENTLY ix_logs_level;"


def test_index_unused_is_silent_for_used_unique_and_unread_indexes(pg: Any) -> None:
    url, conn = pg
    conn.execute(
        "CREATE TABLE logs (id int PRIMARY KEY, level text, code text UNIQUE);"
        "CREATE INDEX ix_logs_level ON logs (level);"
        "CREATE TABLE idle (id int PRIMARY KEY, v text);"
        "CREATE INDEX ix_idle_v ON idle (v);"
        "INSERT INTO logs SELECT i, 'l' || i, 'c' || i FROM generate_series(1, 2000) i;"
        "ANALYZE logs;"
    )
    conn.execute("SET enable_seqscan = off")
    conn.execute("SELECT * FROM logs WHERE level = 'l5'")
    conn.execute("SET enable_seqscan = on")
    conn.execute("SELECT count(*) FROM logs")
    flush_stats(conn, "logs", seq_scans=1)
    assert issues_of(probe_pg.probe(url), "index-unused") == []


def test_table_seq_scan_heavy_reports_a_large_table_read_by_scans(pg: Any) -> None:
    url, conn = pg
    conn.execute(
        "CREATE TABLE hits (id int PRIMARY KEY, path text);"
        "INSERT INTO hits SELECT i, '/p' || i FROM generate_series(1, 12000) i;"
    )
    for _ in range(60):
        conn.execute("SELECT count(*) FROM hits WHERE path = '/p7'")
    flush_stats(conn, "hits", seq_scans=60)
    (issue,) = issues_of(probe_pg.probe(url), "table-seq-scan-heavy")
    assert issue.object == "hits"


def test_table_seq_scan_heavy_is_silent_on_small_tables(pg: Any) -> None:
    url, conn = pg
    conn.execute(
        "CREATE TABLE hits (id int PRIMARY KEY, path text);"
        "INSERT INTO hits SELECT i, '/p' || i FROM generate_series(1, 500) i;"
    )
    for _ in range(60):
        conn.execute("SELECT count(*) FROM hits WHERE path = '/p7'")
    flush_stats(conn, "hits", seq_scans=60)
    assert issues_of(probe_pg.probe(url), "table-seq-scan-heavy") == []


def test_maintenance_missing_reports_tables_with_rows_never_analyzed(pg: Any) -> None:
    url, conn = pg
    conn.execute(
        "CREATE TABLE items (id int PRIMARY KEY) WITH (autovacuum_enabled = false);"
        "INSERT INTO items SELECT generate_series(1, 100);"
    )
    flush_stats(conn, "items", seq_scans=0)
    for _ in range(50):
        schema = probe_pg.probe(url)
        if any(s["rows"] for s in schema.fact("table_stats")):
            break
        time.sleep(0.1)
    (issue,) = issues_of(schema, "maintenance-missing")
    assert "items" in issue.evidence


def test_maintenance_missing_is_silent_after_analyze(pg: Any) -> None:
    url, conn = pg
    conn.execute(
        "CREATE TABLE items (id int PRIMARY KEY) WITH (autovacuum_enabled = false);"
        "INSERT INTO items SELECT generate_series(1, 100);"
        "ANALYZE items;"
    )
    flush_stats(conn, "items", seq_scans=0)
    assert issues_of(probe_pg.probe(url), "maintenance-missing") == []


def test_slow_query_visibility_missing_reports_a_server_that_logs_nothing(
    pg: Any,
) -> None:
    url, conn = pg
    schema = probe_pg.probe(url)
    if schema.fact("log_min_duration_statement") >= 0 or schema.fact(
        "shared_preload_libraries"
    ):
        pytest.skip("this server already records slow statements")
    (issue,) = issues_of(schema, "slow-query-visibility-missing")
    assert "log_min_duration_statement is -1" in issue.evidence


def test_slow_query_visibility_missing_is_silent_with_pg_stat_statements(
    pg: Any,
) -> None:
    url, conn = pg
    conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    assert issues_of(probe_pg.probe(url), "slow-query-visibility-missing") == []


def test_migrations_unversioned_follows_the_version_table(pg: Any) -> None:
    url, conn = pg
    conn.execute("CREATE TABLE users (id int PRIMARY KEY)")
    assert len(issues_of(probe_pg.probe(url), "migrations-unversioned")) == 1
    conn.execute("CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)")
    assert issues_of(probe_pg.probe(url), "migrations-unversioned") == []


def test_connections_near_limit_is_silent_on_a_quiet_server(pg: Any) -> None:
    url, _conn = pg
    assert issues_of(probe_pg.probe(url), "connections-near-limit") == []


def test_probe_silences_a_password_column_whose_sampled_values_are_hashes(
    pg: tuple[str, psycopg.Connection[Any]],
) -> None:
    url, conn = pg
    conn.execute(
        "CREATE TABLE accounts (id bigserial PRIMARY KEY, password varchar(128),"
        " client_secret text)"
    )
    conn.execute(
        "INSERT INTO accounts (password, client_secret) VALUES "
        "('pbkdf2_sha256$600000$abcdefgh$0123456789abcdefABCDEF=', 'open-sesame')"
    )
    schema = probe_pg.probe(url)
    assert "open-sesame" not in repr(schema.facts)
    reported = {i.object: i for i in issues_of(schema, "secret-stored-plaintext")}
    assert set(reported) == {"accounts.client_secret"}
    assert "1 of 1 sampled values" in reported["accounts.client_secret"].evidence


def test_a_secret_column_the_probe_may_not_read_is_a_note_and_the_rest_is_read(
    pg: tuple[str, psycopg.Connection[Any]],
) -> None:
    url, conn = pg
    role = f"pl_reader_{uuid.uuid4().hex[:8]}"
    conn.execute("CREATE SCHEMA billing")
    conn.execute(
        "CREATE TABLE billing.accounts (id bigserial PRIMARY KEY, password text,"
        " api_token text)"
    )
    conn.execute(
        "INSERT INTO billing.accounts (password, api_token) VALUES "
        "('hunter2-plain', 'open-sesame')"
    )
    conn.execute(f"CREATE ROLE {role} LOGIN")
    try:
        conn.execute(f"GRANT USAGE ON SCHEMA billing TO {role}")
        conn.execute(f"GRANT SELECT (id, api_token) ON billing.accounts TO {role}")
        schema = probe_pg.probe(url.replace("postgres@", f"{role}@"))
    finally:
        conn.execute(f"DROP OWNED BY {role}")
        conn.execute(f"DROP ROLE {role}")
    samples = {(s["table"], s["column"]): s for s in schema.fact("secret_samples")}
    # The refused read of password rolled back to its savepoint only: the
    # token column after it was still read in the same transaction.
    assert set(samples) == {("billing.accounts", "api_token")}
    assert samples[("billing.accounts", "api_token")]["sampled"] == 1
    notes = schema.fact("probe_notes")
    assert any("permission denied" in note for note in notes)
    assert "hunter2" not in repr(schema.facts)
    assert "open-sesame" not in repr(schema.facts)
