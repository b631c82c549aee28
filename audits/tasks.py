"""Celery tasks: thin wrappers that take ids and call audits.services."""

from celery import shared_task

from . import services


@shared_task(acks_late=True, ignore_result=True)
def run_audit(audit_id: int) -> None:
    """Run the audit ``audit_id`` (a no-op if another worker claimed it)."""
    services.execute_audit(audit_id)


@shared_task(ignore_result=True)
def enqueue_due_audits() -> None:
    """Queue the scheduled audits that are due."""
    services.enqueue_due_audits()


@shared_task(ignore_result=True)
def sweep_stuck_audits() -> None:
    """Fail audits stuck in running past the time limit."""
    services.sweep_stuck_audits()
