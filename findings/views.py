from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from projects.access import can_write, scoped
from projects.models import Project

from .forms import AssignForm, CommentForm, TriageForm
from .models import Finding, TransitionError


@login_required
@require_GET
def finding_list(request, pk):
    project = scoped(request, Project.objects.select_related("team"), pk=pk)
    findings = project.findings.select_related("assignee").order_by("-id")
    status = request.GET.get("status", "unresolved")
    if status == "unresolved":
        findings = findings.filter(status__in=Finding.UNRESOLVED)
    elif status in Finding.Status.values:
        findings = findings.filter(status=status)
    severity = request.GET.get("severity")
    if severity:
        findings = findings.filter(severity=severity)
    page = Paginator(findings, 50).get_page(request.GET.get("page"))
    template = "findings/finding_list.html"
    if request.htmx:
        template += "#findings-table"
    return render(
        request,
        template,
        {
            "project": project,
            "page": page,
            "status": status,
            "statuses": Finding.Status.choices,
        },
    )


def _detail_context(request, finding):
    return {
        "finding": finding,
        "project": finding.project,
        "events": finding.events.select_related("actor", "audit"),
        "triage_form": TriageForm(finding=finding),
        "assign_form": AssignForm(
            project=finding.project, initial={"assignee": finding.assignee_id}
        ),
        "comment_form": CommentForm(),
        "can_write": can_write(finding.role),
    }


@login_required
@require_GET
def finding_detail(request, pk):
    finding = scoped(
        request,
        Finding.objects.select_related(
            "project", "project__team", "assignee", "target"
        ),
        pk=pk,
    )
    return render(
        request, "findings/finding_detail.html", _detail_context(request, finding)
    )


def _after_change(request, finding, error=None):
    """Return the triage panel for htmx, or redirect for a plain POST."""
    if request.htmx:
        finding.refresh_from_db()
        finding.role = request.role
        context = _detail_context(request, finding)
        context["error"] = error
        response = render(
            request,
            "findings/finding_detail.html#triage",
            context,
            status=400 if error else 200,
        )
        response["HX-Trigger"] = "findings-changed"
        return response
    if error:
        messages.error(request, error)
    return redirect(finding)


@login_required
@require_POST
def finding_status(request, pk):
    finding = scoped(
        request, Finding.objects.select_related("project"), pk=pk, write=True
    )
    form = TriageForm(request.POST, finding=finding)
    if not form.is_valid():
        return _after_change(
            request, finding, " ".join(form.non_field_errors()) or "Choose a status."
        )
    try:
        with transaction.atomic():
            finding.change_status(
                form.cleaned_data["status"],
                by=request.user,
                reason=form.cleaned_data["reason"],
            )
    except TransitionError as exc:
        return _after_change(request, finding, str(exc))
    return _after_change(request, finding)


@login_required
@require_POST
def finding_assign(request, pk):
    finding = scoped(
        request,
        Finding.objects.select_related("project", "assignee"),
        pk=pk,
        write=True,
    )
    form = AssignForm(request.POST, project=finding.project)
    if not form.is_valid():
        return _after_change(request, finding, "Choose a member of the project's team.")
    with transaction.atomic():
        finding.assign(form.cleaned_data["assignee"], by=request.user)
    return _after_change(request, finding)


@login_required
@require_POST
def finding_comment(request, pk):
    finding = scoped(
        request, Finding.objects.select_related("project"), pk=pk, write=True
    )
    form = CommentForm(request.POST)
    if not form.is_valid():
        return _after_change(request, finding, "A comment cannot be empty.")
    finding.comment(form.cleaned_data["text"], by=request.user)
    return _after_change(request, finding)


@login_required
@require_GET
def finding_mine(request):
    from django.db.models import F

    findings = (
        Finding.objects.filter(
            assignee=request.user,
            status__in=Finding.UNRESOLVED,
            project__team__memberships__user=request.user,
        )
        .select_related("project")
        .order_by(F("due_date").asc(nulls_last=True), "-id")
    )
    page = Paginator(findings, 50).get_page(request.GET.get("page"))
    return render(request, "findings/finding_mine.html", {"page": page})
