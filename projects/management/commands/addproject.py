from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from projects.forms import ProjectForm, TargetForm
from projects.models import Membership, Team


class Command(BaseCommand):
    help = (
        "Create a project with its targets. "
        "Example: addproject --team acme --name Shop --target sqlite:/srv/shop.db "
        "--target code:/srv/shop/src --target postgresql:postgresql://app@db/shop"
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--team", required=True, help="team slug (created if missing)"
        )
        parser.add_argument("--name", required=True, help="project name")
        parser.add_argument(
            "--slug", default="", help="project slug (default: from the name)"
        )
        parser.add_argument("--description", default="")
        parser.add_argument(
            "--interval", type=int, default=24, help="re-audit every N hours (0: off)"
        )
        parser.add_argument(
            "--target",
            action="append",
            default=[],
            metavar="KIND:LOCATION",
            help="kind is sqlite, postgresql, mysql, ddl or code; repeat for several",
        )
        parser.add_argument(
            "--owner", default="", help="username made owner of a new team"
        )

    @transaction.atomic
    def handle(self, *args, **opts):
        team, created = Team.objects.get_or_create(
            slug=opts["team"], defaults={"name": opts["team"]}
        )
        if created and opts["owner"]:
            from django.contrib.auth import get_user_model

            user = get_user_model().objects.filter(username=opts["owner"]).first()
            if user is None:
                raise CommandError(f"No user named {opts['owner']!r}.")
            Membership.objects.create(team=team, user=user, role=Membership.Role.OWNER)
        form = ProjectForm(
            data={
                "team": team.pk,
                "name": opts["name"],
                "slug": opts["slug"],
                "description": opts["description"],
                "audit_interval_hours": opts["interval"],
                "sla_critical_days": 7,
                "sla_high_days": 30,
                "sla_medium_days": 90,
                "sla_low_days": 180,
            },
            user=None,
        )
        form.fields["team"].queryset = Team.objects.filter(pk=team.pk)
        if not form.is_valid():
            raise CommandError(_errors(form))
        project = form.save(commit=False)
        project.slug = form.cleaned_data["slug"]
        project.schedule_next()
        project.save()
        for spec in opts["target"]:
            kind, sep, location = spec.partition(":")
            if not sep:
                raise CommandError(
                    f"--target {spec!r}: use KIND:LOCATION, e.g. sqlite:/path/app.db"
                )
            target_form = TargetForm(
                data={"kind": kind, "location": location, "enabled": "on"}
            )
            if not target_form.is_valid():
                raise CommandError(f"--target {spec!r}: {_errors(target_form)}")
            target = target_form.save(commit=False)
            target.project = project
            target.save()
        self.stdout.write(
            f"Created project {project.name} (id {project.pk}, slug {project.slug}) "
            f"in team {team.slug} with {len(opts['target'])} target(s)."
        )


def _errors(form) -> str:
    return "; ".join(
        f"{field}: {' '.join(errs)}" if field != "__all__" else " ".join(errs)
        for field, errs in form.errors.items()
    )
