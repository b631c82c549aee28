"""A server that records no slow statements is one finding, not two.

``slow-query-visibility-missing`` (the older, public id) and
``query-stats-missing`` both read the absence of statement statistics.
When nothing records slow statements at all (no slow log, no statistics)
that one cause is reported once, under the public id; the statistics
finding stays for the servers where a slow log exists or the statistics
are there but unusable. The servers are real: the shared PostgreSQL on
5432 has no pg_stat_statements loaded, the session's private one has it
loaded, and the local MariaDB has performance_schema off.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pymysql
import pytest

from audits.engine.issues import Issue
from audits.engine.schema import Schema
from audits.engine.sources import mysql as probe_mysql
from audits.engine.sources import postgres as probe_pg
from audits.engine.sources._health import query_stats
from tests.engine.health_helpers import findings
from tests.engine.private_postgres import PrivateServer

SHARED = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"
BOTH = ("slow-query-visibility-missing", "query-stats-missing")


def both(schema: Schema) -> dict[str, list[Issue]]:
    return {check: findings(schema, check) for check in BOTH}


@pytest.mark.postgres
def test_postgresql_recording_nothing_is_one_finding_under_the_public_id(
    scratch: str,
) -> None:
    schema = probe_pg.probe(scratch)
    if schema.fact("log_min_duration_statement") >= 0 or schema.fact(
        "shared_preload_libraries"
    ):
        pytest.skip("this server already records slow statements")
    found = both(schema)
    assert found["query-stats-missing"] == []
    (issue,) = found["slow-query-visibility-missing"]
    assert issue.evidence == (
        "log_min_duration_statement is -1 and pg_stat_statements is not installed."
    )
    # Its fix gives both ways, the slow log and the statement statistics.
    assert "log_min_duration_statement = '500ms'" in issue.fix_sql
    assert "shared_preload_libraries = 'pg_stat_statements'" in issue.fix_sql
    assert "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;" in issue.fix_sql


@pytest.mark.postgres
def test_postgresql_with_a_slow_log_but_no_statistics_keeps_the_statistics_finding(
    scratch: str,
) -> None:
    with psycopg.connect(SHARED, autocommit=True) as admin:
        name = scratch.rsplit("/", 1)[1]
        admin.execute(f'ALTER DATABASE "{name}" SET log_min_duration_statement = 500')
    schema = probe_pg.probe(scratch)
    if schema.fact("shared_preload_libraries"):
        pytest.skip("this server preloads libraries")
    assert schema.fact("log_min_duration_statement") == 500
    found = both(schema)
    assert found["slow-query-visibility-missing"] == []
    (issue,) = found["query-stats-missing"]
    assert "not in shared_preload_libraries" in issue.evidence


@pytest.fixture
def private_db(private_pg: PrivateServer) -> Iterator[str]:
    name = f"plumbline_cause_{uuid.uuid4().hex[:8]}"
    with private_pg.database(name) as url:
        yield url


@pytest.mark.postgres
def test_postgresql_with_the_library_loaded_but_not_installed_is_the_statistics_finding(
    private_db: str,
) -> None:
    found = both(probe_pg.probe(private_db))
    assert found["slow-query-visibility-missing"] == []
    (issue,) = found["query-stats-missing"]
    assert issue.fix_sql == "CREATE EXTENSION pg_stat_statements;"


@pytest.mark.postgres
def test_postgresql_with_statistics_readable_reports_neither(private_db: str) -> None:
    with psycopg.connect(private_db, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")
    found = both(probe_pg.probe(private_db))
    assert found == {check: [] for check in BOTH}


@pytest.mark.mysql
def test_mariadb_recording_nothing_is_one_finding_under_the_public_id() -> None:
    try:
        admin = pymysql.connect(
            host="127.0.0.1", user="root", autocommit=True, connect_timeout=3
        )
    except pymysql.err.OperationalError:
        pytest.skip("MariaDB does not answer on 127.0.0.1:3306")
    name = f"plumbline_cause_{uuid.uuid4().hex[:8]}"
    admin.cursor().execute(f"CREATE DATABASE `{name}`")
    try:
        schema = probe_mysql.probe(f"mysql://root@127.0.0.1:3306/{name}")
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()
    if schema.fact("slow_query_log") or schema.fact("performance_schema"):
        pytest.skip("this server records slow statements")
    found = both(schema)
    assert found["query-stats-missing"] == []
    (issue,) = found["slow-query-visibility-missing"]
    assert "performance_schema = ON" in issue.fix_sql
    assert "slow_query_log = ON" in issue.fix_sql


# --- the same rule on plain facts, for the settings a shared server cannot take ------


def facts(engine: str, **more: Any) -> Schema:
    return Schema(facts=(("engine", engine), ("database", "shop"), *more.items()))


def test_mysql_with_a_slow_log_keeps_the_digest_finding() -> None:
    schema = facts(
        "mysql",
        slow_query_log=True,
        performance_schema=False,
        query_stats=query_stats(available=False, source="performance_schema"),
    )
    found = both(schema)
    assert found["slow-query-visibility-missing"] == []
    (issue,) = found["query-stats-missing"]
    assert issue.evidence.startswith("performance_schema is OFF")


def test_postgresql_installed_but_not_loaded_is_the_statistics_finding() -> None:
    schema = facts(
        "postgresql",
        pg_stat_statements=True,
        query_stats=query_stats(
            available=False, source="pg_stat_statements", why="not loaded"
        ),
    )
    found = both(schema)
    assert found["slow-query-visibility-missing"] == []
    (issue,) = found["query-stats-missing"]
    assert "is installed but is not in shared_preload_libraries" in issue.evidence


def test_each_cause_is_reported_once_across_the_settings() -> None:
    cases = [
        ({"log_min_duration_statement": -1}, "not installed", False),
        ({"log_min_duration_statement": 200}, "not installed", False),
        ({"log_min_duration_statement": -1}, "not installed", True),
        ({"log_min_duration_statement": -1}, "not readable", True),
        ({"log_min_duration_statement": -1}, "not loaded", False),
    ]
    for settings, why, preloaded in cases:
        schema = facts(
            "postgresql",
            **settings,
            query_stats=query_stats(
                available=False,
                source="pg_stat_statements",
                why=why,
                preloaded=preloaded,
            ),
        )
        found = both(schema)
        assert sum(len(v) for v in found.values()) == 1, (settings, why, found)
