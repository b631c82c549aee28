import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.decorators import login_required
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Exists, OuterRef, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.text import slugify
from django.views.decorators.http import require_http_methods, require_POST

from audits.engine.checks.probe_facts import duration_text, size_text
from audits.engine.levels import Dimension, Effort, Severity
from audits.models import Audit
from audits.summary import AuditSummary
from findings.filters import UNRESOLVED_TAB

from . import charts
from .access import can_manage, can_write, scoped
from .forms import (
    ApiTokenForm,
    InviteForm,
    MemberRoleForm,
    NotificationPreferenceForm,
    ProjectDeleteForm,
    ProjectForm,
    SignupForm,
    TargetForm,
    TeamForm,
    WebhookForm,
)
from .http import AppRequest
from .models import (
    ApiToken,
    Invitation,
    Membership,
    NotificationPreference,
    Project,
    ProjectToken,
    Target,
    Team,
    Webhook,
    WebhookDelivery,
)
from .responses import error_page, is_htmx, toast

log = logging.getLogger(__name__)


def error_400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return error_page(
        request,
        status=400,
        title="Bad request",
        message="The request could not be read. Go back and try again.",
    )


def error_404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_htmx(request):
        return toast(
            request,
            "Not found: it was removed, or belongs to a team you are not in.",
            status=404,
        )
    return render(request, "errors/404.html", status=404)


def error_403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = str(exception or "") or "Your role in this team does not allow this."
    if is_htmx(request):
        return toast(request, message, status=403)
    return render(request, "errors/403.html", {"message": message}, status=403)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return error_page(
        request,
        status=403,
        title="Form expired",
        message="This form was open too long or from another tab. Reload the "
        "page and try again; nothing was changed.",
    )


def error_500(request: HttpRequest) -> HttpResponse:
    return HttpResponse(render_to_string("errors/500.html"), status=500)


@require_http_methods(["GET", "POST"])
def signup(request: AppRequest) -> HttpResponse:
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            user = form.save()
            create_personal_team(user)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, "Welcome to Plumbline. Create your first project.")
        return redirect("projects:create")
    return render(request, "registration/signup.html", {"form": form})


def create_personal_team(user: AbstractBaseUser) -> Team:
    """Create the user's personal team, owned by them."""
    slug = _free_slug(slugify(user.username) or "team")
    team = Team.objects.create(name=f"{user.username}'s team", slug=slug, personal=True)
    Membership.objects.create(team=team, user=user, role=Membership.Role.OWNER)
    return team


@login_required
@require_http_methods(["GET"])
def project_list(request: AppRequest) -> HttpResponse:
    # The latest finished audit's summary carries the grade and the counts,
    # so the whole list is one query however many findings there are.
    latest = (
        Audit.objects.filter(project=OuterRef("pk"))
        .finished()
        .exclude(summary={})
        .order_by("-number")
    )
    projects = list(
        Project.objects.for_user(request.user)
        .select_related("team")
        .annotate(
            latest_summary=Subquery(latest.values("summary")[:1]),
            latest_finished=Subquery(latest.values("finished_at")[:1]),
            active_audits=Exists(Audit.objects.filter(project=OuterRef("pk")).active()),
        )
        .order_by("team__name", "name")
    )
    for p in projects:
        summary = p.latest_summary or {}
        by_severity = summary.get("by_severity", {})
        p.overall = summary.get("grades", {}).get("overall")
        p.open_count = summary.get("open")
        p.severity_counts = [
            {
                "severity": s,
                "count": by_severity.get(s, 0),
                "url": findings_url(p, severity=s, status=UNRESOLVED_TAB),
            }
            for s in SEVERITIES
        ]
    teams = Team.objects.filter(memberships__user=request.user).order_by("name")
    return render(
        request, "projects/project_list.html", {"projects": projects, "teams": teams}
    )


