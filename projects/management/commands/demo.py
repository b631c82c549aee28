import shutil
import sqlite3
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from audits import services
from audits.models import Audit
from findings.models import Finding, FindingEvent, FindingSighting
from projects.models import Membership, Project, Target, Team

DEMO_USER = "demo"
DEMO_PASSWORD = "plumbline-demo"
APP_DIR = settings.BASE_DIR / "demo" / "flawed_app"
HISTORY_DIR = settings.BASE_DIR / "demo" / "history"

# The application over eight weeks, oldest first: (weeks ago, flaws of
# demo/history/ added to the shipped application). The staging table is
# fixed first, then the injectable search; the last audit sees the webhook
# secrets fixed and the search back again, a regression.
STAGING, WEBHOOKS, SEARCH = "import_staging.sql", "webhooks.sql", "search.py"
HISTORY = (
    (8, (STAGING, WEBHOOKS, SEARCH)),
    (6, (WEBHOOKS, SEARCH)),
    (4, (WEBHOOKS,)),
    (2, (WEBHOOKS,)),
    (0, (SEARCH,)),
)


def work_dir() -> Path:
    """Return the sample application's working copy, which the history changes."""
    return settings.VAR_DIR / "demo" / "benchmark_studio"


class Command(BaseCommand):
    help = "Load the demo user, team and projects, and run a real audit of each."

    def add_arguments(self, parser):
        parser.add_argument("--no-audit", action="store_true", help="load data only")

    def handle(self, *args, **opts):
        with transaction.atomic():
            user = self._user()
            team, _ = Team.objects.get_or_create(
                slug="demo", defaults={"name": "Demo team"}
            )
            Membership.objects.get_or_create(
                team=team, user=user, defaults={"role": "owner"}
            )
            projects = [self._sample_project(team), self._self_project(team)]
        if not opts["no_audit"]:
            sample = projects[0]
            if not sample.audits.exists():
                self._history(sample, user)
            for project in projects[1:]:
                audit = services.start_audit(
                    project, trigger=Audit.Trigger.MANUAL, enqueue=False
                )
                audit = services.execute_audit(audit.pk) or audit
                self.stdout.write(
                    f"Audited {project.name}: {audit.status}, "
                    f"{audit.summary.get('open', 0)} open findings, "
                    f"overall {audit.summary.get('grades', {}).get('overall', '–')}."
                )
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo ready. Log in at http://127.0.0.1:8000/ as {DEMO_USER} / {DEMO_PASSWORD}"
            )
        )

    def _history(self, project, user) -> None:
        """Audit the sample application as its team fixed it over eight weeks.

        Each audit reads the working copy as it was then and is dated back,
        so a first visit shows trends, fixed findings and a regression.
        """
        now = timezone.now()
        for step, (weeks, flaws) in enumerate(HISTORY):
            write_sample(flaws)
            audit = services.start_audit(
                project, trigger=Audit.Trigger.SCHEDULE, enqueue=False
            )
            audit = services.execute_audit(audit.pk) or audit
            if step == 1:
                self._triage(project, user)
            date_back(audit, now - timedelta(weeks=weeks, minutes=30))
            summary = audit.summary
            self.stdout.write(
                f"Audited {project.name} as of {weeks} weeks ago: {audit.status}, "
                f"{summary.get('open', 0)} open, {summary.get('new', 0)} new, "
                f"{summary.get('fixed', 0)} fixed, {summary.get('reopened', 0)} "
                f"reopened, overall {summary.get('grades', {}).get('overall', '–')}."
            )

    def _triage(self, project, user) -> None:
        """Work through a few findings as a team would between audits."""
        open_ = project.findings.filter(status=Finding.Status.OPEN).order_by("pk")
        blob = open_.filter(check_id="json-blob-columns").first()
        if blob:
            blob.change_status(
                Finding.Status.DOCUMENTED,
                by=user,
                reason="Accepted: these JSON columns are always read whole.",
            )
        serious = open_.filter(severity__in=["critical", "high"]).first()
        if serious:
            serious.assign(user, by=user)
            serious.change_status(Finding.Status.IN_PROGRESS, by=user)
            serious.comment(
                "Reproduced on a copy of production; a fix is planned.", by=user
            )

    def _user(self):
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=DEMO_USER, defaults={"email": "demo@example.com"}
        )
        if created or not user.check_password(DEMO_PASSWORD):
            user.set_password(DEMO_PASSWORD)
            user.save()
        return user

    def _sample_project(self, team):
        project, _ = Project.objects.get_or_create(
            team=team,
            slug="benchmark-studio",
            defaults={
                "name": "Benchmark Studio (sample)",
                "description": "A small, deliberately flawed application shipped with Plumbline.",
            },
        )
        database = build_sample_database()
        if not work_dir().exists():
            write_sample(())
        wanted = [
            (Target.Kind.SQLITE, str(database), "Sample database"),
            (Target.Kind.DDL, str(work_dir() / "schema.sql"), "Schema file"),
            (Target.Kind.CODE, str(work_dir()), "Application code"),
        ]
        for kind, location, name in wanted:
            Target.objects.get_or_create(
                project=project, kind=kind, location=location, defaults={"name": name}
            )
        return project

    def _self_project(self, team):
        project, _ = Project.objects.get_or_create(
            team=team,
            slug="plumbline",
            defaults={
                "name": "Plumbline itself",
                "description": "Plumbline's own database.",
            },
        )
        db = settings.DATABASES["default"]
        if connection.vendor == "sqlite":
            kind, location = Target.Kind.SQLITE, str(db["NAME"])
        else:
            host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
            user = db.get("USER") or "postgres"
            kind, location = (
                Target.Kind.POSTGRESQL,
                f"postgresql://{user}@{host}:{port}/{db['NAME']}",
            )
        target, created = Target.objects.get_or_create(
            project=project,
            kind=kind,
            location=location,
            defaults={"name": "Plumbline database"},
        )
        if created and db.get("PASSWORD"):
            target.password = db["PASSWORD"]
            target.save()
        return project


