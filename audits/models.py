from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import models, transaction
from django.db.models import Max, Q
from django.urls import reverse
from django.utils import timezone

if TYPE_CHECKING:
    from .summary import AuditSummary

# Why the sweeper failed an audit whose process stopped beating.
LOST_ERROR = (
    "The process running this audit stopped (no sign of life for a while; a"
    " worker may have been killed or restarted); no finding was changed. Run"
    " the audit again."
)
# Why the sweeper failed an audit.
STUCK_ERROR = (
    "The audit did not finish within the time limit (its worker may have"
    " stopped); no finding was changed."
)


class AuditQuerySet(models.QuerySet):
    """Audits, and the state changes that apply to many (or to one by id).

    An audit moves queued → running → succeeded, partial or failed. Every
    move is a single UPDATE here or on ``Audit``; nothing else writes
    ``status``.
    """

    def finished(self):
        return self.filter(status__in=Audit.FINISHED)

    def active(self):
        return self.filter(status__in=[Audit.Status.QUEUED, Audit.Status.RUNNING])

    def lost(self, now: datetime | None = None):
        """Return running audits whose process stopped giving signs of life.

        A running audit's process writes ``heartbeat_at`` every
        ``AUDIT_HEARTBEAT_SECONDS``; a worker killed mid-audit stops, and
        after ``AUDIT_LOST_AFTER`` seconds its audit is lost.
        """
        now = now or timezone.now()
        silence = timedelta(seconds=settings.AUDIT_LOST_AFTER)
        return self.filter(status=Audit.Status.RUNNING, heartbeat_at__lt=now - silence)

    def stuck(self, now: datetime | None = None):
        """Return audits running past the time limit, or queued for twice it."""
        now = now or timezone.now()
        limit = timedelta(seconds=settings.AUDIT_TIME_LIMIT)
        return self.filter(
            Q(status=Audit.Status.RUNNING, started_at__lt=now - limit)
            | Q(status=Audit.Status.QUEUED, created_at__lt=now - 2 * limit)
        )

    def start(
        self,
        project,
        *,
        trigger: str = "manual",
        origin: str = "engine",
        user=None,
    ) -> Audit:
        """Create the project's next audit, queued, numbered after the last one."""
        from projects.models import Project

        with transaction.atomic():
            # Lock the project row so two starts never take the same number.
            Project.objects.select_for_update().filter(pk=project.pk).first()
            last = self.filter(project=project).aggregate(n=Max("number"))["n"] or 0
            return self.create(
                project=project,
                number=last + 1,
                trigger=trigger,
                origin=origin,
                requested_by=user if user and user.is_authenticated else None,
            )

    def claim(self, audit_id: int) -> bool:
        """Move a queued audit to running; return False if someone else has it."""
        now = timezone.now()
        return bool(
            self.filter(pk=audit_id, status=Audit.Status.QUEUED).update(
                status=Audit.Status.RUNNING,
                started_at=now,
                heartbeat_at=now,
                progress_step="Starting",
            )
        )

    def fail(self, error: str, *, now: datetime | None = None) -> int:
        """Mark these audits failed with ``error``; return how many changed."""
        return self.update(
            status=Audit.Status.FAILED,
            finished_at=now or timezone.now(),
            error=error,
        )

    def cancel(self, reason: str, *, now: datetime | None = None) -> int:
        """Fail those of these audits still queued or running, with ``reason``.

        A finished audit keeps its outcome; return how many were cancelled.
        """
        return self.active().fail(reason, now=now)


