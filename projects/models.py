import hashlib
import secrets
import time
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from . import crypto


class Team(models.Model):
    team_path = "pk"  # for projects.access.scoped

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    personal = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"
        VIEWER = "viewer", "Viewer"

    MANAGER_ROLES = (Role.OWNER, Role.ADMIN)
    WRITER_ROLES = (Role.OWNER, Role.ADMIN, Role.MEMBER)

    # Both keys are indexed by composites that lead with them (see Meta).
    team = models.ForeignKey(
        Team, on_delete=models.CASCADE, related_name="memberships", db_index=False
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="memberships",
        db_index=False,
    )
    role = models.CharField(max_length=10, choices=Role, default=Role.MEMBER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            # One membership per person per team; its index also serves
            # "members of this team" (team_id leads).
            models.UniqueConstraint(
                fields=["team", "user"], name="membership_team_user_uniq"
            ),
            models.CheckConstraint(
                condition=Q(role__in=["owner", "admin", "member", "viewer"]),
                name="membership_role_valid",
            ),
        ]
        indexes = [
            # Tenancy scoping: "the teams of this user" on every request.
            models.Index(fields=["user", "team"], name="membership_user_team_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class ProjectQuerySet(models.QuerySet):
    def for_user(self, user):
        """Return the projects of every team ``user`` belongs to."""
        return self.filter(team__memberships__user=user)

    def due(self, now=None):
        """Return projects whose scheduled re-audit time has come."""
        now = now or timezone.now()
        return self.filter(audit_interval_hours__gt=0, next_audit_at__lte=now)


class Project(models.Model):
    """A codebase and its databases, audited together by one team."""

    team_path = "team"  # for projects.access.scoped

    # Indexed by the unique (team, slug) constraint, which leads with it.
    team = models.ForeignKey(
        Team, on_delete=models.CASCADE, related_name="projects", db_index=False
    )
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100)
    description = models.TextField(blank=True)
    audit_interval_hours = models.PositiveIntegerField(
        default=24,
        help_text="Re-audit every this many hours; 0 turns the schedule off.",
    )
    next_audit_at = models.DateTimeField(null=True, blank=True)
    sla_critical_days = models.PositiveIntegerField(default=7)
    sla_high_days = models.PositiveIntegerField(default=30)
    sla_medium_days = models.PositiveIntegerField(default=90)
    sla_low_days = models.PositiveIntegerField(default=180)
    # The quality gate: what an audit may not introduce. A new unresolved
    # finding at or above this severity fails it ("" turns that rule off).
    gate_new_severity = models.CharField(
        "fail on new findings at or above",
        max_length=10,
        blank=True,
        default="high",
        choices=[
            ("", "Never (rule off)"),
            ("critical", "Critical"),
            ("high", "High"),
            ("medium", "Medium"),
            ("low", "Low"),
            ("info", "Info"),
        ],
    )
    gate_regressions = models.BooleanField(
        "fail on any regression",
        default=True,
        help_text="A fixed finding that an audit sees again.",
    )
    gate_overdue_critical = models.BooleanField(
        "fail while a critical finding is overdue", default=False
    )
    # The scan settings a code target's own [tool.plumbline] would give
    # (exclude, disable, severity); empty means the repository's own file.
    scan_config = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            # Slugs are unique within a team; the index serves lookups by
            # (team, slug) and the team's project list.
            models.UniqueConstraint(
                fields=["team", "slug"], name="project_team_slug_uniq"
            ),
            models.CheckConstraint(
                condition=Q(
                    gate_new_severity__in=[
                        "",
                        "critical",
                        "high",
                        "medium",
                        "low",
                        "info",
                    ]
                ),
                name="project_gate_severity_valid",
            ),
        ]
        indexes = [
            # The beat dispatcher: projects whose next audit time has passed.
            models.Index(
                fields=["next_audit_at"],
                name="project_next_audit_idx",
                condition=Q(audit_interval_hours__gt=0),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("projects:overview", args=[self.pk])

    def scan_settings(self):
        """Return the engine settings this project sets, or None to read the repository's."""
        if not self.scan_config:
            return None
        from audits.engine.config import config_from_dict

        return config_from_dict({**self.scan_config, "source": "project settings"})

    def sla_days(self, severity: str) -> int | None:
        """Return the days allowed to fix a finding of ``severity``, or None."""
        return {
            "critical": self.sla_critical_days,
            "high": self.sla_high_days,
            "medium": self.sla_medium_days,
            "low": self.sla_low_days,
        }.get(severity)

    def due_date(self, severity: str, start=None):
        """Return the date a finding of ``severity`` found at ``start`` is due."""
        days = self.sla_days(severity)
        if days is None:
            return None
        return ((start or timezone.now()) + timedelta(days=days)).date()

    def schedule_next(self, after=None) -> None:
        """Set the next scheduled audit an interval after ``after`` (now)."""
        if self.audit_interval_hours:
            after = after or timezone.now()
            self.next_audit_at = after + timedelta(hours=self.audit_interval_hours)
        else:
            self.next_audit_at = None


class Target(models.Model):
    team_path = "project__team"  # for projects.access.scoped

    class Kind(models.TextChoices):
        SQLITE = "sqlite", "SQLite file"
        POSTGRESQL = "postgresql", "PostgreSQL"
        MYSQL = "mysql", "MySQL / MariaDB"
        DDL = "ddl", "DDL files"
        CODE = "code", "Code folder"
        GIT = "git", "Git repository"

    class Dialect(models.TextChoices):
        AUTO = "", "Guess from the text"
        SQLITE = "sqlite", "SQLite"
        POSTGRES = "postgres", "PostgreSQL"
        MYSQL = "mysql", "MySQL"

    # Indexed by target_project_enabled_idx, which leads with it.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="targets", db_index=False
    )
    name = models.CharField(max_length=100, blank=True)
    kind = models.CharField(max_length=12, choices=Kind)
    location = models.CharField(
        max_length=500, help_text="A path, or a URL without its password."
    )
    # Git targets: the branch, tag or commit to scan; blank: the default branch.
    ref = models.CharField("branch, tag or commit", max_length=200, blank=True)
    credentials = models.TextField(blank=True, editable=False)  # ciphertext
    dialect = models.CharField(max_length=12, choices=Dialect, blank=True, default="")
    enabled = models.BooleanField(default=True)
    # Results of this target arrive from the customer's CI (``plumbline scan
    # --upload``); the worker never reads it.
    uploaded = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    kind__in=["sqlite", "postgresql", "mysql", "ddl", "code", "git"]
                ),
                name="target_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(dialect__in=["", "sqlite", "postgres", "mysql"]),
                name="target_dialect_valid",
            ),
        ]
        indexes = [
            # The audit run: "the enabled targets of this project".
            models.Index(
                fields=["project", "enabled"], name="target_project_enabled_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.name or f"{self.get_kind_display()}: {self.location}"

    @property
    def password(self) -> str:
        return crypto.decrypt(self.credentials)

    @password.setter
    def password(self, value: str) -> None:
        self.credentials = crypto.encrypt(value)

    @property
    def has_password(self) -> bool:
        return bool(self.credentials)

    def engine_target(self):
        """Return the engine's description of this target."""
        from audits.engine.scan import Target as EngineTarget
        from audits.engine.sources.git import GitLimits

        paths = self.kind in (
            self.Kind.SQLITE,
            self.Kind.DDL,
            self.Kind.CODE,
            self.Kind.GIT,
        )
        remote = self.kind in (self.Kind.POSTGRESQL, self.Kind.MYSQL, self.Kind.GIT)
        return EngineTarget(
            kind=self.kind,
            location=self.location,
            dialect=self.dialect or None,
            password=self.password or None,
            path_roots=tuple(settings.TARGET_PATH_ROOTS) if paths else None,
            network=network_policy() if remote else None,
            ref=self.ref,
            git=GitLimits(
                max_bytes=settings.GIT_MAX_BYTES,
                max_files=settings.GIT_MAX_FILES,
                seconds=settings.GIT_TIMEOUT,
                workdir=settings.GIT_WORK_DIR,
            )
            if self.kind == self.Kind.GIT
            else None,
            config=self.project.scan_settings(),
            # The operator's scratch server, for the migrations a repository
            # holds; never a URL a tenant gave.
            scratch_server=settings.SCRATCH_DATABASE_URL
            if self.kind in (self.Kind.CODE, self.Kind.GIT)
            else "",
        )

    def test_connection(self, *, limit: float | None = None) -> tuple[bool, str]:
        """Read the target once; return (ok, a message for the user).

        The read runs on a small pool of its own threads, never the
        caller's, and the caller waits at most ``limit`` seconds
        (``TEST_CONNECTION_SECONDS``): a server that accepts and then says
        nothing cannot hold a web worker.
        """
        from dataclasses import replace

        from audits.engine.scan import scan_target

        from . import connection_tests

        limit = limit or settings.TEST_CONNECTION_SECONDS
        # The probe's own timeouts end it soon after the caller stops waiting.
        # Testing the connection reads; it never runs the migrations' dry run.
        engine = replace(
            self.engine_target(), timeout=max(1.0, limit / 2), scratch_server=""
        )
        started = time.monotonic()
        outcome = connection_tests.run_bounded(scan_target, engine, limit=limit)
        if isinstance(outcome, str):
            return False, outcome
        took = time.monotonic() - started
        if not outcome.ok:
            return False, outcome.error
        tables = len(outcome.schema.tables) if outcome.schema is not None else 0
        return (
            True,
            f"Connected and read {tables} table{'s' if tables != 1 else ''}"
            f" in {took:.1f} s.",
        )


def network_policy():
    """Return the operator's policy for the addresses database targets may reach."""
    from audits.engine.guard import NetworkPolicy

    own = []
    for db in settings.DATABASES.values():
        if db.get("ENGINE", "").endswith(("postgresql", "mysql")):
            default = 3306 if db["ENGINE"].endswith("mysql") else 5432
            own.append((db.get("HOST") or "localhost", int(db.get("PORT") or default)))
    return NetworkPolicy(
        allow_private=settings.ALLOW_PRIVATE_TARGETS,
        allowed_networks=tuple(settings.ALLOWED_TARGET_NETWORKS),
        own_servers=tuple(own),
    )


def token_digest(secret: str) -> str:
    """Return the stored form of a token: tokens are long random strings, so
    one SHA-256 is enough (a slow password hash would only slow each request)."""
    return hashlib.sha256(secret.encode()).hexdigest()


class UseStamped:
    """A token whose last use is recorded, at most once a minute so a busy
    CI job or script does not write on every request."""

    STAMP_EVERY = timedelta(minutes=1)

    def touch(self, now=None) -> None:
        """Record a use now (or at ``now``) unless one was recorded lately."""
        now = now or timezone.now()
        if self.last_used_at is None or now - self.last_used_at > self.STAMP_EVERY:
            self.last_used_at = now
            type(self).objects.filter(pk=self.pk).update(last_used_at=now)


class ApiToken(UseStamped, models.Model):
    """A personal API token: acts as its user, within the token's scope.

    The secret is shown once when the token is made; only its digest is
    stored, and a revoked token stays listed (with when it was revoked).
    """

    class Scope(models.TextChoices):
        READ = "read", "Read"
        WRITE = "write", "Read and write"

    PREFIX = "plb_"

    # Indexed by apitoken_user_created_idx, which leads with it.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        db_index=False,
    )
    name = models.CharField(max_length=100)
    scope = models.CharField(max_length=5, choices=Scope, default=Scope.READ)
    # The lookup of every API request that carries a token.
    digest = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(max_length=12, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(scope__in=["read", "write"]), name="apitoken_scope_valid"
            ),
        ]
        indexes = [
            # The token page: a user's tokens, newest first.
            models.Index(
                fields=["user", "-created_at"], name="apitoken_user_created_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"

    @classmethod
    def issue(cls, user, *, name: str, scope: str) -> tuple["ApiToken", str]:
        """Create a token for ``user``; return it and its secret (shown once)."""
        secret = cls.PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            user=user,
            name=name,
            scope=scope,
            digest=token_digest(secret),
            hint=secret[: len(cls.PREFIX) + 4],
        )
        return token, secret

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])


