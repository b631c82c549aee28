"""``plumbline scan --migrations DIR --since REF`` in a real git repository,
and migration findings from an ordinary folder scan."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from audits.engine.scan import Target, scan

from .migration_helpers import BASE_PG, write
from .test_scan_command import run

RISKY = "ALTER TABLE users ADD COLUMN nick text NOT NULL;\n"
SAFE = "SET lock_timeout = '2s';\nALTER TABLE users ADD COLUMN bio text;\n"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        text=True,
        env={
            "PATH": "/usr/bin:/bin",
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com",
            "HOME": str(repo),
        },
    ).stdout


def repo_with_history(tmp_path: Path) -> Path:
    """Return a repository whose main holds V1 and V2 (risky), and whose
    working branch adds V3 (safe) and V4 (risky)."""
    repo = tmp_path / "app"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write(
        repo / "db" / "migrations",
        {"V1__base.sql": BASE_PG, "V2__old_risk.sql": RISKY},
    )
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo / "db" / "migrations", {"V3__safe.sql": SAFE})
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "safe change")
    # V4 is not even committed yet: a CI checkout with local work still counts it.
    write(
        repo / "db" / "migrations",
        {"V4__new_risk.sql": "ALTER TABLE orders DROP COLUMN total;\n"},
    )
    return repo


def test_since_reports_only_the_migrations_of_the_branch(tmp_path: Path) -> None:
    repo = repo_with_history(tmp_path)
    folder = repo / "db" / "migrations"
    everything = run("--migrations", str(folder), "--format", "json")
    files = {f["file"] for f in json.loads(everything.stdout)["findings"]}
    assert "V2__old_risk.sql" in files

    branch = run(
        "--migrations", str(folder), "--since", "main", "--format", "json",
        "--fail-on", "medium",
    )  # fmt: skip
    assert branch.returncode == 1, branch.stderr
    findings = json.loads(branch.stdout)["findings"]
    assert {f["file"] for f in findings} == {"V4__new_risk.sql"}
    assert {f["check"] for f in findings} >= {"migration-drop-column"}


def test_since_with_nothing_risky_passes_the_gate(tmp_path: Path) -> None:
    repo = repo_with_history(tmp_path)
    (repo / "db" / "migrations" / "V4__new_risk.sql").unlink()
    folder = repo / "db" / "migrations"
    # Run from inside the repository with a relative folder, as CI does.
    result = run("--migrations", "db/migrations", "--since", "main",
                 "--fail-on", "low", cwd=repo)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert folder.is_dir()


def test_since_an_unknown_ref_is_a_usage_error(tmp_path: Path) -> None:
    repo = repo_with_history(tmp_path)
    result = run("--migrations", str(repo / "db" / "migrations"), "--since", "nope")
    assert result.returncode == 2
    assert "--since" in result.stderr and "nope" in result.stderr


def test_since_outside_a_repository_is_a_usage_error(tmp_path: Path) -> None:
    folder = write(tmp_path / "migrations", {"V1__base.sql": BASE_PG})
    result = run("--migrations", str(folder), "--since", "main")
    assert result.returncode == 2
    assert "git" in result.stderr


def test_scan_without_target_or_migrations_is_a_usage_error() -> None:
    result = run()
    assert result.returncode == 2
    assert "--migrations" in result.stderr


def test_a_folder_scan_finds_the_migrations_and_places_them(tmp_path: Path) -> None:
    project = write(
        tmp_path / "project",
        {
            "app.py": "import sqlite3\n",
            "db/migrations/V1__base.sql": BASE_PG,
            "db/migrations/V2__nick.sql": RISKY,
        },
    )
    result = scan([Target("folder", str(project))])
    assert result.ok
    issue = next(
        i for i in result.issues if i.check == "migration-column-required-no-default"
    )
    assert (issue.file, issue.line) == ("db/migrations/V2__nick.sql", 1)


def test_a_folder_without_migrations_runs_no_migration_check(tmp_path: Path) -> None:
    project = write(tmp_path / "p", {"app.py": "x = 1\n", "schema.sql": BASE_PG})
    result = scan([Target("folder", str(project))])
    assert not [c for c in result.checks_run if c.startswith("migration-")]


def test_schema_findings_name_the_migration_that_added_the_column(
    tmp_path: Path,
) -> None:
    project = write(
        tmp_path / "p",
        {
            "db/migrations/V1__base.sql": "CREATE TABLE users (id integer PRIMARY KEY);\n",
            "db/migrations/V2__secret.sql": (
                "-- keep the key for the API\n"
                "ALTER TABLE users ADD COLUMN api_key text;\n"
            ),
        },
    )
    result = scan([Target("folder", str(project))])
    issue = next(i for i in result.issues if i.check == "secret-stored-plaintext")
    assert (issue.file, issue.line) == ("db/migrations/V2__secret.sql", 2)


def test_dropping_a_column_the_code_still_reads_is_high(tmp_path: Path) -> None:
    app = (
        "import sqlite3\n\n\n"
        "def nicknames(conn: sqlite3.Connection) -> list:\n"
        '    return conn.execute("SELECT nick FROM users").fetchall()\n'
    )
    drop = "SET lock_timeout = '2s';\nALTER TABLE users DROP COLUMN nick;\n"
    files = {
        "db/migrations/V1__base.sql": "CREATE TABLE users (id bigint PRIMARY KEY, nick text, bio text);\n",
        "db/migrations/V2__drop.sql": drop,
        "db/migrations/V3__drop_bio.sql": drop.replace("nick", "bio"),
    }
    project = write(tmp_path / "p", {**files, "app.py": app})
    result = scan([Target("folder", str(project))])
    dropped = {
        i.object: (i.severity.value, i.evidence)
        for i in result.issues
        if i.check == "migration-drop-column"
    }
    assert dropped["users.nick"][0] == "high"
    assert "app.py:5" in dropped["users.nick"][1]
    assert dropped["users.bio"][0] == "medium"


def test_since_and_a_baseline_narrow_the_report_together(tmp_path: Path) -> None:
    repo = repo_with_history(tmp_path)
    folder = str(repo / "db" / "migrations")
    baseline = tmp_path / "accepted.json"
    run("--migrations", folder, "--format", "json", "--output", str(baseline))
    # Every finding of the branch is in the accepted baseline: nothing is new.
    both = run("--migrations", folder, "--since", "main", "--baseline",
               str(baseline), "--fail-on", "low", "--format", "json")  # fmt: skip
    assert both.returncode == 0, both.stderr
    assert json.loads(both.stdout)["findings"] == []
    assert "left out" in both.stderr


def test_a_revision_linked_from_outside_the_allowed_folders_is_not_read(
    tmp_path: Path,
) -> None:
    outside = tmp_path / "outside.py"
    outside.write_text(
        'revision = "a1"\ndown_revision = None\n\n\n'
        "def upgrade():\n    op.drop_table('accounts')\n"
    )
    project = write(tmp_path / "p", {"app.py": "x = 1\n"})
    versions = project / "alembic" / "versions"
    versions.mkdir(parents=True)
    (versions / "a1_drop.py").symlink_to(outside)
    target = Target("folder", str(project), path_roots=(str(project),))
    result = scan([target])
    assert result.ok, [t.error for t in result.targets]
    assert not [i for i in result.issues if i.check.startswith("migration-")]
