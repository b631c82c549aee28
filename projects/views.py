from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import OuterRef, Subquery
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.text import slugify
from django.views.decorators.http import require_http_methods, require_POST

from audits.models import Audit

from .access import can_manage, can_write, scoped
from .forms import MemberAddForm, MemberRoleForm, ProjectForm, SignupForm, TargetForm
from .models import Membership, Project, Target, Team


def error_404(request, exception=None):
    return HttpResponse(
        render_to_string("errors/404.html", request=request), status=404
    )


def error_403(request, exception=None):
    return HttpResponse(
        render_to_string(
            "errors/403.html", {"message": str(exception or "")}, request=request
        ),
        status=403,
    )


def error_500(request):
    return HttpResponse(render_to_string("errors/500.html"), status=500)


@require_http_methods(["GET", "POST"])
def signup(request):
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            user = form.save()
            create_personal_team(user)
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, "Welcome to Plumbline. Create your first project.")
        return redirect("projects:create")
    return render(request, "registration/signup.html", {"form": form})


def create_personal_team(user) -> Team:
    """Create the user's personal team, owned by them."""
    base = slugify(user.username) or "team"
    slug, n = base, 1
    while Team.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    team = Team.objects.create(name=f"{user.username}'s team", slug=slug, personal=True)
    Membership.objects.create(team=team, user=user, role=Membership.Role.OWNER)
    return team


@login_required
@require_http_methods(["GET"])
def project_list(request):
    latest = Audit.objects.filter(project=OuterRef("pk")).finished().order_by("-number")
    projects = (
        Project.objects.for_user(request.user)
        .select_related("team")
        .annotate(
            latest_summary=Subquery(latest.values("summary")[:1]),
            latest_finished=Subquery(latest.values("finished_at")[:1]),
        )
        .order_by("team__name", "name")
    )
    teams = Team.objects.filter(memberships__user=request.user).order_by("name")
    return render(
        request, "projects/project_list.html", {"projects": projects, "teams": teams}
    )


@login_required
@require_http_methods(["GET", "POST"])
def project_create(request):
    form = ProjectForm(request.POST or None, user=request.user, prefix="project")
    target_form = TargetForm(
        request.POST or None, prefix="target", use_required_attribute=False
    )
    wants_target = bool(request.POST.get("target-location", "").strip())
    if not form.fields["team"].queryset.exists():
        messages.error(
            request,
            "You are a viewer in every team you belong to, so you cannot create projects.",
        )
        return redirect("projects:list")
    if request.method == "POST":
        forms_ok = form.is_valid() and (not wants_target or target_form.is_valid())
        if forms_ok:
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
def project_settings(request, pk):
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
    return render(
        request,
        "projects/project_settings.html",
        {
            "project": project,
            "form": form,
            "targets": project.targets.all(),
            "target_form": TargetForm(prefix="target"),
            "can_write": can_write(project.role),
        },
    )


@login_required
@require_POST
def target_create(request, pk):
    project = scoped(request, Project.objects.all(), pk=pk, write=True)
    form = TargetForm(request.POST, prefix="target")
    if form.is_valid():
        target = form.save(commit=False)
        target.project = project
        target.save()
        messages.success(request, f"Target “{target}” added.")
        return redirect("projects:settings", pk=project.pk)
    return render(
        request,
        "projects/project_settings.html",
        {
            "project": project,
            "form": ProjectForm(instance=project, user=request.user, prefix="project"),
            "targets": project.targets.all(),
            "target_form": form,
            "can_write": True,
        },
        status=400,
    )


