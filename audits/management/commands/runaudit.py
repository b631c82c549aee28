import json

from django.core.management.base import BaseCommand, CommandError

from audits import services
from audits.models import Audit
from projects.models import Project


class Command(BaseCommand):
    help = "Run an audit of a project now and print its summary (PROJECT is an id or a slug)."

    def add_arguments(self, parser):
        parser.add_argument(
            "project", help="project id, or slug (team-slug/project-slug if ambiguous)"
        )
        parser.add_argument(
            "--json", action="store_true", help="print the summary as JSON"
        )

    def handle(self, *args, **opts):
        project = _find(opts["project"])
        audit = services.start_audit(
            project, trigger=Audit.Trigger.MANUAL, enqueue=False
        )
        services.execute_audit(audit.pk)
        audit.refresh_from_db()
        result = summary_json(audit)
        if opts["json"]:
            self.stdout.write(json.dumps(result, indent=2))
        else:
            self.stdout.write(
                f"Audit #{audit.number} of {project.name}: {audit.status}. "
                f"{result['new']} new, {result['open']} open, {result['fixed']} fixed, "
                f"{result['reopened']} reopened. Overall grade {result['grades'].get('overall', '–')}."
            )
            if audit.error:
                self.stderr.write(audit.error)
        if audit.status == Audit.Status.FAILED:
            raise CommandError("The audit failed.", returncode=1)


def _find(value: str) -> Project:
    qs = Project.objects.all()
    if value.isdigit():
        qs = qs.filter(pk=int(value))
    elif "/" in value:
        team, slug = value.split("/", 1)
        qs = qs.filter(team__slug=team, slug=slug)
    else:
        qs = qs.filter(slug=value)
    found = list(qs[:2])
    if not found:
        raise CommandError(f"No project {value!r}.")
    if len(found) > 1:
        raise CommandError(
            f"Several projects are called {value!r}; use team-slug/project-slug."
        )
    return found[0]


def summary_json(audit) -> dict:
    """Return the audit's outcome in the shape ``runaudit --json`` prints."""
    s = audit.summary
    return {
        "project": audit.project.slug,
        "audit": audit.number,
        "status": audit.status,
        "error": audit.error or None,
        "new": s.get("new", 0),
        "open": s.get("open", 0),
        "fixed": s.get("fixed", 0),
        "reopened": s.get("reopened", 0),
        "still_open": s.get("still_open", 0),
        "by_severity": s.get("by_severity", {}),
        "grades": s.get("grades", {}),
        "score": s.get("score"),
        "targets": [
            {k: t.get(k) for k in ("label", "ok", "error", "issues")}
            for t in s.get("targets", [])
        ],
    }
