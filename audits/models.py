from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone


class AuditQuerySet(models.QuerySet):
    def finished(self):
        return self.filter(status__in=Audit.FINISHED)

    def active(self):
        return self.filter(status__in=[Audit.Status.QUEUED, Audit.Status.RUNNING])


class Audit(models.Model):
    team_path = "project__team"  # for projects.access.scoped

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Manual"
        SCHEDULE = "schedule", "Schedule"
        IMPORT = "import", "Import"

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
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    progress_step = models.CharField(max_length=200, blank=True)
    # Counts per severity and status, grades, new/open/fixed/reopened,
    # per-target outcome: trends read this row, never the findings.
    summary = models.JSONField(default=dict, blank=True)
    report_markdown = models.TextField(blank=True)

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
                condition=Q(trigger__in=["manual", "schedule", "import"]),
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
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None
