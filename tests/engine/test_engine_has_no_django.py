"""The engine runs without Django: every module imports and a scan runs."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROGRAM = textwrap.dedent(
    """
    import importlib, pkgutil, sqlite3, sys, tempfile
    from pathlib import Path

    import audits.engine as engine

    failed = []
    for module in pkgutil.walk_packages(engine.__path__, "audits.engine."):
        try:
            importlib.import_module(module.name)
        except Exception as exc:
            failed.append(f"{module.name}: {type(exc).__name__}: {exc}")
    assert not failed, failed

    from audits.engine.render import json_out, markdown, sarif, text
    from audits.engine.scan import Target, scan

    folder = Path(tempfile.mkdtemp())
    (folder / "schema.sql").write_text(
        "CREATE TABLE users (id INTEGER PRIMARY KEY);"
        "CREATE TABLE posts (id INTEGER PRIMARY KEY,"
        " user_id INTEGER REFERENCES users(id));"
    )
    conn = sqlite3.connect(folder / "app.db")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, user_id INTEGER)")
    conn.close()
    result = scan([Target("ddl", str(folder / "schema.sql")),
                   Target("sqlite", str(folder / "app.db"))])
    assert result.ok, [t.error for t in result.targets]
    for renderer in (json_out, markdown, sarif, text):
        renderer.render(result)
    leaked = sorted(m for m in sys.modules if m == "django" or m.startswith("django."))
    assert not leaked, leaked
    print("ok", len(result.issues))
    """
)


def test_engine_imports_and_scans_without_importing_django() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok")
