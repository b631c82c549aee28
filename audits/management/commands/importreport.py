import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from audits.imports import ReportError, import_report
from audits.management.commands.runaudit import _find, summary_json


class Command(BaseCommand):
    help = (
        "Import a Markdown audit report or a SARIF log into a project as an audit "
        "and print its summary (PROJECT is an id or a slug)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "project", help="project id, or slug (team-slug/project-slug if ambiguous)"
        )
        parser.add_argument("file", help="the Markdown report or SARIF file")
        parser.add_argument(
            "--root",
            default=None,
            help="folder stripped from absolute SARIF paths "
            "(default: the project's code target)",
        )
        parser.add_argument(
            "--json", action="store_true", help="print the summary as JSON"
        )

    def handle(self, *args, **opts):
        project = _find(opts["project"])
        path = Path(opts["file"])
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}.") from exc
        try:
            audit = import_report(
                project, data=data, filename=path.name, root=opts["root"]
            )
        except ReportError as exc:
            raise CommandError(str(exc)) from exc
        result = {**summary_json(audit), "imported": audit.summary.get("imported", {})}
        if opts["json"]:
            self.stdout.write(json.dumps(result, indent=2))
            return
        imported = result["imported"]
        self.stdout.write(
            f"Imported {imported.get('items', 0)} finding(s) from {path.name} as "
            f"audit #{audit.number} of {project.name}: {result['new']} new, "
            f"{result['open']} open, {result['fixed']} fixed, "
            f"{result['reopened']} reopened. Overall grade "
            f"{result['grades'].get('overall', '–')}."
        )
        for warning in imported.get("warnings", []):
            self.stderr.write(warning)
