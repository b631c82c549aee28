"""Growth between two readings of a live database: the table that grew, the one that did not.

The databases are real (the session's private PostgreSQL, the local
MariaDB): a first scan reads the sizes, rows are written for real, and a
second scan is given the first reading as its earlier one, as an audit
passes the last successful audit's reading. The one-hour minimum between
readings is lowered for a test, never the growth: the rows really are
written and the sizes really are read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from audits.engine.checks import upkeep
from audits.engine.checks.probe_facts import size_text
from audits.engine.issues import Issue, Severity
from audits.engine.registry import get_check
from audits.engine.scan import Target, TargetResult, scan_target
from audits.engine.schema import Schema
from audits.engine.sources._health import space, space_growth
from tests.engine.health_helpers import findings, growing_database, write_events
from tests.engine.private_postgres import PrivateServer
from tests.engine.test_health_mysql import my  # noqa: F401  (a fixture: its database)

GROWTH = "space-growth-fast"


def grown(result: TargetResult) -> dict[str, Issue]:
    """Return the target's growth findings by object."""
    assert result.ok, result.error
    return {i.object: i for i in result.issues if i.check == GROWTH}


def earlier(result: TargetResult, label: str = "audit #1") -> dict[str, Any]:
    """Return the target's space reading as an audit stores and passes it on."""
    assert result.schema is not None
    return {**result.schema.fact("space"), "label": label}


# --- PostgreSQL -------------------------------------------------------------------


@pytest.fixture
def pg(private_pg: PrivateServer) -> Iterator[tuple[str, psycopg.Connection[Any]]]:
    with growing_database(private_pg) as (url, conn):
        yield url, conn


def grown_between(
    kind: str, url: str, grow: Callable[[], None], label: str = "audit #1"
) -> tuple[dict[str, Issue], TargetResult]:
    """Read ``url``, ``grow`` it, read it again with the first reading as earlier.

    Return the growth findings of the second reading, by object, and it.
    """
    first = scan_target(Target(kind=kind, location=url))
    grow()
    second = scan_target(
        Target(kind=kind, location=url, earlier_space=earlier(first, label))
    )
    found = grown(second)
    assert "users" not in found  # the look-alike: read twice, never written
    return found, second


@pytest.fixture(
    params=[
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("mysql", marks=pytest.mark.mysql),
    ]
)
def growing(request: pytest.FixtureRequest) -> tuple[str, str, Callable[[], None]]:
    """Return a database's kind, URL, and how to write 12,000 rows of 1 kB to it."""
    if request.param == "postgresql":
        url, conn = request.getfixturevalue("pg")
        return "postgresql", url, lambda: write_events(conn, 12_000)
    _name, url, cur = request.getfixturevalue("my")
    cur.execute("CREATE TABLE events (id INT PRIMARY KEY, body TEXT) ENGINE=InnoDB")
    cur.execute("CREATE TABLE users (id INT PRIMARY KEY, name TEXT) ENGINE=InnoDB")
    cur.execute("INSERT INTO users SELECT seq, CONCAT('user ', seq) FROM seq_1_to_2000")
    cur.execute("ANALYZE TABLE events, users")

    def grow() -> None:
        cur.execute(
            "INSERT INTO events SELECT seq, REPEAT(MD5(seq), 32) FROM seq_1_to_12000"
        )
        cur.execute("ANALYZE TABLE events, users")  # InnoDB sizes follow ANALYZE

    return "mysql", url, grow


