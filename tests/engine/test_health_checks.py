"""The running-health checks on plain facts: each threshold and severity rule, both ways.

States a test server cannot reach (a billion transactions, a replica an
hour behind, gigabytes of bloat) are given as the facts the probes would
read; the probes themselves are tested on real servers in
``test_health_postgres.py`` and ``test_health_mysql.py``.
"""

from __future__ import annotations

from typing import Any

import pytest

from audits.engine.checks import activity, plans, upkeep
from audits.engine.checks.probe_facts import size_text
from audits.engine.issues import Evidence, Issue, Severity
from audits.engine.registry import Facts, get_check, run_checks
from audits.engine.schema import Schema
from audits.engine.sources._health import bloat, mask_literals, query_stats, statement
from audits.engine.sources.plan_reading import LARGE_TABLE_ROWS

LIVE = frozenset({Evidence.SCHEMA, Evidence.LIVE})


def findings(check: str, **facts: Any) -> list[Issue]:
    schema = Schema(
        facts=(("engine", "postgresql"), ("database", "shop"), *facts.items())
    )
    issues, _ran, errors = run_checks(Facts(schema=schema, evidence=LIVE))
    assert errors == []
    return [i for i in issues if i.check == check]


def wraparound(age: int) -> dict[str, Any]:
    return {
        "databases": (("shop", age, 0), ("other", 1000, 0)),
        "tables": (("orders", age), ("users", 500)),
        "freeze_max_age": 200_000_000,
    }


@pytest.mark.parametrize(
    ("age", "severity"),
    [
        (800_000_000, None),
        (900_000_000, Severity.MEDIUM),
        (1_300_000_000, Severity.HIGH),
        (1_800_000_000, Severity.CRITICAL),
    ],
)
def test_wraparound_severity_follows_the_share_of_the_limit(
    age: int, severity: Severity | None
) -> None:
    found = findings("txid-wraparound-risk", wraparound=wraparound(age))
    assert [i.severity for i in found] == ([severity] if severity else [])
    if severity:
        assert "oldest tables: orders (" in found[0].evidence
        assert found[0].object == "shop"


def test_replication_lag_on_a_standby_and_for_a_replica() -> None:
    replication = {
        "standby": True,
        "lag_seconds": 4000.0,
        "replicas": (
            {
                "name": "r1",
                "state": "streaming",
                "lag_seconds": 90.0,
                "lag_bytes": 5 << 20,
            },
            {"name": "r2", "state": "streaming", "lag_seconds": 2.0, "lag_bytes": 10},
        ),
    }
    found = findings("replication-lag", replication=replication)
    assert [(i.object, i.severity) for i in found] == [
        ("shop", Severity.HIGH),
        ("r1", Severity.MEDIUM),
    ]
    assert "5.0 MB of WAL behind" in found[1].evidence


def test_replicas_in_step_raise_nothing() -> None:
    replication = {"standby": True, "lag_seconds": 0.0, "replicas": ()}
    assert findings("replication-lag", replication=replication) == []


def test_active_slots_are_left_alone_and_a_big_inactive_one_is_high() -> None:
    slots = (
        {"name": "live", "type": "logical", "active": True, "retained_bytes": 1 << 40},
        {
            "name": "gone",
            "type": "physical",
            "active": False,
            "retained_bytes": 20 << 30,
        },
    )
    (issue,) = findings("replication-slot-inactive", replication_slots=slots)
    assert (issue.object, issue.severity) == ("gone", Severity.HIGH)
    assert issue.fix_sql == "SELECT pg_drop_replication_slot('gone');"


def test_cache_hit_rate_thresholds() -> None:
    cache = {
        "tables": {"hit": 95_000, "read": 5_000},  # 95%: low
        "indexes": {"hit": 999_000, "read": 1_000},  # 99.9%: fine
    }
    (issue,) = findings("cache-hit-low", cache=cache)
    assert issue.severity == Severity.LOW
    assert issue.title == "Reads of tables miss the cache"
    # Too few reads to judge: a fresh server.
    few = {"tables": {"hit": 10, "read": 90}}
    assert findings("cache-hit-low", cache=few) == []