class Audit(models.Model):
    team_path = "project__team"  # for projects.access.scoped

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Manual"
        SCHEDULE = "schedule", "Schedule"
        IMPORT = "import", "Import"
        UPLOAD = "upload", "Upload from CI"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Partial"
        FAILED = "failed", "Failed"

    FINISHED = (Status.SUCCEEDED, Status.PARTIAL, Status.FAILED)

    # Indexed by the unique (project, number) constraint, which leads with it.
    project = models.ForeignKey(
        "projects.Project",
        on_delete=models.CASCADE,
        related_name="audits",
        db_index=False,
    )
    number = models.PositiveIntegerField()
    trigger = models.CharField(max_length=10, choices=Trigger, default=Trigger.MANUAL)
    # What produced the results: "engine", or the kind of import
    # ("markdown", "sarif"); an import only fixes findings of its own kind.
    origin = models.CharField(max_length=20, default="engine")
    status = models.CharField(max_length=10, choices=Status, default=Status.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    # The last sign of life of the process running the audit (see lost()).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    progress_step = models.CharField(max_length=200, blank=True)
    # Counts per severity and status, grades, new/open/fixed/reopened,
    # per-target outcome: trends read this row, never the findings.
    summary = models.JSONField(default=dict, blank=True)
    report_markdown = models.TextField(blank=True)
    # The project's quality gate on this audit: None until evaluated (and
    # for audits that failed outright); ``gate`` holds the rules applied and
    # the findings that failed it.
    gate_passed = models.BooleanField(null=True, blank=True)
    gate = models.JSONField(default=dict, blank=True)
    # Set when the audit's notifications were sent (or found nothing to say).
    notified_at = models.DateTimeField(null=True, blank=True)
    # How many pages the report splits into (audits.report_pages); 0 until
    # the report is first shown.
    report_pages = models.PositiveIntegerField(default=0, db_default=0)
    # The scan settings the audit ran with (excludes, disabled checks,
    # severity overrides, and where they came from).
    scan_config = models.JSONField(default=dict, blank=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-number"]
        constraints = [
            # Per-project audit numbers; the index serves the audit list and
            # "latest audit" (project_id, number DESC scan).
            models.UniqueConstraint(
                fields=["project", "number"], name="audit_project_number_uniq"
            ),
            models.CheckConstraint(
                condition=Q(
                    status__in=["queued", "running", "succeeded", "partial", "failed"]
                ),
                name="audit_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(trigger__in=["manual", "schedule", "import", "upload"]),
                name="audit_trigger_valid",
            ),
            models.CheckConstraint(
                condition=Q(origin__in=["engine", "markdown", "sarif"]),
                name="audit_origin_valid",
            ),
        ]
        indexes = [
            # The sweeper: audits still running, oldest first.
            models.Index(
                fields=["started_at"],
                name="audit_running_started_idx",
                condition=Q(status="running"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project} audit #{self.number}"

    def get_absolute_url(self) -> str:
        return reverse("audits:detail", args=[self.pk])

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def progress_percent(self) -> int:
        if self.is_finished:
            return 100
        if not self.progress_total:
            return 0
        return min(99, int(100 * self.progress_done / self.progress_total))

    @property
    def duration(self) -> timedelta | None:
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None

    def _write(self, **values: Any) -> None:
        """Write ``values`` to this audit's row and to this instance."""
        Audit.objects.filter(pk=self.pk).update(**values)
        for name, value in values.items():
            setattr(self, name, value)

    def report_progress(self, done: int, total: int, step: str) -> None:
        """Record how far the running audit has got, for the status pill."""
        self._write(progress_done=done, progress_total=total, progress_step=step[:200])

    def finish(
        self,
        status: str,
        *,
        summary: AuditSummary,
        error: str = "",
        report: str = "",
        **progress: int,
    ) -> None:
        """End the audit with ``status``, storing its summary and report.

        ``progress`` may set the final ``progress_done``/``progress_total``.
        """
        self._write(
            status=status,
            error=error,
            finished_at=timezone.now(),
            summary=summary,
            report_markdown=report,
            progress_step="Done" if status != Audit.Status.FAILED else "Failed",
            **progress,
        )
        # Read back what was stored (the summary as its JSON round trip).
        self.refresh_from_db()

    def record_scan_config(self, config: dict) -> None:
        """Remember the scan settings this audit ran with."""
        self._write(scan_config=config)
        self.scan_config = config

    def fail(self, error: str) -> None:
        """End the audit as failed with ``error``, whatever its state."""
        now = timezone.now()
        Audit.objects.filter(pk=self.pk).fail(error, now=now)
        self.status, self.finished_at, self.error = Audit.Status.FAILED, now, error

    def cancel(self, reason: str) -> bool:
        """Fail the audit with ``reason`` if it is still queued or running.

        Return False when it had already finished (its outcome stands).
        """
        cancelled = bool(Audit.objects.filter(pk=self.pk).cancel(reason))
        self.refresh_from_db(fields=["status", "finished_at", "error"])
        return cancelled


class ReportPage(models.Model):
    """One page of an audit's report, rendered to HTML the first time it is shown."""

    # Indexed by the unique (audit, number) constraint, which leads with it.
    audit = models.ForeignKey(
        Audit, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    number = models.PositiveIntegerField()
    html = models.TextField()

    class Meta:
        constraints = [
            # One stored page per number; the index serves the page lookup.
            models.UniqueConstraint(
                fields=["audit", "number"], name="report_page_audit_number_uniq"
            ),
        ]

    def __str__(self) -> str:
        return f"page {self.number} of audit {self.audit_id}'s report"
