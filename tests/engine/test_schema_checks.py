"""Schema checks on DDL in the SQLite, PostgreSQL and MySQL dialects."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from audits.engine.issues import Evidence, Issue
from audits.engine.registry import Facts, run_checks
from audits.engine.schema import Schema
from audits.engine.sources.ddl import load_path, load_text
from tests.shared import REPORTS_DIR as REPORTS

FIXTURES = Path(__file__).parent / "fixtures" / "ddl"

DIALECTS = ("sqlite", "postgres", "mysql")


def scan_schema(schema: Schema) -> list[Issue]:
    facts = Facts(schema=schema, evidence=frozenset({Evidence.SCHEMA, Evidence.DDL}))
    issues, _ran, errors = run_checks(facts)
    assert errors == []
    return issues


def found(ddl: str, dialect: str, check: str) -> dict[str, Issue]:
    schema, notes = load_text(ddl, dialect=dialect)
    assert notes == []
    return {i.object: i for i in scan_schema(schema) if i.check == check}


USERS = {
    "sqlite": "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);",
    "postgres": "CREATE TABLE users (id bigserial PRIMARY KEY, email text);",
    "mysql": "CREATE TABLE users (id BIGINT AUTO_INCREMENT PRIMARY KEY, email VARCHAR(200));",
}
ID = {"sqlite": "INTEGER", "postgres": "bigint", "mysql": "BIGINT"}


# --- table-no-primary-key


@pytest.mark.parametrize("dialect", DIALECTS)
def test_table_without_primary_key_is_reported(dialect: str) -> None:
    issues = found("CREATE TABLE kv (k TEXT, v TEXT);", dialect, "table-no-primary-key")
    assert list(issues) == ["kv"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_table_with_table_level_primary_key_is_silent(dialect: str) -> None:
    ddl = "CREATE TABLE kv (k VARCHAR(20), v TEXT, PRIMARY KEY (k));"
    assert found(ddl, dialect, "table-no-primary-key") == {}


def test_missing_primary_key_fix_is_dialect_specific() -> None:
    pg = found("CREATE TABLE kv (k text);", "postgres", "table-no-primary-key")["kv"]
    assert "GENERATED ALWAYS AS IDENTITY" in pg.fix_sql
    lite = found("CREATE TABLE kv (k text);", "sqlite", "table-no-primary-key")["kv"]
    assert lite.fix_sql == ""


# --- fk-conflicting-declarations


@pytest.mark.parametrize("dialect", DIALECTS)
def test_column_and_table_fk_that_disagree_on_delete_conflict(dialect: str) -> None:
    ddl = USERS[dialect] + (
        f"CREATE TABLE schedules (id {ID[dialect]} PRIMARY KEY,"
        f" user_id {ID[dialect]} NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
        " FOREIGN KEY (user_id) REFERENCES users(id));"
    )
    issues = found(ddl, dialect, "fk-conflicting-declarations")
    assert list(issues) == ["schedules.user_id"]
    assert "ON DELETE CASCADE" in issues["schedules.user_id"].evidence
    assert issues["schedules.user_id"].severity.value == "critical"


@pytest.mark.parametrize("dialect", DIALECTS)
def test_identical_fk_declarations_do_not_conflict(dialect: str) -> None:
    ddl = USERS[dialect] + (
        f"CREATE TABLE schedules (id {ID[dialect]} PRIMARY KEY,"
        f" user_id {ID[dialect]} REFERENCES users(id) ON DELETE CASCADE,"
        " FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE);"
    )
    assert found(ddl, dialect, "fk-conflicting-declarations") == {}


def test_fk_declarations_to_different_tables_conflict() -> None:
    ddl = (
        "CREATE TABLE a (id INTEGER PRIMARY KEY); CREATE TABLE b (id INTEGER PRIMARY KEY);"
        "CREATE TABLE c (id INTEGER PRIMARY KEY, x INTEGER REFERENCES a(id),"
        " FOREIGN KEY (x) REFERENCES b(id));"
    )
    assert list(found(ddl, "sqlite", "fk-conflicting-declarations")) == ["c.x"]


# --- fk-no-on-delete


@pytest.mark.parametrize("dialect", DIALECTS)
def test_fk_to_users_without_on_delete_is_reported(dialect: str) -> None:
    ddl = USERS[dialect] + (
        f"CREATE TABLE audit_log (id {ID[dialect]} PRIMARY KEY,"
        f" user_id {ID[dialect]} REFERENCES users(id));"
    )
    issues = found(ddl, dialect, "fk-no-on-delete")
    assert list(issues) == ["audit_log.user_id"]
    assert "SET NULL" in issues["audit_log.user_id"].remediation


def test_fk_no_on_delete_fix_recreates_the_constraint_on_postgres() -> None:
    ddl = USERS["postgres"] + (
        "CREATE TABLE notes (id bigint PRIMARY KEY,"
        " user_id bigint NOT NULL REFERENCES users(id));"
    )
    issue = found(ddl, "postgres", "fk-no-on-delete")["notes.user_id"]
    assert "ON DELETE CASCADE" in issue.fix_sql
    assert "notes_user_id_fkey" in issue.fix_sql


@pytest.mark.parametrize("dialect", DIALECTS)
def test_fk_to_lookup_table_without_on_delete_is_silent(dialect: str) -> None:
    ddl = (
        f"CREATE TABLE countries (id {ID[dialect]} PRIMARY KEY);"
        f"CREATE TABLE cities (id {ID[dialect]} PRIMARY KEY,"
        f" country_id {ID[dialect]} REFERENCES countries(id));"
    )
    assert found(ddl, dialect, "fk-no-on-delete") == {}


def test_fk_no_on_delete_counts_a_widely_referenced_table_as_owner() -> None:
    ddl = "CREATE TABLE shops (id INTEGER PRIMARY KEY);" + "".join(
        f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY, shop_id INTEGER REFERENCES shops(id));"
        for i in range(3)
    )
    assert len(found(ddl, "sqlite", "fk-no-on-delete")) == 3


# --- fk-missing


@pytest.mark.parametrize("dialect", DIALECTS)
def test_id_column_naming_a_table_without_fk_is_reported(dialect: str) -> None:
    ddl = (
        f"CREATE TABLE projects (id {ID[dialect]} PRIMARY KEY);"
        f"CREATE TABLE tasks (id {ID[dialect]} PRIMARY KEY, project_id {ID[dialect]});"
    )
    issues = found(ddl, dialect, "fk-missing")
    assert list(issues) == ["tasks.project_id"]
    if dialect == "sqlite":
        assert issues["tasks.project_id"].fix_sql == ""
    else:
        assert (
            "FOREIGN KEY (project_id) REFERENCES projects"
            in issues["tasks.project_id"].fix_sql
        )


@pytest.mark.parametrize("dialect", DIALECTS)
def test_id_column_with_fk_or_without_table_is_silent(dialect: str) -> None:
    ddl = (
        f"CREATE TABLE projects (id {ID[dialect]} PRIMARY KEY);"
        f"CREATE TABLE tasks (id {ID[dialect]} PRIMARY KEY,"
        f" project_id {ID[dialect]} REFERENCES projects(id), google_id VARCHAR(40));"
    )
    assert found(ddl, dialect, "fk-missing") == {}


def test_external_id_of_another_type_is_not_a_missing_fk() -> None:
    ddl = (
        "CREATE TABLE customers (id INTEGER PRIMARY KEY);"
        "CREATE TABLE payments (id INTEGER PRIMARY KEY, stripe_customer_id TEXT);"
    )
    assert found(ddl, "sqlite", "fk-missing") == {}


# --- fk-type-mismatch


@pytest.mark.parametrize(
    ("dialect", "parent", "child"),
    [
        ("sqlite", "INTEGER", "TEXT"),
        ("postgres", "bigint", "integer"),
        ("mysql", "BIGINT", "INT"),
        ("postgres", "uuid", "text"),
    ],
)
def test_fk_column_of_another_type_is_reported(
    dialect: str, parent: str, child: str
) -> None:
    ddl = (
        f"CREATE TABLE users (id {parent} PRIMARY KEY);"
        f"CREATE TABLE posts (id {parent} PRIMARY KEY,"
        f" user_id {child} REFERENCES users(id) ON DELETE CASCADE);"
    )
    assert list(found(ddl, dialect, "fk-type-mismatch")) == ["posts.user_id"]


@pytest.mark.parametrize(
    ("dialect", "parent", "child"),
    [
        ("sqlite", "INTEGER", "INT"),
        ("sqlite", "VARCHAR(36)", "TEXT"),
        ("postgres", "serial", "integer"),
        ("mysql", "INT", "INTEGER"),
    ],
)
def test_fk_types_of_the_same_family_are_silent(
    dialect: str, parent: str, child: str
) -> None:
    ddl = (
        f"CREATE TABLE users (id {parent} PRIMARY KEY);"
        f"CREATE TABLE posts (id {parent} PRIMARY KEY,"
        f" user_id {child} REFERENCES users(id) ON DELETE CASCADE);"
    )
    assert found(ddl, dialect, "fk-type-mismatch") == {}


# --- check-missing-enum


@pytest.mark.parametrize("dialect", DIALECTS)
def test_status_with_string_default_and_no_check_is_reported(dialect: str) -> None:
    ddl = f"CREATE TABLE jobs (id {ID[dialect]} PRIMARY KEY, status VARCHAR(20) DEFAULT 'pending');"
    issues = found(ddl, dialect, "check-missing-enum")
    assert list(issues) == ["jobs.status"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_enum_values_are_learnt_from_a_sibling_tables_check(dialect: str) -> None:
    ddl = (
        f"CREATE TABLE a (id {ID[dialect]} PRIMARY KEY,"
        " kind VARCHAR(10) CHECK (kind IN ('x', 'y')));"
        f"CREATE TABLE b (id {ID[dialect]} PRIMARY KEY, kind VARCHAR(10));"
    )
    issues = found(ddl, dialect, "check-missing-enum")
    assert list(issues) == ["b.kind"]
    assert "x, y" in issues["b.kind"].evidence
    if dialect != "sqlite":
        assert "CHECK (kind IN ('x', 'y'))" in issues["b.kind"].fix_sql


@pytest.mark.parametrize("dialect", DIALECTS)
def test_enum_column_without_known_values_is_silent(dialect: str) -> None:
    ddl = f"CREATE TABLE jobs (id {ID[dialect]} PRIMARY KEY, status VARCHAR(20));"
    assert found(ddl, dialect, "check-missing-enum") == {}


def test_enum_column_with_check_or_enum_type_is_silent() -> None:
    mysql = "CREATE TABLE j (id INT PRIMARY KEY, status ENUM('a','b') DEFAULT 'a');"
    assert found(mysql, "mysql", "check-missing-enum") == {}
    lite = "CREATE TABLE j (id INTEGER PRIMARY KEY, status TEXT DEFAULT 'a' CHECK (status IN ('a','b')));"
    assert found(lite, "sqlite", "check-missing-enum") == {}
    pg = "CREATE TABLE j (id int PRIMARY KEY, status job_status DEFAULT 'a');"
    assert found(pg, "postgres", "check-missing-enum") == {}


def test_pg_dump_any_array_check_counts_as_an_enum_check() -> None:
    ddl = (
        "CREATE TABLE a (id int PRIMARY KEY, status text DEFAULT 'x'::text,"
        " CONSTRAINT a_status_check CHECK (status = ANY (ARRAY['x'::text, 'y'::text])));"
        "CREATE TABLE b (id int PRIMARY KEY, status text);"
    )
    issues = found(ddl, "postgres", "check-missing-enum")
    assert list(issues) == ["b.status"]


# --- check-missing-boolean


@pytest.mark.parametrize("dialect", ["sqlite", "mysql"])
def test_integer_flag_without_check_is_reported(dialect: str) -> None:
    flag = "TINYINT(1)" if dialect == "mysql" else "INTEGER"
    ddl = f"CREATE TABLE s (id INTEGER PRIMARY KEY, is_active {flag} DEFAULT 1, enabled {flag});"
    assert set(found(ddl, dialect, "check-missing-boolean")) == {
        "s.is_active",
        "s.enabled",
    }


def test_sqlite_boolean_type_is_not_enforced_so_it_is_reported() -> None:
    ddl = "CREATE TABLE s (id INTEGER PRIMARY KEY, supports_vision BOOLEAN DEFAULT FALSE);"
    assert list(found(ddl, "sqlite", "check-missing-boolean")) == ["s.supports_vision"]


@pytest.mark.parametrize("dialect", ["sqlite", "mysql"])
def test_flag_with_check_is_silent(dialect: str) -> None:
    # The flag types each engine flags without a CHECK (PostgreSQL has
    # booleans, see test_postgres_is_silent_on_flags).
    flag = "TINYINT(1)" if dialect == "mysql" else "INTEGER"
    bare = f"CREATE TABLE s (id INTEGER PRIMARY KEY, is_active {flag});"
    assert found(bare, dialect, "check-missing-boolean") != {}
    ddl = (
        f"CREATE TABLE s (id INTEGER PRIMARY KEY, is_active {flag}"
        " CHECK (is_active IN (0, 1)));"
    )
    assert found(ddl, dialect, "check-missing-boolean") == {}


def test_postgres_is_silent_on_flags() -> None:
    ddl = "CREATE TABLE s (id int PRIMARY KEY, is_active boolean, has_x integer);"
    assert found(ddl, "postgres", "check-missing-boolean") == {}


# --- check-missing-range


@pytest.mark.parametrize("dialect", DIALECTS)
def test_score_pct_and_interval_columns_without_check_are_reported(
    dialect: str,
) -> None:
    ddl = (
        "CREATE TABLE r (id INTEGER PRIMARY KEY, best_score REAL, accuracy_pct REAL,"
        " interval_hours INTEGER, name VARCHAR(20));"
    )
    issues = found(ddl, dialect, "check-missing-range")
    assert set(issues) == {"r.best_score", "r.accuracy_pct", "r.interval_hours"}
    assert "> 0" in issues["r.interval_hours"].evidence
    assert "BETWEEN 0 AND 100" in issues["r.accuracy_pct"].evidence


@pytest.mark.parametrize("dialect", DIALECTS)
def test_range_column_with_check_is_silent(dialect: str) -> None:
    ddl = "CREATE TABLE r (id INTEGER PRIMARY KEY, progress_pct INTEGER CHECK (progress_pct BETWEEN 0 AND 100));"
    assert found(ddl, dialect, "check-missing-range") == {}


# --- naming-inconsistent-timestamp


@pytest.mark.parametrize("dialect", DIALECTS)
def test_created_beside_created_at_majority_is_reported(dialect: str) -> None:
    ddl = (
        "CREATE TABLE a (id INTEGER PRIMARY KEY, created_at TIMESTAMP, updated_at TIMESTAMP);"
        "CREATE TABLE b (id INTEGER PRIMARY KEY, created_at TIMESTAMP);"
        "CREATE TABLE c (id INTEGER PRIMARY KEY, created TIMESTAMP);"
    )
    issues = found(ddl, dialect, "naming-inconsistent-timestamp")
    assert list(issues) == ["c.created"]
    assert issues["c.created"].fix_sql.endswith("RENAME COLUMN created TO created_at;")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_consistent_timestamp_names_and_deleted_flags_are_silent(dialect: str) -> None:
    ddl = (
        "CREATE TABLE a (id INTEGER PRIMARY KEY, created_at TIMESTAMP, deleted INTEGER);"
        "CREATE TABLE b (id INTEGER PRIMARY KEY, created_at TIMESTAMP);"
    )
    assert found(ddl, dialect, "naming-inconsistent-timestamp") == {}


# --- default-divergence


@pytest.mark.parametrize("dialect", DIALECTS)
def test_same_status_domain_with_another_default_is_reported(dialect: str) -> None:
    check = "CHECK (status IN ('pending', 'running', 'done'))"
    ddl = (
        f"CREATE TABLE a (id INTEGER PRIMARY KEY, status VARCHAR(10) DEFAULT 'pending' {check});"
        f"CREATE TABLE b (id INTEGER PRIMARY KEY, status VARCHAR(10) DEFAULT 'pending' {check});"
        f"CREATE TABLE c (id INTEGER PRIMARY KEY, status VARCHAR(10) DEFAULT 'running' {check});"
    )
    assert list(found(ddl, dialect, "default-divergence")) == ["c.status"]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_different_status_domains_are_not_compared(dialect: str) -> None:
    ddl = (
        "CREATE TABLE a (id INTEGER PRIMARY KEY, status VARCHAR(10) DEFAULT 'pending'"
        " CHECK (status IN ('pending', 'done')));"
        "CREATE TABLE b (id INTEGER PRIMARY KEY, status VARCHAR(10) DEFAULT 'active'"
        " CHECK (status IN ('active', 'archived')));"
    )
    assert found(ddl, dialect, "default-divergence") == {}


# --- unique-missing-natural-key


@pytest.mark.parametrize("dialect", DIALECTS)
def test_name_scoped_by_user_without_unique_is_reported(dialect: str) -> None:
    ddl = USERS[dialect] + (
        f"CREATE TABLE suites (id {ID[dialect]} PRIMARY KEY,"
        f" user_id {ID[dialect]} REFERENCES users(id) ON DELETE CASCADE, name VARCHAR(80));"
    )
    issues = found(ddl, dialect, "unique-missing-natural-key")
    assert list(issues) == ["suites.name"]
    assert "(user_id, name)" in issues["suites.name"].fix_sql


@pytest.mark.parametrize("dialect", DIALECTS)
def test_name_covered_by_a_wider_unique_is_silent(dialect: str) -> None:
    ddl = USERS[dialect] + (
        f"CREATE TABLE profiles (id {ID[dialect]} PRIMARY KEY,"
        f" user_id {ID[dialect]} REFERENCES users(id) ON DELETE CASCADE,"
        " model_id VARCHAR(80), name VARCHAR(80), UNIQUE (user_id, model_id, name));"
    )
    assert found(ddl, dialect, "unique-missing-natural-key") == {}


# --- json-blob-columns


@pytest.mark.parametrize("dialect", DIALECTS)
def test_blob_columns_are_counted_once_per_table(dialect: str) -> None:
    json_type = {"sqlite": "TEXT", "postgres": "jsonb", "mysql": "JSON"}[dialect]
    ddl = (
        f"CREATE TABLE runs (id INTEGER PRIMARY KEY, results_json TEXT,"
        f" config {json_type}, note VARCHAR(40));"
    )
    issues = found(ddl, dialect, "json-blob-columns")
    assert list(issues) == ["runs"]
    assert "2 blob columns (results_json, config)" in issues["runs"].evidence


def test_json_comment_marks_a_text_column_as_blob() -> None:
    ddl = "CREATE TABLE t (\n  id INTEGER PRIMARY KEY,\n  tools_used TEXT, -- JSON\n  note TEXT\n);"
    issue = found(ddl, "sqlite", "json-blob-columns")["t"]
    assert "(tools_used)" in issue.evidence


@pytest.mark.parametrize("dialect", DIALECTS)
def test_table_without_blobs_is_silent(dialect: str) -> None:
    ddl = "CREATE TABLE t (id INTEGER PRIMARY KEY, name VARCHAR(40), type VARCHAR(10));"
    assert found(ddl, dialect, "json-blob-columns") == {}


# --- redundant-denormalized-column


@pytest.mark.parametrize("dialect", DIALECTS)
def test_copy_of_a_parent_column_is_reported(dialect: str) -> None:
    ddl = (
        f"CREATE TABLE suites (id {ID[dialect]} PRIMARY KEY, name VARCHAR(80));"
        f"CREATE TABLE runs (id {ID[dialect]} PRIMARY KEY,"
        f" suite_id {ID[dialect]} REFERENCES suites(id), suite_name VARCHAR(80));"
    )
    assert list(found(ddl, dialect, "redundant-denormalized-column")) == [
        "runs.suite_name"
    ]


@pytest.mark.parametrize("dialect", DIALECTS)
def test_prefixed_column_without_fk_or_parent_column_is_silent(dialect: str) -> None:
    ddl = (
        f"CREATE TABLE suites (id {ID[dialect]} PRIMARY KEY, title VARCHAR(80));"
        f"CREATE TABLE runs (id {ID[dialect]} PRIMARY KEY,"
        f" suite_id {ID[dialect]} REFERENCES suites(id), suite_name VARCHAR(80));"
    )
    assert found(ddl, dialect, "redundant-denormalized-column") == {}


# --- timestamp-without-time-zone


def test_postgres_timestamp_without_time_zone_is_reported() -> None:
    ddl = (
        "CREATE TABLE e (id int PRIMARY KEY, created_at timestamp,"
        " seen_at timestamp without time zone, ok_at timestamptz,"
        " also_ok timestamp with time zone, birthday date);"
    )
    issues = found(ddl, "postgres", "timestamp-without-time-zone")
    assert set(issues) == {"e.created_at", "e.seen_at"}
    assert "timestamptz" in issues["e.created_at"].fix_sql


@pytest.mark.parametrize("dialect", ["sqlite", "mysql"])
def test_timestamp_check_is_postgres_only(dialect: str) -> None:
    ddl = "CREATE TABLE e (id INTEGER PRIMARY KEY, created_at TIMESTAMP);"
    assert found(ddl, dialect, "timestamp-without-time-zone") == {}


# --- secret-stored-plaintext


@pytest.mark.parametrize("dialect", DIALECTS)
def test_plaintext_secret_columns_are_reported(dialect: str) -> None:
    ddl = (
        "CREATE TABLE creds (id INTEGER PRIMARY KEY, password VARCHAR(100),"
        " api_key VARCHAR(100), refresh_token TEXT);"
    )
    assert set(found(ddl, dialect, "secret-stored-plaintext")) == {
        "creds.password",
        "creds.api_key",
        "creds.refresh_token",
    }


@pytest.mark.parametrize("dialect", DIALECTS)
def test_hashed_encrypted_and_counter_columns_are_silent(dialect: str) -> None:
    ddl = (
        "CREATE TABLE creds (id INTEGER PRIMARY KEY, password_hash VARCHAR(100),"
        " encrypted_api_key TEXT, token_hash TEXT, max_output_tokens INTEGER,"
        " token_expires_at TIMESTAMP, provider_key VARCHAR(40));"
    )
    assert found(ddl, dialect, "secret-stored-plaintext") == {}


# --- tenant-column-missing


@pytest.mark.parametrize("dialect", DIALECTS)
def test_grandchild_of_a_tenant_table_without_tenant_column_is_reported(
    dialect: str,
) -> None:
    i = ID[dialect]
    ddl = USERS[dialect] + (
        f"CREATE TABLE suites (id {i} PRIMARY KEY, user_id {i} REFERENCES users(id) ON DELETE CASCADE);"
        f"CREATE TABLE cases (id {i} PRIMARY KEY, suite_id {i} REFERENCES suites(id) ON DELETE CASCADE);"
        f"CREATE TABLE case_notes (id {i} PRIMARY KEY, case_id {i} REFERENCES cases(id) ON DELETE CASCADE);"
    )
    issues = found(ddl, dialect, "tenant-column-missing")
    assert list(issues) == ["case_notes"]
    assert "ADD COLUMN user_id" in issues["case_notes"].fix_sql


@pytest.mark.parametrize("dialect", DIALECTS)
def test_child_one_join_from_the_tenant_column_is_silent(dialect: str) -> None:
    i = ID[dialect]
    ddl = USERS[dialect] + (
        f"CREATE TABLE suites (id {i} PRIMARY KEY, user_id {i} REFERENCES users(id) ON DELETE CASCADE);"
        f"CREATE TABLE cases (id {i} PRIMARY KEY, suite_id {i} REFERENCES suites(id) ON DELETE CASCADE);"
    )
    assert found(ddl, dialect, "tenant-column-missing") == {}


# --- fk-missing-index


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_fk_without_leading_index_is_reported(dialect: str) -> None:
    i = ID[dialect]
    ddl = USERS[dialect] + (
        f"CREATE TABLE posts (id {i} PRIMARY KEY, user_id {i} REFERENCES users(id) ON DELETE CASCADE,"
        " created_at TIMESTAMP);"
        "CREATE INDEX ix_posts_created ON posts (created_at, user_id);"
    )
    issues = found(ddl, dialect, "fk-missing-index")
    assert list(issues) == ["posts.user_id"]
    assert issues["posts.user_id"].fix_sql == (
        "CREATE INDEX idx_posts_user_id ON posts (user_id);"
    )


@pytest.mark.parametrize("dialect", ["sqlite", "postgres"])
def test_fk_missing_index_is_silent_when_a_composite_index_leads_with_the_fk(
    dialect: str,
) -> None:
    i = ID[dialect]
    ddl = USERS[dialect] + (
        f"CREATE TABLE posts (id {i} PRIMARY KEY, user_id {i} REFERENCES users(id) ON DELETE CASCADE,"
        " created_at TIMESTAMP);"
        "CREATE INDEX ix_posts_user_created ON posts (user_id, created_at DESC);"
    )
    assert found(ddl, dialect, "fk-missing-index") == {}


def test_fk_missing_index_counts_unique_constraints_and_any_column_order() -> None:
    ddl = (
        "CREATE TABLE a (x INTEGER, y INTEGER, PRIMARY KEY (x, y));"
        "CREATE TABLE b (id INTEGER PRIMARY KEY, x INTEGER, y INTEGER, u INTEGER UNIQUE"
        " REFERENCES b(id), FOREIGN KEY (x, y) REFERENCES a (x, y), UNIQUE (y, x));"
    )
    assert found(ddl, "sqlite", "fk-missing-index") == {}


def test_fk_missing_index_ignores_partial_indexes() -> None:
    ddl = (
        "CREATE TABLE a (id INTEGER PRIMARY KEY);"
        "CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a(id));"
        "CREATE INDEX ix_b ON b (a_id) WHERE a_id IS NOT NULL;"
    )
    assert list(found(ddl, "sqlite", "fk-missing-index")) == ["b.a_id"]


def test_fk_missing_index_is_silent_on_mysql_where_innodb_indexes_fks() -> None:
    ddl = USERS["mysql"] + (
        "CREATE TABLE posts (id BIGINT PRIMARY KEY, user_id BIGINT,"
        " FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE);"
    )
    assert found(ddl, "mysql", "fk-missing-index") == {}


# --- index-duplicate


@pytest.mark.parametrize("dialect", DIALECTS)
def test_two_identical_indexes_are_duplicates(dialect: str) -> None:
    ddl = (
        "CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b INTEGER);"
        "CREATE INDEX ix_one ON t (a, b);"
        "CREATE INDEX ix_two ON t (a, b);"
    )
    issues = found(ddl, dialect, "index-duplicate")
    assert list(issues) == ["ix_two"]
    assert "ix_two" in issues["ix_two"].fix_sql


@pytest.mark.parametrize("dialect", DIALECTS)
def test_indexes_differing_in_order_predicate_or_uniqueness_are_not_duplicates(
    dialect: str,
) -> None:
    ddl = (
        "CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b INTEGER);"
        "CREATE INDEX ix_one ON t (a, b);"
        "CREATE INDEX ix_two ON t (b, a);"
        "CREATE UNIQUE INDEX ix_three ON t (a, b);"
    )
    if dialect != "mysql":
        ddl += "CREATE INDEX ix_four ON t (a, b) WHERE b > 0;"
    assert found(ddl, dialect, "index-duplicate") == {}


def test_mysql_drop_index_names_the_table() -> None:
    ddl = "CREATE TABLE t (id INT PRIMARY KEY, a INT, KEY ix_one (a), KEY ix_two (a));"
    issue = found(ddl, "mysql", "index-duplicate")["ix_two"]
    assert issue.fix_sql == "DROP INDEX ix_two ON t;"


# --- index-redundant


@pytest.mark.parametrize("dialect", DIALECTS)
def test_left_prefix_and_unique_repeats_are_redundant(dialect: str) -> None:
    ddl = (
        "CREATE TABLE t (id INTEGER PRIMARY KEY, code VARCHAR(20) UNIQUE, a INTEGER, b INTEGER);"
        "CREATE INDEX ix_a ON t (a);"
        "CREATE INDEX ix_a_b ON t (a, b);"
        "CREATE INDEX ix_code ON t (code);"
    )
    issues = found(ddl, dialect, "index-redundant")
    assert set(issues) == {"ix_a", "ix_code"}
    assert "left prefix of ix_a_b" in issues["ix_a"].evidence


@pytest.mark.parametrize("dialect", DIALECTS)
def test_unique_index_is_never_redundant_to_a_wider_one(dialect: str) -> None:
    ddl = (
        "CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b INTEGER);"
        "CREATE UNIQUE INDEX ux_a ON t (a);"
        "CREATE INDEX ix_a_b ON t (a, b);"
        "CREATE INDEX ix_b_a ON t (b, a);"
    )
    assert found(ddl, dialect, "index-redundant") == {}


def test_prefix_with_another_predicate_is_not_redundant() -> None:
    ddl = (
        "CREATE TABLE t (id INTEGER PRIMARY KEY, a INTEGER, b INTEGER);"
        "CREATE INDEX ix_a ON t (a) WHERE b IS NULL;"
        "CREATE INDEX ix_a_b ON t (a, b);"
    )
    assert found(ddl, "sqlite", "index-redundant") == {}


# --- the reports


def test_report_002_sql_blocks_yield_what_the_report_describes(tmp_path: Path) -> None:
    report = REPORTS / "002_eddc3bdb626bfc87.txt"
    if not report.exists():
        pytest.skip("report 002 is not available")
    shutil.copy(report, tmp_path / "schema.md")
    schema, notes = load_path(tmp_path)
    assert notes == []
    assert len(schema.tables) == 11
    by_check: dict[str, set[str]] = {}
    for issue in scan_schema(schema):
        by_check.setdefault(issue.check, set()).add(issue.object)
    # Explicit indexes that repeat UNIQUE constraints, and a left prefix.
    assert by_check["index-redundant"] == {
        "idx_containerized_tests_test_id",
        "idx_generated_applications_model_app",
        "idx_port_configurations_model_app",
        "idx_batch_tasks_job_id",
    }
    assert by_check["fk-missing-index"] == {
        "zap_analyses.application_id",
        "openrouter_analyses.application_id",
    }
    assert "batch_jobs.status" in by_check["check-missing-enum"]
    assert "security_analyses.bandit_enabled" in by_check["check-missing-boolean"]
    assert {"security_analyses", "batch_jobs"} <= by_check["json-blob-columns"]
    # The ALTER TABLE ... ADD CONSTRAINT CHECKs at the end are applied.
    assert "batch_jobs.progress" not in by_check["check-missing-range"]
    assert "batch_tasks.progress" in by_check["check-missing-range"]
    assert "table-no-primary-key" not in by_check


def test_report_000_schema_yields_the_reported_findings() -> None:
    schema, notes = load_path(FIXTURES / "benchmark_studio.sql")
    assert notes == []
    issues = scan_schema(schema)
    by_check: dict[str, set[str]] = {}
    for issue in issues:
        by_check.setdefault(issue.check, set()).add(issue.object)
    assert by_check["fk-conflicting-declarations"] == {"schedules.user_id"}  # CRIT-2
    assert by_check["fk-no-on-delete"] == {
        "audit_log.user_id",
        "rate_limits.updated_by",
    }
    assert by_check["index-redundant"] == {  # LOW-1
        "idx_user_configs_user",
        "idx_refresh_tokens_hash",
        "idx_pwreset_token",
        "idx_leaderboard_model",
    }
    assert {"tool_eval_runs.suite_id", "param_tune_runs.suite_id"} <= by_check[
        "fk-missing-index"
    ]
    assert by_check["naming-inconsistent-timestamp"] == {"schedules.created"}  # LOW-3
    assert by_check["check-missing-enum"] == {  # 2.4
        "tool_test_cases.param_scoring",
        "tool_test_cases.category",
        "param_tune_runs.optimization_mode",
    }
    assert {
        "schedules.enabled",
        "password_reset_tokens.used",
        "users.leaderboard_opt_in",
    } <= by_check["check-missing-boolean"]
    assert "schedules.interval_hours" in by_check["check-missing-range"]
    assert by_check["default-divergence"] == {"jobs.status"}  # LOW-5
    assert by_check["fk-missing"] == {"judge_reports.eval_run_id_b"}  # MED-6
    assert by_check["redundant-denormalized-column"] == {
        "tool_eval_runs.suite_name",
        "param_tune_runs.suite_name",
    }
    assert {"tool_suites.name", "experiments.name", "schedules.name"} == by_check[
        "unique-missing-natural-key"
    ]
    conflict = next(i for i in issues if i.check == "fk-conflicting-declarations")
    assert conflict.file == "benchmark_studio.sql"
    assert conflict.line is not None


# --- what a Django-managed schema cannot tell


DJANGO_SQLITE = """
CREATE TABLE django_migrations (id INTEGER PRIMARY KEY, app VARCHAR(255) NOT NULL,
    name VARCHAR(255) NOT NULL, applied DATETIME NOT NULL);
CREATE TABLE auth_user (id INTEGER PRIMARY KEY, password VARCHAR(128) NOT NULL,
    username VARCHAR(150) NOT NULL UNIQUE);
CREATE TABLE projects_membership (id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES auth_user (id) DEFERRABLE INITIALLY DEFERRED);
CREATE INDEX projects_membership_user_id ON projects_membership (user_id);
"""


def test_fk_no_on_delete_is_silent_on_a_django_managed_schema() -> None:
    assert found(DJANGO_SQLITE, "sqlite", "fk-no-on-delete") == {}
    plain = DJANGO_SQLITE.split(";", 1)[1]
    assert set(found(plain, "sqlite", "fk-no-on-delete")) == {
        "projects_membership.user_id"
    }


def test_django_auth_user_password_is_not_a_plaintext_secret() -> None:
    assert found(DJANGO_SQLITE, "sqlite", "secret-stored-plaintext") == {}


def test_a_password_column_outside_django_is_still_reported() -> None:
    plain = DJANGO_SQLITE.split(";", 1)[1]
    assert set(found(plain, "sqlite", "secret-stored-plaintext")) == {
        "auth_user.password"
    }