def test_bloat_needs_both_size_and_share() -> None:
    entries = (
        bloat(kind="table", name="big", table="big", size=4 << 30, wasted=3 << 30),
        bloat(kind="table", name="half", table="half", size=30 << 20, wasted=12 << 20),
        bloat(kind="index", name="ix", table="big", size=40 << 20, wasted=30 << 20),
        bloat(kind="table", name="tiny", table="tiny", size=8 << 20, wasted=7 << 20),
    )
    tables = findings("table-bloat", bloat=entries)
    assert [(i.object, i.severity) for i in tables] == [("big", Severity.MEDIUM)]
    (index,) = findings("index-bloat", bloat=entries)
    assert (index.object, index.severity) == ("ix", Severity.LOW)
    assert index.fix_sql == "REINDEX INDEX CONCURRENTLY ix;"


def stats(*entries: dict[str, Any]) -> dict[str, Any]:
    return query_stats(
        available=True,
        source="pg_stat_statements",
        preloaded=True,
        statements=entries,
        total_ms=100_000.0,
    )


def test_slow_statements_need_a_slow_mean_over_enough_calls() -> None:
    found = findings(
        "query-slow",
        query_stats=stats(
            statement(
                query="SELECT a FROM t WHERE b = $1", calls=100, total_ms=50_000, rows=1
            ),
            statement(query="SELECT c FROM u", calls=5, total_ms=5_000, rows=1),
            statement(query="SELECT 1", calls=1_000_000, total_ms=40_000, rows=1),
            statement(query="SELECT d FROM v", calls=20, total_ms=3_000, rows=1),
        ),
    )
    assert [(i.object, i.severity) for i in found] == [
        ("SELECT a FROM t WHERE b = $1", Severity.MEDIUM),
        ("SELECT d FROM v", Severity.LOW),
    ]
    assert "100 calls averaging 500 ms" in found[0].evidence


def test_statement_statistics_advice_follows_what_is_missing() -> None:
    def advice(why: str, preloaded: bool) -> str:
        (issue,) = findings(
            "query-stats-missing",
            query_stats=query_stats(
                available=False,
                source="pg_stat_statements",
                why=why,
                preloaded=preloaded,
            ),
        )
        return issue.fix_sql

    assert advice("not installed", True) == "CREATE EXTENSION pg_stat_statements;"
    # Neither installed nor loaded, and no slow log: nothing records slow
    # statements, one cause reported once as slow-query-visibility-missing
    # (tests/engine/test_one_cause_one_finding.py).
    assert (
        findings(
            "query-stats-missing",
            query_stats=query_stats(
                available=False, source="pg_stat_statements", why="not installed"
            ),
        )
        == []
    )
    assert "shared_preload_libraries" in advice("not loaded", False)
    assert advice("not readable", True).startswith("GRANT pg_read_all_stats")
    assert findings("query-stats-missing", query_stats=stats()) == []


def test_stale_statistics_skip_tables_never_analyzed() -> None:
    rows = (
        {"table": "a", "live": 50_000, "dead": 0, "modified": 30_000,
         "last_vacuum": None, "last_analyze": "2026-01-01T00:00:00", "autovacuum_off": False},
        {"table": "b", "live": 50_000, "dead": 0, "modified": 30_000,
         "last_vacuum": None, "last_analyze": None, "autovacuum_off": False},
        {"table": "c", "live": 500_000, "dead": 0, "modified": 30_000,
         "last_vacuum": None, "last_analyze": "2026-01-01T00:00:00", "autovacuum_off": False},
    )  # fmt: skip
    (issue,) = findings("table-statistics-stale", vacuum_stats=rows)
    assert issue.object == "a" and issue.fix_sql == "ANALYZE a;"


def test_space_is_summarised_for_large_databases_only() -> None:
    space = {
        "database_bytes": 2 << 30,
        "largest": ({"table": "events", "bytes": 1 << 30, "rows": 9_000_000},),
    }
    (issue,) = findings("database-space", space=space)
    assert issue.severity == Severity.INFO
    assert "events 1.0 GB (50%" in issue.evidence
    small = {"database_bytes": 1 << 20, "largest": ()}
    assert findings("database-space", space=small) == []