@login_required
@require_http_methods(["GET", "POST"])
def project_create(request: AppRequest) -> HttpResponse:
    form = ProjectForm(request.POST or None, user=request.user, prefix="project")
    target_form = TargetForm(request.POST or None, prefix="target")
    if not form.fields["team"].queryset.exists():
        messages.error(
            request,
            "You are a viewer in every team you belong to, so you cannot create projects.",
        )
        return redirect("projects:list")
    if request.method == "POST":
        # The target is optional as a whole: left entirely blank it is not
        # validated (a bad project name marks none of its fields), but once
        # any part of it is given, all of it must be right.
        wants_target = not target_form.left_blank()
        if not wants_target:
            target_form = TargetForm(prefix="target")
        project_ok = form.is_valid()
        target_ok = not wants_target or target_form.is_valid()
        if project_ok and target_ok:
            with transaction.atomic():
                project = form.save(commit=False)
                project.slug = form.cleaned_data["slug"]
                project.schedule_next()
                project.save()
                if wants_target:
                    target = target_form.save(commit=False)
                    target.project = project
                    target.save()
            messages.success(request, f"Project “{project.name}” created.")
            return redirect(project)
    return render(
        request,
        "projects/project_form.html",
        {"form": form, "target_form": target_form},
    )


@login_required
@require_http_methods(["GET", "POST"])
def project_settings(request: AppRequest, pk: int) -> HttpResponse:
    project = scoped(
        request,
        Project.objects.select_related("team"),
        pk=pk,
        write=request.method == "POST",
    )
    form = ProjectForm(
        request.POST or None, instance=project, user=request.user, prefix="project"
    )
    if request.method == "POST" and form.is_valid():
        project = form.save(commit=False)
        project.slug = form.cleaned_data["slug"]
        project.schedule_next(
            after=project.audits.order_by("-number")
            .values_list("created_at", flat=True)
            .first()
        )
        project.save()
        messages.success(request, "Settings saved.")
        return redirect("projects:settings", pk=project.pk)
    return _settings_page(request, project, form, TargetForm(prefix="target"))


# The webhook delivery log on the settings page shows this many, newest first.
DELIVERY_LOG = 20


def _settings_page(
    request: AppRequest,
    project: Project,
    form: ProjectForm,
    target_form: TargetForm,
    status: int = 200,
    webhook_form: WebhookForm | None = None,
    *,
    new_token: str | None = None,
    token_error: str = "",
    **extra: Any,
) -> HttpResponse:
    """Render the settings page with the given project and target forms."""
    manager = can_manage(project.role)
    context = {
        "project": project,
        "form": form,
        "targets": project.targets.all(),
        "target_form": target_form,
        "can_write": can_write(project.role),
        "can_manage": manager,
        "delete_form": ProjectDeleteForm(project=project),
        "tokens": project.tokens.select_related("created_by"),
        "new_token": new_token,
        "token_error": token_error,
        "upload_url": request.build_absolute_uri("/").rstrip("/"),
        "scratch_enabled": bool(settings.SCRATCH_DATABASE_URL),
        **extra,
    }
    if manager:
        context["webhooks"] = list(project.webhooks.all())
        context["webhook_form"] = webhook_form or WebhookForm(prefix="webhook")
        context["deliveries"] = list(
            WebhookDelivery.objects.filter(webhook__project=project)
            .select_related("webhook", "audit")
            .defer("body")
            .order_by("-pk")[:DELIVERY_LOG]
        )
    return render(request, "projects/project_settings.html", context, status=status)


@login_required
@require_POST
def webhook_create(request: AppRequest, pk: int) -> HttpResponse:
    project = scoped(
        request, Project.objects.select_related("team"), pk=pk, manage=True
    )
    form = WebhookForm(request.POST, prefix="webhook")
    project_form = ProjectForm(instance=project, user=request.user, prefix="project")
    if not form.is_valid():
        return _settings_page(
            request,
            project,
            project_form,
            TargetForm(prefix="target"),
            status=400,
            webhook_form=form,
        )
    webhook = form.save(commit=False)
    webhook.project = project
    secret = Webhook.new_secret()
    webhook.signing_secret = secret
    webhook.save()
    # The secret is shown on this one response and never again.
    return _settings_page(
        request,
        project,
        project_form,
        TargetForm(prefix="target"),
        new_webhook=webhook,
        new_webhook_secret=secret,
    )


@login_required
@require_POST
def webhook_delete(request: AppRequest, pk: int) -> HttpResponse:
    webhook = scoped(request, Webhook.objects.all(), pk=pk, manage=True)
    project_id = webhook.project_id
    webhook.delete()
    messages.success(request, "Webhook removed; it will receive nothing more.")
    return redirect(reverse("projects:settings", args=[project_id]) + "#webhooks")