def test_the_table_that_grew_is_reported_and_the_quiet_one_is_not(
    growing: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    kind, url, grow = growing
    monkeypatch.setattr(upkeep, "GROWTH_MIN_HOURS", 0)
    found, second = grown_between(kind, url, grow)
    events = found["events"]
    assert events.title == "Table events grows fast"
    assert events.evidence.startswith("Table events grew from 16.0 kB to 1")
    assert "(over 1,000% of its earlier size a day)" in events.evidence
    assert events.evidence.endswith("it doubles in less than a day.")
    assert "since audit #1" in events.evidence
    assert events.severity == Severity.MEDIUM  # megabytes in seconds: over 1 GB a day
    assert second.schema is not None
    database = found[second.schema.fact("database")]
    assert database.title.startswith("Database plumbline_")
    growth = second.schema.fact("space_growth")
    assert growth["label"] == "audit #1"
    sizes = {t["table"]: (t["before"], t["now"]) for t in growth["tables"]}
    assert sizes["users"][0] == sizes["users"][1]
    assert sizes["events"][1] - sizes["events"][0] > 10 * 1024**2


@pytest.mark.postgres
def test_first_reading_has_no_growth_and_reports_none(pg: Any) -> None:
    url, conn = pg
    write_events(conn, 12_000)
    result = scan_target(Target(kind="postgresql", location=url))
    assert result.schema is not None
    assert result.schema.fact("space_growth") is None
    assert grown(result) == {}
    assert "events" in result.schema.fact("space")["tables"]


@pytest.mark.postgres
def test_readings_minutes_apart_are_too_close_to_tell_a_rate(pg: Any) -> None:
    url, conn = pg
    found, second = grown_between("postgresql", url, lambda: write_events(conn, 12_000))
    assert found == {}
    assert second.schema is not None
    assert second.schema.fact("space_growth")["days"] < 1 / 24


# --- the rule on plain readings -----------------------------------------------------

MB = 1024**2
GB = 1024**3


def reading(days_ago: float, database: int, **tables: int) -> dict[str, Any]:
    fact = space(database, [(t, b, 0) for t, b in tables.items()])
    at = datetime.now(UTC) - timedelta(days=days_ago)
    return {**fact, "read_at": at.isoformat(), "label": "audit #3"}


def growth_findings(before: dict[str, Any], now: dict[str, Any]) -> dict[str, Issue]:
    growth = space_growth(before, now)
    schema = Schema(
        facts=(("engine", "postgresql"), ("database", "shop"), ("space_growth", growth))
    )
    return {i.object: i for i in findings(schema, GROWTH)}


def test_growth_needs_both_the_bytes_and_the_share_a_day() -> None:
    before = reading(2, 120 * GB, logs=100 * GB, jobs=1 * GB, cache=1 * MB)
    now = reading(0, 122 * GB, logs=101 * GB, jobs=1 * GB + 300 * MB, cache=60 * MB)
    found = growth_findings(before, now)
    # logs: 512 MB a day but 0.5% of 100 GB; cache: 30x its size but 30 MB a day.
    assert set(found) == {"jobs"}
    assert found["jobs"].severity == Severity.LOW
    assert "150.0 MB a day (15% of its earlier size a day)" in found["jobs"].evidence
    assert "doubles in about 7 days" in found["jobs"].evidence


def test_growth_of_a_gigabyte_a_day_is_medium_and_shrinking_is_silent() -> None:
    before = reading(1, 20 * GB, events=4 * GB, archive=10 * GB)
    now = reading(0, 20 * GB + 500 * MB, events=6 * GB, archive=2 * GB)
    found = growth_findings(before, now)
    assert set(found) == {"events"}  # the database grew 2.5%: not reported
    assert found["events"].severity == Severity.MEDIUM


def test_the_database_total_is_judged_like_a_table() -> None:
    before = reading(1, 2 * GB, a=100 * MB, b=100 * MB)
    now = reading(0, 3 * GB + 512 * MB, a=100 * MB, b=100 * MB)
    (issue,) = growth_findings(before, now).values()
    assert issue.object == "shop" and issue.title == "Database shop grows fast"
    assert issue.severity == Severity.MEDIUM


def test_a_table_the_earlier_reading_did_not_size_is_not_compared() -> None:
    before = reading(1, 1 * GB, a=100 * MB)
    now = reading(0, 1 * GB + 1 * MB, a=100 * MB, fresh=900 * MB)
    assert growth_findings(before, now) == {}


def test_a_reading_without_a_time_or_not_earlier_gives_no_growth() -> None:
    now = reading(0, GB, a=MB)
    assert space_growth({"database_bytes": 1, "tables": {}}, now) is None
    assert space_growth(reading(-1, GB, a=MB), now) is None


def test_the_catalogue_states_the_growth_thresholds() -> None:
    spec = get_check(GROWTH)
    text = f"{spec.rationale} {spec.severity_rule}"
    for phrase in (
        f"at least {upkeep.GROWTH_MIN_HOURS} hour",
        f"grew by {size_text(upkeep.GROWTH_BYTES_PER_DAY)} a day",
        f"by {upkeep.GROWTH_SHARE_PER_DAY:.0%} of its earlier size a day",
        f"Medium from {size_text(upkeep.GROWTH_MEDIUM_BYTES_PER_DAY)} a day",
    ):
        assert phrase in text
