"""Benchmark the running-health probe on a PostgreSQL database of 1,000 tables.

Run with ``.venv/bin/python bench/bench_health.py`` (``make bench`` does). It
creates the database ``plumbline_health_bench`` on the server named by
``PLUMBLINE_BENCH_PG`` (default: the local server on 5432): 1,000 tables,
each with a primary key, a foreign key to its neighbour and its index, a
composite index and 50 rows, analyzed, with dead rows left in every tenth
table. It then times, median (min–max) of 7 runs after one warm-up:

- the running-health part alone (``pg_health.read``, every part in its
  savepoint), inside a probe that has read the settings and tables;
- the whole live probe (``postgres.probe``), schema and health together.

The figures replace the ``## Running-health probe`` section of
``bench/RESULTS.md`` (other sections are left as they are).
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_reconcile import replace_section  # noqa: E402  (RESULTS.md's section writer)

from audits.engine.sources import pg_health, postgres  # noqa: E402

TABLES = 1000
ROWS = 50
RUNS = 7
DATABASE = "plumbline_health_bench"
SERVER = os.environ.get("PLUMBLINE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
RESULTS = ROOT / "bench" / "RESULTS.md"
HEADING = "## Running-health probe"


def build() -> str:
    """Create the 1,000-table database afresh and return its URL."""
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{DATABASE}"')
    url = f"{SERVER}/{DATABASE}"
    with psycopg.connect(url, autocommit=True) as conn:
        for n in range(TABLES):
            parent = f"t{n - 1:04d}" if n else None
            ref = f"REFERENCES {parent} (id)" if parent else ""
            conn.execute(
                f"CREATE TABLE t{n:04d} (id int PRIMARY KEY, parent_id int {ref}, "
                "status text NOT NULL DEFAULT 'active', created_at timestamptz, "
                "note text)"
            )
            conn.execute(f"CREATE INDEX ON t{n:04d} (parent_id)")
            conn.execute(f"CREATE INDEX ON t{n:04d} (status, created_at)")
            conn.execute(
                f"INSERT INTO t{n:04d} SELECT g, NULL, 'active', now(), 'n' || g "
                f"FROM generate_series(1, {ROWS}) g"
            )
            if n % 10 == 0:
                conn.execute(f"UPDATE t{n:04d} SET note = note || '!'")
        conn.execute("ANALYZE")
    return url


def health_once(url: str) -> tuple[float, float, int]:
    """Time the health part of one probe; return wall, CPU and facts read."""
    conn = postgres.connect(url)
    try:
        with conn.transaction():
            probe = postgres._Probe(conn, 10.0)
            probe._settings()
            probe._tables()
            wall, cpu = time.perf_counter(), time.process_time()
            pg_health.read(probe)
            spent = time.perf_counter() - wall, time.process_time() - cpu
            assert not probe.notes, probe.notes
            return *spent, len(probe.facts["vacuum_stats"])
    finally:
        conn.close()


def probe_once(url: str) -> tuple[float, float, int]:
    """Time one whole live probe; return wall, CPU and tables read."""
    wall, cpu = time.perf_counter(), time.process_time()
    schema = postgres.probe(url)
    return time.perf_counter() - wall, time.process_time() - cpu, len(schema.tables)


def measure(
    run: Callable[[], tuple[float, float, int]],
) -> tuple[list[float], list[float], int]:
    run()  # warm-up: catalogue caches, statistics snapshot
    walls, cpus, count = [], [], 0
    for _ in range(RUNS):
        wall, cpu, count = run()
        walls.append(wall)
        cpus.append(cpu)
    return walls, cpus, count


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} ({min(values):.2f}–{max(values):.2f})"


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def write(rows: list[str], before: str, after: str) -> None:
    section = "\n".join(
        [
            HEADING,
            "",
            f"`bench/bench_health.py`: the PostgreSQL probe on a database of {TABLES:,} "
            f"tables (primary key, a foreign key to the neighbour and its index, a "
            f"composite index, {ROWS} rows each, dead rows in every tenth table), on the "
            f"local PostgreSQL. Median (min–max) of {RUNS} runs after one warm-up, in "
            "seconds: wall time and the process's CPU time. Shared 2-core machine, "
            f"{os.cpu_count()} CPUs seen, Python {platform.python_version()}; `uptime` "
            f"before: `{before}`; after: `{after}`.",
            "",
            "| What | Wall (s) | CPU (s) | Read |",
            "|---|---|---|---|",
            *rows,
            "",
            "The running-health part is one statement per view (sessions, "
            "transaction-ID age, dead rows, bloat, pg_stat_statements, replication, "
            "cache, space), each in its savepoint; the tables go to each as one array "
            "of oids, so no part costs a statement per table.",
            "",
        ]
    )
    replace_section(RESULTS, HEADING, section)


def main() -> None:
    url = build()
    before = uptime()
    health = measure(lambda: health_once(url))
    whole = measure(lambda: probe_once(url))
    after = uptime()
    rows = [
        f"| running-health part | {spread(health[0])} | {spread(health[1])} | "
        f"{health[2]:,} tables' statistics |",
        f"| whole live probe | {spread(whole[0])} | {spread(whole[1])} | "
        f"{whole[2]:,} tables |",
    ]
    print("\n".join(rows))
    write(rows, before, after)
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')


if __name__ == "__main__":
    main()