def build_sample_database() -> Path:
    """Build the sample application's SQLite database from its schema."""
    path = settings.VAR_DIR / "demo" / "benchmark_studio.sqlite3"
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = APP_DIR / "schema.sql"
    if path.exists():
        return path
    conn = sqlite3.connect(path)
    try:
        if schema.exists():
            conn.executescript(schema.read_text(encoding="utf-8"))
        seed = APP_DIR / "seed.sql"
        if seed.exists():
            conn.executescript(seed.read_text(encoding="utf-8"))
        conn.commit()
    finally:
        conn.close()
    return path


def write_sample(flaws) -> Path:
    """Write the sample application's working copy: the shipped app plus ``flaws``.

    A flaw is a file of demo/history/: SQL is appended to schema.sql, a
    Python module goes into routers/.
    """
    target = work_dir()
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(APP_DIR, target)
    for name in flaws:
        text = (HISTORY_DIR / name).read_text(encoding="utf-8")
        if name.endswith(".sql"):
            with (target / "schema.sql").open("a", encoding="utf-8") as fh:
                fh.write(text)
        else:
            (target / "routers" / name).write_text(text, encoding="utf-8")
    return target


def date_back(audit, when) -> None:
    """Move an audit, what it found and the changes since it, back to ``when``."""
    shift = (audit.started_at or audit.created_at) - when
    since = audit.started_at or audit.created_at
    Audit.objects.filter(pk=audit.pk).update(
        created_at=F("created_at") - shift,
        started_at=when,
        finished_at=F("finished_at") - shift,
    )
    FindingEvent.objects.filter(
        finding__project_id=audit.project_id, created_at__gte=since
    ).update(created_at=F("created_at") - shift)
    FindingSighting.objects.filter(
        finding__project_id=audit.project_id, audit_number=audit.number
    ).update(seen_at=when)
    days = timedelta(days=shift.days)
    Finding.objects.filter(first_seen_audit=audit).update(
        first_seen_at=F("first_seen_at") - shift, due_date=F("due_date") - days
    )
