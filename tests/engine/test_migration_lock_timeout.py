"""A lock timeout set outside the migration file keeps migration-lock-timeout-missing quiet.

Set by an earlier migration (ALTER DATABASE/ROLE ... SET lock_timeout), by
the project's settings (``deploy-lock-timeout``), or on the role or
database of the command line's scratch PostgreSQL; never by the file that
sets it for later sessions, nor by a zero, which waits forever.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from audits.engine.config import ConfigError, load_config
from audits.engine.scan import Target, scan

from .migration_helpers import ADMIN, BASE_PG, found, judge, write
from .test_scan_command import run

CHANGE = "ALTER TABLE users ADD COLUMN bio text;\n"
CHECK = "migration-lock-timeout-missing"


def _history(tmp_path: Path, *files: tuple[str, str]) -> Path:
    return write(
        tmp_path / "db" / "migrations", {"V1__base.sql": BASE_PG, **dict(files)}
    )


def _lock_findings(folder: Path, **target: object) -> list[tuple[str, int | None]]:
    result = scan([Target("migrations", str(folder), **target)])  # type: ignore[arg-type]
    assert result.ok, [t.error for t in result.targets]
    return found(list(result.issues), CHECK)


def test_without_any_timeout_the_change_is_reported(tmp_path: Path) -> None:
    assert found(judge(tmp_path, CHANGE), CHECK) == [("V2__change.sql", 1)]


@pytest.mark.parametrize(
    "setting",
    [
        "ALTER DATABASE shop SET lock_timeout = '3s';",
        "ALTER ROLE deployer SET lock_timeout TO '3s';",
        "ALTER ROLE deployer IN DATABASE shop SET lock_timeout = 3000;",
    ],
)
def test_an_earlier_migration_setting_it_for_new_sessions_counts(
    tmp_path: Path, setting: str
) -> None:
    folder = _history(
        tmp_path, ("V2__timeouts.sql", setting + "\n"), ("V3__change.sql", CHANGE)
    )
    assert _lock_findings(folder) == []


def test_the_file_that_sets_it_for_new_sessions_is_not_covered(tmp_path: Path) -> None:
    # ALTER DATABASE reaches later sessions, not the one running it.
    folder = _history(
        tmp_path,
        ("V2__change.sql", "ALTER DATABASE shop SET lock_timeout = '3s';\n" + CHANGE),
    )
    assert _lock_findings(folder) == [("V2__change.sql", 2)]


@pytest.mark.parametrize(
    "undo",
    [
        "ALTER DATABASE shop SET lock_timeout = 0;",
        "ALTER DATABASE shop SET lock_timeout TO DEFAULT;",
        "ALTER DATABASE shop RESET lock_timeout;",
        "ALTER ROLE deployer RESET ALL;",
    ],
)
def test_a_later_reset_takes_it_back(tmp_path: Path, undo: str) -> None:
    folder = _history(
        tmp_path,
        ("V2__timeouts.sql", "ALTER DATABASE shop SET lock_timeout = '3s';\n"),
        ("V3__reset.sql", undo + "\n"),
        ("V4__change.sql", CHANGE),
    )
    assert _lock_findings(folder) == [("V4__change.sql", 1)]


def test_a_zero_timeout_in_the_file_waits_forever(tmp_path: Path) -> None:
    issues = judge(tmp_path, "SET lock_timeout = 0;\n" + CHANGE)
    assert found(issues, CHECK) == [("V2__change.sql", 2)]


def test_mysql_is_not_covered_by_a_postgresql_role_setting(tmp_path: Path) -> None:
    from .migration_helpers import BASE_MYSQL

    folder = write(
        tmp_path / "db" / "migrations",
        {
            "V1__base.sql": BASE_MYSQL,
            "V2__role.sql": "ALTER USER deployer SET lock_timeout = '3s';\n",
            "V3__change.sql": "ALTER TABLE users ADD COLUMN bio TEXT;\n",
        },
    )
    assert _lock_findings(folder, dialect="mysql") == [("V3__change.sql", 1)]


# ------------------------------------------------------------ project settings


def test_the_project_setting_counts_for_a_folder_scan(tmp_path: Path) -> None:
    project = tmp_path / "app"
    write(project, {".plumbline.toml": 'deploy-lock-timeout = "3s"\n'})
    _history(project, ("V2__change.sql", CHANGE))
    result = scan([Target("folder", str(project))])
    assert result.ok, [t.error for t in result.targets]
    assert found(list(result.issues), CHECK) == []
    assert found(list(result.issues), "migration-drop-column") == []
    # Without the setting the same folder is reported.
    (project / ".plumbline.toml").unlink()
    again = scan([Target("folder", str(project))])
    assert found(list(again.issues), CHECK) == [("db/migrations/V2__change.sql", 1)]


@pytest.mark.parametrize("bad", ['"0"', "0", '"soon"', "true", '""'])
def test_a_setting_that_sets_no_timeout_is_refused_with_why(
    tmp_path: Path, bad: str
) -> None:
    write(tmp_path, {".plumbline.toml": f"deploy-lock-timeout = {bad}\n"})
    with pytest.raises(ConfigError, match="deploy-lock-timeout.*more than zero"):
        load_config(tmp_path)


def test_the_command_line_reads_the_setting_of_the_folder_it_runs_in(
    tmp_path: Path,
) -> None:
    project = tmp_path / "app"
    _history(project, ("V2__change.sql", CHANGE))
    args = ("--migrations", "db/migrations", "--format", "json")
    before = json.loads(run(*args, cwd=project).stdout)
    assert [f["check"] for f in before["findings"]] == [CHECK]
    write(project, {"pyproject.toml": "[tool.plumbline]\ndeploy-lock-timeout = 3000\n"})
    after = run(*args, cwd=project)
    assert json.loads(after.stdout)["findings"] == []
    write(project, {"pyproject.toml": "[tool.plumbline]\ndeploy-lock-timeout = 0\n"})
    broken = run(*args, cwd=project)
    assert broken.returncode == 2
    assert "deploy-lock-timeout" in broken.stderr


# ------------------------------------------------------------ the scratch database


@pytest.fixture
def scratch_with_role() -> Iterator[tuple[str, str, str]]:
    """Yield (URL, role, database) of a scratch database reached as a role of its own."""
    try:
        admin = psycopg.connect(ADMIN, autocommit=True)
    except psycopg.OperationalError:
        pytest.skip("PostgreSQL does not answer on 127.0.0.1:5432")
    suffix = uuid.uuid4().hex[:10]
    name, role = f"plumbline_migrations_{suffix}", f"plumbline_deployer_{suffix}"
    with admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
        admin.execute(f'CREATE DATABASE "{name}" OWNER "{role}"')
    try:
        yield f"postgresql://{role}@127.0.0.1:5432/{name}", role, name
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("setting", "quiet"),
    [
        ("", False),
        ("ALTER ROLE \"{role}\" SET lock_timeout = '3s'", True),
        ("ALTER DATABASE \"{name}\" SET lock_timeout = '3s'", True),
        ('ALTER ROLE "{role}" IN DATABASE "{name}" SET lock_timeout = 0', False),
    ],
)
def test_a_timeout_on_the_scratch_role_or_database_counts(
    tmp_path: Path, scratch_with_role: tuple[str, str, str], setting: str, quiet: bool
) -> None:
    url, role, name = scratch_with_role
    if setting:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(setting.format(role=role, name=name))
            if "= 0" in setting:  # the role in the database wins over the role
                admin.execute(f"ALTER ROLE \"{role}\" SET lock_timeout = '3s'")
    folder = _history(tmp_path, ("V2__change.sql", CHANGE))
    result = scan([Target("migrations", str(folder), scratch_db=url)])
    assert result.ok, [t.error for t in result.targets]
    assert "migration-rejected" in result.checks_run
    expected = [] if quiet else [("V2__change.sql", 1)]
    assert found(list(result.issues), CHECK) == expected


@pytest.mark.postgres
def test_the_scratch_settings_are_not_read_when_told_not_to(
    tmp_path: Path, scratch_with_role: tuple[str, str, str]
) -> None:
    from audits.engine.sources.migration_dryrun import dry_run
    from audits.engine.sources.migrations import load_history

    url, role, _name = scratch_with_role
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f"ALTER ROLE \"{role}\" SET lock_timeout = '3s'")
    history = load_history(_history(tmp_path, ("V2__change.sql", CHANGE)))
    assert history is not None
    assert dry_run(history, url).lock_timeout.endswith(
        "lock_timeout = 3s set on the role"
    )
    assert dry_run(history, url, read_settings=False).lock_timeout == ""


def test_the_setting_survives_being_stored_as_an_audit_records_it() -> None:
    from audits.engine.config import config_from_dict, parse_config

    config = parse_config({"deploy-lock-timeout": "3s"}, "pyproject.toml")
    assert config.as_dict()["deploy_lock_timeout"] == "3s"
    assert config_from_dict(config.as_dict()).deploy_lock_timeout == "3s"
    # Projects without it record what they recorded before.
    assert "deploy_lock_timeout" not in parse_config({}, "x").as_dict()