class NotificationEvent(models.TextChoices):
    """What an audit can tell people about, one message per audit."""

    NEW_FINDING = "new_finding", "New critical or high finding"
    REGRESSION = "regression", "Regression (a fixed finding came back)"
    SLA_BREACHED = "sla_breached", "SLA breached (a finding became overdue)"
    AUDIT_FAILED = "audit_failed", "Audit failed or partial"
    GATE_FAILED = "gate_failed", "Quality gate failed"


class NotificationPreference(models.Model):
    """Which audit events a user hears about by email, and for which projects."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="notification_preference",
    )
    email = models.BooleanField("send me email", default=False)
    events = models.JSONField(default=list, blank=True)
    # Empty: every project of the user's teams.
    projects = models.ManyToManyField(Project, blank=True, related_name="+")

    def __str__(self) -> str:
        return f"notifications of {self.user}"

    def wants(self, events) -> list[str]:
        """Return those of ``events`` the user chose, in the given order."""
        return [e for e in events if e in self.events]


class Webhook(models.Model):
    """A URL that receives one signed JSON message per notable audit."""

    team_path = "project__team"  # for projects.access.scoped

    # Indexed by webhook_project_idx (the settings page and each audit).
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="webhooks", db_index=False
    )
    url = models.URLField("URL", max_length=500)
    secret_encrypted = models.TextField(editable=False)  # see crypto
    events = models.JSONField(default=list, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]
        indexes = [
            models.Index(fields=["project", "enabled"], name="webhook_project_idx"),
        ]

    def __str__(self) -> str:
        return self.url

    @property
    def signing_secret(self) -> str:
        return crypto.decrypt(self.secret_encrypted)

    @signing_secret.setter
    def signing_secret(self, value: str) -> None:
        self.secret_encrypted = crypto.encrypt(value)

    @staticmethod
    def new_secret() -> str:
        return "whsec_" + secrets.token_urlsafe(24)


class WebhookDelivery(models.Model):
    """One audit's message to one webhook, with the outcome of its last attempt."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    # Indexed by the unique (webhook, audit) constraint, which leads with it.
    webhook = models.ForeignKey(
        Webhook, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    audit = models.ForeignKey(
        "audits.Audit", on_delete=models.CASCADE, related_name="+"
    )
    events = models.JSONField(default=list)
    body = models.TextField()
    status = models.CharField(max_length=10, choices=Status, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-pk"]
        constraints = [
            # One message per audit per webhook, however often the
            # notification task runs.
            models.UniqueConstraint(
                fields=["webhook", "audit"], name="delivery_webhook_audit_uniq"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "delivered", "failed"]),
                name="delivery_status_valid",
            ),
        ]
        indexes = [
            # The delivery log on the settings page: newest first per webhook.
            models.Index(fields=["webhook", "-id"], name="delivery_webhook_log_idx"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} to {self.webhook_id}"


class ProjectTokenQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class ProjectToken(UseStamped, models.Model):
    """A secret that lets a CI job act on one project, without a user's login.

    Only a SHA-256 digest is stored: the token itself is shown once, when
    it is issued. Tokens are random, so a fast digest is as good as a slow
    password hash here.
    """

    team_path = "project__team"  # for projects.access.scoped
    PREFIX = "plbp_"

    # Indexed by projecttoken_project_idx, which leads with it.
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="tokens", db_index=False
    )
    name = models.CharField(max_length=100)
    # The first characters of the token, so people can tell tokens apart.
    hint = models.CharField(max_length=16)
    digest = models.CharField(max_length=64, unique=True)  # serves the lookup
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ProjectTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            # The settings page: "the tokens of this project".
            models.Index(
                fields=["project", "created_at"], name="projecttoken_project_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"

    # Stored as personal tokens are: one SHA-256 of the secret.
    digest_of = staticmethod(token_digest)

    @classmethod
    def issue(
        cls, project: Project, *, name: str, user=None
    ) -> tuple["ProjectToken", str]:
        """Create a token for ``project``; return it and its secret (shown once)."""
        raw = cls.PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(
            project=project,
            name=name,
            hint=raw[: len(cls.PREFIX) + 6],
            digest=cls.digest_of(raw),
            created_by=user if user is not None and user.is_authenticated else None,
        )
        return token, raw

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def revoke(self) -> None:
        """Stop the token working from now on (idempotent)."""
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            ProjectToken.objects.filter(pk=self.pk, revoked_at__isnull=True).update(
                revoked_at=self.revoked_at
            )


class InvitationQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(accepted_at__isnull=True, declined_at__isnull=True)

    def for_user(self, user):
        """Return the pending invitations addressed to ``user`` by name or email."""
        names = [user.username.lower()]
        if user.email:
            names.append(user.email.lower())
        return self.pending().filter(recipient__in=names)


class Invitation(models.Model):
    """An offer to join a team, which only its recipient can accept.

    ``recipient`` is the username or email the inviter typed, lower-cased;
    nothing is looked up when the invitation is made, so making one reveals
    nothing about who is registered. The recipient sees it on their
    invitations page (matched by username or email) or opens the link.
    """

    team_path = "team"  # for projects.access.scoped

    team = models.ForeignKey(
        Team, on_delete=models.CASCADE, related_name="invitations", db_index=False
    )
    recipient = models.CharField(max_length=254)
    role = models.CharField(
        max_length=10, choices=Membership.Role, default=Membership.Role.MEMBER
    )
    # The SHA-256 of the link's secret: the secret itself is only ever in
    # the link given to the inviter (and emailed), never stored.
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    accepted_at = models.DateTimeField(null=True, blank=True)
    declined_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(role__in=["owner", "admin", "member", "viewer"]),
                name="invitation_role_valid",
            ),
        ]
        indexes = [
            # "My invitations": the pending ones addressed to a name or email.
            models.Index(
                fields=["recipient"],
                name="invitation_pending_idx",
                condition=Q(accepted_at__isnull=True, declined_at__isnull=True),
            ),
            # The team's members page lists its pending invitations.
            models.Index(fields=["team", "created_at"], name="invitation_team_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.recipient} invited to {self.team}"

    def get_absolute_url(self) -> str:
        """Return the invitation's link; only known right after ``new_token``."""
        return reverse("invitation", args=[self.link_token])

    @staticmethod
    def hash_token(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def new_token(self) -> str:
        """Give the invitation a new secret; return it (it is not kept)."""
        token = secrets.token_urlsafe(32)
        self.token_hash = self.hash_token(token)
        self.link_token = token
        return token

    def addressed_to(self, user) -> bool:
        return self.recipient in {user.username.lower(), (user.email or "").lower()}