@login_required
@require_http_methods(["GET", "POST"])
def api_token_list(request: AppRequest) -> HttpResponse:
    """List the user's API tokens; POST makes one and shows its secret once."""
    form = ApiTokenForm(request.POST or None)
    secret = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            token, secret = ApiToken.issue(
                request.user,
                name=form.cleaned_data["name"],
                scope=form.cleaned_data["scope"],
            )
            form = ApiTokenForm()
        else:
            status = 400
    tokens = ApiToken.objects.filter(user=request.user).order_by("-created_at", "-pk")
    return render(
        request,
        "projects/api_token_list.html",
        {"form": form, "tokens": tokens, "secret": secret},
        status=status,
    )


@login_required
@require_POST
def api_token_revoke(request: AppRequest, pk: int) -> HttpResponse:
    token = ApiToken.objects.filter(user=request.user, pk=pk).first()
    if token is None:
        raise Http404("No such token.")
    token.revoke()
    messages.success(request, f"Token “{token.name}” revoked: it no longer works.")
    return redirect("projects:api-tokens")


@login_required
@require_http_methods(["GET", "POST"])
def notification_settings(request: AppRequest) -> HttpResponse:
    """The user's email notification choices: whether, which events, which projects."""
    preference = NotificationPreference.objects.filter(user=request.user).first()
    if preference is None:
        preference = NotificationPreference(user=request.user)
    form = NotificationPreferenceForm(
        request.POST or None, instance=preference, user=request.user
    )
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Notification settings saved.")
        return redirect("projects:notifications")
    return render(
        request,
        "projects/notification_settings.html",
        {"form": form},
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def project_delete(request: AppRequest, pk: int) -> HttpResponse:
    """Delete the project with its audits and findings, once its name is typed."""
    project = scoped(
        request, Project.objects.select_related("team"), pk=pk, manage=True
    )
    form = ProjectDeleteForm(request.POST, project=project)
    if not form.is_valid():
        project_form = ProjectForm(
            instance=project, user=request.user, prefix="project"
        )
        return _settings_page(
            request,
            project,
            project_form,
            TargetForm(prefix="target"),
            status=400,
            delete_form=form,
        )
    name = project.name
    delete_project(project)
    messages.success(request, f"Project “{name}” and its findings were deleted.")
    return redirect("projects:list")


def delete_project(project: Project) -> None:
    """Delete ``project`` and everything under it in one transaction.

    Findings and their history go by plain DELETEs, children first, rather
    than through the ORM's collector, which would load every one of a large
    project's findings into memory first.
    """
    from findings.models import Finding, FindingEvent, FindingSighting

    findings = Finding.objects.filter(project=project)
    with transaction.atomic():
        FindingEvent.objects.filter(finding__in=findings.values("pk"))._raw_delete(
            "default"
        )
        FindingSighting.objects.filter(finding__in=findings.values("pk"))._raw_delete(
            "default"
        )
        findings._raw_delete("default")
        project.delete()


@login_required
@require_POST
def token_create(request: AppRequest, pk: int) -> HttpResponse:
    project = scoped(request, Project.objects.select_related("team"), pk=pk, write=True)
    name = request.POST.get("name", "").strip()[:100]
    project_form = ProjectForm(instance=project, user=request.user, prefix="project")
    if not name:
        return _settings_page(
            request,
            project,
            project_form,
            TargetForm(prefix="target"),
            status=400,
            token_error="Give the token a name, e.g. the CI job that will use it.",
        )
    _token, raw = ProjectToken.issue(project, name=name, user=request.user)
    # Rendered, not redirected: the secret is shown this once and never
    # stored anywhere but in this response.
    return _settings_page(
        request, project, project_form, TargetForm(prefix="target"), new_token=raw
    )


@login_required
@require_POST
def token_revoke(request: AppRequest, pk: int) -> HttpResponse:
    token = scoped(request, ProjectToken.objects.all(), pk=pk, write=True)
    token.revoke()
    messages.success(
        request, f"Token “{token.name}” revoked; CI jobs using it now fail."
    )
    return redirect(reverse("projects:settings", args=[token.project_id]) + "#tokens")


@login_required
@require_POST
def target_create(request: AppRequest, pk: int) -> HttpResponse:
    project = scoped(request, Project.objects.all(), pk=pk, write=True)
    form = TargetForm(request.POST, prefix="target")
    if form.is_valid():
        target = form.save(commit=False)
        target.project = project
        target.save()
        messages.success(request, f"Target “{target}” added.")
        return redirect("projects:settings", pk=project.pk)
    project_form = ProjectForm(instance=project, user=request.user, prefix="project")
    return _settings_page(request, project, project_form, form, status=400)


@login_required
@require_http_methods(["GET", "POST"])
def target_edit(request: AppRequest, pk: int) -> HttpResponse:
    target = scoped(
        request,
        Target.objects.select_related("project"),
        pk=pk,
        write=True,  # the edit form is for those who may save it
    )
    form = TargetForm(request.POST or None, instance=target, prefix="target")
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, f"Target “{target}” saved.")
        return redirect("projects:settings", pk=target.project_id)
    return render(
        request,
        "projects/target_form.html",
        {"form": form, "target": target, "project": target.project},
    )


