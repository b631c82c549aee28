"""The server's dry run: a throwaway database and role on the operator's PostgreSQL.

Against the local PostgreSQL (127.0.0.1:5432, user postgres). Every test
checks that the throwaway database and role are gone afterwards, whatever
the migrations did.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from audits.engine.scan import Target, TargetResult, scan
from audits.engine.sources import scratch_server
from audits.engine.sources.scratch_server import PREFIX, sweep, throwaway

from .migration_helpers import ADMIN, BASE_PG, found, write
from .test_migration_dryrun import V1, V2

pytestmark = pytest.mark.postgres

SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def leftovers() -> list[str]:
    """Return the throwaway databases and roles that exist now (any process's)."""
    with psycopg.connect(ADMIN) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s"
            " UNION ALL SELECT rolname FROM pg_roles WHERE rolname LIKE %s",
            (PREFIX + "%", PREFIX + "%"),
        ).fetchall()
    return [r[0] for r in rows]


@pytest.fixture
def server() -> Iterator[str]:
    try:
        psycopg.connect(ADMIN).close()
    except psycopg.OperationalError:
        pytest.skip("PostgreSQL does not answer on 127.0.0.1:5432")
    before = len(scratch_server.MADE)
    yield SERVER
    # Whatever a test did, the throwaways it made (other test runs may be
    # making theirs meanwhile) are gone.
    made = list(scratch_server.MADE)[before:]
    assert set(made) & set(leftovers()) == set()


def _scan(folder: Path, **target: object) -> TargetResult:
    result = scan([Target("migrations", str(folder), scratch_server=SERVER, **target)])  # type: ignore[arg-type]
    (one,) = result.targets
    assert one.ok, one.error
    return one


def test_the_dry_run_on_a_throwaway_database_finds_the_refused_predicate(
    tmp_path: Path, server: str
) -> None:
    folder = write(tmp_path / "m", {"V1__events.sql": V1, "V2__recent_index.sql": V2})
    result = _scan(folder)
    (issue,) = [i for i in result.issues if i.check == "migration-rejected"]
    assert (issue.file, issue.line) == ("V2__recent_index.sql", 3)
    assert "functions in index predicate must be marked IMMUTABLE" in issue.evidence
    # The operator's server is not named to the tenant.
    assert issue.evidence.startswith("a throwaway PostgreSQL database refused")
    assert "127.0.0.1" not in issue.evidence
    assert result.dry_run.startswith("ran on a throwaway database, dropped after:")
    assert "1 statement refused" in result.dry_run


def test_a_failing_migration_still_leaves_nothing_behind(
    tmp_path: Path, server: str
) -> None:
    folder = write(
        tmp_path / "m",
        {
            "V1__base.sql": BASE_PG,
            "V2__broken.sql": "ALTER TABLE nowhere ADD COLUMN x int;\n"
            "CREATE TABLE users (id int);\n",
        },
    )
    result = _scan(folder)
    rejected = found(list(result.issues), "migration-rejected")
    assert rejected == [("V2__broken.sql", 1), ("V2__broken.sql", 2)]


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("CREATE EXTENSION dblink", "permission denied to create extension"),
        ("CREATE EXTENSION postgres_fdw", "permission denied to create extension"),
        ("SELECT rolpassword FROM pg_authid", "permission denied for table pg_authid"),
        ("COPY (SELECT 1) TO PROGRAM 'id'", "to COPY to or from an external program"),
        ("SELECT pg_read_file('/etc/passwd')", "permission denied for function"),
        ("CREATE DATABASE other", "CREATE DATABASE cannot run inside a transaction"),
        ("ALTER ROLE postgres PASSWORD 'x'", "must be superuser to alter superuser"),
        ("SET ROLE postgres", "permission denied to set role"),
    ],
)
def test_the_tenants_sql_cannot_reach_beyond_its_database(
    tmp_path: Path, server: str, statement: str, refusal: str
) -> None:
    folder = write(
        tmp_path / "m",
        {"V1__base.sql": BASE_PG, "V2__reach.sql": f"{statement};\n"},
    )
    result = _scan(folder)
    (issue,) = [i for i in result.issues if i.check == "migration-rejected"]
    assert (issue.file, issue.line) == ("V2__reach.sql", 1)
    assert refusal in issue.evidence


