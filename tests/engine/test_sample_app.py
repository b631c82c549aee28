"""Scanning the flawed sample application finds its flaws and spares its safe paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from audits.engine.issues import Issue
from audits.engine.scan import Target, scan

SAMPLE = Path(__file__).resolve().parents[2] / "demo" / "flawed_app"

EXPECTED = {
    ("txn-lost-update", "upsert_leaderboard_entry"),
    ("txn-lost-update", "create_profile"),
    # Report 000's CRIT-5 and MED-7 are one loop: found once, as not atomic,
    # its trace naming the connection per row (see the test below).
    ("txn-not-atomic", "import_suite"),
    ("query-n-plus-one", "compare_runs"),
    ("cleanup-never-called", "cleanup_expired_tokens"),
    ("sqlite-busy-timeout-missing", "get_db"),
    ("sqlite-foreign-keys-off", "get_db"),
    ("connection-leak-prone", "get_db"),
    ("connection-per-operation", "execute"),
    ("query-aggregation-in-app", "analytics_leaderboard"),
    ("query-unbounded", "get_analytics_benchmark_runs"),
    ("query-unbounded", "get_all_active_jobs"),
    ("tenant-scope-missing", "update_tool_eval_run"),
    ("tenant-scope-missing", "update_judge_report"),
    ("empty-credential-stored", "create_google_user"),
    ("check-incomplete-enum", "mark_interrupted_reports"),
    ("check-missing-enum", "add_fuzzy_case"),
    ("updated-at-not-maintained", "rename_tool_suite"),
    ("index-missing-soft-delete", "list_prompt_versions"),
    ("migrations-unversioned", "init_db"),
    ("sqlite-synchronous-normal", "init_db"),
    ("commit-without-rollback", "set_limit"),
}
EXPECTED_PROJECT = {
    "backup-missing",
    "maintenance-missing",
    "slow-query-visibility-missing",
}
EXPECTED_TABLES = {("table-unbounded-growth", "refresh_tokens")}

SAFE = (
    "import_suite_batch",
    "record_model_usage",
    "upsert_user_key",
    "rename_tool_suite",
    "get_recent_runs",
    "get_run",
    "list_judge_reports",
    "get_reports_by_ids",
    "delete_prompt_version",
    "analytics_usage",
    "list_users",
    "delete_user",
    "cleanup_audit_log",
    "finish_run",
    "create_user",
)
# Code checks that a safe function must never trigger.
CODE_CHECKS = {
    "txn-lost-update",
    "txn-not-atomic",
    "query-n-plus-one",
    "query-unbounded",
    "query-aggregation-in-app",
    "sql-injection",
    "sql-dynamic-identifier",
    "tenant-scope-missing",
    "cleanup-never-called",
    "commit-without-rollback",
    "sqlite-busy-timeout-missing",
    "sqlite-foreign-keys-off",
    "empty-credential-stored",
    "connection-leak-prone",
}


@pytest.fixture(scope="module")
def issues() -> list[Issue]:
    result = scan([Target("folder", str(SAMPLE))])
    assert result.ok, [t.error for t in result.targets]
    return list(result.issues)


def _short(issue: Issue) -> str:
    return issue.function.rsplit(".", 1)[-1]


def test_sample_app_reports_every_planted_code_flaw(issues: list[Issue]) -> None:
    found = {(i.check, _short(i)) for i in issues if i.function}
    missing = EXPECTED - found
    assert not missing, f"not reported: {sorted(missing)}"


def test_sample_app_reports_the_import_loop_once_with_its_n_plus_one(
    issues: list[Issue],
) -> None:
    found = [i for i in issues if _short(i) == "import_suite"]
    assert [i.check for i in found] == ["txn-not-atomic"]
    assert any("N+1" in step.message for step in found[0].trace)


def test_sample_app_reports_project_level_gaps_once(issues: list[Issue]) -> None:
    for check in EXPECTED_PROJECT:
        assert [i.object for i in issues if i.check == check] == ["project"]


def test_sample_app_reports_refresh_tokens_growing_but_not_the_pruned_audit_log(
    issues: list[Issue],
) -> None:
    growth = {
        (i.check, i.object) for i in issues if i.check == "table-unbounded-growth"
    }
    assert growth >= EXPECTED_TABLES
    assert ("table-unbounded-growth", "audit_log") not in growth


@pytest.mark.parametrize("function", SAFE)
def test_sample_app_safe_function_has_no_code_finding(
    issues: list[Issue], function: str
) -> None:
    flagged = [
        (i.check, i.evidence)
        for i in issues
        if _short(i) == function and i.check in CODE_CHECKS
    ]
    assert flagged == []


def test_sample_app_read_only_helpers_are_not_told_to_enable_foreign_keys(
    issues: list[Issue],
) -> None:
    fk = {_short(i) for i in issues if i.check == "sqlite-foreign-keys-off"}
    assert fk == {"get_db"}


def test_sample_app_default_driver_timeouts_are_not_reported(
    issues: list[Issue],
) -> None:
    busy = {_short(i) for i in issues if i.check == "sqlite-busy-timeout-missing"}
    assert busy == {"get_db"}


def test_sample_app_findings_carry_relative_posix_locations(
    issues: list[Issue],
) -> None:
    located = [i for i in issues if i.check in CODE_CHECKS and i.file]
    assert located
    for issue in located:
        assert not issue.file.startswith("/")
        assert "\\" not in issue.file
        assert issue.line is not None and issue.line > 0
        assert (SAMPLE / issue.file).is_file()


def test_sample_app_schema_is_valid_sqlite(tmp_path: Path) -> None:
    import sqlite3

    conn = sqlite3.connect(tmp_path / "studio.db")
    try:
        conn.executescript((SAMPLE / "schema.sql").read_text())
        tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'")
        assert tables.fetchone()[0] >= 15
    finally:
        conn.close()
