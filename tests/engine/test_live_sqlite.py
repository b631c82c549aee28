"""The SQLite probe: a faithful schema model, engine facts, and no writes."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from audits.engine.scan import Target, scan_target
from audits.engine.sources import SourceError
from audits.engine.sources import sqlite as probe_sqlite


def make_db(path: Path, script: str, *, wal: bool = False) -> Path:
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode=WAL")
    conn.executescript(script)
    conn.commit()
    conn.close()
    return path


def fingerprint_files(path: Path) -> dict[str, tuple[str, int]]:
    found = {}
    for sibling in sorted(path.parent.iterdir()):
        if sibling.name.startswith(path.name):
            data = sibling.read_bytes()
            found[sibling.name] = (
                hashlib.sha256(data).hexdigest(),
                sibling.stat().st_mtime_ns,
            )
    return found


SCHEMA = """
CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT COLLATE NOCASE NOT NULL UNIQUE,
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'banned'))
);
CREATE TABLE schedules (
    id INTEGER PRIMARY KEY,
    user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
    name TEXT,
    created_at TEXT,
    FOREIGN KEY (user_id) REFERENCES users(id),
    CONSTRAINT name_not_empty CHECK (length(name) > 0)
);
CREATE INDEX ix_sched_user ON schedules (user_id, created_at DESC)
    WHERE name IS NOT NULL;
CREATE INDEX ix_sched_lower ON schedules (lower(name));
CREATE TABLE tags (k TEXT, v TEXT, PRIMARY KEY (k, v)) WITHOUT ROWID;
CREATE TRIGGER schedules_touch AFTER UPDATE ON schedules BEGIN
    UPDATE schedules SET created_at = created_at WHERE id = new.id;
