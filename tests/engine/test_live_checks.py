"""Live-only checks on real SQLite files with planted defects.

Checks whose trigger cannot be planted in a SQLite file (a per-connection
setting, server load) start from a real probe's schema with one fact
changed.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path
from typing import Any

from audits.engine.issues import Evidence, Issue
from audits.engine.registry import Facts, run_checks
from audits.engine.schema import Schema
from audits.engine.sources import sqlite as probe_sqlite

LIVE = frozenset({Evidence.SCHEMA, Evidence.LIVE})
ROWS = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n}) "


def make_db(path: Path, script: str, *, wal: bool = False) -> Path:
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(script)
    conn.commit()
    conn.close()
    return path


def live_issues(schema: Schema, check: str | None = None) -> list[Issue]:
    issues, _ran, errors = run_checks(Facts(schema=schema, evidence=LIVE))
    assert errors == []
    return [i for i in issues if check is None or i.check == check]


def probe_issues(path: Path, check: str) -> list[Issue]:
    return live_issues(probe_sqlite.probe(str(path)), check)


def with_facts(schema: Schema, **changes: Any) -> Schema:
    facts = dict(schema.facts)
    facts.update(changes)
    return dataclasses.replace(schema, facts=tuple(facts.items()))


HEALTHY = (
    "CREATE TABLE django_migrations (id INTEGER PRIMARY KEY, app TEXT, name TEXT);"
    "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);"
    "CREATE TABLE orders (id INTEGER PRIMARY KEY,"
    " user_id INTEGER REFERENCES users(id) ON DELETE CASCADE);"
    "CREATE INDEX ix_orders_user ON orders (user_id);"
    "INSERT INTO users (id, email) VALUES (1, 'a@example.com');"
    "INSERT INTO orders (user_id) VALUES (1);"
    "ANALYZE;"
)


LIVE_ONLY = {
    "fk-violations",
    "integrity-check-failed",
    "sqlite-synchronous-normal",
    "sqlite-wal-disabled",
    "maintenance-missing",
    "migrations-unversioned",
}


def test_healthy_wal_database_has_no_live_findings(tmp_path: Path) -> None:
    path = make_db(tmp_path / "ok.db", HEALTHY, wal=True)
    issues = live_issues(probe_sqlite.probe(str(path)))
    assert [i for i in issues if i.check in LIVE_ONLY] == []


# --- fk-violations ------------------------------------------------------------


def test_fk_violations_reports_orphan_rows_once_per_foreign_key(tmp_path: Path) -> None:
    path = make_db(
        tmp_path / "a.db",
        HEALTHY + "INSERT INTO orders (user_id) VALUES (42), (43);",
    )
    (issue,) = probe_issues(path, "fk-violations")
    assert issue.object == "orders.user_id"
    assert "2 rows of orders" in issue.evidence
    assert "NOT EXISTS" in issue.fix_sql


def test_fk_violations_merges_two_declarations_of_the_same_key(tmp_path: Path) -> None:
    path = make_db(
        tmp_path / "a.db",
        "CREATE TABLE users (id INTEGER PRIMARY KEY);"
        "CREATE TABLE orders (id INTEGER PRIMARY KEY,"
        " user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,"
        " FOREIGN KEY (user_id) REFERENCES users(id));"
        "INSERT INTO orders (user_id) VALUES (7);",
    )
    assert len(probe_issues(path, "fk-violations")) == 1


def test_fk_violations_is_silent_when_every_row_has_its_parent(tmp_path: Path) -> None:
    path = make_db(tmp_path / "a.db", HEALTHY)
    assert probe_issues(path, "fk-violations") == []


def test_fk_violations_fingerprint_ignores_unrelated_tables(tmp_path: Path) -> None:
    planted = HEALTHY + "INSERT INTO orders (user_id) VALUES (42);"
    first = make_db(tmp_path / "a.db", planted)
    second = make_db(
        tmp_path / "b.db", "CREATE TABLE aaa (id INTEGER PRIMARY KEY);" + planted
    )
    (one,) = probe_issues(first, "fk-violations")
    (two,) = probe_issues(second, "fk-violations")
    assert one.fingerprint == two.fingerprint


# --- integrity-check-failed ---------------------------------------------------


def corrupt_index(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    conn.execute("CREATE INDEX ix_t_v ON t (v)")
    conn.executemany(
        "INSERT INTO t (v) VALUES (?)", [(f"value {i:06d}",) for i in range(2000)]
    )
    conn.commit()
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'ix_t_v'")
    page = root.fetchone()[0] + 1
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    data = bytearray(path.read_bytes())
    start = (page - 1) * size + 1000
    data[start : start + 200] = bytes(200)
    path.write_bytes(bytes(data))


def test_integrity_check_failed_reports_a_corrupt_index(tmp_path: Path) -> None:
    path = tmp_path / "bad.db"
    corrupt_index(path)
    (issue,) = probe_issues(path, "integrity-check-failed")
    assert issue.object == "bad.db"
    assert "missing from index ix_t_v" in issue.evidence


def test_integrity_check_failed_is_silent_on_a_sound_file(tmp_path: Path) -> None:
    path = make_db(tmp_path / "a.db", HEALTHY)
    assert probe_issues(path, "integrity-check-failed") == []


# --- sqlite-wal-disabled / sqlite-synchronous-normal ------------------------------


def test_sqlite_wal_disabled_reports_a_rollback_journal_database(
    tmp_path: Path,
) -> None:
    path = make_db(tmp_path / "a.db", HEALTHY)
    (issue,) = probe_issues(path, "sqlite-wal-disabled")
    assert "journal_mode is delete" in issue.evidence
    assert issue.fix_sql == "PRAGMA journal_mode=WAL;"


def test_sqlite_wal_disabled_is_silent_in_wal_mode(tmp_path: Path) -> None:
    path = make_db(tmp_path / "a.db", HEALTHY, wal=True)
    assert probe_issues(path, "sqlite-wal-disabled") == []


def test_sqlite_wal_disabled_is_silent_on_a_database_without_tables(
    tmp_path: Path,
) -> None:
    path = make_db(tmp_path / "empty.db", "PRAGMA user_version = 0;")
    assert probe_issues(path, "sqlite-wal-disabled") == []


def test_sqlite_synchronous_normal_reports_wal_with_normal_default(
    tmp_path: Path,
) -> None:
    path = make_db(tmp_path / "a.db", HEALTHY, wal=True)
    schema = with_facts(probe_sqlite.probe(str(path)), synchronous=1)
    (issue,) = live_issues(schema, "sqlite-synchronous-normal")
    assert issue.severity.value == "info"


def test_sqlite_synchronous_normal_is_silent_with_full_or_without_wal(
    tmp_path: Path,
) -> None:
    wal = probe_sqlite.probe(str(make_db(tmp_path / "w.db", HEALTHY, wal=True)))
    rollback = probe_sqlite.probe(str(make_db(tmp_path / "r.db", HEALTHY)))
    assert (
        live_issues(with_facts(wal, synchronous=2), "sqlite-synchronous-normal") == []
    )
    assert (
        live_issues(with_facts(rollback, synchronous=1), "sqlite-synchronous-normal")
        == []
    )


# --- maintenance-missing --------------------------------------------------------


def test_maintenance_missing_reports_a_large_freelist(tmp_path: Path) -> None:
    path = make_db(
        tmp_path / "a.db",
        HEALTHY
        + "CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB);"
        + ROWS.format(n=300)
        + "INSERT INTO blobs (data) SELECT zeroblob(4000) FROM n;"
        "DELETE FROM blobs;",
    )
    issues = probe_issues(path, "maintenance-missing")
    assert [i.fix_sql for i in issues] == ["VACUUM;"]
    assert "freelist" in issues[0].evidence


def test_maintenance_missing_is_silent_after_vacuum(tmp_path: Path) -> None:
    path = make_db(
        tmp_path / "a.db",
        HEALTHY
        + "CREATE TABLE blobs (id INTEGER PRIMARY KEY, data BLOB);"
        + ROWS.format(n=300)
        + "INSERT INTO blobs (data) SELECT zeroblob(4000) FROM n;"
        "DELETE FROM blobs;",
    )
    conn = sqlite3.connect(path)
    conn.execute("VACUUM")
    conn.close()
    assert probe_issues(path, "maintenance-missing") == []


def test_maintenance_missing_reports_tables_with_rows_never_analyzed(
    tmp_path: Path,
) -> None:
    path = make_db(tmp_path / "a.db", HEALTHY.replace("ANALYZE;", ""))
    (issue,) = probe_issues(path, "maintenance-missing")
    assert "sqlite_stat1" in issue.evidence


def test_maintenance_missing_is_silent_when_no_table_holds_rows(
    tmp_path: Path,
) -> None:
    path = make_db(
        tmp_path / "a.db", "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);"
    )
    assert probe_issues(path, "maintenance-missing") == []


# --- migrations-unversioned -------------------------------------------------------


def test_migrations_unversioned_reports_tables_without_a_version_table(
    tmp_path: Path,
) -> None:
    path = make_db(tmp_path / "a.db", "CREATE TABLE users (id INTEGER PRIMARY KEY);")
    (issue,) = probe_issues(path, "migrations-unversioned")
    assert "user_version is 0" in issue.evidence


def test_migrations_unversioned_is_silent_with_a_known_version_table(
    tmp_path: Path,
) -> None:
    path = make_db(
        tmp_path / "a.db",
        "CREATE TABLE alembic_version (version_num TEXT PRIMARY KEY);"
        "CREATE TABLE users (id INTEGER PRIMARY KEY);",
    )
    assert probe_issues(path, "migrations-unversioned") == []


def test_migrations_unversioned_is_silent_when_user_version_is_set(
    tmp_path: Path,
) -> None:
    path = make_db(
        tmp_path / "a.db",
        "CREATE TABLE users (id INTEGER PRIMARY KEY); PRAGMA user_version = 3;",
    )
    assert probe_issues(path, "migrations-unversioned") == []


def test_migrations_unversioned_is_silent_on_an_empty_database(tmp_path: Path) -> None:
    path = make_db(tmp_path / "a.db", "PRAGMA user_version = 0;")
    assert probe_issues(path, "migrations-unversioned") == []


# --- server checks on facts -------------------------------------------------------


def server_schema(tmp_path: Path, **facts: Any) -> Schema:
    base = probe_sqlite.probe(str(make_db(tmp_path / "s.db", HEALTHY, wal=True)))
    return with_facts(base, engine="postgresql", database="app", **facts)


def test_connections_near_limit_reports_usage_above_eighty_percent(
    tmp_path: Path,
) -> None:
    schema = server_schema(tmp_path, max_connections=100, connections=95)
    (issue,) = live_issues(schema, "connections-near-limit")
    assert "95 of max_connections=100" in issue.evidence


def test_connections_near_limit_reports_long_idle_transactions(tmp_path: Path) -> None:
    schema = server_schema(
        tmp_path,
        max_connections=100,
        connections=3,
        idle_in_transaction=(
            {"pid": 1, "seconds": 900, "user": "app", "database": "app"},
        ),
    )
    (issue,) = live_issues(schema, "connections-near-limit")
    assert "15 min" in issue.evidence


def test_connections_near_limit_is_silent_under_the_threshold(tmp_path: Path) -> None:
    schema = server_schema(tmp_path, max_connections=100, connections=80)
    assert live_issues(schema, "connections-near-limit") == []


def test_live_checks_do_not_run_on_ddl_evidence(tmp_path: Path) -> None:
    path = make_db(tmp_path / "a.db", "CREATE TABLE users (id INTEGER PRIMARY KEY);")
    facts = Facts(
        schema=probe_sqlite.probe(str(path)),
        evidence=frozenset({Evidence.SCHEMA, Evidence.DDL}),
    )
    issues, ran, _ = run_checks(facts)
    assert "migrations-unversioned" not in ran
    assert not [i for i in issues if i.check == "migrations-unversioned"]
