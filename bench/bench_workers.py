"""Benchmark audits across worker processes over the local Redis and PostgreSQL.

Queue one audit for each of 200 projects, as the scheduler does, to 1 and
then 2 Celery worker processes; measure audits per minute from the first
task queued to the last audit finished, check that every project got
exactly one audit and that every audit succeeded, and sample the resident
memory of each worker (its process and pool children). Figures go to the
"## Workers" section of bench/RESULTS.md.
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB = "plumbline_bench_workers"
REDIS_DB = int(os.environ.get("BENCH_REDIS_DB", "12"))
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", f"postgres://postgres@127.0.0.1:5432/{DB}"
)
FILES = Path(tempfile.mkdtemp(prefix="plumbline-bench-workers-"))
os.environ.update(
    DATABASE_URL=DATABASE_URL,
    REDIS_URL=REDIS_URL,
    SECRET_KEY=os.environ.get("SECRET_KEY", "bench-only"),
    DJANGO_SETTINGS_MODULE="config.settings",
    PLUMBLINE_TARGET_PATH_ROOTS=str(FILES),
    CONN_MAX_AGE="0",
)

PROJECTS = 200
WORKER_COUNTS = (1, 2)
TABLES = 12  # per project schema: a small real audit each


def schema(n: int) -> str:
    # plumbline: ignore[secret-stored-plaintext] a throwaway benchmark schema that never holds a password
    lines = ["CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT, password TEXT);"]
    for i in range(TABLES):
        lines.append(
            f"CREATE TABLE t{n}_{i} (id INTEGER PRIMARY KEY, user_id INTEGER "
            f"REFERENCES users(id), status TEXT DEFAULT 'new', total REAL, note TEXT);"
        )
    lines.append(f"CREATE TABLE log_{n} (user_id INTEGER, action TEXT, at TEXT);")
    return "\n".join(lines) + "\n"


def ensure_database() -> None:
    subprocess.run(
        ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", DB],
        capture_output=True,
        check=False,
    )
    subprocess.run(
        ["createdb", "-h", "127.0.0.1", "-U", "postgres", DB],
        capture_output=True,
        check=True,
    )


def rss_kb(pid: int) -> int:
    """Return the resident memory of a process and its children, in KiB."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def start_worker(n: int) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--concurrency=1",
            "--loglevel=WARNING",
            f"--hostname=bench{n}@%h",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def run(workers: int) -> dict:
    import redis
    from django.db.models import Count

    from audits import services
    from audits.models import Audit
    from findings.models import Finding
    from projects.models import Project

    redis.Redis.from_url(REDIS_URL).flushdb()
    Finding.objects.all().delete()
    Audit.objects.all().delete()
    procs = [start_worker(n) for n in range(workers)]
    peak = {p.pid: 0 for p in procs}
    time.sleep(3)  # let the workers connect before the clock starts
    projects = list(Project.objects.filter(team__slug="bench-workers"))
    started = time.monotonic()
    for project in projects:
        services.start_audit(project, trigger=Audit.Trigger.SCHEDULE)
    queued = time.monotonic() - started
    while True:
        for p in procs:
            peak[p.pid] = max(peak[p.pid], rss_kb(p.pid))
        if not Audit.objects.active().exists():
            break
        if time.monotonic() - started > 1800:
            raise SystemExit("the audits did not finish within 30 minutes")
        time.sleep(0.5)
    took = time.monotonic() - started
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait(30)
    per_project = (
        Audit.objects.values("project")
        .annotate(n=Count("id"))
        .values_list("n", flat=True)
    )
    statuses = dict(
        Audit.objects.values("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    return {
        "workers": workers,
        "seconds": took,
        "queue_seconds": queued,
        "per_minute": 60 * len(projects) / took,
        "one_each": set(per_project) == {1} and len(per_project) == len(projects),
        "statuses": statuses,
        "rss_mb": [peak[p.pid] / 1024 for p in procs],
        "load": os.getloadavg()[0],
    }


def main() -> None:
    ensure_database()
    import django

    django.setup()
    from django.core.management import call_command

    from projects.models import Project, Target, Team

    call_command("migrate", verbosity=0)
    team, _ = Team.objects.get_or_create(
        slug="bench-workers", defaults={"name": "Bench workers"}
    )
    for n in range(PROJECTS):
        path = FILES / f"p{n}" / "schema.sql"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(schema(n))
        project = Project.objects.create(
            team=team, name=f"Project {n}", slug=f"p{n}", audit_interval_hours=0
        )
        Target.objects.create(project=project, kind="ddl", location=str(path))
    results = []
    for workers in WORKER_COUNTS:
        result = run(workers)
        results.append(result)
        print(
            f"{workers} worker(s): {PROJECTS} audits in {result['seconds']:.1f} s, "
            f"{result['per_minute']:.0f}/min, one each: {result['one_each']}, "
            f"{result['statuses']}, peak RSS "
            + ", ".join(f"{m:.0f} MB" for m in result["rss_mb"])
        )
        if not result["one_each"] or set(result["statuses"]) != {"succeeded"}:
            raise SystemExit("not exactly one successful audit per project")
    write_results(results)


def write_results(results: list[dict]) -> None:
    base = results[0]["per_minute"]
    lines = [
        "## Workers",
        "",
        f"{PROJECTS} projects, each with a {TABLES + 2}-table DDL target, queued as the "
        "scheduler queues them (one `run_audit` task each through the local Redis), "
        "run by 1 and then 2 Celery worker processes (prefork, concurrency 1 each) "
        "against the local PostgreSQL. Time runs from the first task queued to the "
        "last audit finished; memory is the peak resident size of each worker "
        "(its main process and pool child), sampled every 0.5 s. On a shared "
        "2-core machine where other work was running (1-minute load average when "
        "each run ended is shown).",
        "",
        "| workers | audits | queued in | time | audits/min | vs 1 worker | "
        "one audit per project | peak RSS per worker | load |",
        "|---:|---:|---:|---:|---:|---:|:---:|---|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['workers']} | {PROJECTS} | {r['queue_seconds']:.1f} s | "
            f"{r['seconds']:.1f} s | "
            f"{r['per_minute']:.0f} | {r['per_minute'] / base:.2f}x | "
            f"{'yes' if r['one_each'] else 'NO'} | "
            + ", ".join(f"{m:.0f} MB" for m in r["rss_mb"])
            + f" | {r['load']:.1f} |"
        )
    cores = os.cpu_count() or 1
    busiest = max(r["load"] for r in results)
    lines += [
        "",
        f"The machine has {cores} cores. "
        + (
            f"With a load average of {busiest:.1f} there was no idle core for a "
            "second worker process to use, so this run cannot show what a second "
            "core or machine adds; what it shows is that audits spread over several "
            "workers without duplicates (each is claimed by a conditional UPDATE: "
            "every project got exactly one audit), that queueing 200 audits takes "
            "the time in the third column, and that each worker adds about the "
            "memory shown."
            if busiest > cores
            else "The second worker process used the second core."
        ),
    ]
    replace_section(
        ROOT / "bench" / "RESULTS.md", "## Workers", "\n".join(lines) + "\n"
    )


def replace_section(path: Path, heading: str, body: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    start = text.find(heading)
    if start == -1:
        text = text.rstrip() + "\n\n" + body
    else:
        end = text.find("\n## ", start + len(heading))
        text = text[:start] + body + ("" if end == -1 else text[end:])
    path.write_text(text)


if __name__ == "__main__":
    main()
