"""The MySQL/MariaDB probe and its checks against the local MariaDB server.

Each test gets its own throwaway database, dropped afterwards.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from audits.engine.issues import Evidence, Issue
from audits.engine.registry import Facts, run_checks
from audits.engine.schema import Schema
from audits.engine.sources import SourceError
from audits.engine.sources import mysql as probe_mysql

pytestmark = pytest.mark.mysql

LIVE = frozenset({Evidence.SCHEMA, Evidence.LIVE})


def _admin() -> Any:
    return pymysql.connect(
        host="127.0.0.1",
        port=3306,
        user="root",
        password="",
        connect_timeout=3,
        autocommit=True,
    )


@pytest.fixture(scope="module")
def server() -> None:
    try:
        _admin().close()
    except pymysql.err.OperationalError:
        pytest.skip("MariaDB does not answer on 127.0.0.1:3306")


@pytest.fixture
def my(server: None) -> Iterator[tuple[str, Any]]:
    """Yield a fresh database's URL and an autocommit cursor on it."""
    name = f"pl_probe_{uuid.uuid4().hex[:10]}"
    conn = _admin()
    cur = conn.cursor()
    cur.execute(f"CREATE DATABASE `{name}`")
    cur.execute(f"USE `{name}`")
    try:
        yield f"mysql://root@127.0.0.1:3306/{name}", cur
    finally:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


def run(cur: Any, *statements: str) -> None:
    for statement in statements:
        cur.execute(statement)


def issues_of(schema: Schema, check: str) -> list[Issue]:
    issues, _ran, errors = run_checks(Facts(schema=schema, evidence=LIVE))
    assert errors == []
    return [i for i in issues if i.check == check]


SCHEMA = (
    "CREATE TABLE users (id INT AUTO_INCREMENT PRIMARY KEY,"
    " email VARCHAR(100) NOT NULL UNIQUE,"
    " status VARCHAR(10) NOT NULL DEFAULT 'active'"
    " CHECK (status IN ('active', 'banned'))) ENGINE=InnoDB",
    "CREATE TABLE orders (id BIGINT AUTO_INCREMENT PRIMARY KEY, user_id INT,"
    " note VARCHAR(50) COLLATE utf8mb4_bin, flag TINYINT(1) NOT NULL DEFAULT 0,"
    " CONSTRAINT fk_orders_user FOREIGN KEY (user_id) REFERENCES users (id)"
    " ON DELETE CASCADE, INDEX ix_orders_user_note (user_id, note DESC))"
    " ENGINE=InnoDB",
    "CREATE TRIGGER orders_note BEFORE UPDATE ON orders FOR EACH ROW"
    " SET NEW.note = TRIM(NEW.note)",
)


# --- the model ------------------------------------------------------------------


def test_probe_reads_columns_keys_defaults_and_collation(my: Any) -> None:
    url, cur = my
    run(cur, *SCHEMA)
    schema = probe_mysql.probe(url)
    users, orders = schema.table("users"), schema.table("orders")
    assert users is not None and orders is not None
    assert users.primary_key == ("id",)
    assert [c.type for c in users.columns] == ["INT", "VARCHAR(100)", "VARCHAR(10)"]
    assert users.columns[0].autoincrement and users.columns[0].primary_key
    status = users.column("status")
    assert status is not None and status.default == "'active'"
    note, flag = orders.column("note"), orders.column("flag")
    assert note is not None and note.collation == "utf8mb4_bin"
    assert flag is not None and (flag.type, flag.nullable) == ("TINYINT(1)", False)
    assert schema.dialect == "mysql"


def test_probe_reads_foreign_keys_with_actions(my: Any) -> None:
    url, cur = my
    run(cur, *SCHEMA)
    orders = probe_mysql.probe(url).table("orders")
    assert orders is not None
    (fk,) = orders.foreign_keys
    assert (fk.name, fk.columns, fk.ref_table, fk.ref_columns) == (
        "fk_orders_user",
        ("user_id",),
        "users",
        ("id",),
    )
    assert (fk.on_delete, fk.on_update) == ("CASCADE", None)


def test_probe_reads_indexes_with_order_and_backing_constraint(my: Any) -> None:
    url, cur = my
    run(cur, *SCHEMA)
    schema = probe_mysql.probe(url)
    orders, users = schema.table("orders"), schema.table("users")
    assert orders is not None and users is not None
    by_name = {i.name: i for i in orders.indexes}
    composite = by_name["ix_orders_user_note"]
    assert composite.column_names == ("user_id", "note")
    assert by_name["PRIMARY"].constraint == "primary key"
    email = next(i for i in users.indexes if i.column_names == ("email",))
    assert (email.unique, email.constraint) == (True, "unique")


def test_probe_parses_check_constraints_into_value_sets(my: Any) -> None:
    url, cur = my
    run(cur, *SCHEMA)
    users = probe_mysql.probe(url).table("users")
    assert users is not None
    (check,) = users.checks
    assert (check.column, check.values) == ("status", ("active", "banned"))


def test_probe_reads_triggers(my: Any) -> None:
    url, cur = my
    run(cur, *SCHEMA)
    orders = probe_mysql.probe(url).table("orders")
    assert orders is not None
    (trigger,) = orders.triggers
    assert (trigger.name, trigger.timing, trigger.event) == (
        "orders_note",
        "BEFORE",
        "UPDATE",
    )