@login_required
@require_POST
def target_delete(request: AppRequest, pk: int) -> HttpResponse:
    target = scoped(request, Target.objects.all(), pk=pk, write=True)
    project_id = target.project_id
    target.delete()
    messages.success(request, "Target removed. Its findings are kept.")
    return redirect("projects:settings", pk=project_id)


@login_required
@require_POST
def target_test(request: AppRequest, pk: int) -> HttpResponse:
    target = scoped(request, Target.objects.all(), pk=pk, write=True)
    ok, message = target.test_connection()
    context = {"target": target, "ok": ok, "message": message}
    if request.htmx:
        return render(request, "projects/partials/target_test_result.html", context)
    (messages.success if ok else messages.error)(request, f"{target}: {message}")
    return redirect("projects:settings", pk=target.project_id)


@login_required
@require_http_methods(["GET", "POST"])
def team_members(request: AppRequest, slug: str) -> HttpResponse:
    team = scoped(
        request, Team.objects.all(), slug=slug, manage=request.method == "POST"
    )
    form = InviteForm(request.POST or None, team=team)
    if request.method == "POST" and form.is_valid():
        invitation = invite(
            team,
            recipient=form.cleaned_data["recipient"],
            role=form.cleaned_data["role"],
            by=request.user,
            link=lambda inv: request.build_absolute_uri(inv.get_absolute_url()),
        )
        link = request.build_absolute_uri(invitation.get_absolute_url())
        # The same answer whether or not anyone by that name or email exists.
        messages.success(
            request,
            f"Invitation for “{invitation.recipient}” as {invitation.role} created. "
            "They accept it on their Invitations page once logged in with that "
            f"username or email, or through this link: {link}",
        )
        return redirect("projects:members", slug=team.slug)
    members = team.memberships.select_related("user").order_by("user__username")
    manage = can_manage(team.role)
    return render(
        request,
        "projects/team_members.html",
        {
            "team": team,
            "members": members,
            "form": form,
            "can_manage": manage,
            "roles": form.fields["role"].choices,
            "invitations": list(team.invitations.pending()) if manage else [],
        },
        status=400 if form.errors else 200,
    )


def invite(
    team: Team,
    *,
    recipient: str,
    role: str,
    by: AbstractBaseUser,
    link: Callable[[Invitation], str],
) -> Invitation:
    """Invite ``recipient`` (a username or email) to ``team``, emailing an address."""
    invitation = (
        Invitation.objects.pending().filter(team=team, recipient=recipient).first()
    ) or Invitation(team=team, recipient=recipient, invited_by=by)
    # Asked again, the invitation gets a new link (the old one stops working).
    invitation.role = role
    invitation.new_token()
    invitation.save()
    if "@" in recipient:
        url = link(invitation)
        transaction.on_commit(lambda: _send_invitation(invitation, url))
    return invitation


def _send_invitation(invitation: Invitation, url: str) -> None:
    try:
        send_mail(
            f"You are invited to {invitation.team} on Plumbline",
            f"{invitation.invited_by} invites you to join {invitation.team} as "
            f"{invitation.role}. Log in (or sign up with this email address) and "
            f"accept it on your Invitations page, or open this link: {url}",
            None,
            [invitation.recipient],
        )
    except OSError:
        log.warning("invitation email to team %s not sent", invitation.team_id)


