from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.db.models.functions import Length
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from findings.models import Finding, FindingEvent
from findings.tables import effort_rank, severity_rank
from projects.access import can_write, scoped
from projects.http import AppRequest
from projects.models import Project

from . import runs, services
from .models import Audit
from .report_pages import page_count, report_page
from .summary import AuditSummary, stated_totals


@login_required
@require_GET
def audit_list(request: AppRequest, pk: int) -> HttpResponse:
    project = scoped(request, Project.objects.select_related("team"), pk=pk)
    page = Paginator(
        project.audits.defer("report_markdown").order_by("-number"), 50
    ).get_page(request.GET.get("page"))
    return render(
        request,
        "audits/audit_list.html",
        {
            "project": project,
            "page": page,
            "can_write": can_write(project.role),
        },
    )


def _sweep_without_beat() -> None:
    # Embedded mode has no beat: the pages people watch when an audit seems
    # stuck run the sweeper instead (at most once a minute per process).
    if settings.CELERY_TASK_ALWAYS_EAGER:
        runs.sweep_if_due()


@login_required
@require_POST
def audit_run(request: AppRequest, pk: int) -> HttpResponse:
    project = scoped(request, Project.objects.all(), pk=pk, write=True)
    _sweep_without_beat()
    if not project.targets.filter(enabled=True).exists():
        message = "Add an enabled target in settings before running an audit."
        if request.htmx:
            return render(
                request,
                "audits/partials/audit_progress.html#run-refused",
                {"project": project, "message": message},
            )
        messages.error(request, message)
        return redirect("projects:settings", pk=project.pk)
    running = project.audits.active().first()
    audit = running or services.start_audit(project, user=request.user)
    if request.htmx:
        # Embedded, the audit may already have moved on in its thread.
        audit.refresh_from_db()
        return _progress_response(request, audit)
    if running:
        messages.info(request, f"Audit #{running.number} is already under way.")
    return redirect(audit)


def _progress_response(request: AppRequest, audit: Audit) -> HttpResponse:
    response = render(request, "audits/partials/audit_progress.html", {"audit": audit})
    if audit.is_finished:
        # Other parts of the page (grades, findings) refresh on this event.
        response["HX-Trigger"] = "audit-finished"
    return response


@login_required
@require_GET
def audit_status(request: AppRequest, pk: int) -> HttpResponse:
    _sweep_without_beat()
    audit = scoped(request, Audit.objects.defer("summary", "report_markdown"), pk=pk)
    return _progress_response(request, audit)


@login_required
@require_POST
def audit_cancel(request: AppRequest, pk: int) -> HttpResponse:
    audit = scoped(request, Audit.objects.select_related("project"), pk=pk, write=True)
    who = request.user.get_username()
    if audit.cancel(
        f"Cancelled by {who} before it finished; no finding was changed by it."
    ):
        messages.success(
            request, f"Audit #{audit.number} cancelled. No finding was changed."
        )
    else:
        messages.info(
            request, f"Audit #{audit.number} had already finished; it was kept."
        )
    return redirect(audit)


# Each change list on the audit page shows at most this many findings.
CHANGE_LIMIT = 200
CHANGE_FIELDS = (
    "id",
    "project_id",
    "severity",
    "effort",
    "title",
    "object",
    "file",
    "line",
    "status",
    "target_id",
)


@login_required
@require_GET
def audit_detail(request: AppRequest, pk: int) -> HttpResponse:
    audit = scoped(
        request,
        # The report is read page by page (audits.report_pages), never whole
        # unless a page is rendered for the first time.
        Audit.objects.select_related("project", "project__team")
        .defer("report_markdown")
        .annotate(report_length=Length("report_markdown")),
        pk=pk,
    )
    reopened_ids = FindingEvent.objects.filter(
        audit=audit, kind=FindingEvent.Kind.REOPENED
    ).values("finding_id")
    # Worst first, then the quickest to fix: the order to work through them.
    findings = (
        Finding.objects.only(*CHANGE_FIELDS)
        .annotate(sev_rank=severity_rank(), effort_rank=effort_rank())
        .order_by("sev_rank", "effort_rank", "-id")
    )
    summary = audit.summary or {}
    kinds = [
        (
            "new",
            "New",
            "Found for the first time by this audit.",
            "Nothing was found for the first time.",
            findings.filter(first_seen_audit=audit),
        ),
        (
            "fixed",
            "Fixed",
            "Open before, not seen by this audit: verified fixed.",
            "No open finding went away.",
            findings.filter(fixed_by_audit=audit),
        ),
        (
            "reopened",
            "Reopened",
            "Fixed before and seen again: regressions.",
            "No fixed finding came back.",
            findings.filter(pk__in=reopened_ids),
        ),
    ]
    if audit.origin != "engine":
        # An import saw nothing: what it fixed, its report no longer lists.
        kinds[1] = (
            *kinds[1][:2],
            "Open before, no longer listed by this file.",
            *kinds[1][3:],
        )
        kinds.append(_reported_fixed(audit, findings))
    changes = [
        {
            "key": key,
            "title": title,
            "help": help_text,
            "empty": empty,
            "total": summary.get(key, 0),
            "findings": list(qs[:CHANGE_LIMIT]),
        }
        for key, title, help_text, empty, qs in kinds
    ]
    targets = summary.get("targets", [])
    _link_code(targets, [f for c in changes for f in c["findings"]])
    for change in changes:
        # Imported audits and older rows may lack a count; the list knows.
        change["total"] = max(change["total"], len(change["findings"]))
    context = {
        "audit": audit,
        "project": audit.project,
        "summary": summary,
        "targets": targets,
        "failed_targets": [t for t in targets if not t.get("ok")],
        "changes": changes,
        **_totals_context(summary),
        "first_audit": audit.number == 1,
        "limit": CHANGE_LIMIT,
        **_report_context(request, audit),
        "can_write": can_write(audit.role),
    }
    template = "audits/audit_detail.html"
    if request.htmx:
        template += "#audit-body"
    return render(request, template, context)


