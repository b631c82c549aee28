"""Every migration rule both ways, on PostgreSQL and MySQL: found where it is
introduced, and the safe look-alike left alone.

Each case is a second migration (``V2__change.sql``) applied on the same
base migration; the finding must name V2 and the line of the statement,
never the base migration that created the table.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .migration_helpers import found, judge

LOCK = "SET lock_timeout = '2s';\n"  # line 1: keeps the timeout rule quiet
MY_LOCK = "SET SESSION lock_wait_timeout = 5;\n"
NEW = "CREATE TABLE IF NOT EXISTS tmp (id bigint, a integer, b integer);\n"

# check id, dialect, flagged migration, line, safe look-alike
CASES = [
    ("migration-column-required-no-default", "postgres",
     LOCK + "ALTER TABLE users ADD COLUMN nick text NOT NULL;", 2,
     LOCK + "ALTER TABLE users ADD COLUMN nick text NOT NULL DEFAULT '';"),
    ("migration-column-required-no-default", "mysql",
     MY_LOCK + "ALTER TABLE users ADD COLUMN nick VARCHAR(20) NOT NULL;", 2,
     MY_LOCK + "ALTER TABLE users ADD COLUMN nick VARCHAR(20) NOT NULL DEFAULT '';"),
    ("migration-set-not-null", "postgres",
     LOCK + "ALTER TABLE users ALTER COLUMN name SET NOT NULL;", 2,
     LOCK + "ALTER TABLE users ALTER COLUMN email SET NOT NULL;"),
    ("migration-index-not-concurrent", "postgres",
     LOCK + "CREATE INDEX users_age ON users (age);", 2,
     LOCK + "CREATE INDEX CONCURRENTLY IF NOT EXISTS users_age ON users (age);"),
    ("migration-index-not-concurrent", "mysql",
     MY_LOCK + "ALTER TABLE users ADD INDEX users_age (age), ALGORITHM=COPY;", 2,
     MY_LOCK + "CREATE INDEX users_age ON users (age);"),
    ("migration-index-drop-not-concurrent", "postgres",
     LOCK + "DROP INDEX orders_user;", 2,
     LOCK + "DROP INDEX CONCURRENTLY IF EXISTS orders_user;"),
    ("migration-column-type-change", "postgres",
     LOCK + "ALTER TABLE users ALTER COLUMN age TYPE bigint;", 2,
     LOCK + "ALTER TABLE users ALTER COLUMN email TYPE varchar(200);"),
    ("migration-column-type-change", "mysql",
     MY_LOCK + "ALTER TABLE users MODIFY COLUMN age BIGINT;", 2,
     MY_LOCK + "ALTER TABLE users MODIFY COLUMN email VARCHAR(60) NOT NULL;"),
    ("migration-column-rename", "postgres",
     LOCK + "ALTER TABLE users RENAME COLUMN name TO full_name;", 2,
     LOCK + NEW + "ALTER TABLE tmp RENAME COLUMN a TO c;"),
    ("migration-column-rename", "mysql",
     MY_LOCK + "ALTER TABLE users CHANGE name full_name TEXT;", 2,
     MY_LOCK + "ALTER TABLE users CHANGE name name TEXT;"),
    ("migration-table-rename", "postgres",
     LOCK + "ALTER TABLE orders RENAME TO purchases;", 2,
     LOCK + NEW + "ALTER TABLE tmp RENAME TO tmp2;"),
    ("migration-table-rename", "mysql",
     MY_LOCK + "RENAME TABLE orders TO purchases;", 2,
     MY_LOCK + NEW + "RENAME TABLE tmp TO tmp2;"),
    ("migration-fk-validates-in-place", "postgres",
     LOCK + "ALTER TABLE orders ADD CONSTRAINT orders_user_fk\n"
     "  FOREIGN KEY (user_id) REFERENCES users (id);", 2,
     LOCK + "ALTER TABLE orders ADD CONSTRAINT orders_user_fk\n"
     "  FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;"),
    ("migration-fk-validates-in-place", "mysql",
     MY_LOCK + "ALTER TABLE orders ADD CONSTRAINT fk_u FOREIGN KEY (user_id) REFERENCES users (id);", 2,
     MY_LOCK + NEW + "ALTER TABLE tmp ADD CONSTRAINT fk_t FOREIGN KEY (a) REFERENCES users (id);"),
    ("migration-check-validates-in-place", "postgres",
     LOCK + "ALTER TABLE users ADD CONSTRAINT age_pos CHECK (age > 0);", 2,
     LOCK + "ALTER TABLE users ADD CONSTRAINT age_pos CHECK (age > 0) NOT VALID;"),
    ("migration-check-validates-in-place", "mysql",
     MY_LOCK + "ALTER TABLE users ADD CONSTRAINT age_pos CHECK (age > 0);", 2,
     MY_LOCK + NEW + "ALTER TABLE tmp ADD CONSTRAINT a_pos CHECK (a > 0);"),
    ("migration-unique-in-place", "postgres",
     LOCK + "ALTER TABLE users ADD CONSTRAINT email_uniq UNIQUE (email);", 2,
     LOCK + "ALTER TABLE users ADD CONSTRAINT email_uniq UNIQUE USING INDEX users_email_idx;"),
    ("migration-volatile-default", "postgres",
     LOCK + "ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();", 2,
     LOCK + "ALTER TABLE users ADD COLUMN joined timestamptz DEFAULT now();"),
    ("migration-volatile-default", "mysql",
     MY_LOCK + "ALTER TABLE users ADD COLUMN token CHAR(36) DEFAULT (UUID());", 2,
     MY_LOCK + "ALTER TABLE users ADD COLUMN flag INT DEFAULT 0;"),
    ("migration-drop-column", "postgres",
     LOCK + "ALTER TABLE users DROP COLUMN age;", 2,
     LOCK + NEW + "ALTER TABLE tmp DROP COLUMN b;"),
    ("migration-drop-column", "mysql",
     MY_LOCK + "ALTER TABLE users DROP COLUMN age;", 2,
     MY_LOCK + NEW + "ALTER TABLE tmp DROP COLUMN b;"),
    ("migration-drop-table", "postgres",
     LOCK + "DROP TABLE orders;", 2,
     LOCK + NEW + "DROP TABLE tmp;"),
    ("migration-drop-table", "mysql",
     MY_LOCK + "DROP TABLE orders;", 2,
     MY_LOCK + NEW + "DROP TABLE tmp;"),
    ("migration-drop-not-null", "postgres",
     LOCK + "ALTER TABLE users ALTER COLUMN email DROP NOT NULL;", 2,
     LOCK + "ALTER TABLE users ALTER COLUMN name DROP NOT NULL;"),
    ("migration-truncate-cascade", "postgres",
     LOCK + "TRUNCATE users CASCADE;", 2,
     LOCK + "TRUNCATE users;"),
    ("migration-int-key", "postgres",
     LOCK + "CREATE TABLE IF NOT EXISTS tags (id serial PRIMARY KEY, name text);", 2,
     LOCK + "CREATE TABLE IF NOT EXISTS tags (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);"),
    ("migration-int-key", "mysql",
     MY_LOCK + "CREATE TABLE IF NOT EXISTS tags (id INT AUTO_INCREMENT PRIMARY KEY);", 2,
     MY_LOCK + "CREATE TABLE IF NOT EXISTS tags (id SERIAL PRIMARY KEY);"),
    ("migration-serial-column", "postgres",
     LOCK + "CREATE TABLE IF NOT EXISTS tags (id bigserial PRIMARY KEY);", 2,
     LOCK + "CREATE TABLE IF NOT EXISTS tags (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY);"),
    ("migration-not-retry-safe", "postgres",
     "CREATE TABLE tags (id bigint);\nCREATE INDEX tags_id ON tags (id);", 1,
     "CREATE TABLE IF NOT EXISTS tags (id bigint);\n"
     "CREATE INDEX IF NOT EXISTS tags_id ON tags (id);"),
    ("migration-not-retry-safe", "mysql",
     "CREATE TABLE tags (id BIGINT);\nCREATE INDEX tags_id ON tags (id);", 1,
     "CREATE TABLE IF NOT EXISTS tags (id BIGINT);"),
    ("migration-lock-timeout-missing", "postgres",
     "-- add a nickname\nALTER TABLE users ADD COLUMN nick text;", 2,
     LOCK + "ALTER TABLE users ADD COLUMN nick text;"),
    ("migration-lock-timeout-missing", "mysql",
     "-- add a nickname\nALTER TABLE users ADD COLUMN nick TEXT;", 2,
     MY_LOCK + "ALTER TABLE users ADD COLUMN nick TEXT;"),
    ("migration-concurrent-in-transaction", "postgres",
     "BEGIN;\nCREATE INDEX CONCURRENTLY IF NOT EXISTS users_age ON users (age);\nCOMMIT;", 2,
     "CREATE INDEX CONCURRENTLY IF NOT EXISTS users_age ON users (age);"),
    ("migration-transaction-nesting", "postgres",
     "BEGIN;\nBEGIN;\n" + LOCK + "ALTER TABLE users ADD COLUMN nick text;\nCOMMIT;", 2,
     "BEGIN;\n" + LOCK + "ALTER TABLE users ADD COLUMN nick text;\nCOMMIT;"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("check", "dialect", "flagged", "line", "safe"),
    CASES,
    ids=[f"{c[0]}-{c[1]}" for c in CASES],
)
def test_rule_flags_the_change_at_its_line_and_leaves_the_look_alike(
    tmp_path: Path, check: str, dialect: str, flagged: str, line: int, safe: str
) -> None:
    bad = judge(tmp_path / "bad", flagged, dialect)
    assert found(bad, check) == [("V2__change.sql", line)], [
        (i.check, i.line, i.evidence) for i in bad
    ]
    good = judge(tmp_path / "good", safe, dialect)
    assert found(good, check) == [], [(i.check, i.evidence) for i in good]


def test_every_migration_rule_has_a_case_both_ways() -> None:
    from audits.engine.checks.migration_safety import MIGRATION_IDS

    assert set(MIGRATION_IDS) == {c[0] for c in CASES}


def test_nothing_is_placed_in_the_base_migration(tmp_path: Path) -> None:
    change = "\n".join(c[2] for c in CASES if c[1] == "postgres")
    issues = judge(tmp_path, change)
    assert issues
    assert {i.file for i in issues} == {"V2__change.sql"}


def test_truncate_cascade_reaching_referencing_tables_is_critical(
    tmp_path: Path,
) -> None:
    base = (
        "CREATE TABLE users (id bigint PRIMARY KEY);\n"
        "CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users);\n"
    )
    issues = judge(tmp_path, LOCK + "TRUNCATE users CASCADE;", base=base)
    (issue,) = [i for i in issues if i.check == "migration-truncate-cascade"]
    assert issue.severity.value == "critical"
    assert "orders" in issue.evidence


def test_sqlite_cannot_change_a_column_type(tmp_path: Path) -> None:
    base = "CREATE TABLE users (id INTEGER PRIMARY KEY, age INTEGER);\n"
    issues = judge(
        tmp_path, "ALTER TABLE users ALTER COLUMN age TYPE TEXT;", "sqlite", base=base
    )
    (issue,) = [i for i in issues if i.check == "migration-column-type-change"]
    assert "SQLite cannot change the type" in issue.evidence
    assert (issue.file, issue.line) == ("V2__change.sql", 1)


def test_fingerprints_survive_lines_moving(tmp_path: Path) -> None:
    before = judge(tmp_path / "a", LOCK + "ALTER TABLE users DROP COLUMN age;")
    after = judge(
        tmp_path / "b", LOCK + "\n\n-- moved\nALTER TABLE users DROP COLUMN age;"
    )
    assert [i.fingerprint for i in before] == [i.fingerprint for i in after]
    assert [i.line for i in before] != [i.line for i in after]


def test_a_rule_failing_on_one_statement_loses_only_that_statement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from audits.engine.checks import migration_rules
    from audits.engine.scan import Target, scan

    from .migration_helpers import BASE_PG, write

    def odd(r: object, stmt: object, text: str) -> None:
        if "odd" in text:
            raise ValueError("a shape no rule expected")

    rules = (odd, *migration_rules.STATEMENT_RULES)
    monkeypatch.setattr(migration_rules, "STATEMENT_RULES", rules)
    folder = write(
        tmp_path,
        {
            "V1__base.sql": BASE_PG,
            "V2__change.sql": LOCK + "ALTER TABLE users ADD COLUMN odd int;\n"
            "ALTER TABLE users DROP COLUMN age;\n",
        },
    )
    (result,) = scan([Target("migrations", str(folder))]).targets
    assert found(list(result.issues), "migration-drop-column") == [
        ("V2__change.sql", 3)
    ]
    assert any("V2__change.sql:2: could not judge" in n for n in result.notes)
