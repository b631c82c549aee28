"""Celery tasks: thin wrappers that take ids and call audits.runs.

The scheduler's task is ``projects.tasks.enqueue_due_audits``: it starts
audits, so it sits above ``audits.services``, which queues the tasks here.
"""

from celery import shared_task

from . import runs


@shared_task(acks_late=True, ignore_result=True)
def run_audit(audit_id: int) -> None:
    """Run the audit ``audit_id`` (a no-op if another worker claimed it)."""
    runs.execute_audit(audit_id)


@shared_task(ignore_result=True)
def sweep_stuck_audits() -> None:
    """Fail audits stuck in running past the time limit."""
    runs.sweep_stuck_audits()
