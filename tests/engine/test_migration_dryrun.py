"""The migrations' dry run against the local PostgreSQL, rolled back every time.

Each test applies to its own scratch database (``plumbline_migrations_*``),
dropped afterwards.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from audits.engine.guard import NetworkPolicy, TargetRefused
from audits.engine.scan import Target, scan
from audits.engine.sources.migration_dryrun import dry_run
from audits.engine.sources.migrations import load_history

from .migration_helpers import found, write
from .test_migration_python import DJANGO_INITIAL

pytestmark = pytest.mark.postgres


V1 = """\
CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
"""
V2 = """\
SET lock_timeout = '2s';
-- recent events are the ones read
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_recent ON events (created_at)
    WHERE created_at > now() - interval '7 days';
CREATE INDEX CONCURRENTLY IF NOT EXISTS events_kind ON events (kind);
"""


def _folder(tmp_path: Path) -> Path:
    return write(
        tmp_path / "migrations",
        {"V1__events.sql": V1, "V2__recent_index.sql": V2},
    )


def test_a_predicate_calling_a_volatile_function_is_refused_at_its_line(
    tmp_path: Path, scratch: str
) -> None:
    result = scan([Target("migrations", str(_folder(tmp_path)), scratch_db=scratch)])
    assert result.ok, [t.error for t in result.targets]
    (issue,) = [i for i in result.issues if i.check == "migration-rejected"]
    assert (issue.file, issue.line) == ("V2__recent_index.sql", 3)
    assert "functions in index predicate must be marked IMMUTABLE" in issue.evidence
    assert issue.severity.value == "high"
    # The static rules still ran, and the good index was not refused.
    assert "migration-rejected" in result.checks_run
    assert found(list(result.issues), "migration-index-not-concurrent") == []


def test_the_dry_run_leaves_nothing_behind(tmp_path: Path, scratch: str) -> None:
    history = load_history(_folder(tmp_path))
    assert history is not None
    dry_run(history, scratch)
    with psycopg.connect(scratch.replace("postgresql://", "postgres://")) as conn:
        left = conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'plumbline_dry_run_%'"
            " UNION ALL SELECT count(*) FROM pg_tables WHERE tablename = 'events'"
        ).fetchall()
    assert left == [(0,), (0,)]


def test_a_clean_history_is_accepted(tmp_path: Path, scratch: str) -> None:
    folder = write(
        tmp_path,
        {
            "shop/migrations/__init__.py": "",
            "shop/migrations/0001_initial.py": DJANGO_INITIAL,
        },
    )
    history = load_history(folder)
    assert history is not None
    assert dry_run(history, scratch).rejected == ()


def test_without_a_scratch_database_the_dry_run_check_does_not_run(
    tmp_path: Path,
) -> None:
    result = scan([Target("migrations", str(_folder(tmp_path)))])
    assert "migration-rejected" not in result.checks_run


def test_a_server_policy_guards_the_scratch_database(
    tmp_path: Path, scratch: str
) -> None:
    history = load_history(_folder(tmp_path))
    assert history is not None
    with pytest.raises(TargetRefused):
        dry_run(history, scratch, policy=NetworkPolicy())
    target = Target(
        "migrations", str(tmp_path), scratch_db=scratch, network=NetworkPolicy()
    )
    result = scan([target])
    assert not result.ok
    assert "loopback" in result.targets[0].error


def test_an_unreachable_scratch_database_fails_the_target_clearly(
    tmp_path: Path,
) -> None:
    url = "postgresql://postgres@127.0.0.1:18101/plumbline_migrations_none"
    result = scan([Target("migrations", str(_folder(tmp_path)), scratch_db=url)])
    assert not result.ok
    assert "the migrations' dry run" in result.targets[0].error
    assert "cannot connect" in result.targets[0].error
