"""Fixtures the engine's tests share: throwaway databases on the local servers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pymysql
import pytest

from .migration_helpers import ADMIN


@pytest.fixture
def pg() -> Iterator[Any]:
    """Yield an autocommit connection to a PostgreSQL database of its own."""
    try:
        conn = psycopg.connect(ADMIN, autocommit=True)
    except psycopg.OperationalError:
        pytest.skip("PostgreSQL does not answer on 127.0.0.1:5432")
    name = f"plumbline_mig_{uuid.uuid4().hex[:10]}"
    conn.execute(f'CREATE DATABASE "{name}"')
    try:
        dsn = ADMIN.replace("dbname=postgres", f"dbname={name}")
        with psycopg.connect(dsn, autocommit=True) as inner:
            yield inner
    finally:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


@pytest.fixture
def maria() -> Iterator[Any]:
    """Yield an autocommit cursor in a MariaDB database of its own."""
    try:
        conn = pymysql.connect(
            host="127.0.0.1", port=3306, user="root", password="",
            connect_timeout=3, autocommit=True,
        )  # fmt: skip
    except pymysql.err.OperationalError:
        pytest.skip("MariaDB does not answer on 127.0.0.1:3306")
    name = f"pl_mig_{uuid.uuid4().hex[:10]}"
    cur = conn.cursor()
    cur.execute(f"CREATE DATABASE `{name}`")
    cur.execute(f"USE `{name}`")
    try:
        yield cur
    finally:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()
