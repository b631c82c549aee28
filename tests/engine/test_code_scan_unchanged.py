"""A faster code scan finds exactly what the slower one found.

The figures below were recorded with the code scan as it stood before it was
tuned for large code bases; any change to them must be a deliberate change
to what a check reports, never a side effect of making the scan faster.
"""

from __future__ import annotations

import gc
import importlib.util
from pathlib import Path
from types import ModuleType

from audits.engine.registry import get_check
from audits.engine.scan import Target, scan
from audits.engine.sources import code_sql
from audits.engine.sources.code import load_code
from audits.engine.sources.code_sql import analyse_sql

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "demo" / "flawed_app"

# (check, fingerprint, file, line, function) of every code finding on the
# flawed sample application.
SAMPLE_FINDINGS = {
    ("backup-missing", "6625f7ea625ab7d69c4958a5118cf195", "", None, ""),
    ("maintenance-missing", "52473777d22b3b2e72038e7fc62f848a", "", None, ""),
    ("slow-query-visibility-missing", "9166b9a7be2ce9bf865f8dddfb02ebba", "", None, ""),
    ("table-unbounded-growth", "e6d310f9dca4c2aa08c58e61de29f7ab", "", None, ""),
    ("table-unbounded-growth", "52ec22f5bcc2e6086c68f44caee3f8f3", "", None, ""),
    ("table-unbounded-growth", "d9fdb5e7e4ef4c1b6ec4fd3056a4d42f", "", None, ""),
    (
        "connection-per-operation",
        "5d4b70abbd2feeba79413c8bcb57f10a",
        "db.py",
        43,
        "db.DatabaseManager.execute",
    ),
    (
        "connection-per-operation",
        "3bbc8b36c5e1571a7dbea73b46d5b521",
        "db.py",
        37,
        "db.DatabaseManager.fetch_all",
    ),
    (
        "connection-per-operation",
        "9f87f2ebe1c2f101ecaaa8f34306b16d",
        "db.py",
        31,
        "db.DatabaseManager.fetch_one",
    ),
    (
        "commit-without-rollback",
        "b2cf079611c53b0271d75c4b76f39d5e",
        "db.py",
        351,
        "db.RateLimitStore.set_limit",
    ),
    (
        "updated-at-not-maintained",
        "20aa8309394f4481778306fb31880a05",
        "db.py",
        347,
        "db.RateLimitStore.set_limit",
    ),
    (
        "check-missing-enum",
        "66145e694541a079caa0ddcb097c5988",
        "db.py",
        146,
        "db.add_fuzzy_case",
    ),
    (
        "cleanup-never-called",
        "76069cf807a18dd341b554973084ffcd",
        "db.py",
        106,
        "db.cleanup_expired_tokens",
    ),
    (
        "empty-credential-stored",
        "73be0730757f8e23b9a83b6594a8ae7a",
        "db.py",
        91,
        "db.create_google_user",
    ),
    (
        "txn-lost-update",
        "f6d398f7bf41b4a8d4ba886363848505",
        "db.py",
        292,
        "db.create_profile",
    ),
    (
        "query-unbounded",
        "165aa3cbc097cc801990d81c9a819e68",
        "db.py",
        210,
        "db.get_all_active_jobs",
    ),
    (
        "query-unbounded",
        "5871cc373e5c68846c14b65ee975fad1",
        "db.py",
        179,
        "db.get_analytics_benchmark_runs",
    ),
    (
        "connection-leak-prone",
        "a966b789e9bd4d2e345335c4d6b4ec4f",
        "db.py",
        54,
        "db.get_db",
    ),
    (
        "sqlite-busy-timeout-missing",
        "86101cf872efd34d786a7a1e1d12c08d",
        "db.py",
        56,
        "db.get_db",
    ),
    (
        "sqlite-foreign-keys-off",
        "2b17f4bb9c3652b43cbbab24159e2eb3",
        "db.py",
        56,
        "db.get_db",
    ),
    (
        "migrations-unversioned",
        "9817dff6f5993d29aa075592a84e75a7",
        "db.py",
        71,
        "db.init_db",
    ),
    (
        "sqlite-synchronous-normal",
        "251708185ed75f4c37d09abdcfa4a783",
        "db.py",
        62,
        "db.init_db",
    ),
    (
        "index-missing-soft-delete",
        "87380b5b52b0fc76b35894f0446f1a2c",
        "db.py",
        326,
        "db.list_prompt_versions",
    ),
    (
        "check-incomplete-enum",
        "d327ecc6e6f6bfade3bdee24fa5d3992",
        "db.py",
        233,
        "db.mark_interrupted_reports",
    ),
    (
        "updated-at-not-maintained",
        "9f4f6530455603dd805a14192b4ac8bb",
        "db.py",
        160,
        "db.rename_tool_suite",
    ),
    (
        "tenant-scope-missing",
        "dd1fd780767340a0f46a0c6617e84c91",
        "db.py",
        226,
        "db.update_judge_report",
    ),
    (
        "tenant-scope-missing",
        "b7b2c77dad0f3a99db8033e67663a061",
        "db.py",
        216,
        "db.update_tool_eval_run",
    ),
    (
        "txn-lost-update",
        "ab8d0e3a46651e7fcc7b297841f01ce9",
        "db.py",
        259,
        "db.upsert_leaderboard_entry",
    ),
    (
        "query-aggregation-in-app",
        "f34b5ebc4661c145504c7165db5c7bd1",
        "routers/analytics.py",
        18,
        "routers.analytics.analytics_leaderboard",
    ),
    (
        "query-n-plus-one",
        "88c1aaac8721ffec740d9c107864b7c9",
        "routers/tool_eval.py",
        53,
        "routers.tool_eval.compare_runs",
    ),
    # The import loop's N+1 is reported once, as txn-not-atomic of the same
    # loop (its trace names the connection per row).
    (
        "txn-not-atomic",
        "cab11372eabcde21645ecebd8f5f71a1",
        "routers/tool_eval.py",
        18,
        "routers.tool_eval.import_suite",
    ),
}

