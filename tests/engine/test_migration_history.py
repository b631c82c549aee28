"""A whole-project scan judges the migrations still to be deployed, not the
history that has already run: each folder's newest migration (unless git
says it was committed long before the commit scanned) is judged, an older
one's findings are left out with a note saying how many, and a drop the
code still reads stays a defect while the history never brings the column
back."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from audits.engine.issues import Issue
from audits.engine.scan import Target, scan

from .migration_helpers import BASE_PG, write
from .test_migration_ci import git
from .test_scan_command import run

RISKY = "ALTER TABLE users ADD COLUMN nick text NOT NULL;\n"
SAFE = "SET lock_timeout = '2s';\nALTER TABLE users ADD COLUMN bio text;\n"
CHECK = "migration-column-required-no-default"


def risky(project: Path, *, kind: str = "folder") -> Issue | None:
    """Return the scan's NOT NULL finding, or None after checking the note
    that says it was left out as applied history."""
    result = scan([Target(kind, str(project))])
    assert result.ok, [t.error for t in result.targets]
    found = next((i for i in result.issues if i.check == CHECK), None)
    if found is None:
        notes = [n for t in result.targets for n in t.notes]
        left_out = "in 1 migration(s) already applied are not reported"
        assert any(left_out in n for n in notes), notes
    return found


def test_the_newest_migration_of_a_folder_keeps_its_severity(tmp_path: Path) -> None:
    project = write(
        tmp_path / "p",
        {"db/migrations/V1__base.sql": BASE_PG, "db/migrations/V2__nick.sql": RISKY},
    )
    issue = risky(project)
    assert issue is not None and issue.severity.value == "high"


def test_a_migration_a_later_one_follows_is_left_out_as_applied(tmp_path: Path) -> None:
    project = write(
        tmp_path / "p",
        {
            "db/migrations/V1__base.sql": BASE_PG,
            "db/migrations/V2__nick.sql": RISKY,
            "db/migrations/V3__bio.sql": SAFE,
        },
    )
    assert risky(project) is None


def test_each_folder_has_its_own_newest_migration(tmp_path: Path) -> None:
    """Django keeps one folder per app: the newest of each app is pending."""
    project = write(
        tmp_path / "p",
        {
            "users/migrations/V1__base.sql": BASE_PG,
            "users/migrations/V2__nick.sql": RISKY,
            "billing/migrations/V1__safe.sql": "SELECT 1;\n",
            "billing/migrations/V2__safe.sql": "SELECT 2;\n",
        },
    )
    issue = risky(project)
    assert issue is not None and issue.severity.value == "high"


def test_a_migration_folder_named_on_its_own_is_all_pending(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "migrations",
        {"V1__base.sql": BASE_PG, "V2__nick.sql": RISKY, "V3__bio.sql": SAFE},
    )
    issue = risky(folder, kind="migrations")
    assert issue is not None and issue.severity.value == "high"


def test_a_drop_the_code_still_reads_stays_high_in_history(tmp_path: Path) -> None:
    app = (
        "import sqlite3\n\n\n"
        "def nicknames(conn: sqlite3.Connection) -> list:\n"
        '    return conn.execute("SELECT nick FROM users").fetchall()\n'
    )
    drop = "SET lock_timeout = '2s';\nALTER TABLE users DROP COLUMN nick;\n"
    files = {
        "db/migrations/V1__base.sql": "CREATE TABLE users (id bigint PRIMARY KEY, nick text);\n",
        "db/migrations/V2__drop.sql": drop,
        "db/migrations/V3__readd.sql": "SELECT 1;\n",
        "app.py": app,
    }
    result = scan([Target("folder", str(write(tmp_path / "p", files)))])
    drop_issue = next(i for i in result.issues if i.check == "migration-drop-column")
    assert drop_issue.severity.value == "high"
    assert "app.py:5" in drop_issue.evidence


def test_a_drop_the_history_undoes_is_left_out_even_if_read(tmp_path: Path) -> None:
    app = (
        "import sqlite3\n\n\n"
        "def nicknames(conn: sqlite3.Connection) -> list:\n"
        '    return conn.execute("SELECT nick FROM users").fetchall()\n'
    )
    files = {
        "db/migrations/V1__base.sql": "CREATE TABLE users (id bigint PRIMARY KEY, nick text);\n",
        "db/migrations/V2__drop.sql": (
            "SET lock_timeout = '2s';\nALTER TABLE users DROP COLUMN nick;\n"
        ),
        "db/migrations/V3__readd.sql": (
            "SET lock_timeout = '2s';\nALTER TABLE users ADD COLUMN nick text;\n"
        ),
        "app.py": app,
    }
    result = scan([Target("folder", str(write(tmp_path / "p", files)))])
    assert not [i for i in result.issues if i.check == "migration-drop-column"]


def _commit(repo: Path, message: str, *, days_ago: int = 0) -> None:
    """Commit everything as if ``days_ago`` days before a fixed day."""
    when = f"@{1_780_000_000 - days_ago * 86400} +0000"
    git(repo, "add", ".")
    subprocess.run(
        ["git", "-C", str(repo), "commit", "-q", "-m", message],
        check=True,
        capture_output=True,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(repo),
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.com",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.com",
            "GIT_AUTHOR_DATE": when,
            "GIT_COMMITTER_DATE": when,
        },
    )


def _repo(tmp_path: Path) -> Path:
    repo = tmp_path / "app"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    return repo


def test_git_dates_make_an_old_newest_migration_history(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    write(repo / "db" / "migrations", {"V1__base.sql": BASE_PG, "V2__nick.sql": RISKY})
    _commit(repo, "add nick", days_ago=90)
    write(repo, {"app.py": "x = 1\n"})
    _commit(repo, "unrelated work since", days_ago=0)
    assert risky(repo) is None


def test_git_dates_keep_a_recent_newest_migration_pending(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    write(repo / "db" / "migrations", {"V1__base.sql": BASE_PG})
    _commit(repo, "base", days_ago=400)
    write(repo / "db" / "migrations", {"V2__nick.sql": RISKY})
    _commit(repo, "add nick", days_ago=3)
    issue = risky(repo)
    assert issue is not None and issue.severity.value == "high"


def test_an_uncommitted_migration_is_pending(tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    write(repo / "db" / "migrations", {"V1__base.sql": BASE_PG})
    _commit(repo, "base", days_ago=400)
    write(repo / "db" / "migrations", {"V2__nick.sql": RISKY})
    issue = risky(repo)
    assert issue is not None and issue.severity.value == "high"


def test_since_judges_every_migration_of_the_branch(tmp_path: Path) -> None:
    """A branch adding V2 (risky) then V3 keeps V2 at its severity."""
    repo = _repo(tmp_path)
    write(repo / "db" / "migrations", {"V1__base.sql": BASE_PG})
    write(repo, {"app.py": "x = 1\n"})
    _commit(repo, "base", days_ago=400)
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo / "db" / "migrations", {"V2__nick.sql": RISKY, "V3__bio.sql": SAFE})
    _commit(repo, "branch work", days_ago=1)
    result = run(str(repo), "--since", "main", "--format", "json")
    found = json.loads(result.stdout)["findings"]
    nick = next(f for f in found if f["check"] == CHECK)
    assert nick["severity"] == "high", result.stderr
    assert nick["file"].endswith("V2__nick.sql")