@login_required
@require_POST
def invitation_cancel(
    request: AppRequest, slug: str, invitation_id: int
) -> HttpResponse:
    team = scoped(request, Team.objects.all(), slug=slug, manage=True)
    deleted, _ = team.invitations.pending().filter(pk=invitation_id).delete()
    if deleted:
        messages.success(request, "Invitation withdrawn.")
    return redirect("projects:members", slug=team.slug)


@login_required
@require_http_methods(["GET"])
def invitation_list(request: AppRequest) -> HttpResponse:
    """List the pending invitations addressed to the user's name or email."""
    invitations = list(
        Invitation.objects.for_user(request.user).select_related("team", "invited_by")
    )
    return render(
        request, "projects/invitation_list.html", {"invitations": invitations}
    )


@login_required
@require_http_methods(["GET", "POST"])
def invitation_detail(request: AppRequest, token: str) -> HttpResponse:
    """Show one invitation and let the user holding its link accept or decline it."""
    invitation = (
        Invitation.objects.pending()
        .select_related("team", "invited_by")
        .filter(token_hash=Invitation.hash_token(token))
        .first()
    )
    if invitation is None:
        return render(
            request,
            "errors/error.html",
            {
                "code": 404,
                "title": "No such invitation",
                "message": "This invitation was accepted, declined or withdrawn, "
                "or the link is incomplete.",
            },
            status=404,
        )
    if request.method == "POST":
        return _respond(request, invitation)
    invitation.link_token = token
    return render(
        request, "projects/invitation_detail.html", {"invitation": invitation}
    )


@login_required
@require_POST
def invitation_respond(request: AppRequest, invitation_id: int) -> HttpResponse:
    """Accept or decline, from the invitations page, one addressed to the user."""
    invitation = (
        Invitation.objects.for_user(request.user)
        .select_related("team")
        .filter(pk=invitation_id)
        .first()
    )
    if invitation is None:
        raise Http404("No such invitation for you.")
    return _respond(request, invitation)


def _respond(request: AppRequest, invitation: Invitation) -> HttpResponse:
    team = invitation.team
    if request.POST.get("action") == "decline":
        invitation.declined_at = timezone.now()
        invitation.save(update_fields=["declined_at"])
        messages.info(request, f"You declined the invitation to {team}.")
        return redirect("invitations")
    with transaction.atomic():
        _, created = Membership.objects.get_or_create(
            team=team, user=request.user, defaults={"role": invitation.role}
        )
        invitation.accepted_at = timezone.now()
        invitation.save(update_fields=["accepted_at"])
    if created:
        messages.success(request, f"You joined {team} as {invitation.role}.")
    else:
        messages.info(request, f"You were already a member of {team}.")
    return redirect("projects:list")


@login_required
@require_http_methods(["GET", "POST"])
def team_create(request: AppRequest) -> HttpResponse:
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            team = form.save(commit=False)
            team.slug = _free_slug(slugify(team.name))
            team.save()
            Membership.objects.create(
                team=team, user=request.user, role=Membership.Role.OWNER
            )
        messages.success(request, f"Team “{team}” created; invite its members here.")
        return redirect("projects:members", slug=team.slug)
    return render(
        request,
        "projects/team_form.html",
        {"form": form},
        status=400 if form.errors else 200,
    )


def _free_slug(base: str) -> str:
    slug, n = base or "team", 1
    while Team.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@login_required
@require_POST
def team_leave(request: AppRequest, slug: str) -> HttpResponse:
    team = scoped(request, Team.objects.all(), slug=slug)
    mine = team.memberships.get(user=request.user)
    owners = team.memberships.filter(role=Membership.Role.OWNER)
    if mine.role == Membership.Role.OWNER and owners.count() == 1:
        messages.error(
            request,
            "You are the team's only owner: make someone else an owner before leaving.",
        )
        return redirect("projects:members", slug=team.slug)
    mine.delete()
    messages.success(request, f"You left {team}.")
    return redirect("projects:list")


