"""A throwaway database and role, on the operator's PostgreSQL, for one dry run.

A Plumbline server applies a tenant's migrations for real only in a
database made for that one run, as a role made for that one run: LOGIN with
a random password nobody is told, NOSUPERUSER, NOCREATEDB, NOCREATEROLE,
NOREPLICATION, NOBYPASSRLS, a connection limit, a statement and a lock
timeout of its own, valid for an hour at most, owning that database and
nothing else; CONNECT on the database is revoked from PUBLIC. What the
migrations may do is then what such a role may do in its own empty
database: no untrusted extension (``dblink``, ``postgres_fdw``), no server
file or program, no other database, no role's password (``pg_authid``).
Whatever happens, the database and the role are dropped afterwards; the
role's expiry lets :func:`sweep` drop what a killed worker left behind.

The operator's URL (``PLUMBLINE_SCRATCH_DATABASE_URL``) names a role that
may create databases and roles (CREATEDB and CREATEROLE, or a superuser);
it is the operator's own server, never a tenant's, so no network guard
applies to it. A tenant can never name the server the dry run connects to.
"""

from __future__ import annotations

import re
import secrets
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import quote, urlencode

import psycopg
from psycopg import sql as pgsql
from psycopg.conninfo import conninfo_to_dict

from audits.engine.sources import SourceError
from audits.engine.sources._probe import first_line

PREFIX = "plumbline_scratch_"
CONNECTION_LIMIT = 2
LIFETIME = "1 hour"  # the role's VALID UNTIL; sweep() drops what outlives it
_NAME = re.compile(rf"^{PREFIX}[0-9a-f]{{16}}$")
# The throwaways this process made, newest last: what a test (or an
# operator's debugger) checks is gone, whatever other workers are doing.
MADE: deque[str] = deque(maxlen=200)


def _admin(url: str, timeout: float) -> psycopg.Connection[Any]:
    if not url.startswith(("postgresql://", "postgres://")):
        raise SourceError("the scratch server must be a postgresql:// URL")
    try:
        params: dict[str, Any] = dict(conninfo_to_dict(url))
    except psycopg.ProgrammingError as exc:
        raise SourceError(f"the scratch server's URL: {first_line(exc)}") from None
    params["connect_timeout"] = str(max(2, int(timeout)))
    params["application_name"] = "plumbline-scratch-admin"
    try:
        return psycopg.connect(**params, autocommit=True)
    except psycopg.Error as exc:
        host = params.get("host", "localhost")
        raise SourceError(
            f"the scratch server {host}:{params.get('port', 5432)} cannot be "
            f"reached: {first_line(exc)}"
        ) from None


@contextmanager
def throwaway(url: str, *, timeout: float = 10.0) -> Iterator[str]:
    """Yield the URL of a database and role made for one dry run; drop both after.

    ``url`` is the operator's PostgreSQL; ``timeout`` bounds each statement
    and each lock wait of the run. Raise :class:`SourceError` when the
    scratch server cannot be reached or refuses to make them.
    """
    admin = _admin(url, timeout)
    # A leftover another run could not drop is no reason to stop this one.
    with suppress(psycopg.Error, SourceError):
        _sweep(admin)
    name = PREFIX + secrets.token_hex(8)
    MADE.append(name)
    password = secrets.token_urlsafe(24)
    ms = max(1, int(timeout * 1000))
    ident = pgsql.Identifier(name)
    made: list[str] = []  # what exists now, so what must be dropped
    try:
        try:
            admin.execute(
                pgsql.SQL(
                    "CREATE ROLE {} LOGIN PASSWORD {} NOSUPERUSER NOCREATEDB "
                    "NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT "
                    "CONNECTION LIMIT {} VALID UNTIL {}"
                ).format(
                    ident,
                    pgsql.Literal(password),
                    pgsql.Literal(CONNECTION_LIMIT),
                    pgsql.Literal(_expiry(admin)),
                )
            )
            made.append("ROLE")
            for setting, value in (
                ("statement_timeout", ms),
                ("lock_timeout", ms),
                ("idle_in_transaction_session_timeout", ms * 3),
            ):
                admin.execute(
                    pgsql.SQL("ALTER ROLE {} SET {} = {}").format(
                        ident, pgsql.Identifier(setting), pgsql.Literal(str(value))
                    )
                )
            admin.execute(
                pgsql.SQL("CREATE DATABASE {} OWNER {} CONNECTION LIMIT {}").format(
                    ident, ident, pgsql.Literal(CONNECTION_LIMIT)
                )
            )
            made.insert(0, "DATABASE")
            admin.execute(
                pgsql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(ident)
            )
        except psycopg.Error as exc:
            raise SourceError(
                f"the scratch server refused to make a throwaway database: "
                f"{first_line(exc)}"
            ) from None
        own: dict[str, Any] = dict(conninfo_to_dict(url))
        own.update(dbname=name, user=name, password=password)
        yield _url(own)
    finally:
        try:
            _drop(admin, name, made)
        finally:
            admin.close()


def _url(params: dict[str, Any]) -> str:
    """Return a postgresql:// URL for ``params`` (the password in the query)."""
    host = str(params.pop("host", "") or "")
    port = str(params.pop("port", "") or "")
    dbname = str(params.pop("dbname", ""))
    where = (f"[{host}]" if ":" in host else quote(host, safe="")) + (
        f":{port}" if port else ""
    )
    query = urlencode({k: str(v) for k, v in params.items()})
    return f"postgresql://{where}/{quote(dbname, safe='')}?{query}"


def _expiry(admin: psycopg.Connection[Any]) -> str:
    row = admin.execute(f"SELECT (now() + interval '{LIFETIME}')::text").fetchone()
    assert row is not None
    return str(row[0])


def _drop(
    admin: psycopg.Connection[Any],
    name: str,
    made: list[str] | tuple[str, ...] = ("DATABASE", "ROLE"),
) -> None:
    """Drop the throwaway database (its sessions ended first), then its role."""
    ident = pgsql.Identifier(name)
    try:
        if "DATABASE" in made:
            admin.execute(
                pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(ident)
            )
        if "ROLE" in made:
            admin.execute(pgsql.SQL("DROP ROLE IF EXISTS {}").format(ident))
    except psycopg.Error as exc:
        raise SourceError(
            f"the scratch server could not drop {name} (its expiry lets the next "
            f"run sweep it): {first_line(exc)}"
        ) from None


def sweep(url: str, *, timeout: float = 10.0) -> list[str]:
    """Drop the throwaway databases and roles whose role has expired; return their names.

    A worker killed mid-run leaves its throwaway behind; its role's
    VALID UNTIL says when nobody can be using it any more.
    """
    admin = _admin(url, timeout)
    try:
        return _sweep(admin)
    finally:
        admin.close()


def _sweep(admin: psycopg.Connection[Any]) -> list[str]:
    rows = admin.execute(
        "SELECT rolname FROM pg_roles WHERE rolname LIKE %s AND rolvaliduntil < now()",
        (PREFIX.replace("_", r"\_") + "%",),
    ).fetchall()
    dropped: list[str] = []
    for (name,) in rows:
        if _NAME.match(name):
            _drop(admin, name)
            dropped.append(name)
    return dropped
