"""The same problem seen from several sources is one issue with every evidence."""

import sqlite3
from collections import Counter
from pathlib import Path

from audits.engine.scan import Target, scan

APP = Path(__file__).resolve().parents[2] / "demo" / "flawed_app"


def build_database(tmp_path: Path) -> Path:
    path = tmp_path / "app.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript((APP / "schema.sql").read_text(encoding="utf-8"))
    # A row, so that the live probe can tell that statistics were never gathered.
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    conn.execute("INSERT INTO notes (body) VALUES ('hello')")
    conn.commit()
    conn.close()
    return path


def test_ddl_live_and_code_views_of_one_problem_merge(tmp_path):
    database = build_database(tmp_path)
    result = scan(
        [
            Target("sqlite", str(database)),
            Target("ddl", str(APP / "schema.sql")),
            Target("code", str(APP)),
        ]
    )
    assert result.ok
    counts = Counter(issue.fingerprint for issue in result.issues)
    assert max(counts.values()) == 1
    by_check = {}
    for issue in result.issues:
        by_check.setdefault(issue.check, []).append(issue)
    conflict = by_check["fk-conflicting-declarations"]
    assert len(conflict) == 1
    assert {s.split(":")[0] for s in conflict[0].sources} >= {"sqlite", "ddl"}
    # Nothing runs ANALYZE in the code, and the live file has no statistics:
    # one project-level problem.
    maintenance = by_check["maintenance-missing"]
    assert len(maintenance) == 1
    assert {s.split(":")[0] for s in maintenance[0].sources} == {"sqlite", "code"}
    assert "sqlite_stat1" in maintenance[0].evidence