@login_required
@require_POST
def member_update(request: AppRequest, slug: str, membership_id: int) -> HttpResponse:
    team = scoped(request, Team.objects.all(), slug=slug, manage=True)
    membership = (
        team.memberships.filter(pk=membership_id).select_related("user").first()
    )
    if membership is None:
        raise Http404("No such member.")
    owner = Membership.Role.OWNER
    acting_owner = team.role == owner
    owners = team.memberships.filter(role=owner)
    last_owner = membership.role == owner and owners.count() == 1
    if request.POST.get("action") == "remove":
        if last_owner:
            messages.error(request, "A team keeps at least one owner.")
        elif membership.role == owner and not acting_owner:
            messages.error(request, "Only an owner can remove an owner.")
        else:
            membership.delete()
            messages.success(request, f"{membership.user} removed from {team}.")
        return redirect("projects:members", slug=team.slug)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a valid role.")
    elif last_owner and form.cleaned_data["role"] != owner:
        messages.error(request, "A team keeps at least one owner.")
    elif membership.role == owner and not acting_owner:
        messages.error(request, "Only an owner can change another owner's role.")
    elif form.cleaned_data["role"] == owner and not acting_owner:
        messages.error(request, "Only an owner can make someone an owner.")
    else:
        membership.role = form.cleaned_data["role"]
        membership.save(update_fields=["role"])
        messages.success(request, f"{membership.user} is now {membership.role}.")
    return redirect("projects:members", slug=team.slug)


# The trend charts cover this many finished audits, newest last.
TREND_AUDITS = 30
# Findings shown when a grade is expanded; the rest are one link away.
GRADE_FINDINGS = 20
EFFORTS = tuple(e.value for e in Effort)
SEVERITIES = tuple(s.value for s in Severity)
# Worth doing first: serious problems that take minutes or hours to fix.
QUICK_WIN_SEVERITIES = (Severity.CRITICAL.value, Severity.HIGH.value)
QUICK_WIN_EFFORTS = (Effort.MINUTES.value, Effort.HOURS.value)


def findings_url(project: Project, **params: str) -> str:
    """Return the project's findings list filtered by ``params``."""
    return f"{reverse('findings:list', args=[project.pk])}?{urlencode(params)}"


def priority_matrix(project: Project, summary: AuditSummary) -> dict[str, Any]:
    """Return the severity × effort matrix of a summary, with links per cell."""
    matrix = summary.get("matrix", {})
    efforts = list(EFFORTS)
    if any(matrix.get(s, {}).get("unknown") for s in SEVERITIES):
        efforts.append("unknown")
    rows, quick_wins = [], 0
    for severity in SEVERITIES:
        cells = []
        for effort in efforts:
            count = int(matrix.get(severity, {}).get(effort, 0))
            quick = severity in QUICK_WIN_SEVERITIES and effort in QUICK_WIN_EFFORTS
            quick_wins += count if quick else 0
            cells.append(
                {
                    "effort": effort,
                    "count": count,
                    "quick": quick,
                    "url": findings_url(
                        project, severity=severity, effort=effort, status=UNRESOLVED_TAB
                    )
                    if effort != "unknown"
                    else "",
                }
            )
        rows.append(
            {
                "severity": severity,
                "cells": cells,
                "total": sum(c["count"] for c in cells),
            }
        )
    return {"efforts": efforts, "rows": rows, "quick_wins": quick_wins}


def grade_rows(project: Project, summary: AuditSummary) -> list[dict[str, Any]]:
    """Return the executive summary rows: dimension, grade, one-line summary."""
    grades = summary.get("grades", {})
    worst_of = summary.get("grade_worst", {})
    rows = []
    for dim in Dimension:
        worst = worst_of.get(dim.value)
        row = {
            "dimension": dim.value,
            "label": dim.label,
            "grade": grades.get(dim.value, "–"),
            "summary": summary.get("grade_summaries", {}).get(dim.value, ""),
            "worst": worst,
            "count": summary.get("by_dimension", {}).get(dim.value, {}).get(worst, 0),
        }
        if worst:
            row["list_url"] = findings_url(
                project, dimension=dim.value, severity=worst, status=UNRESOLVED_TAB
            )
            row["fragment_url"] = (
                f"{reverse('projects:overview', args=[project.pk])}?"
                f"{urlencode({'dimension': dim.value, 'severity': worst})}"
            )
        rows.append(row)
    return rows