def _link_code(targets: list[dict[str, Any]], findings: Iterable[Finding]) -> None:
    """Give git targets a commit link and their findings a file+line link.

    Links exist for repositories on GitHub and GitLab, at the commit the
    audit scanned, so they show the code as the audit saw it.
    """
    from audits.engine.sources import git

    commits = {}
    for t in targets:
        if t.get("commit") and t.get("location"):
            web = git.web_url(t["location"])
            t["commit_url"] = f"{web}/commit/{t['commit']}" if web else ""
            commits[t.get("target")] = (t["location"], t["commit"])
    for f in findings:
        where = commits.get(f.target_id)
        f.code_url = git.blob_url(where[0], where[1], f.file, f.line) if where else ""


def _report_context(request: AppRequest, audit: Audit) -> dict[str, Any]:
    """Return the page of the audit's report the request asks for, as HTML."""
    pages = page_count(audit)
    try:
        number = int(request.GET.get("report_page", 1))
    except ValueError:
        number = 1
    number = min(max(number, 1), max(pages, 1))
    return {
        "report_pages": pages,
        "report_page": number,
        "report_html": report_page(audit, number) if pages else "",
        "report_page_numbers": range(1, pages + 1) if pages > 1 else (),
    }


@login_required
@require_GET
def audit_report(request: AppRequest, pk: int) -> HttpResponse:
    audit = scoped(request, Audit.objects.select_related("project"), pk=pk)
    return report_response(audit)


def report_response(audit: Audit) -> HttpResponse:
    """Return the audit's Markdown report as a download (pages and API)."""
    response = HttpResponse(
        audit.report_markdown, content_type="text/markdown; charset=utf-8"
    )
    response["Content-Disposition"] = (
        f'attachment; filename="{audit.project.slug}-audit-{audit.number}.md"'
    )
    return response


@login_required
@require_POST
def audit_import(request: AppRequest, pk: int) -> HttpResponse:
    """Import an uploaded Markdown report or SARIF log as an audit."""
    from .forms import ReportUploadForm
    from .imports import ReportError, import_report

    project = scoped(request, Project.objects.select_related("team"), pk=pk, write=True)
    form = ReportUploadForm(request.POST, request.FILES)
    audit = None
    too_large = getattr(request, "upload_too_large", None)
    if too_large:
        form = ReportUploadForm(request.POST, {})
        form.is_valid()
        form.errors.clear()
        form.add_error("report", form.too_large_message(too_large))
    elif form.is_valid():
        try:
            audit = import_report(
                project,
                data=form.read(),
                filename=form.cleaned_data["report"].name,
                user=request.user,
            )
        except ReportError as exc:
            form.add_error("report", str(exc))
    if request.htmx:
        response = render(
            request,
            "audits/partials/import_form.html",
            {
                "project": project,
                "form": ReportUploadForm() if audit else form,
                "imported": audit,
                **_totals_context(audit.summary if audit else {}),
            },
        )
        if audit:
            # The overview's summary and any findings list refresh on these.
            response["HX-Trigger"] = "audit-finished, findings-changed"
        return response
    if audit is None:
        for error in form.errors.get("report", ["The file could not be imported."]):
            messages.error(request, error)
        return redirect("projects:overview", pk=project.pk)
    s = audit.summary
    differ = [t for t in stated_totals(s) if t["differs"]]
    messages.success(
        request,
        f"Imported {s['imported']['filename'] or 'the file'} as audit "
        f"#{audit.number}: {s['new']} new, {s['fixed']} fixed, "
        + (
            f"{s['reported_fixed']} reported fixed (not verified), "
            if s.get("reported_fixed")
            else ""
        )
        + f"{s['reopened']} reopened, {s['still_open']} still open."
        + "".join(
            f" The report states {t['stated']} {t['severity']}; "
            f"{t['imported']} imported."
            for t in differ
        ),
    )
    return redirect(audit)


def _totals_context(summary: AuditSummary | None) -> dict[str, Any]:
    """Return the report's stated totals beside the imported ones, for pages."""
    totals = stated_totals(summary or {})
    return {"totals": totals, "totals_differ": any(t["differs"] for t in totals)}


def _reported_fixed(
    audit: Audit, findings: QuerySet[Finding]
) -> tuple[str, str, str, str, QuerySet[Finding]]:
    """Return the audit page's section of findings an import's report marks
    fixed: created fixed, or set fixed, on the report's word alone."""
    claimed = FindingEvent.objects.filter(
        audit=audit,
        kind__in=(FindingEvent.Kind.CREATED, FindingEvent.Kind.STATUS),
        to_value=Finding.Status.FIXED,
    ).values("finding_id")
    return (
        "reported_fixed",
        "Reported fixed",
        "The report says these are fixed; nothing has verified it yet. An engine "
        "audit that runs a finding's check and no longer finds the problem will.",
        "The report marks nothing fixed.",
        findings.filter(pk__in=claimed),
    )