# The benchmark's generated tree at 3,000 lines (24 files): how many findings
# and a digest of what places and statements they name.
TREE_LINES = 3000
TREE_FINDINGS = 192
TREE_FIELDS = (
    "check",
    "fingerprint",
    "file",
    "line",
    "function",
    "object",
    "evidence",
    "fix_sql",
    "severity",
)
TREE_DIGEST = "39b186563e2f25d5408c3093120aed14927c2642cffebcc8f72c32f1510da8b0"


def _bench_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_code_scan", ROOT / "bench" / "bench_code_scan.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_flawed_sample_code_findings_are_unchanged() -> None:
    result = scan([Target("folder", str(SAMPLE))])
    found = {
        (i.check, i.fingerprint, i.file, i.line, i.function)
        for i in result.issues
        if "code" in get_check(i.check).evidence
    }
    assert found == SAMPLE_FINDINGS


def test_generated_benchmark_tree_findings_are_unchanged(tmp_path: Path) -> None:
    bench = _bench_module()
    bench.generate(TREE_LINES, tmp_path / "code")
    issues = bench.scan_tree(tmp_path / "code")
    assert len(issues) == TREE_FINDINGS
    assert bench.findings_digest(issues, TREE_FIELDS) == TREE_DIGEST


def test_inserts_into_different_tables_share_one_parse_and_keep_their_names() -> None:
    code_sql.clear_cache()
    first = analyse_sql("INSERT INTO orders(id, status) VALUES (?, 'new')")
    second = analyse_sql("INSERT INTO invoices(id, state) VALUES (?, 'new')")
    assert code_sql._analyse.cache_info().misses == 1
    assert first.kind == second.kind == "insert"
    assert first.tables == ("orders",)
    assert second.tables == ("invoices",)
    assert first.written == (("id", "?0"), ("status", "'new'"))
    assert second.written == (("id", "?0"), ("state", "'new'"))
    assert first.param_count == second.param_count == 1
    assert first.normalised == "insert into orders (id, status) values (?, 'new')"


def test_a_function_call_after_from_is_not_taken_for_a_table() -> None:
    info = analyse_sql("SELECT value FROM json_each(?) WHERE value > 1")
    assert info.kind == "select"
    assert "json_each" not in info.tables


def test_reading_code_leaves_the_garbage_collector_settings_as_they_were(
    tmp_path: Path,
) -> None:
    (tmp_path / "app.py").write_text("def f(conn):\n    conn.execute('SELECT 1')\n")
    before = gc.get_threshold()
    try:
        load_code(tmp_path)
        assert gc.get_threshold() == before
        gc.set_threshold(0)
        load_code(tmp_path)
        assert gc.get_threshold()[0] == 0
    finally:
        gc.set_threshold(*before)