END;
CREATE VIRTUAL TABLE notes USING fts5(body);
INSERT INTO users (email) VALUES ('a@example.com');
INSERT INTO schedules (user_id, name) VALUES (1, 'daily'), (99, 'orphan');
"""


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return make_db(tmp_path / "app.db", SCHEMA)


def test_probe_reads_columns_types_nullability_defaults_and_collation(
    db: Path,
) -> None:
    schema = probe_sqlite.probe(str(db))
    users = schema.table("users")
    assert users is not None
    assert users.primary_key == ("id",)
    id_col, email, status = users.columns
    assert (id_col.type, id_col.nullable, id_col.primary_key) == (
        "INTEGER",
        False,
        True,
    )
    assert id_col.autoincrement
    assert email.nullable is False
    assert (email.collation or "").lower() == "nocase"
    assert status.default == "'active'"
    assert schema.dialect == "sqlite"
    assert schema.is_live


def test_probe_skips_virtual_and_internal_tables(db: Path) -> None:
    names = {t.name for t in probe_sqlite.probe(str(db)).tables}
    assert names == {"users", "schedules", "tags"}


def test_probe_keeps_both_declarations_of_a_doubly_declared_fk(db: Path) -> None:
    schedules = probe_sqlite.probe(str(db)).table("schedules")
    assert schedules is not None
    fks = schedules.foreign_keys
    assert [(f.columns, f.ref_table, f.ref_columns) for f in fks] == [
        (("user_id",), "users", ("id",)),
        (("user_id",), "users", ("id",)),
    ]
    assert [(f.declared, f.on_delete) for f in fks] == [
        ("column", "CASCADE"),
        ("table", None),
    ]


def test_probe_reads_index_order_predicate_expressions_and_backing_constraint(
    db: Path,
) -> None:
    schema = probe_sqlite.probe(str(db))
    schedules = schema.table("schedules")
    users = schema.table("users")
    tags = schema.table("tags")
    assert schedules is not None and users is not None and tags is not None
    by_name = {i.name: i for i in schedules.indexes}
    composite = by_name["ix_sched_user"]
    assert composite.column_names == ("user_id", "created_at")
    assert [c.descending for c in composite.columns] == [False, True]
    assert composite.predicate is not None and "name" in composite.predicate.lower()
    expression = by_name["ix_sched_lower"].columns[0]
    assert expression.expression and expression.name.lower() == "lower(name)"
    (unique,) = users.indexes
    assert (unique.unique, unique.constraint, unique.column_names) == (
        True,
        "unique",
        ("email",),
    )
    (pk_index,) = tags.indexes
    assert pk_index.constraint == "primary key"
    assert tags.without_rowid


def test_probe_parses_check_constraints_into_value_sets(db: Path) -> None:
    schema = probe_sqlite.probe(str(db))
    users, schedules = schema.table("users"), schema.table("schedules")
    assert users is not None and schedules is not None
    (status,) = users.checks
    assert (status.column, status.values) == ("status", ("active", "banned"))
    (named,) = schedules.checks
    assert (named.name, named.column, named.values) == ("name_not_empty", "name", None)


def test_probe_reads_triggers_with_timing_and_event(db: Path) -> None:
    schedules = probe_sqlite.probe(str(db)).table("schedules")
    assert schedules is not None
    (trigger,) = schedules.triggers
    assert (trigger.name, trigger.timing, trigger.event) == (
        "schedules_touch",
        "AFTER",
        "UPDATE",
    )
    assert "created_at" in trigger.body


def test_probe_records_engine_facts(db: Path) -> None:
    schema = probe_sqlite.probe(str(db))
    assert schema.fact("engine") == "sqlite"
    assert schema.fact("database") == "app.db"
    assert schema.fact("journal_mode") == "delete"
    assert schema.fact("integrity_check") == ("ok",)
    assert schema.fact("has_sqlite_stat1") is False
    assert schema.fact("user_version") == 0
    assert schema.fact("version_tables") == []
    assert schema.fact("tables_with_rows") == 2
    assert schema.fact("page_count") > 0


def test_probe_reports_foreign_key_check_rows_per_declaration(db: Path) -> None:
    violations = probe_sqlite.probe(str(db)).fact("fk_violations")
    assert {(v["table"], v["columns"], v["ref_table"]) for v in violations} == {
        ("schedules", ("user_id",), "users")
    }
    assert all(v["count"] == 1 and v["sample"] == (2,) for v in violations)


def test_probe_reads_row_counts_from_sqlite_stat1_after_analyze(tmp_path: Path) -> None:
    path = make_db(
        tmp_path / "s.db",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT);"
        "CREATE INDEX ix_v ON t (v);"
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40)"
        " INSERT INTO t (v) SELECT 'x' || i FROM n;",
    )
    conn = sqlite3.connect(path)
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()
    schema = probe_sqlite.probe(str(path))
    assert schema.fact("has_sqlite_stat1") is True
    table = schema.table("t")
    assert table is not None and table.row_count == 40


def test_probe_accepts_a_sqlite_url(db: Path) -> None:
    schema = probe_sqlite.probe(f"sqlite:///{db}")
    assert schema.table("users") is not None


def test_probe_leaves_a_rollback_journal_database_unchanged_byte_for_byte(
    db: Path,
) -> None:
    before = fingerprint_files(db)
    probe_sqlite.probe(str(db))
    assert fingerprint_files(db) == before
    assert list(before) == ["app.db"]


def test_probe_of_a_checkpointed_wal_database_creates_no_side_files(
    tmp_path: Path,
) -> None:
    path = make_db(tmp_path / "w.db", SCHEMA, wal=True)
    before = fingerprint_files(path)
    assert list(before) == ["w.db"]
    schema = probe_sqlite.probe(str(path))
    assert fingerprint_files(path) == before
    assert schema.fact("journal_mode") == "wal"
    assert schema.fact("immutable") is True
    assert schema.table("users") is not None


def test_probe_of_a_live_wal_database_sees_unchecked_rows_and_changes_no_data_file(
    tmp_path: Path,
) -> None:
    path = make_db(tmp_path / "live.db", SCHEMA, wal=True)
    writer = sqlite3.connect(path)
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("CREATE TABLE late (id INTEGER PRIMARY KEY)")
    writer.commit()
    try:
        db_before = fingerprint_files(path)
        schema = probe_sqlite.probe(str(path))
        after = fingerprint_files(path)
        # The database and its WAL keep every byte; only the -shm index,
        # shared memory every reader records its read mark in, may move.
        for name in ("live.db", "live.db-wal"):
            assert after[name] == db_before[name]
        assert set(after) == set(db_before)
        assert schema.table("late") is not None
        assert schema.fact("immutable") is False
    finally:
        writer.close()


def test_probe_connection_refuses_writes(db: Path) -> None:
    conn = probe_sqlite.connect(str(db))
    try:
        with pytest.raises(SourceError, match="readonly"):
            probe_sqlite.query(conn, "INSERT INTO users (email) VALUES ('x@y')")
    finally:
        conn.close()


def test_missing_file_gives_a_clear_source_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.db"
    with pytest.raises(SourceError, match="no such SQLite database file"):
        probe_sqlite.probe(str(missing))
    assert not missing.exists()


def test_file_that_is_not_sqlite_gives_a_clear_source_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is plain text, not a database\n" * 20)
    with pytest.raises(SourceError, match="not a SQLite database"):
        probe_sqlite.probe(str(junk))


def test_folder_gives_a_clear_source_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="not a file"):
        probe_sqlite.probe(str(tmp_path))


def test_statement_past_the_timeout_gives_a_source_error(db: Path) -> None:
    conn = probe_sqlite.connect(str(db), timeout=0.2)
    try:
        with pytest.raises(SourceError, match="timed out"):
            probe_sqlite.query(
                conn,
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
                "SELECT max(i) FROM n",
            )
    finally:
        conn.close()


def test_scan_target_turns_a_bad_file_into_a_target_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(os.urandom(512))
    result = scan_target(Target("sqlite", str(junk)))
    assert not result.ok
    assert "not a SQLite database" in result.error


def test_scan_target_runs_the_live_checks_on_a_probed_file(db: Path) -> None:
    result = scan_target(Target("sqlite", str(db)))
    assert result.ok
    assert "fk-violations" in result.checks_run
    assert {"fk-violations", "sqlite-wal-disabled"} <= {i.check for i in result.issues}


def test_probe_samples_secret_columns_as_counts_and_never_keeps_the_values(
    tmp_path: Path,
) -> None:
    path = make_db(
        tmp_path / "secrets.db",
        """
        CREATE TABLE accounts (id INTEGER PRIMARY KEY, password TEXT, api_token TEXT);
        INSERT INTO accounts (password, api_token) VALUES
            ('pbkdf2_sha256$600000$abcdefgh$0123456789abcdefABCDEF=', 'hunter2-token'),
            ('argon2$argon2id$v=19$m=102400,t=2,p=8$c2FsdA$aGFzaA', '');
        """,
    )
    schema = probe_sqlite.probe(str(path))
    samples = {(s["table"], s["column"]): s for s in schema.fact("secret_samples")}
    assert samples[("accounts", "password")] == {
        "table": "accounts",
        "column": "password",
        "sampled": 2,
        "hashed": 2,
    }
    assert samples[("accounts", "api_token")]["sampled"] == 1
    assert samples[("accounts", "api_token")]["hashed"] == 0
    assert "hunter2" not in repr(schema.facts)
    result = scan_target(Target("sqlite", str(path)))
    secrets = {
        i.object: i for i in result.issues if i.check == "secret-stored-plaintext"
    }
    assert set(secrets) == {"accounts.api_token"}
    assert (
        "1 of 1 sampled values do not look like hashes"
        in secrets["accounts.api_token"].evidence
    )
    assert "hunter2" not in secrets["accounts.api_token"].evidence


def test_hex_values_count_as_hashes_only_in_password_columns() -> None:
    from audits.engine.sources._probe import looks_hashed

    digest = hashlib.sha256(b"x").hexdigest()
    assert looks_hashed(digest, password=True)
    assert not looks_hashed(digest)
    assert looks_hashed("$2b$12$abcdefghijklmnopqrstuvABCDEFGHIJKLMNOPQRSTU")
    assert not looks_hashed("correct horse battery staple", password=True)
