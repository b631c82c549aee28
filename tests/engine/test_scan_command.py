"""``plumbline scan`` end to end: real files, real SQLite, the real console script."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from .test_render_sarif import validate_sarif

PLUMBLINE = Path(sys.executable).with_name("plumbline")

CONFLICTING_FK = """\
CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL);
CREATE TABLE schedules (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    FOREIGN KEY (user_id) REFERENCES users(id)
);
CREATE INDEX idx_schedules_user ON schedules (user_id);
"""
CLEAN = """\
CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE);
"""


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PLUMBLINE), "scan", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "NO_COLOR": ""},
    )


def make_sqlite(path: Path) -> Path:
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);"
        "CREATE TABLE posts (id INTEGER PRIMARY KEY,"
        " user_id INTEGER REFERENCES users(id), body TEXT);"
        "INSERT INTO users (email) VALUES ('a@example.com');"
    )
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "db").mkdir(parents=True)
    (root / "db" / "schema.sql").write_text(CONFLICTING_FK)
    (root / "app.py").write_text("def main() -> None:\n    pass\n")
    make_sqlite(root / "data.bin")  # found by its header, not its name
    (root / "notes.txt").write_text("not a database\n")
    return root


def test_folder_scan_finds_ddl_issues_and_each_sqlite_file_as_a_target(
    project: Path,
) -> None:
    done = run(str(project), "--format", "json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    kinds = sorted(t["kind"] for t in data["targets"])
    assert kinds == ["folder", "sqlite"]
    sqlite_target = next(t for t in data["targets"] if t["kind"] == "sqlite")
    assert sqlite_target["target"].endswith("data.bin")
    assert all(t["ok"] for t in data["targets"])
    checks = {f["check"] for f in data["findings"]}
    assert "fk-conflicting-declarations" in checks
    assert data["grades"]["schema"][0] in "DF"
    assert set(data) >= {"findings", "grades", "score", "targets", "checks_run"}


def test_every_format_renders(project: Path) -> None:
    sarif = run(str(project), "--format", "sarif", cwd=project)
    assert sarif.returncode == 0, sarif.stderr
    log = json.loads(sarif.stdout)
    validate_sarif(log)
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in log["runs"][0]["results"]
    }
    assert "db/schema.sql" in uris

    md = run(str(project), "--format", "markdown")
    assert md.returncode == 0, md.stderr
    assert md.stdout.startswith("# Database Audit Report")
    assert "### CRIT-1:" in md.stdout and "**Overall:" in md.stdout

    text = run(str(project))
    assert text.returncode == 0, text.stderr
    assert "Grades" in text.stdout and "CRITICAL" in text.stdout
    assert "\033[" not in text.stdout  # not a terminal: no colour


def test_fail_on_exits_1_when_a_finding_reaches_the_threshold(project: Path) -> None:
    ddl = str(project / "db" / "schema.sql")
    assert run(ddl, "--fail-on", "critical", "--format", "json").returncode == 1
    assert run(ddl, "--fail-on", "HIGH", "--format", "json").returncode == 1


def test_fail_on_exits_0_when_nothing_reaches_the_threshold(tmp_path: Path) -> None:
    ddl = tmp_path / "clean.sql"
    ddl.write_text(CLEAN)
    done = run(str(ddl), "--fail-on", "critical", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert run(str(ddl), "--format", "json").returncode == 0


def test_output_writes_the_report_to_a_file(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    done = run(str(project), "--format", "json", "--output", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert json.loads(out.read_text())["findings"]


def test_sqlite_url_and_file_targets(tmp_path: Path) -> None:
    db = make_sqlite(tmp_path / "app.sqlite3")
    by_url = run(f"sqlite:///{db}", "--format", "json")
    by_path = run(str(db), "--format", "json")
    assert by_url.returncode == by_path.returncode == 0, by_url.stderr
    url_data, path_data = json.loads(by_url.stdout), json.loads(by_path.stdout)
    assert [t["kind"] for t in url_data["targets"]] == ["sqlite"]
    assert {f["fingerprint"] for f in url_data["findings"]} == {
        f["fingerprint"] for f in path_data["findings"]
    }


def test_progress_goes_to_stderr(project: Path) -> None:
    done = run(str(project), "--format", "json", "--progress")
    assert done.returncode == 0
    assert "plumbline: reading" in done.stderr
    assert "plumbline: done:" in done.stderr
    json.loads(done.stdout)  # stdout stays clean JSON


def test_exclude_skips_matching_files(project: Path) -> None:
    done = run(str(project), "--format", "json", "--exclude", "*.bin")
    kinds = [t["kind"] for t in json.loads(done.stdout)["targets"]]
    assert kinds == ["folder"]


def test_a_failed_target_is_reported_on_stderr_and_the_rest_still_report(
    project: Path,
) -> None:
    unreachable = "postgresql://postgres:hunter2@127.0.0.1:1/nothing"
    done = run(str(project), unreachable, "--format", "json")
    assert done.returncode == 0
    assert "postgresql" in done.stderr and "hunter2" not in done.stderr
    data = json.loads(done.stdout)
    failed = [t for t in data["targets"] if not t["ok"]]
    assert [t["kind"] for t in failed] == ["postgresql"]
    assert data["findings"]


def test_exit_2_when_every_target_failed(tmp_path: Path) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)
    done = run(str(broken), "--format", "json")
    assert done.returncode == 2
    assert "broken.db" in done.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["/no/such/folder"],
        ["ftp://example.com/db"],
        ["--format", "yaml", "."],
        ["--fail-on", "severe", "."],
        [],
    ],
)
def test_usage_errors_exit_2(args: list[str], tmp_path: Path) -> None:
    done = run(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr


def test_unknown_file_kind_is_a_usage_error(project: Path) -> None:
    done = run(str(project / "notes.txt"))
    assert done.returncode == 2
    assert "cannot tell what to scan" in done.stderr


def test_a_target_never_shows_its_password():
    from audits.engine.scan import Target

    target = Target("postgresql", "postgresql://app:secret@db/shop", password="hunter2")
    assert "hunter2" not in repr(target)
    assert "secret" not in target.label


NEW_TABLE = "CREATE TABLE events (id INTEGER, kind TEXT NOT NULL);\n"


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_baseline_reports_and_fails_only_on_new_findings(
    project: Path, tmp_path: Path, fmt: str
) -> None:
    ddl = project / "db" / "schema.sql"
    previous = tmp_path / f"previous.{fmt}"
    first = run(str(ddl), "--format", fmt, "--output", str(previous))
    assert first.returncode == 0, first.stderr
    # Nothing changed: nothing new, so --fail-on passes despite the criticals.
    same = run(str(ddl), "--baseline", str(previous), "--fail-on", "high")
    assert same.returncode == 0, same.stderr
    assert "0 new" in same.stderr
    # Lines moved and a table added: only the new table's finding is reported.
    ddl.write_text("\n\n" + CONFLICTING_FK + NEW_TABLE)
    moved = run(
        str(ddl), "--baseline", str(previous), "--fail-on", "high", "--format", "json"
    )
    assert moved.returncode == 1, moved.stderr
    found = json.loads(moved.stdout)["findings"]
    assert {f["check"] for f in found} == {"table-no-primary-key"}
    assert all("events" in json.dumps(f) for f in found)
    passing = run(str(ddl), "--baseline", str(previous), "--fail-on", "critical")
    assert passing.returncode == 0, passing.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read the baseline"),
        ("not json", "is not JSON"),
        ('{"something": 1}', "is not a Plumbline JSON or SARIF report"),
    ],
)
def test_a_bad_baseline_is_a_usage_error(
    tmp_path: Path, content: str | None, message: str
) -> None:
    ddl = tmp_path / "clean.sql"
    ddl.write_text(CLEAN)
    baseline = tmp_path / "previous.json"
    if content is not None:
        baseline.write_text(content)
    done = run(str(ddl), "--baseline", str(baseline))
    assert done.returncode == 2
    assert message in done.stderr


def test_gate_needs_upload(tmp_path: Path) -> None:
    ddl = tmp_path / "clean.sql"
    ddl.write_text(CLEAN)
    done = run(str(ddl), "--gate")
    assert done.returncode == 2
    assert "--gate needs --upload" in done.stderr


def test_gate_status_reads_the_servers_verdict() -> None:
    import io

    from audits.engine.scan_command import gate_status

    failed = {
        "passed": False,
        "rules": ["a new finding at high or above"],
        "failed": 3,
        "baseline": 0,
        "findings": [
            {
                "severity": "high",
                "reason": "new",
                "title": "Table has no primary key",
                "check": "table-no-primary-key",
                "location": "schema.sql:3",
            }
        ],
    }
    out = io.StringIO()
    assert gate_status({"gate": failed}, out) == 1
    text = out.getvalue()
    assert "quality gate FAILED: 3 finding(s)" in text
    assert "HIGH" in text and "table-no-primary-key" in text and "schema.sql:3" in text
    assert "... and 2 more on the audit page" in text
    out = io.StringIO()
    assert gate_status({"gate": {**failed, "passed": True, "baseline": 4}}, out) == 0
    assert "4 finding(s) present when their target was first audited" in out.getvalue()
    out = io.StringIO()
    assert gate_status({"gate": {"passed": None}, "error": "disk gone"}, out) == 2
    assert "the audit failed: disk gone" in out.getvalue()
    out = io.StringIO()
    assert gate_status({"audit": 3}, out) == 2
    assert "no quality gate verdict" in out.getvalue()


def test_sql_the_parser_reads_as_a_bare_command_does_not_spill_into_stderr(
    tmp_path: Path,
) -> None:
    """sqlglot warns of each statement it cannot fully parse, quoting it; the
    command line keeps its stderr for the scan's own messages."""
    (tmp_path / "search.py").write_text(
        "import sqlite3\n\n\n"
        "def setup(conn: sqlite3.Connection) -> None:\n"
        '    conn.execute("CREATE VIRTUAL TABLE docs_fts USING FTS5 (title, body)")\n'
        '    conn.execute("CREATE TRIGGER docs_ai AFTER INSERT ON docs BEGIN '
        'INSERT INTO docs_fts (rowid, title) VALUES (new.id, new.title); END")\n'
    )
    result = run(str(tmp_path), "--format", "json")
    assert result.returncode in (0, 1), result.stderr
    assert "Falling back" not in result.stderr
    assert "unsupported syntax" not in result.stderr
