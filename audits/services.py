"""Audit workflows: start an audit (and queue its run), and schedule audits.

Running an audit lives in ``audits.runs``, which the tasks call; this module
sits above the tasks and is the only one that queues them.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import connections, transaction
from django.utils import timezone

from projects.models import Project, Target

from .models import Audit
from .runs import execute_audit, record_results, sweep_stuck_audits
from .tasks import notify_audit, run_audit

log = logging.getLogger(__name__)

__all__ = [
    "claim_audit",
    "conclude_audit",
    "record_upload",
    "enqueue_due_audits",
    "execute_audit",
    "queue_audit",
    "run_in_thread",
    "start_audit",
    "sweep_stuck_audits",
]


def start_audit(
    project: Project,
    *,
    trigger: str = Audit.Trigger.MANUAL,
    user=None,
    origin: str = "engine",
    enqueue: bool = True,
) -> Audit:
    """Create the project's next audit, queued, and enqueue its task on commit."""
    with transaction.atomic():
        audit = Audit.objects.start(project, trigger=trigger, origin=origin, user=user)
        if trigger not in (Audit.Trigger.IMPORT, Audit.Trigger.UPLOAD):
            project.schedule_next()
            Project.objects.filter(pk=project.pk).update(
                next_audit_at=project.next_audit_at
            )
        if enqueue:
            queue_audit(audit.pk)
    return audit


def queue_audit(audit_id: int) -> None:
    """Have the audit run once the current transaction commits.

    With a broker a worker runs it. Embedded (no broker) it runs in a
    background thread of this process, so the request that started it
    returns at once and the page shows its progress as it moves.
    """
    if settings.AUDITS_IN_THREAD:
        transaction.on_commit(lambda: run_in_thread(audit_id))
    else:
        run_audit.delay_on_commit(audit_id)


def run_in_thread(audit_id: int) -> threading.Thread:
    """Run the audit in a daemon thread of this process; return the thread."""
    thread = threading.Thread(
        target=_run_in_thread, args=(audit_id,), name=f"audit-{audit_id}", daemon=True
    )
    thread.start()
    return thread


def _run_in_thread(audit_id: int) -> None:
    try:
        # The task's own body, as a worker would run it (notifications
        # included), in this thread.
        run_audit(audit_id)
    except Exception:
        # execute_audit logged it and marked the audit failed; a thread has
        # nobody to raise to.
        log.warning("audit %s ended on an error in its thread", audit_id)
    finally:
        # The thread's own connection would otherwise stay open for good.
        connections.close_all()


def claim_audit(audit_id: int) -> bool:
    """Move a queued audit to running; return False if someone else has it."""
    return Audit.objects.claim(audit_id)


def enqueue_due_audits(now=None) -> list[Audit]:
    """Start one scheduled audit per project whose interval has elapsed.

    Safe with several beats or workers: due projects are claimed with
    ``SELECT ... FOR UPDATE SKIP LOCKED`` (PostgreSQL) or inside SQLite's
    IMMEDIATE write transaction, and their next time moves in the same
    transaction, so no project is claimed twice.
    """
    now = now or timezone.now()
    started: list[Audit] = []
    with transaction.atomic():
        due = list(
            Project.objects.due(now)
            .select_for_update(skip_locked=True)
            .order_by("next_audit_at")[:200]
        )
        busy = set(
            Audit.objects.active()
            .filter(project__in=due)
            .values_list("project_id", flat=True)
        )
        for project in due:
            if project.pk in busy:
                project.schedule_next(after=now)
                Project.objects.filter(pk=project.pk).update(
                    next_audit_at=project.next_audit_at
                )
                continue
            started.append(start_audit(project, trigger=Audit.Trigger.SCHEDULE))
    return started


def conclude_audit(audit: Audit) -> None:
    """Record the quality gate's verdict on a finished audit; notify after commit.

    One message per audit goes out once the audit's transaction commits.
    """
    from . import gate

    gate.record(audit)
    notify_audit.delay_on_commit(audit.pk)


def record_upload(project: Project, data, *, user=None) -> Audit:
    """Turn a scan uploaded from CI (the ``--format json`` document) into an audit.

    Each uploaded target becomes (or reuses) a target of the project marked
    ``uploaded``, matched on kind and location, so the audit reconciles
    exactly as a worker's scan of those targets would, and fixes nothing on
    the project's other targets. Raise ``UploadError`` (a ValueError) when
    the document is not a scan.
    """
    from audits.engine.render.json_out import from_data

    result = from_data(data)
    started = time.monotonic()
    with transaction.atomic():
        audit = start_audit(
            project, trigger=Audit.Trigger.UPLOAD, user=user, enqueue=False
        )
        pairs = []
        for target_result in result.targets:
            engine = target_result.target
            target, _ = Target.objects.get_or_create(
                project=project,
                kind=engine.kind,
                location=engine.location,
                uploaded=True,
                defaults={"enabled": False},
            )
            pairs.append((target, target_result))
    Audit.objects.claim(audit.pk)
    audit.refresh_from_db()
    try:
        audit = record_results(audit, pairs, started=started)
    except Exception as exc:
        log.exception("upload audit %s failed", audit.pk)
        audit.fail(f"The upload stopped on an internal error: {type(exc).__name__}")
        raise
    notify_audit.delay_on_commit(audit.pk)
    return audit
