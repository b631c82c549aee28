"""Celery tasks: thin wrappers that take ids and call audits.runs.

The scheduler's task is ``projects.tasks.enqueue_due_audits``: it starts
audits, so it sits above ``audits.services``, which queues the tasks here.
"""

from celery import shared_task

from . import notifications, runs


# Acknowledged only when done, and given back to the queue if its worker
# process dies: a lost audit is run again or, once its heartbeat is stale,
# failed by the sweeper. The time limits come from the settings.
@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def run_audit(audit_id: int) -> None:
    """Run the audit ``audit_id`` (a no-op if another worker claimed it),
    then send its notifications, even when it stopped on an error."""
    try:
        runs.execute_audit(audit_id)
    finally:
        notify_audit.delay_on_commit(audit_id)


@shared_task(ignore_result=True)
def sweep_stuck_audits() -> None:
    """Fail audits stuck in running past the time limit."""
    runs.sweep_stuck_audits()


@shared_task(acks_late=True, ignore_result=True)
def notify_audit(audit_id: int) -> None:
    """Send the finished audit's email and webhook messages (once)."""
    notifications.notify(audit_id)


@shared_task(acks_late=True, ignore_result=True)
def deliver_webhook(delivery_id: int) -> None:
    """Send one webhook delivery; try again later, with backoff, if it failed."""
    delay = notifications.attempt_delivery(delivery_id)
    if delay is not None:
        deliver_webhook.apply_async((delivery_id,), countdown=delay)