# --- read-only and errors -------------------------------------------------------


def test_probe_connection_refuses_writes(my: Any) -> None:
    url, cur = my
    run(cur, *SCHEMA)
    conn = probe_mysql.connect(url)
    try:
        with pytest.raises(SourceError, match="READ ONLY"):
            probe_mysql.query(conn, "INSERT INTO users (email) VALUES ('x')")
        with pytest.raises(SourceError, match="READ ONLY"):
            probe_mysql.query(conn, "UPDATE users SET email = 'y'")
    finally:
        conn.close()
    cur.execute("SELECT count(*) FROM users")
    assert cur.fetchone() == (0,)


def test_statement_past_the_timeout_gives_a_source_error(my: Any) -> None:
    url, _cur = my
    conn = probe_mysql.connect(url, timeout=1)
    try:
        with pytest.raises(SourceError, match="timed out"):
            probe_mysql.query(conn, "SELECT SLEEP(5)")
    finally:
        conn.close()


def test_wrong_password_gives_a_source_error_without_the_password(my: Any) -> None:
    url, _cur = my
    with pytest.raises(SourceError) as caught:
        probe_mysql.probe(url, password="not-the-pw-123")
    message = str(caught.value)
    assert "Access denied" in message
    assert "not-the-pw-123" not in message
    assert url.rsplit("/", 1)[1] in message


def test_unknown_database_gives_a_source_error_naming_it(server: None) -> None:
    with pytest.raises(SourceError, match="no_such_db_here"):
        probe_mysql.probe("mysql://root@127.0.0.1:3306/no_such_db_here")


def test_unreachable_server_gives_a_source_error(server: None) -> None:
    with pytest.raises(SourceError, match="127.0.0.1:1/app"):
        probe_mysql.probe("mysql://root:pw-secret@127.0.0.1:1/app", timeout=2)


def test_url_without_a_database_gives_a_source_error(server: None) -> None:
    with pytest.raises(SourceError, match="names no database"):
        probe_mysql.probe("mysql://root@127.0.0.1:3306/")


# --- checks -----------------------------------------------------------------------


def test_fk_violations_reports_rows_loaded_with_checks_off(my: Any) -> None:
    url, cur = my
    run(
        cur,
        *SCHEMA,
        "INSERT INTO users (email) VALUES ('a@example.com')",
        "SET foreign_key_checks = 0",
        "INSERT INTO orders (user_id) VALUES (1), (42)",
        "SET foreign_key_checks = 1",
    )
    (issue,) = issues_of(probe_mysql.probe(url), "fk-violations")
    assert issue.object == "orders.user_id"


def test_fk_violations_is_silent_on_consistent_rows(my: Any) -> None:
    url, cur = my
    run(
        cur,
        *SCHEMA,
        "INSERT INTO users (email) VALUES ('a@example.com')",
        "INSERT INTO orders (user_id) VALUES (1), (NULL)",
    )
    schema = probe_mysql.probe(url)
    assert issues_of(schema, "fk-violations") == []
    assert schema.fact("tables_with_rows") == 2


def test_slow_query_visibility_missing_follows_the_slow_log_setting(my: Any) -> None:
    url, cur = my
    schema = probe_mysql.probe(url)
    found = issues_of(schema, "slow-query-visibility-missing")
    if schema.fact("slow_query_log") or schema.fact("performance_schema"):
        assert found == []
    else:
        (issue,) = found
        assert "slow_query_log is OFF" in issue.evidence


def test_migrations_unversioned_follows_the_version_table(my: Any) -> None:
    url, cur = my
    run(cur, *SCHEMA)
    assert len(issues_of(probe_mysql.probe(url), "migrations-unversioned")) == 1
    run(cur, "CREATE TABLE schema_migrations (version VARCHAR(255) PRIMARY KEY)")
    assert issues_of(probe_mysql.probe(url), "migrations-unversioned") == []


def test_probe_samples_secret_columns_as_counts_and_never_keeps_the_values(
    my: Any,
) -> None:
    url, cur = my
    run(
        cur,
        "CREATE TABLE accounts (id INT AUTO_INCREMENT PRIMARY KEY,"
        " password VARCHAR(128), api_token VARCHAR(64)) ENGINE=InnoDB",
        "INSERT INTO accounts (password, api_token) VALUES"
        " ('pbkdf2_sha256$600000$abcdefgh$0123456789abcdefABCDEF=', 'open-sesame'),"
        " ('$2b$12$abcdefghijklmnopqrstuv0123456789abcdefghijklmnopqrs', '')",
    )
    schema = probe_mysql.probe(url)
    samples = {(s["table"], s["column"]): s for s in schema.fact("secret_samples")}
    assert samples[("accounts", "password")]["sampled"] == 2
    assert samples[("accounts", "password")]["hashed"] == 2
    assert samples[("accounts", "api_token")]["sampled"] == 1
    assert samples[("accounts", "api_token")]["hashed"] == 0
    assert "open-sesame" not in repr(schema.facts)
    reported = {i.object: i for i in issues_of(schema, "secret-stored-plaintext")}
    assert set(reported) == {"accounts.api_token"}
    assert "1 of 1 sampled values" in reported["accounts.api_token"].evidence
