from __future__ import annotations

import json

from django.conf import settings
from django.db import models
from django.db.models import Case, F, IntegerField, Q, Value, When
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property

from audits.engine import levels

# Model choices built from the engine's vocabulary (audits.engine.levels),
# which defines every severity, effort, dimension and status, their order
# and labels; nothing here adds one.
SEVERITY_ORDER = [s.value for s in levels.Severity]
Severity = models.TextChoices(
    "Severity", [(s.name, (s.value, s.label)) for s in levels.Severity]
)
Effort = models.TextChoices(
    "Effort", [(e.name, (e.value, e.label)) for e in levels.Effort]
)
Dimension = models.TextChoices(
    "Dimension", [(d.name, (d.value, d.short_label)) for d in levels.Dimension]
)
_UNRESOLVED = [s.value for s in levels.Status if s in levels.UNRESOLVED]


class FindingQuerySet(models.QuerySet):
    def unresolved(self):
        """Return open and in-progress findings (the ones that count)."""
        return self.filter(status__in=Finding.UNRESOLVED)

    def overdue(self, today=None):
        """Return unresolved findings whose due date has passed."""
        today = today or timezone.localdate()
        return self.unresolved().filter(due_date__lt=today)


class Finding(models.Model):
    team_path = "project__team"  # for projects.access.scoped

    Status = models.TextChoices(
        "Status", [(s.name, (s.value, s.label)) for s in levels.Status]
    )

    # Open and in progress: the findings someone still has to act on.
    UNRESOLVED = tuple(map(Status, _UNRESOLVED))

    # Indexed by the unique (project, fingerprint) constraint, which leads with it.
    project = models.ForeignKey(
        "projects.Project",
        on_delete=models.CASCADE,
        related_name="findings",
        db_index=False,
    )
    fingerprint = models.CharField(max_length=64)
    check_id = models.CharField("check", max_length=100)
    dimension = models.CharField(max_length=20, choices=Dimension, blank=True)
    severity = models.CharField(max_length=10, choices=Severity)
    effort = models.CharField(max_length=10, choices=Effort, blank=True)
    title = models.CharField(max_length=300)
    object = models.CharField(max_length=300, blank=True)
    file = models.CharField(max_length=500, blank=True)
    line = models.PositiveIntegerField(null=True, blank=True)
    function = models.CharField(max_length=300, blank=True)
    evidence = models.TextField(blank=True)
    remediation = models.TextField(blank=True)
    fix_sql = models.TextField(blank=True)
    # What a reviewer judges the finding by, as the scan saw it (JSON): the
    # source lines around it, the chain of reasoning and related places.
    proof = models.TextField(blank=True, default="")
    # "engine", "markdown" or "sarif": which kind of audit can fix it.
    origin = models.CharField(max_length=20, default="engine")
    ref = models.CharField(max_length=50, blank=True)  # an imported report's own id
    target = models.ForeignKey(
        "projects.Target",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="findings",
    )
    status = models.CharField(max_length=20, choices=Status, default=Status.OPEN)
    status_reason = models.TextField(blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        db_index=False,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_findings",
    )
    due_date = models.DateField(null=True, blank=True)
    # A person set the severity: audits keep it rather than the check's own.
    severity_overridden = models.BooleanField(default=False, db_default=False)
    regression = models.BooleanField(default=False)
    first_seen_audit = models.ForeignKey(
        "audits.Audit",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    fixed_by_audit = models.ForeignKey(
        "audits.Audit",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    first_seen_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = FindingQuerySet.as_manager()

    class Meta:
        ordering = ["-pk"]
        constraints = [
            # Deduplication: one finding per problem per project. Its index
            # is the reconciliation lookup (project_id, fingerprint IN ...).
            models.UniqueConstraint(
                fields=["project", "fingerprint"],
                name="finding_project_fingerprint_uniq",
            ),
            models.CheckConstraint(
                condition=Q(status__in=[s.value for s in levels.Status]),
                name="finding_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(severity__in=SEVERITY_ORDER), name="finding_severity_valid"
            ),
            models.CheckConstraint(
                condition=Q(effort__in=["", *(e.value for e in levels.Effort)]),
                name="finding_effort_valid",
            ),
            models.CheckConstraint(
                condition=Q(origin__in=["engine", "markdown", "sarif"]),
                name="finding_origin_valid",
            ),
        ]
        indexes = [
            # Findings list of a project filtered by status (the tabs and
            # their counts), newest first.
            models.Index(
                fields=["project", "status", "-id"], name="finding_project_status_idx"
            ),
            # Priority matrix and severity filter: counts per severity and
            # effort among a project's findings of a status.
            models.Index(
                fields=["project", "status", "severity", "effort"],
                name="finding_matrix_idx",
            ),
            # "My findings": a user's unresolved findings, overdue first (also
            # the assignee foreign key's index). Status and project ride along
            # so the page's totals are an index-only count.
            models.Index(
                fields=["assignee", "due_date", "status", "project"],
                name="finding_assignee_due_idx",
            ),
            # Findings list sorted by title (either direction) or by due date
            # (also the overdue filter), and by "Found" (the id): an ordered
            # walk that stops at the page instead of sorting the project.
            models.Index(
                fields=["project", "title", "-id"], name="finding_project_title_idx"
            ),
            models.Index(
                fields=["project", "due_date", "-id"], name="finding_project_due_idx"
            ),
            models.Index(fields=["project", "id"], name="finding_project_id_idx"),
            # The list's text search (title, object, file as one expression,
            # findings.filters.SearchText) has a trigram GIN index on
            # PostgreSQL only: migration 0006 creates it in SQL.
            # Findings list sorted worst first (findings.tables.severity_rank,
            # the default order), newest first within a severity: an ordered
            # index scan that stops at the page instead of sorting the project.
            models.Index(
                F("project"),
                Case(
                    *(
                        When(severity=s, then=Value(i))
                        for i, s in enumerate(SEVERITY_ORDER)
                    ),
                    default=Value(len(SEVERITY_ORDER)),
                    output_field=IntegerField(),
                ),
                F("id").desc(),
                name="finding_severity_rank_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("findings:detail", args=[self.pk])

    @property
    def related(self) -> list[dict]:
        """Return the other places the same cause shows, as the scan saw them."""
        if not self.proof:
            return []
        try:
            data = json.loads(self.proof)
        except ValueError:
            return []
        steps = data.get("related", []) if isinstance(data, dict) else []
        return [s for s in steps if isinstance(s, dict) and s.get("message")]

    @property
    def location(self) -> str:
        if self.file:
            return f"{self.file}:{self.line}" if self.line else self.file
        return self.object

    @property
    def last_seen_number(self) -> int | None:
        """Return the number of the last audit that saw the finding."""
        sighting = _sighting_of(self)
        return sighting.audit_number if sighting else None

    @property
    def last_seen_at(self):
        """Return when an audit last saw the finding."""
        sighting = _sighting_of(self)
        return sighting.seen_at if sighting else None

    @cached_property
    def last_seen_audit(self):
        """Return the last audit that saw the finding (one query)."""
        from audits.models import Audit

        number = self.last_seen_number
        if number is None:
            return None
        return Audit.objects.filter(project_id=self.project_id, number=number).first()

    @property
    def is_overdue(self) -> bool:
        return (
            self.status in self.UNRESOLVED
            and self.due_date is not None
            and self.due_date < timezone.localdate()
        )

    def change_status(self, new: str, *, by, reason: str = "") -> FindingEvent:
        """Move the finding to ``new`` on behalf of ``by``, recording the event."""
        check_transition(self.status, new, reason)
        old = self.status
        self.status = new
        self.status_reason = reason.strip() if new in NEEDS_REASON else ""
        if new == Finding.Status.OPEN:
            # A reopened finding gets a fresh SLA clock.
            self.due_date = self.project.due_date(self.severity)
            self.fixed_by_audit = None
        self.save(
            update_fields=[
                "status",
                "status_reason",
                "due_date",
                "fixed_by_audit",
                "updated_at",
            ]
        )
        return FindingEvent.objects.create(
            finding=self,
            kind=FindingEvent.Kind.STATUS,
            actor=by,
            from_value=old,
            to_value=new,
            note=reason.strip(),
        )

    def assign(self, user, *, by) -> FindingEvent | None:
        """Assign the finding to ``user`` (None to unassign), recording the event."""
        if self.assignee_id == (user.pk if user else None):
            return None
        old = str(self.assignee) if self.assignee_id else ""
        self.assignee = user
        self.save(update_fields=["assignee", "updated_at"])
        return FindingEvent.objects.create(
            finding=self,
            kind=FindingEvent.Kind.ASSIGNED,
            actor=by,
            from_value=old,
            to_value=str(user) if user else "",
        )

    def override_severity(self, new: str, *, by, reason: str) -> FindingEvent:
        """Set the severity by hand (audits keep it), recording why."""
        reason = reason.strip()
        if new not in Severity.values:
            raise TransitionError(f"“{new}” is not a severity.")
        if not reason:
            raise TransitionError("Changing the severity needs a reason.")
        if new == self.severity:
            raise TransitionError(f"The severity is already {new}.")
        old = self.severity
        self.severity = new
        self.severity_overridden = True
        fields = ["severity", "severity_overridden", "updated_at"]
        if self.status in self.UNRESOLVED and self.due_date is None:
            self.due_date = self.project.due_date(new, self.first_seen_at)
            fields.append("due_date")
        self.save(update_fields=fields)
        return FindingEvent.objects.create(
            finding=self,
            kind=FindingEvent.Kind.SEVERITY,
            actor=by,
            from_value=old,
            to_value=new,
            note=reason,
        )

    def set_due_date(self, due, *, by, reason: str) -> FindingEvent:
        """Set (or clear, with None) the due date by hand, recording why."""
        reason = reason.strip()
        if not reason:
            raise TransitionError("Changing the due date needs a reason.")
        if due == self.due_date:
            raise TransitionError("The finding is already due then.")
        old = self.due_date
        self.due_date = due
        self.save(update_fields=["due_date", "updated_at"])
        return FindingEvent.objects.create(
            finding=self,
            kind=FindingEvent.Kind.DUE,
            actor=by,
            from_value=old.isoformat() if old else "",
            to_value=due.isoformat() if due else "",
            note=reason,
        )

    def comment(self, text: str, *, by) -> FindingEvent:
        """Add a comment to the finding's history."""
        if not text.strip():
            raise TransitionError("A comment cannot be empty.")
        return FindingEvent.objects.create(
            finding=self, kind=FindingEvent.Kind.COMMENT, actor=by, note=text.strip()
        )


class FindingEvent(models.Model):
    """One change to a finding. Append-only: never updated, never deleted."""

    class Kind(models.TextChoices):
        CREATED = "created", "Found"
        STATUS = "status", "Status changed"
        REOPENED = "reopened", "Reopened (regression)"
        FIXED = "fixed", "Verified fixed"
        ASSIGNED = "assigned", "Assigned"
        SEVERITY = "severity", "Severity changed"
        COMMENT = "comment", "Comment"
        DUE = "due", "Due date changed"

    finding = models.ForeignKey(
        Finding, on_delete=models.CASCADE, related_name="events"
    )
    kind = models.CharField(max_length=10, choices=Kind)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    audit = models.ForeignKey(
        "audits.Audit",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    from_value = models.CharField(max_length=200, blank=True)
    to_value = models.CharField(max_length=200, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    kind__in=[
                        "created",
                        "status",
                        "reopened",
                        "fixed",
                        "assigned",
                        "severity",
                        "comment",
                        "due",
                    ]
                ),
                name="event_kind_valid",
            ),
        ]
        indexes = [
            # The history timeline of one finding, in order.
            models.Index(
                fields=["finding", "created_at"], name="event_finding_time_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} on finding {self.finding_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("finding events are append-only and cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("finding events are append-only and cannot be deleted")

    @property
    def actor_label(self) -> str:
        if self.actor_id:
            return str(self.actor)
        if self.audit_id:
            return f"Audit #{self.audit.number}" if self.audit else "An audit"
        return "Plumbline"


class TransitionError(ValueError):
    """A status change the lifecycle does not allow; the message says why."""


# The allowed status changes by a person, in one place. Audits move findings
# to fixed and back to open through reconciliation, not through this table.
TRANSITIONS = {
    Finding.Status.OPEN: {
        Finding.Status.IN_PROGRESS,
        Finding.Status.FIXED,
        Finding.Status.DOCUMENTED,
        Finding.Status.FALSE_POSITIVE,
    },
    Finding.Status.IN_PROGRESS: {
        Finding.Status.OPEN,
        Finding.Status.FIXED,
        Finding.Status.DOCUMENTED,
        Finding.Status.FALSE_POSITIVE,
    },
    Finding.Status.FIXED: {Finding.Status.OPEN},
    Finding.Status.DOCUMENTED: {Finding.Status.OPEN},
    Finding.Status.FALSE_POSITIVE: {Finding.Status.OPEN},
}
NEEDS_REASON = {Finding.Status.DOCUMENTED, Finding.Status.FALSE_POSITIVE}


def check_transition(current: str, new: str, reason: str = "") -> None:
    """Raise TransitionError unless a person may move a finding current → new."""
    if new not in Finding.Status.values:
        raise TransitionError(f"“{new}” is not a finding status.")
    if current == new:
        raise TransitionError(
            f"The finding is already {Finding.Status(new).label.lower()}."
        )
    if new not in TRANSITIONS[current]:
        allowed = ", ".join(
            sorted(Finding.Status(s).label.lower() for s in TRANSITIONS[current])
        )
        raise TransitionError(
            f"A {Finding.Status(current).label.lower()} finding can only become: {allowed}."
        )
    if new in NEEDS_REASON and not reason.strip():
        raise TransitionError(
            f"Marking a finding {Finding.Status(new).label.lower()} needs a reason."
        )


class FindingSighting(models.Model):
    """When an audit last saw a finding.

    A narrow table of its own: every audit rewrites one row here per finding
    it sees. On the findings table each such write would touch every one of
    its indexes; here it touches none (the audit is a number, not a foreign
    key), so on PostgreSQL the writes stay HOT in pages kept half empty.
    """

    finding = models.OneToOneField(
        Finding, on_delete=models.CASCADE, primary_key=True, related_name="sighting"
    )
    audit_number = models.PositiveIntegerField()
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"finding {self.finding_id} seen by audit #{self.audit_number}"


def _sighting_of(finding: Finding) -> FindingSighting | None:
    try:
        return finding.sighting
    except FindingSighting.DoesNotExist:
        return None
