"""A scanned project's own settings: excludes, disabled checks, severities, ignores."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audits.engine.cli import main as cli_main
from audits.engine.config import (
    DEFAULT_EXCLUDE,
    ConfigError,
    ProjectConfig,
    config_from_dict,
    load_config,
)
from audits.engine.issues import Severity
from audits.engine.render import json_out, markdown, sarif, text
from audits.engine.scan import Target, scan

from .code_helpers import write

# A connection that never waits on a lock: a stable, easy defect to plant.
NO_WAIT = """\
import sqlite3


def open_db():
    return sqlite3.connect("app.db", timeout=0)
"""
SCHEMA_SQL = "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL);\n"
DOC_SCHEMA = """\
# Schema

```sql
CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT, status TEXT DEFAULT 'open');
```
"""


def scan_folder(root: Path):
    return scan([Target("folder", str(root))])


def checks_at(result, check: str) -> list[str]:
    return sorted(i.file for i in result.issues if i.check == check)


def test_default_excludes_skip_tests_docs_and_vendored_code(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "app/db.py": NO_WAIT,
            "tests/test_db.py": NO_WAIT,
            "app/test_helpers.py": NO_WAIT,
            "docs/example.py": NO_WAIT,
            "vendor/lib/db.py": NO_WAIT,
            "node_modules/pkg/db.py": NO_WAIT,
        },
    )
    result = scan_folder(tmp_path)
    assert checks_at(result, "sqlite-busy-timeout-missing") == ["app/db.py"]
    assert result.config is not None and result.config.source == "defaults"


def test_code_checks_skip_migrations_but_the_schema_still_reads_them(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        {
            "app/db.py": NO_WAIT,
            "migrations/0001_initial.py": NO_WAIT
            + '\nSQL = "CREATE TABLE audit_log (id INTEGER, msg TEXT)"\n',
        },
    )
    result = scan_folder(tmp_path)
    assert checks_at(result, "sqlite-busy-timeout-missing") == ["app/db.py"]
    # The table declared in the migration is still part of the schema.
    assert any(i.object.startswith("audit_log") for i in result.issues)


def test_pyproject_disables_checks_and_overrides_severities(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "app/db.py": NO_WAIT,
            "pyproject.toml": """\
                [project]
                name = "x"

                [tool.plumbline]
                disable = ["backup-missing"]
                extend-exclude = ["scripts"]

                [tool.plumbline.severity]
                sqlite-busy-timeout-missing = "medium"
            """,
            "scripts/tool.py": NO_WAIT,
        },
    )
    result = scan_folder(tmp_path)
    found = [i for i in result.issues if i.check == "sqlite-busy-timeout-missing"]
    assert [(i.file, i.severity) for i in found] == [("app/db.py", Severity.MEDIUM)]
    assert not [i for i in result.issues if i.check == "backup-missing"]
    why = {s.issue.check: s.reason for s in result.suppressed}
    assert why["backup-missing"] == "disabled in pyproject.toml [tool.plumbline]"
    recorded = result.config.as_dict()
    assert recorded["severity"] == {"sqlite-busy-timeout-missing": "medium"}
    assert "scripts" in recorded["exclude"] and "tests" in recorded["exclude"]


def test_plumbline_toml_wins_over_pyproject(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "app/db.py": NO_WAIT,
            "pyproject.toml": '[tool.plumbline]\ndisable = ["backup-missing"]\n',
            ".plumbline.toml": 'exclude = []\ndisable = ["sqlite-busy-timeout-missing"]\n',
            "tests/test_db.py": NO_WAIT,
        },
    )
    config = load_config(tmp_path)
    assert config.source == ".plumbline.toml"
    assert config.exclude == ()
    result = scan_folder(tmp_path)
    assert not checks_at(result, "sqlite-busy-timeout-missing")
    assert any(i.check == "backup-missing" for i in result.issues)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("exclude = 'tests'\n", "`exclude` must be a list of strings"),
        ("disable = ['no-such-check']\n", "unknown check id(s) no-such-check"),
        ("[severity]\nquery-n-plus-one = 'urgent'\n", "must be one of critical"),
        ("excludes = []\n", "unknown key(s) excludes"),
        ("exclude = [\n", "not valid TOML"),
    ],
)
def test_bad_settings_fail_the_target_with_a_clear_message(
    tmp_path: Path, content: str, message: str
) -> None:
    write(tmp_path, {"app/db.py": NO_WAIT, ".plumbline.toml": content})
    with pytest.raises(ConfigError, match=".plumbline.toml"):
        load_config(tmp_path)
    result = scan([Target("code", str(tmp_path))])
    assert not result.ok
    assert message in result.targets[0].error


def test_the_command_line_refuses_bad_settings(tmp_path: Path, capsys) -> None:
    write(tmp_path, {"app/db.py": NO_WAIT, ".plumbline.toml": "disable = 3\n"})
    assert cli_main(["scan", str(tmp_path)]) == 2
    assert "`disable` must be a list of strings" in capsys.readouterr().err


def test_inline_ignore_on_the_line_suppresses_with_its_reason(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "app/db.py": """\
                import sqlite3


                def open_db():
                    return sqlite3.connect("app.db", timeout=0)  # plumbline: ignore[sqlite-busy-timeout-missing] read by one process only


                def open_other():
                    return sqlite3.connect("other.db", timeout=0)
            """
        },
    )
    result = scan_folder(tmp_path)
    found = [i for i in result.issues if i.check == "sqlite-busy-timeout-missing"]
    assert [i.function for i in found] == ["app.db.open_other"]
    (item,) = [s for s in result.suppressed if s.how == "inline"]
    assert item.reason == "read by one process only (app/db.py:5)"


def test_inline_ignore_on_the_function_covers_its_body(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "app/db.py": """\
                import sqlite3


                # plumbline: ignore[sqlite-busy-timeout-missing] a probe that must fail fast
                def open_db(path):
                    conn = sqlite3.connect(
                        path,
                        timeout=0,
                    )
                    return conn
            """
        },
    )
    result = scan_folder(tmp_path)
    assert not checks_at(result, "sqlite-busy-timeout-missing")
    assert [s.reason for s in result.suppressed if s.how == "inline"] == [
        "a probe that must fail fast (app/db.py:4)"
    ]


def test_inline_ignore_of_another_check_or_without_reason_suppresses_nothing(
    tmp_path: Path,
) -> None:
    write(
        tmp_path,
        {
            "app/db.py": """\
                import sqlite3


                def open_db():
                    return sqlite3.connect("app.db", timeout=0)  # plumbline: ignore[sqlite-busy-timeout-missing]


                def open_other():
                    return sqlite3.connect("b.db", timeout=0)  # plumbline: ignore[sql-injection] not this one
            """
        },
    )
    result = scan_folder(tmp_path)
    assert len(checks_at(result, "sqlite-busy-timeout-missing")) == 2
    notes = [n for t in result.targets for n in t.notes]
    assert any("without a reason suppresses nothing" in n for n in notes)


def test_docs_are_a_schema_source_only_when_they_are_the_only_one(
    tmp_path: Path,
) -> None:
    write(tmp_path, {"docs/schema.md": DOC_SCHEMA, "app/db.py": NO_WAIT})
    only_docs = scan_folder(tmp_path)
    assert any(i.object.startswith("notes") for i in only_docs.issues)
    write(tmp_path, {"schema.sql": SCHEMA_SQL})
    with_ddl = scan_folder(tmp_path)
    # The real DDL has no status column; the simplified docs do.
    assert not any("notes.status" in i.object for i in with_ddl.issues)


def test_findings_carry_the_source_lines_around_them(tmp_path: Path) -> None:
    write(tmp_path, {"app/db.py": NO_WAIT})
    result = scan_folder(tmp_path)
    (issue,) = [i for i in result.issues if i.check == "sqlite-busy-timeout-missing"]
    assert issue.line == 5
    assert dict(issue.context)[5] == '    return sqlite3.connect("app.db", timeout=0)'
    assert min(dict(issue.context)) == 2


def test_outputs_carry_suppressions_settings_and_context(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "app/db.py": NO_WAIT,
            ".plumbline.toml": 'disable = ["backup-missing"]\n',
        },
    )
    result = scan_folder(tmp_path)
    data = json.loads(json_out.render(result))
    assert data["config"]["disable"] == ["backup-missing"]
    assert [s["check"] for s in data["suppressed"]] == ["backup-missing"]
    assert data["suppressed"][0]["reason"] == "disabled in .plumbline.toml"
    finding = next(
        f for f in data["findings"] if f["check"] == "sqlite-busy-timeout-missing"
    )
    assert {"line": 5, "text": '    return sqlite3.connect("app.db", timeout=0)'} in (
        finding["context"]
    )
    log = json.loads(sarif.render(result, base=tmp_path))
    results = log["runs"][0]["results"]
    suppressed = [r for r in results if r.get("suppressions")]
    assert suppressed[0]["suppressions"][0] == {
        "kind": "external",
        "justification": "disabled in .plumbline.toml",
    }
    live = next(r for r in results if r["ruleId"] == "sqlite-busy-timeout-missing")
    region = live["locations"][0]["physicalLocation"]["region"]
    assert region["snippet"]["text"].strip().startswith("return sqlite3.connect")
    assert "Suppressed (1)" in text.render(result)
    assert "## 5. Suppressed by the project" in markdown.render(result)


def test_settings_stored_by_a_project_are_the_same_options() -> None:
    config = config_from_dict(
        {"exclude": ["tests"], "disable": ["backup-missing"], "severity": {}}
    )
    assert config == ProjectConfig(
        exclude=("tests",), disable=frozenset({"backup-missing"}), source=config.source
    )
    assert config_from_dict(None).exclude == DEFAULT_EXCLUDE
    with pytest.raises(ConfigError, match="project settings"):
        config_from_dict({"disable": ["nope"]})