def space_rows(summary: AuditSummary) -> list[dict[str, Any]]:
    """Return each live database's size after the audit, and its growth since.

    Read from the summary only: the sizes and growth each target's outcome
    stored. A database read for the first time has no ``growth``.
    """
    rows = []
    for outcome in summary.get("targets", ()):
        space = outcome.get("space")
        if not outcome.get("ok") or not space:
            continue
        row: dict[str, Any] = {
            "label": outcome["label"],
            "size": size_text(space["database_bytes"]),
        }
        growth = outcome.get("growth")
        if growth:
            change = growth["now"] - growth["before"]
            row["growth"] = {
                "change": ("+" if change >= 0 else "−") + size_text(abs(change)),
                "per_day": ("+" if growth["per_day"] >= 0 else "−")
                + size_text(abs(growth["per_day"])),
                "since": growth["label"],
                "over": duration_text(growth["days"] * 86400),
                "tables": [
                    {"table": t["table"], "per_day": "+" + size_text(t["per_day"])}
                    for t in growth["tables"]
                ],
            }
        rows.append(row)
    return rows


def _grade_findings(request: AppRequest, project: Project) -> HttpResponse:
    """Render the unresolved findings that set one dimension's grade."""
    dimension = request.GET.get("dimension", "")
    severity = request.GET.get("severity", "")
    if severity not in SEVERITIES:
        return HttpResponse("Unknown severity.", status=400)
    findings = list(
        project.findings.unresolved()
        .filter(dimension=dimension, severity=severity)
        .only(
            "id",
            "project_id",
            "severity",
            "title",
            "object",
            "file",
            "line",
            "check_id",
        )
        .order_by("-id")[: GRADE_FINDINGS + 1]
    )
    return render(
        request,
        "projects/project_overview.html#grade-findings",
        {
            "findings": findings[:GRADE_FINDINGS],
            "more": len(findings) > GRADE_FINDINGS,
            "list_url": findings_url(
                project, dimension=dimension, severity=severity, status=UNRESOLVED_TAB
            ),
        },
    )


@login_required
@require_http_methods(["GET"])
def project_overview(request: AppRequest, pk: int) -> HttpResponse:
    project = scoped(
        request,
        Project.objects.select_related("team").annotate(
            has_targets=Exists(Target.objects.filter(project=OuterRef("pk")))
        ),
        pk=pk,
    )
    if "dimension" in request.GET:
        return _grade_findings(request, project)
    # One row per finished audit: trends read the stored summaries only.
    finished = list(
        project.audits.finished()
        .defer("report_markdown")
        .order_by("-number")[:TREND_AUDITS]
    )
    trend = [
        {"number": a.number, "finished_at": a.finished_at, "summary": a.summary}
        for a in reversed(finished)
        if a.summary.get("grades")
    ]
    summary = trend[-1]["summary"] if trend else {}
    previous = trend[-2]["summary"] if len(trend) > 1 else {}
    latest = next((a for a in finished if a.summary.get("grades")), None)
    context = {
        "project": project,
        "latest": latest,
        "summary": summary,
        "overall": summary.get("grades", {}).get("overall"),
        "previous_overall": previous.get("grades", {}).get("overall"),
        "score": summary.get("score"),
        "rows": grade_rows(project, summary),
        "matrix": priority_matrix(project, summary),
        "space_rows": space_rows(summary),
        "open_by_severity": [
            {
                "severity": s,
                "count": summary.get("by_severity", {}).get(s, 0),
                "url": findings_url(project, severity=s, status=UNRESOLVED_TAB),
            }
            for s in SEVERITIES
        ],
        "severity_chart": charts.severity_chart(trend) if trend else "",
        "grade_chart": charts.grade_chart(trend) if trend else "",
        "trend_count": len(trend),
        "can_write": can_write(project.role),
    }
    if request.htmx and request.GET.get("fragment") == "summary":
        return render(
            request, "projects/project_overview.html#overview-summary", context
        )
    context["active"] = (
        project.audits.active().defer("report_markdown", "summary").first()
    )
    context["last_audit"] = finished[0] if finished else None
    return render(request, "projects/project_overview.html", context)
