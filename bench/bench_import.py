"""Benchmark importing reports: parse, then reconcile and store, per file.

Imports report 000 (28 findings), a generated Markdown report of 1,000
findings and a generated SARIF log of 5,000 results into a fresh project,
first time (every finding new) and again (every finding seen again). Each
run is rolled back so every run starts from the same state. Runs on the
local PostgreSQL (BENCH_DATABASE_URL to change it) or, with --sqlite, on a
temporary SQLite file. Prints a Markdown table of medians.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB = "plumbline_bench_import"
SQLITE = "--sqlite" in sys.argv
if SQLITE:
    os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite3"
else:
    os.environ["DATABASE_URL"] = os.environ.get(
        "BENCH_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{DB}"
    )
os.environ.setdefault("SECRET_KEY", "bench-only")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.pop("REDIS_URL", None)

RUNS = 5
REPORTS = ROOT.parent / "shared" / "reports"


def markdown_report(n: int) -> bytes:
    parts = ["# Generated audit\n"]
    severities = ["Critical", "High", "Medium", "Low"]
    for i in range(1, n + 1):
        parts.append(
            f"\n### GEN-{i}: Table t{i} column c{i} has no foreign key\n"
            f"**File:** `app/models_{i % 50}.py:{i}` | "
            f"**Severity:** {severities[i % 4]} | **Effort:** {i % 3 + 1}h\n\n"
            f"Column t{i}.c{i} refers to another table without a constraint.\n\n"
            f"**Fix:** Add the foreign key to t{i}.c{i}.\n"
        )
    return "".join(parts).encode()


def sarif_log(n: int) -> bytes:
    results = [
        {
            "ruleId": f"R{i % 40}",
            "level": ["error", "warning", "note"][i % 3],
            "message": {"text": f"Problem {i} in function f{i}."},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": f"src/module_{i % 200}.py"},
                        "region": {"startLine": i % 900 + 1},
                    }
                }
            ],
        }
        for i in range(n)
    ]
    return json.dumps(
        {
            "version": "2.1.0",
            "runs": [{"tool": {"driver": {"name": "linter"}}, "results": results}],
        }
    ).encode()


def main() -> None:
    if not SQLITE:
        subprocess.run(
            ["createdb", "-h", "127.0.0.1", "-U", "postgres", DB],
            capture_output=True,
            check=False,
        )
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection, transaction

    from audits.engine.reports import parse_report
    from audits.imports import import_report
    from projects.models import Project, Team

    call_command("migrate", verbosity=0)
    team, _ = Team.objects.get_or_create(slug="bench", defaults={"name": "Bench"})
    project, _ = Project.objects.get_or_create(
        team=team, slug="import", defaults={"name": "Import"}
    )
    (report_000,) = REPORTS.glob("000_*.txt")
    cases = [
        ("report 000 (Markdown)", report_000.read_bytes(), "000.md"),
        ("1,000 findings (Markdown)", markdown_report(1000), "gen.md"),
        ("5,000 results (SARIF)", sarif_log(5000), "gen.sarif"),
    ]
    print(f"Database: {connection.vendor}; median of {RUNS} runs, seconds.\n")
    print("| file | size | items | parse | first import (with parse) | re-import |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, data, name in cases:
        assert len(data) <= settings.IMPORT_MAX_BYTES, label
        parse, first, again, items = [], [], [], 0
        for _ in range(RUNS):
            started = time.perf_counter()
            items = len(parse_report(data, name).items)
            parse.append(time.perf_counter() - started)
            with transaction.atomic():
                started = time.perf_counter()
                import_report(project, data=data, filename=name)
                first.append(time.perf_counter() - started)
                started = time.perf_counter()
                import_report(project, data=data, filename=name)
                again.append(time.perf_counter() - started)
                transaction.set_rollback(True)
        print(
            f"| {label} | {len(data) / 1024:.0f} KB | {items} "
            f"| {statistics.median(parse):.3f} | {statistics.median(first):.3f} "
            f"| {statistics.median(again):.3f} |"
        )


if __name__ == "__main__":
    main()
