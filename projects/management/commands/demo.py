import sqlite3
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import connection, transaction

from audits import services
from audits.models import Audit
from projects.models import Membership, Project, Target, Team

DEMO_USER = "demo"
DEMO_PASSWORD = "plumbline-demo"
APP_DIR = settings.BASE_DIR / "demo" / "flawed_app"


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
            for project in projects:
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
        wanted = [
            (Target.Kind.SQLITE, str(database), "Sample database"),
            (Target.Kind.DDL, str(APP_DIR / "schema.sql"), "Schema file"),
            (Target.Kind.CODE, str(APP_DIR), "Application code"),
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
