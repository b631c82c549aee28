"""Fixtures the engine's tests share: throwaway databases on the local servers.

Each test that asks for one gets a database of its own, made before and
dropped after it, whichever form it wants it in (a connection, a URL, a
cursor).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pymysql
import pytest

from .migration_helpers import ADMIN


@contextmanager
def _postgres_database(prefix: str) -> Iterator[str]:
    """Make a PostgreSQL database named ``prefix`` plus a random tail; yield its name."""
    try:
        admin = psycopg.connect(ADMIN, autocommit=True)
    except psycopg.OperationalError:
        pytest.skip("PostgreSQL does not answer on 127.0.0.1:5432")
    name = f"{prefix}{uuid.uuid4().hex[:10]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def mariadb_database(prefix: str) -> Iterator[tuple[str, Any]]:
    """Make a MariaDB database named ``prefix`` plus a random tail.

    Yield its name and an autocommit cursor using it.
    """
    try:
        conn = pymysql.connect(
            host="127.0.0.1", port=3306, user="root", password="",
            connect_timeout=3, autocommit=True,
        )  # fmt: skip
    except pymysql.err.OperationalError:
        pytest.skip("MariaDB does not answer on 127.0.0.1:3306")
    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    cur = conn.cursor()
    cur.execute(f"CREATE DATABASE `{name}`")
    cur.execute(f"USE `{name}`")
    try:
        yield name, cur
    finally:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


@pytest.fixture
def pg() -> Iterator[Any]:
    """Yield an autocommit connection to a PostgreSQL database of its own."""
    with _postgres_database("plumbline_mig_") as name:
        dsn = ADMIN.replace("dbname=postgres", f"dbname={name}")
        with psycopg.connect(dsn, autocommit=True) as conn:
            yield conn


@pytest.fixture
def scratch() -> Iterator[str]:
    """Yield the URL of a scratch PostgreSQL database of its own."""
    with _postgres_database("plumbline_migrations_") as name:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"


@pytest.fixture
def maria() -> Iterator[Any]:
    """Yield an autocommit cursor in a MariaDB database of its own."""
    with mariadb_database("pl_mig_") as (_name, cur):
        yield cur
