"""Time the migration analysis of 100 migration files.

Generates two histories of 100 files each under ``bench/generated/migrations``:
versioned PostgreSQL SQL files (tables created, then altered, indexed,
constrained and renamed by later files) and a Django app's migrations
(CreateModel, AddField, AlterField, AddIndex, RunSQL...). Each is scanned as
a ``migrations`` target (read, replayed, every rule judged) a number of
times after one warm-up; the median, min and max wall and CPU times and the
machine's load go under the ``## Migration analysis`` heading of
``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_reconcile import replace_section  # noqa: E402  (RESULTS.md's section writer)

from audits.engine.scan import ScanResult, Target, scan  # noqa: E402
from audits.engine.sources.migrations import load_history  # noqa: E402

OUT = ROOT / "bench" / "generated" / "migrations"
RESULTS = ROOT / "bench" / "RESULTS.md"
HEADING = "## Migration analysis"
FILES = 100


def sql_file(n: int) -> str:
    """Return the SQL of migration ``n``: a new table and changes to older ones."""
    old = f"t{n - 1}" if n > 1 else "t1"
    lines = [
        f"CREATE TABLE t{n} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,",
        "    name varchar(100) NOT NULL, owner_id bigint, amount numeric(10, 2),",
        "    created_at timestamptz NOT NULL DEFAULT now(), note text);",
        f"CREATE INDEX t{n}_owner ON t{n} (owner_id);",
    ]
    if n > 1:
        lines += [
            f"ALTER TABLE {old} ADD COLUMN flag_{n} boolean NOT NULL DEFAULT false;",
            f"ALTER TABLE {old} ADD COLUMN code_{n} text NOT NULL;",
            f"CREATE INDEX {old}_name_{n} ON {old} (name);",
            f"ALTER TABLE {old} ALTER COLUMN amount TYPE numeric(12, 2);",
            f"ALTER TABLE {old} ADD CONSTRAINT {old}_fk_{n} FOREIGN KEY (owner_id) "
            f"REFERENCES t{n} (id) NOT VALID;",
            f"ALTER TABLE {old} VALIDATE CONSTRAINT {old}_fk_{n};",
            f"ALTER TABLE {old} ALTER COLUMN note SET NOT NULL;",
            f"ALTER TABLE {old} RENAME COLUMN note TO remark_{n};",
            f"UPDATE {old} SET flag_{n} = true WHERE amount > 100;",
        ]
    return "\n".join(lines) + "\n"


def django_file(n: int) -> str:
    """Return Django migration ``n`` of app ``shop``."""
    ops = [
        f"""        migrations.CreateModel(
            name="Item{n}",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=100)),
                ("total", models.IntegerField()),
            ],
        ),"""
    ]
    if n > 1:
        ops.append(
            f"""        migrations.AddField(
            model_name="item{n - 1}", name="status_{n}",
            field=models.CharField(blank=True, max_length=10),
        ),
        migrations.AlterField(
            model_name="item{n - 1}", name="total", field=models.BigIntegerField(),
        ),
        migrations.AddIndex(
            model_name="item{n - 1}",
            index=models.Index(fields=["name"], name="item{n - 1}_name_{n}"),
        ),
        migrations.RunSQL("UPDATE shop_item{n - 1} SET total = 0 WHERE total < 0;"),"""
        )
    body = "\n".join(ops)
    return (
        "from django.db import migrations, models\n\n\n"
        "class Migration(migrations.Migration):\n"
        f"    operations = [\n{body}\n    ]\n"
    )


def generate() -> dict[str, Path]:
    """Write both histories; return them by name."""
    shutil.rmtree(OUT, ignore_errors=True)
    sql = OUT / "sql" / "db" / "migrations"
    django = OUT / "django" / "shop" / "migrations"
    sql.mkdir(parents=True)
    django.mkdir(parents=True)
    (django / "__init__.py").write_text("")
    for n in range(1, FILES + 1):
        (sql / f"V{n}__change_{n}.sql").write_text(sql_file(n))
        (django / f"{n:04d}_change_{n}.py").write_text(django_file(n))
    return {"SQL (PostgreSQL)": OUT / "sql", "Django": OUT / "django"}


def timed(folder: Path, scratch: str = "") -> tuple[float, float, ScanResult]:
    """Return (wall, CPU) seconds of one scan of ``folder`` and its result."""
    started, cpu = time.perf_counter(), time.process_time()
    result = scan([Target("migrations", str(folder), scratch_db=scratch)])
    return time.perf_counter() - started, time.process_time() - cpu, result


def uptime() -> str:
    """Return ``uptime``'s line, or the load averages when it cannot run."""
    try:
        return subprocess.run(
            ["uptime"], capture_output=True, text=True, check=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def measure(name: str, folder: Path, runs: int, scratch: str = "") -> str:
    """Return the table row of one history (dry-run on ``scratch`` when given)."""
    timed(folder, scratch)  # warm-up: imports and sqlglot's start-up
    walls, cpus = [], []
    result = None
    for _ in range(runs):
        wall, cpu, result = timed(folder, scratch)
        walls.append(wall)
        cpus.append(cpu)
    assert result is not None and result.ok, result
    history = load_history(folder)
    statements = len(history.statements) if history is not None else 0
    print(f"{name}: median {statistics.median(walls):.3f} s wall")
    return (
        f"| {name} | {FILES} | {statements:,} | {statistics.median(walls):.3f} "
        f"({min(walls):.3f}–{max(walls):.3f}) | {statistics.median(cpus):.3f} | "
        f"{len(result.issues)} |\n"
    )


def main() -> int:
    """Generate, time and record."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument(
        "--scratch-db", default="", help="also time the SQL history's dry run here"
    )
    args = parser.parse_args()
    histories = generate()
    before = uptime()
    rows = "".join(measure(name, path, args.runs) for name, path in histories.items())
    if args.scratch_db:
        sql = histories["SQL (PostgreSQL)"]
        rows += measure("SQL + dry run", sql, args.runs, args.scratch_db)
    after = uptime()
    section = (
        f"{HEADING}\n\n"
        "`bench/bench_migrations.py`: a `migrations` target of 100 generated migration "
        "files, read, replayed statement by statement and judged by every migration "
        "rule; the last row also applies the SQL history to the local PostgreSQL "
        "(`--scratch-db`) and rolls it back. The SQL history creates a table per file and adds "
        "columns, indexes, type changes, constraints and renames to the previous one; "
        "the Django history does the same with CreateModel, AddField, AlterField, "
        "AddIndex and RunSQL. Target: under 2 s each. Median (min–max) of "
        f"{args.runs} runs after one warm-up, in seconds; CPU is the scanning "
        "process's. Shared 2-core machine, Python "
        f"{platform.python_version()}; `uptime` before: `{before}`; after: `{after}`.\n\n"
        "| History | Files | Statements | Wall (s) | CPU (s) | Findings |\n"
        "|---|---:|---:|---|---:|---:|\n"
        f"{rows}"
    )
    print(section)
    if not args.no_write:
        replace_section(RESULTS, HEADING, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
