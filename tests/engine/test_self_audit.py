"""Plumbline's own database passes Plumbline's own audit.

Django's migrations build the real schema in a subprocess (so this test
imports nothing from Django), then ``plumbline scan`` audits it; no finding
may be above ``low``. Runs on a temporary SQLite file and, when the server
answers, on a throwaway PostgreSQL database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTHON = Path(sys.executable)
PLUMBLINE = PYTHON.with_name("plumbline")
ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"
ABOVE_LOW = {"medium", "high", "critical"}


def migrate(database_url: str) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "REDIS_URL", "DEBUG")
    }
    env.update(DATABASE_URL=database_url, SECRET_KEY="self-audit-only")
    done = subprocess.run(
        [str(PYTHON), "manage.py", "migrate", "--no-input", "-v", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def scan(target: str) -> list[dict[str, object]]:
    done = subprocess.run(
        [str(PLUMBLINE), "scan", target, "--format", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    findings: list[dict[str, object]] = report["findings"]
    assert findings, "the scan read no schema"
    return findings


def above_low(findings: list[dict[str, object]]) -> list[str]:
    return [
        f"{f['severity']} {f['check']} {f['object']}: {f['evidence']}"
        for f in findings
        if f["severity"] in ABOVE_LOW
    ]


def test_plumblines_own_sqlite_database_has_no_finding_above_low(
    tmp_path: Path,
) -> None:
    path = tmp_path / "plumbline.sqlite3"
    migrate(f"sqlite:///{path}")
    assert above_low(scan(f"sqlite:///{path}")) == []


def _postgres_answers() -> bool:
    import psycopg

    try:
        psycopg.connect(ADMIN).close()
    except psycopg.OperationalError:
        return False
    return True


@pytest.fixture
def pg_database() -> Iterator[str]:
    if not _postgres_answers():
        pytest.skip("PostgreSQL does not answer on 127.0.0.1:5432")
    import psycopg

    name = f"pl_self_audit_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.postgres
def test_plumblines_own_postgres_database_has_no_finding_above_low(
    pg_database: str,
) -> None:
    migrate(f"postgres://postgres@127.0.0.1:5432/{pg_database}")
    findings = scan(f"postgresql://postgres@127.0.0.1:5432/{pg_database}")
    assert above_low(findings) == []
