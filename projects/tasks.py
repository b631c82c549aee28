"""Celery tasks of projects: the re-audit schedule."""

from celery import shared_task

from audits import services


@shared_task(ignore_result=True)
def enqueue_due_audits() -> None:
    """Queue the scheduled audits that are due."""
    services.enqueue_due_audits()