@login_required
@require_http_methods(["GET", "POST"])
def target_edit(request, pk):
    target = scoped(
        request,
        Target.objects.select_related("project"),
        pk=pk,
        write=request.method == "POST",
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
def target_delete(request, pk):
    target = scoped(request, Target.objects.all(), pk=pk, write=True)
    project_id = target.project_id
    target.delete()
    messages.success(request, "Target removed. Its findings are kept.")
    return redirect("projects:settings", pk=project_id)


@login_required
@require_POST
def target_test(request, pk):
    target = scoped(request, Target.objects.all(), pk=pk, write=True)
    from audits.services import test_target_connection

    ok, message = test_target_connection(target)
    context = {"target": target, "ok": ok, "message": message}
    if request.htmx:
        return render(request, "projects/partials/target_test_result.html", context)
    (messages.success if ok else messages.error)(request, f"{target}: {message}")
    return redirect("projects:settings", pk=target.project_id)


@login_required
@require_http_methods(["GET", "POST"])
def team_members(request, slug):
    team = scoped(
        request, Team.objects.all(), slug=slug, manage=request.method == "POST"
    )
    form = MemberAddForm(request.POST or None, team=team)
    if request.method == "POST" and form.is_valid():
        Membership.objects.create(
            team=team, user=form.cleaned_data["user"], role=form.cleaned_data["role"]
        )
        messages.success(
            request,
            f"{form.cleaned_data['user']} added as {form.cleaned_data['role']}.",
        )
        return redirect("projects:members", slug=team.slug)
    members = team.memberships.select_related("user").order_by("user__username")
    return render(
        request,
        "projects/team_members.html",
        {
            "team": team,
            "members": members,
            "form": form,
            "can_manage": can_manage(team.role),
            "roles": Membership.Role.choices,
        },
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def member_update(request, slug, membership_id):
    team = scoped(request, Team.objects.all(), slug=slug, manage=True)
    membership = (
        team.memberships.filter(pk=membership_id).select_related("user").first()
    )
    if membership is None:
        return error_404(request)
    owners = team.memberships.filter(role=Membership.Role.OWNER)
    last_owner = membership.role == Membership.Role.OWNER and owners.count() == 1
    if request.POST.get("action") == "remove":
        if last_owner:
            messages.error(request, "A team keeps at least one owner.")
        else:
            membership.delete()
            messages.success(request, f"{membership.user} removed from {team}.")
        return redirect("projects:members", slug=team.slug)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a valid role.")
    elif last_owner and form.cleaned_data["role"] != Membership.Role.OWNER:
        messages.error(request, "A team keeps at least one owner.")
    elif (
        membership.role == Membership.Role.OWNER and team.role != Membership.Role.OWNER
    ):
        messages.error(request, "Only an owner can change another owner's role.")
    else:
        membership.role = form.cleaned_data["role"]
        membership.save(update_fields=["role"])
        messages.success(request, f"{membership.user} is now {membership.role}.")
    return redirect("projects:members", slug=team.slug)


def project_nav(project) -> dict:
    return {
        "overview": reverse("projects:overview", args=[project.pk]),
        "findings": reverse("findings:list", args=[project.pk]),
        "audits": reverse("audits:list", args=[project.pk]),
        "settings": reverse("projects:settings", args=[project.pk]),
    }


@login_required
@require_http_methods(["GET"])
def project_overview(request, pk):
    from audits.engine.issues import Dimension

    project = scoped(request, Project.objects.select_related("team"), pk=pk)
    audits = list(project.audits.order_by("-number")[:2])
    active = project.audits.active().order_by("-number").first()
    latest = next((a for a in audits if a.is_finished), None)
    summary = latest.summary if latest else {}
    grades = summary.get("grades", {})
    rows = [
        {
            "dimension": d.value,
            "label": d.label,
            "grade": grades.get(d.value, "–"),
            "summary": summary.get("grade_summaries", {}).get(d.value, ""),
        }
        for d in Dimension
    ]
    return render(
        request,
        "projects/project_overview.html",
        {
            "project": project,
            "latest": latest,
            "active": active,
            "rows": rows,
            "overall": grades.get("overall"),
            "score": summary.get("score"),
            "summary": summary,
            "can_write": can_write(project.role),
            "has_targets": project.targets.exists(),
        },
    )
