"""What the running-health tests share: reading findings and waiting for a state."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
from psycopg import Connection

from audits.engine.issues import Evidence, Issue
from audits.engine.registry import Facts, run_checks
from audits.engine.schema import Schema
from tests.engine.private_postgres import PrivateServer

LIVE = frozenset({Evidence.SCHEMA, Evidence.LIVE})


def findings(schema: Schema, check: str) -> list[Issue]:
    """Return the issues of ``check`` the live checks find in ``schema``."""
    issues, _ran, errors = run_checks(Facts(schema=schema, evidence=LIVE))
    assert errors == []
    return [i for i in issues if i.check == check]


def wait_for(what: str, condition: Callable[[], bool], seconds: float = 20) -> None:
    """Wait until ``condition`` holds; fail saying ``what`` never happened."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


@contextlib.contextmanager
def growing_database(server: PrivateServer) -> Iterator[tuple[str, Connection[Any]]]:
    """Yield a database of ``server`` with tables to grow, and a connection to it.

    ``events`` starts empty (:func:`write_events` fills it); ``users`` holds
    2,000 rows and is never written again: the look-alike that did not grow.
    """
    name = f"plumbline_growth_{uuid.uuid4().hex[:8]}"
    with server.database(name) as url, psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE events (id int PRIMARY KEY, body text)")
        conn.execute("CREATE TABLE users (id int PRIMARY KEY, name text)")
        conn.execute(
            "INSERT INTO users SELECT g, 'user ' || g FROM generate_series(1, 2000) g"
        )
        yield url, conn


def write_events(conn: Connection[Any], rows: int, first: int = 1) -> None:
    """Write ``rows`` rows of about 1 kB each into ``events``, ids from ``first``."""
    conn.execute(
        "INSERT INTO events SELECT g, repeat(md5(g::text), 32) "
        "FROM generate_series(%s::int, %s::int) g",
        (first, first + rows - 1),
    )
