"""Audits through a real Celery worker and real Redis, and concurrent dispatchers."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from audits import services
from audits.models import Audit
from audits.tasks import run_audit
from config.celery import app as celery_app
from findings.models import Finding
from projects.models import Project, Target

# Worktrees that test side by side on one Redis each take their own database.
REDIS_DB = int(os.environ.get("PLUMBLINE_TEST_REDIS_DB", "14"))
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
ROOT = Path(settings.BASE_DIR)


def redis_available() -> bool:
    try:
        return redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False


pytestmark = [
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not redis_available(), reason="Redis does not answer on 127.0.0.1:6379"
    ),
]


def database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    user = s.get("USER") or "postgres"
    return f"postgres://{user}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


def child_env(**extra) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": "test-only",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    env.update(extra)
    return env


@pytest.fixture
def clean_redis():
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture
def worker(clean_redis):
    yield from run_worker()


def run_worker(**env):
    """Start a real worker (with ``env`` added to its environment); stop it after."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--concurrency=1",
            "--loglevel=WARNING",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=ROOT,
        env=child_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    yield proc
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def send(audit_id: int) -> None:
    """Send the task through Redis, as a web process with REDIS_URL would."""
    # Settings-backed configuration is keyed by the namespaced name.
    eager = celery_app.conf.task_always_eager
    celery_app.conf.CELERY_TASK_ALWAYS_EAGER = False
    try:
        with celery_app.connection_for_write(REDIS_URL) as conn:
            run_audit.apply_async(args=[audit_id], connection=conn)
    finally:
        celery_app.conf.CELERY_TASK_ALWAYS_EAGER = eager


def wait_for(predicate, timeout=90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.3)
    return False


def ddl_project(team, tmp_path, tables=3):
    ddl = tmp_path / "schema.sql"
    lines = ["CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT);"]
    lines += [
        f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id),"
        f" status TEXT DEFAULT 'new', is_done INTEGER, name TEXT);"
        for i in range(tables)
    ]
    ddl.write_text("\n".join(lines))
    project = Project.objects.create(team=team, name=f"P{tables}", slug=f"p{tables}")
    Target.objects.create(project=project, kind=Target.Kind.DDL, location=str(ddl))
    return project


def test_a_real_worker_runs_an_audit_end_to_end(team, owner, tmp_path, worker):
    project = ddl_project(team, tmp_path)
    audit = services.start_audit(project, enqueue=False)
    send(audit.pk)
    # Sending returned before the audit ran: it runs in the worker, not here.
    assert not Audit.objects.get(pk=audit.pk).is_finished
    assert wait_for(lambda: Audit.objects.get(pk=audit.pk).is_finished), worker_output(
        worker
    )
    audit.refresh_from_db()
    assert audit.status == Audit.Status.SUCCEEDED, audit.error
    assert audit.summary["new"] == Finding.objects.filter(project=project).count() > 0


def worker_output(proc) -> str:
    proc.terminate()
    out, _ = proc.communicate(timeout=10)
    return out.decode(errors="replace")[-3000:]


def test_a_killed_worker_leaves_an_audit_the_sweeper_fails_without_touching_findings(
    team, owner, tmp_path, worker
):
    project = ddl_project(team, tmp_path, tables=3)
    first = services.start_audit(project, enqueue=False)
    services.execute_audit(first.pk)
    before = list(
        Finding.objects.order_by("pk").values_list(
            "pk", "status", "sighting__audit_number"
        )
    )
    # A schema big enough that the worker is still scanning when it dies.
    big = tmp_path / "big.sql"
    big.write_text(
        "\n".join(
            f"CREATE TABLE big{i} (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id),"
            f" kind TEXT DEFAULT 'a', score INTEGER, created TEXT);"
            for i in range(1500)
        )
    )
    Target.objects.create(project=project, kind=Target.Kind.DDL, location=str(big))
    audit = services.start_audit(project, enqueue=False)
    send(audit.pk)
    assert wait_for(
        lambda: Audit.objects.get(pk=audit.pk).status == Audit.Status.RUNNING
    )
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(10)
    assert Audit.objects.get(pk=audit.pk).status == Audit.Status.RUNNING
    later = timezone.now() + timedelta(seconds=settings.AUDIT_TIME_LIMIT + 1)
    assert services.sweep_stuck_audits(now=later) == 1
    audit.refresh_from_db()
    assert audit.status == Audit.Status.FAILED
    after = list(
        Finding.objects.order_by("pk").values_list(
            "pk", "status", "sighting__audit_number"
        )
    )
    assert after == before


DISPATCH = """
import os, time, django
django.setup()
from audits.services import enqueue_due_audits
start = float(os.environ["START_AT"])
time.sleep(max(0, start - time.time()))
started = []
for _ in range(3):
    started += enqueue_due_audits()
print(len(started))
"""


def test_concurrent_dispatchers_start_exactly_one_audit_per_due_project(
    team, owner, clean_redis
):
    due = timezone.now() - timedelta(minutes=5)
    projects = [
        Project.objects.create(
            team=team, name=f"Due {i}", slug=f"due-{i}", next_audit_at=due
        )
        for i in range(12)
    ]
    Project.objects.create(
        team=team,
        name="Later",
        slug="later",
        next_audit_at=timezone.now() + timedelta(hours=1),
    )
    env = child_env(START_AT=str(time.time() + 4))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", DISPATCH],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    counts = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()[-2000:]
        counts.append(int(out.split()[-1]))
    assert sum(counts) == len(projects)
    per_project = {
        p.pk: Audit.objects.filter(project=p, trigger=Audit.Trigger.SCHEDULE).count()
        for p in projects
    }
    assert set(per_project.values()) == {1}
    assert not Audit.objects.filter(project__slug="later").exists()
