"""What both running-health probes share: one session builder, one extension list.

The PostgreSQL probe reads the extensions of the database once, with its
settings; the running-health part and the planner take them from there.
"""

from __future__ import annotations

import uuid
from typing import Any

import psycopg
import pytest

from audits.engine.sources import postgres as probe_pg
from audits.engine.sources._health import SESSION_COLUMNS, sessions
from tests.engine.health_helpers import findings
from tests.engine.private_postgres import PrivateServer


def test_sessions_from_either_probe_have_one_shape_and_no_values() -> None:
    (row,) = sessions(
        [
            (
                "42",
                None,
                "active",
                None,
                3,
                "Lock",
                ["7"],
                "SELECT * FROM t WHERE a = 'x'",
            )
        ]
    )
    assert tuple(row) == SESSION_COLUMNS
    assert row == {
        "pid": 42,
        "user": "",
        "state": "active",
        "seconds": 0.0,
        "xact_seconds": 3.0,
        "wait": "Lock",
        "blocked_by": (7,),
        "query": "SELECT * FROM t WHERE a = ?",
    }


@pytest.mark.postgres
def test_statistics_installed_in_another_schema_are_read_there(
    private_pg: PrivateServer,
) -> None:
    name = f"plumbline_shared_{uuid.uuid4().hex[:8]}"
    with private_pg.database(name) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE SCHEMA stats")
            conn.execute("CREATE EXTENSION pg_stat_statements SCHEMA stats")
        schema = probe_pg.probe(url)
    assert schema.fact("extensions") == {
        "plpgsql": "pg_catalog",
        "pg_stat_statements": "stats",
    }
    assert schema.fact("pg_stat_statements") is True
    stats: dict[str, Any] = schema.fact("query_stats")
    assert stats["available"] is True
    assert findings(schema, "query-stats-missing") == []
    assert not any("statement statistics" in n for n in schema.fact("probe_notes"))