def test_a_statement_that_turns_its_timeout_off_is_still_cancelled(
    tmp_path: Path, server: str
) -> None:
    folder = write(
        tmp_path / "m",
        {
            "V1__base.sql": BASE_PG,
            "V2__slow.sql": "SET statement_timeout = 0;\nSELECT pg_sleep(600);\n",
        },
    )
    result = _scan(folder, timeout=1.0)
    (issue,) = [i for i in result.issues if i.check == "migration-rejected"]
    assert (issue.file, issue.line) == ("V2__slow.sql", 2)
    assert "timed out" in issue.evidence


def test_the_throwaway_role_is_as_small_as_said(server: str) -> None:
    with throwaway(server, timeout=3.0) as url:
        name = url.split("/")[3].split("?")[0]
        with psycopg.connect(ADMIN) as admin:
            role = admin.execute(
                "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication,"
                " rolbypassrls, rolcanlogin, rolconnlimit, rolvaliduntil IS NOT NULL,"
                " rolconfig FROM pg_roles WHERE rolname = %s",
                (name,),
            ).fetchone()
            database = admin.execute(
                "SELECT pg_get_userbyid(datdba), datconnlimit,"
                " has_database_privilege('public', datname, 'CONNECT')"
                " FROM pg_database WHERE datname = %s",
                (name,),
            ).fetchone()
        assert role == (
            False, False, False, False, False, True, 2, True,
            ["statement_timeout=3000", "lock_timeout=3000",
             "idle_in_transaction_session_timeout=9000"],
        )  # fmt: skip
        assert database == (name, 2, False)
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (name,)
    assert name not in leftovers()
    assert list(scratch_server.MADE)[-1] == name


def test_an_unreachable_scratch_server_is_a_reason_not_a_failed_target(
    tmp_path: Path, server: str
) -> None:
    folder = write(tmp_path / "m", {"V1__events.sql": V1, "V2__recent_index.sql": V2})
    result = scan(
        [
            Target(
                "migrations",
                str(folder),
                scratch_server="postgresql://postgres@127.0.0.1:1/postgres",
            )
        ]
    )
    (one,) = result.targets
    assert one.ok
    assert one.dry_run.startswith("did not run: the scratch server 127.0.0.1:1")
    assert "migration-rejected" not in one.checks_run
    # The static rules still judged the history.
    assert "migration-lock-timeout-missing" in one.checks_run


def test_without_a_scratch_server_the_findings_are_the_same_and_it_says_why(
    tmp_path: Path,
) -> None:
    folder = write(tmp_path / "m", {"V1__events.sql": V1, "V2__recent_index.sql": V2})
    result = scan([Target("migrations", str(folder))])
    (one,) = result.targets
    assert one.dry_run.startswith("not run: no scratch PostgreSQL is configured")
    assert found(list(one.issues), "migration-rejected") == []


def test_mysql_migrations_are_not_applied_to_postgresql(
    tmp_path: Path, server: str
) -> None:
    from .migration_helpers import BASE_MYSQL

    folder = write(tmp_path / "m", {"V1__base.sql": BASE_MYSQL})
    result = _scan(folder, dialect="mysql")
    assert result.dry_run.startswith("not run: the migrations are mysql's")


def test_sweep_drops_what_a_killed_worker_left_once_expired(server: str) -> None:
    import secrets

    name = PREFIX + secrets.token_hex(8)
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {name} LOGIN VALID UNTIL '2000-01-01'")
        admin.execute(f"CREATE DATABASE {name} OWNER {name}")
        keep = f"{PREFIX}keep_{name[-6:]}"
        admin.execute(f"CREATE ROLE {keep} VALID UNTIL '2000-01-01'")
    try:
        swept = sweep(server)
        # (Another test run's throwaway may have swept it first.)
        assert name in swept or name not in leftovers()
        assert name not in leftovers()
        # A role of that prefix that is not a throwaway's name is left alone.
        assert keep in leftovers()
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            admin.execute(f"DROP ROLE IF EXISTS {name}")
            admin.execute(f"DROP ROLE IF EXISTS {keep}")


def test_a_server_role_that_may_not_create_is_told_clearly(server: str) -> None:
    import secrets

    role = f"plumbline_weak_operator_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
    try:
        weak = f"postgresql://{role}@127.0.0.1:5432/postgres"
        with (
            pytest.raises(scratch_server.SourceError, match="refused to make"),
            throwaway(weak),
        ):
            pass
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f"DROP ROLE IF EXISTS {role}")
