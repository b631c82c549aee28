"""The sample migration history: every planted risk at its line, nothing in the
safe migration, and the refused partial index found by the dry run."""

from __future__ import annotations

from pathlib import Path

from audits.engine.scan import Target, scan

from .migration_helpers import scan_migrations

SAMPLE = Path(__file__).resolve().parents[2] / "demo/migrations_sample/db/migrations"
RISKY = {
    ("migration-column-required-no-default", 2),
    ("migration-lock-timeout-missing", 2),
    ("migration-not-retry-safe", 2),
    ("migration-index-not-concurrent", 3),
    ("migration-column-type-change", 4),
    ("migration-column-rename", 5),
    ("migration-table-rename", 6),
    ("migration-drop-column", 7),
    ("migration-fk-validates-in-place", 8),
    ("migration-volatile-default", 10),
    ("migration-unique-in-place", 11),
    ("migration-check-validates-in-place", 12),
    ("migration-set-not-null", 13),
    ("migration-drop-not-null", 14),
    ("migration-index-drop-not-concurrent", 15),
    ("migration-int-key", 16),
    ("migration-serial-column", 16),
    ("migration-truncate-cascade", 17),
    ("migration-index-not-concurrent", 18),
}


def test_every_planted_risk_is_found_in_the_migration_that_plants_it() -> None:
    issues = scan_migrations(SAMPLE)
    assert {(i.check, i.line) for i in issues if i.file == "V2__risky.sql"} == RISKY
    assert {i.file for i in issues} == {"V2__risky.sql"}


def test_the_dry_run_finds_the_predicate_postgresql_refuses(
    scratch: str,
) -> None:
    result = scan([Target("migrations", str(SAMPLE), scratch_db=scratch)])
    rejected = [i for i in result.issues if i.check == "migration-rejected"]
    assert [(i.file, i.line) for i in rejected] == [("V2__risky.sql", 18)]
    assert "IMMUTABLE" in rejected[0].evidence
