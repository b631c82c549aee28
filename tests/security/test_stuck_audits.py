"""Stuck audits: a killed worker's audit is failed within minutes, a stuck
audit can be cancelled from its page, and embedded mode sweeps without beat."""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from audits import runs, services
from audits.models import LOST_ERROR, Audit
from findings.models import Finding
from projects.models import Project, Target
from tests.audits.test_worker import (
    REDIS_URL,
    ROOT,
    child_env,
    ddl_project,
    redis_available,
    send,
    wait_for,
)

from .servers import silent_postgres


def findings_state():
    return list(
        Finding.objects.order_by("pk").values_list(
            "pk", "status", "sighting__audit_number"
        )
    )


def with_silent_target(project, port):
    """Add a database target that holds the audit for half a minute."""
    Target.objects.create(
        project=project,
        kind=Target.Kind.POSTGRESQL,
        location=f"postgresql://u@127.0.0.1:{port}/x",
    )


@pytest.fixture
def beating_worker():
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
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
        env=child_env(PLUMBLINE_AUDIT_HEARTBEAT_SECONDS="1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)
    client.flushdb()


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not redis_available(), reason="Redis does not answer")
def test_a_worker_killed_mid_audit_leaves_an_audit_failed_within_the_stated_time(
    team, owner, tmp_path, settings, beating_worker
):
    settings.AUDIT_LOST_AFTER = 5
    project = ddl_project(team, tmp_path)
    first = services.start_audit(project, enqueue=False)
    runs.execute_audit(first.pk)
    before = findings_state()
    assert before
    with silent_postgres() as port:
        with_silent_target(project, port)
        audit = services.start_audit(project, enqueue=False)
        send(audit.pk)
        # The worker is inside the audit and beating (a beat after its claim).
        assert wait_for(lambda: beat_since_claim(audit.pk), timeout=60)
        assert runs.sweep_stuck_audits() == 0  # alive: left alone
        os.kill(beating_worker.pid, signal.SIGKILL)
        beating_worker.wait(10)
        killed = time.monotonic()
        assert wait_for(lambda: runs.sweep_stuck_audits() == 1, timeout=120)
        took = time.monotonic() - killed
    audit.refresh_from_db()
    assert audit.status == Audit.Status.FAILED
    assert audit.error == LOST_ERROR
    # Within the stated limit: AUDIT_LOST_AFTER plus a sweep interval.
    assert took < settings.AUDIT_LOST_AFTER + 60
    assert findings_state() == before


def beat_since_claim(audit_id) -> bool:
    audit = Audit.objects.get(pk=audit_id)
    return (
        audit.status == Audit.Status.RUNNING
        and audit.heartbeat_at is not None
        and audit.heartbeat_at > audit.started_at
    )


@pytest.mark.django_db(transaction=True)
def test_a_stuck_audit_is_cancelled_from_its_page_and_the_run_changes_nothing(
    client, team, owner, tmp_path
):
    project = ddl_project(team, tmp_path)
    runs.execute_audit(services.start_audit(project, enqueue=False).pk)
    before = findings_state()
    with silent_postgres() as port:
        with_silent_target(project, port)
        audit = services.start_audit(project, enqueue=False)
        # The audit runs as embedded mode runs it: in a thread of this process.
        worker = threading.Thread(target=runs.execute_audit, args=[audit.pk])
        worker.start()
        assert wait_for(
            lambda: Audit.objects.get(pk=audit.pk).status == Audit.Status.RUNNING
        )
        client.force_login(owner)
        page = client.get(reverse("audits:detail", args=[audit.pk]))
        assert b"Cancel this audit" in page.content
        response = client.post(reverse("audits:cancel", args=[audit.pk]), follow=True)
        assert "cancelled. No finding was changed" in response.content.decode()
        worker.join(90)
        assert not worker.is_alive()
    connection.close()
    audit.refresh_from_db()
    assert audit.status == Audit.Status.FAILED
    assert audit.error.startswith("Cancelled by olivia")
    assert findings_state() == before
    # A finished audit offers no cancel button, and cancelling it again keeps it.
    page = client.get(reverse("audits:detail", args=[audit.pk]))
    assert b"Cancel this audit" not in page.content
    again = client.post(reverse("audits:cancel", args=[audit.pk]), follow=True)
    assert "had already finished" in again.content.decode()


def test_viewers_cannot_cancel_and_outsiders_get_404(client, project, viewer, outsider):
    audit = services.start_audit(project, enqueue=False)
    client.force_login(viewer)
    assert client.post(reverse("audits:cancel", args=[audit.pk])).status_code == 403
    client.force_login(outsider)
    assert client.post(reverse("audits:cancel", args=[audit.pk])).status_code == 404
    assert client.get(reverse("audits:cancel", args=[audit.pk])).status_code in (
        404,
        405,
    )
    assert Audit.objects.get(pk=audit.pk).status == Audit.Status.QUEUED


def test_embedded_mode_sweeps_a_stuck_audit_without_beat(
    client, project, owner, settings
):
    assert settings.CELERY_TASK_ALWAYS_EAGER  # no broker: no beat either
    audit = services.start_audit(project, enqueue=False)
    long_ago = timezone.now() - timedelta(seconds=settings.AUDIT_LOST_AFTER + 60)
    Audit.objects.filter(pk=audit.pk).update(
        status=Audit.Status.RUNNING, started_at=long_ago, heartbeat_at=long_ago
    )
    runs._last_sweep = 0.0  # this process has not swept yet
    client.force_login(owner)
    response = client.get(reverse("audits:status", args=[audit.pk]))
    assert response.status_code == 200
    audit.refresh_from_db()
    assert audit.status == Audit.Status.FAILED and audit.error == LOST_ERROR
    assert "no sign of life" in response.content.decode()
    # The project is free again: a new audit can start.
    assert not Project.objects.get(pk=project.pk).audits.active().exists()