def test_literals_of_other_sessions_never_reach_facts() -> None:
    text = (
        "SELECT * FROM users WHERE email = 'ann@example.com' AND id = 42 AND t2.x = $1"
    )
    assert (
        mask_literals(text)
        == "SELECT * FROM users WHERE email = ? AND id = ? AND t2.x = $1"
    )
    assert mask_literals("UPDATE t SET token = $$secret$$") == "UPDATE t SET token = ?"
    assert mask_literals("INSERT INTO t VALUES ('cut off") == "INSERT INTO t VALUES (?"


def thresholds() -> list[tuple[str, str]]:
    """Return (check, phrase) pairs: each threshold as its catalogue text says it."""
    a, u = activity, upkeep
    bloat = (
        f"Reported from {size_text(u.BLOAT_MIN_BYTES)} wasted making up "
        f"{u.BLOAT_SHARE:.0%}"
    )
    return [
        ("query-long-running", f"Reported from {a.LONG_QUERY_SECONDS} s"),
        ("query-long-running", f"Low under {a.LONG_QUERY_MEDIUM_SECONDS // 60} min"),
        ("query-long-running", f"medium under {a.LONG_QUERY_HIGH_SECONDS // 3600} h"),
        ("query-blocked", f"Reported from {a.LOCK_WAIT_SECONDS} s"),
        ("query-blocked", f"High from {a.LOCK_WAIT_HIGH_SECONDS // 60} min"),
        ("query-blocked", f"or {a.LOCK_WAIT_HIGH_SESSIONS} waiting sessions"),
        ("txid-wraparound-risk", f"Medium from {a.XID_REPORT_SHARE:.0%}"),
        ("txid-wraparound-risk", f"high from {a.XID_HIGH_SHARE:.0%}"),
        ("txid-wraparound-risk", f"critical from {a.XID_CRITICAL_SHARE:.0%}"),
        ("replication-lag", f"Reported from {a.REPLICATION_LAG_SECONDS} s"),
        ("replication-lag", f"High from {a.REPLICATION_LAG_HIGH_SECONDS // 3600} h"),
        ("replication-slot-inactive", f"High from {size_text(a.SLOT_HIGH_BYTES)}"),
        ("table-dead-rows", f"Reported from {u.DEAD_ROWS_MIN:,} dead rows"),
        ("table-dead-rows", f"make up {u.DEAD_SHARE:.0%} of the table"),
        ("table-dead-rows", f"Medium from {u.DEAD_ROWS_MEDIUM:,}"),
        ("table-statistics-stale", f"when {u.STALE_ROWS_MIN:,} rows"),
        ("table-statistics-stale", f"and {u.STALE_SHARE:.0%} of the table"),
        ("table-bloat", bloat),
        ("table-bloat", f"Medium from {size_text(u.BLOAT_MEDIUM_BYTES)}"),
        ("index-bloat", bloat),
        ("index-bloat", f"Medium from {size_text(u.BLOAT_MEDIUM_BYTES)}"),
        ("cache-hit-low", f"under {u.CACHE_HIT_LOW:.0%} of reads from memory"),
        ("cache-hit-low", f"once {u.CACHE_MIN_READS:,} blocks"),
        ("cache-hit-low", f"Medium under {u.CACHE_HIT_MEDIUM:.0%}"),
        ("query-slow", f"{u.SLOW_MEAN_MS:.0f} ms or more"),
        ("query-slow", f"over {u.SLOW_MIN_CALLS} calls"),
        ("query-slow", f"The {u.SLOW_REPORTED} taking"),
        ("query-slow", f"takes {u.SLOW_SHARE:.0%} of all statement time"),
        ("innodb-history-long", f"length of {u.HISTORY_LENGTH:,}"),
        ("innodb-history-long", f"High from {u.HISTORY_HIGH_LENGTH:,}"),
        ("database-space", f"databases of {size_text(u.SPACE_REPORT_BYTES)}"),
        ("query-plan-missing-index", f"{LARGE_TABLE_ROWS:,} rows or more"),
        ("query-plan-missing-index", f"high from {plans.PLAN_CALLS_HIGH:,} calls"),
        ("query-plan-missing-index", f"low under {plans.PLAN_CALLS_LOW}"),
    ]


def test_the_catalogue_states_the_thresholds_the_checks_apply() -> None:
    missing = []
    for check, phrase in thresholds():
        spec = get_check(check)
        if phrase not in f"{spec.rationale} {spec.severity_rule}":
            missing.append((check, phrase))
    assert missing == []
