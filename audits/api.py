"""API endpoints of audits: list, read, start, import a report, its report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpResponse
from ninja import Field, Router, Schema, Status
from ninja.errors import HttpError

from config.api import ApiRequest, get_object, keyset_page
from projects.models import Project

from . import gate, services
from .models import Audit

router = Router(tags=["audits"])

PAGE = 50
BRIEF_FIELDS = (
    "pk",
    "project_id",
    "number",
    "trigger",
    "origin",
    "status",
    "created_at",
    "started_at",
    "finished_at",
    "error",
    "gate_passed",
    "summary",
)


class GateFinding(Schema):
    id: int
    reason: str
    severity: str
    title: str
    check: str
    location: str
    status: str


class GateCheck(Schema):
    reason: str
    rule: str
    failed: int


class GateVerdict(Schema):
    passed: bool | None
    rules: list[str] = Field([], description="What fails the gate, one per rule.")
    checks: list[GateCheck] = Field(
        [], description="Each rule with how many findings broke it."
    )
    failed: int = 0
    baseline: int = Field(
        0,
        description="New findings taken as the baseline: present when their "
        "target was first audited.",
    )
    findings: list[GateFinding] = []


class AuditBrief(Schema):
    id: int
    project: int
    number: int
    trigger: str
    origin: str
    status: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str
    new: int | None
    fixed: int | None
    reopened: int | None
    open: int | None
    grade: str | None
    score: float | None
    gate_passed: bool | None
    url: str


class AuditOut(AuditBrief):
    progress_done: int
    progress_total: int
    progress_step: str
    summary: dict[str, Any]
    gate: GateVerdict


class AuditPage(Schema):
    items: list[AuditBrief]
    next: str | None


def audit_brief(audit: Audit) -> dict[str, Any]:
    summary = audit.summary or {}
    return {
        "id": audit.pk,
        "project": audit.project_id,
        "number": audit.number,
        "trigger": audit.trigger,
        "origin": audit.origin,
        "status": audit.status,
        "created_at": audit.created_at,
        "started_at": audit.started_at,
        "finished_at": audit.finished_at,
        "error": audit.error,
        "new": summary.get("new"),
        "fixed": summary.get("fixed"),
        "reopened": summary.get("reopened"),
        "open": summary.get("open"),
        "grade": summary.get("grades", {}).get("overall"),
        "score": summary.get("score"),
        "gate_passed": audit.gate_passed,
        "url": audit.get_absolute_url(),
    }


def audit_out(audit: Audit) -> dict[str, Any]:
    return {
        **audit_brief(audit),
        "progress_done": audit.progress_done,
        "progress_total": audit.progress_total,
        "progress_step": audit.progress_step,
        "summary": audit.summary or {},
        "gate": gate.shown(audit),
    }


@router.get(
    "/projects/{int:project_id}/audits",
    response=AuditPage,
    summary="List a project's audits",
)
def audit_list(
    request: ApiRequest, project_id: int, cursor: int | None = None
) -> dict[str, Any]:
    """Return the project's audits, newest first, fifty at a time.

    Pass the previous page's ``next`` as ``cursor`` for the next page.
    """
    project = get_object(request, Project.objects.all(), pk=project_id)
    audits = project.audits.only(*BRIEF_FIELDS).order_by("-number")
    if cursor is not None:
        audits = audits.filter(number__lt=cursor)
    rows, after = keyset_page(audits, size=PAGE, key="number")
    return {
        "items": [audit_brief(a) for a in rows],
        "next": after,
    }


@router.get("/audits/{int:audit_id}", response=AuditOut, summary="Read an audit")
def audit_detail(request: ApiRequest, audit_id: int) -> dict[str, Any]:
    """Return an audit with its summary and the quality gate's verdict."""
    return audit_out(
        get_object(request, Audit.objects.defer("report_markdown"), pk=audit_id)
    )


@router.post(
    "/projects/{int:project_id}/audits",
    response={202: AuditOut},
    summary="Start an audit",
)
def audit_start(request: ApiRequest, project_id: int) -> Status[dict[str, Any]]:
    """Queue an audit of the project's enabled targets.

    A 409 answers when an audit of the project is already under way.
    """
    project = get_object(request, Project.objects.all(), pk=project_id, write=True)
    if not project.targets.filter(enabled=True).exists():
        raise HttpError(
            400, "The project has no enabled target; add one before running an audit."
        )
    running = project.audits.active().first()
    if running:
        raise HttpError(409, f"Audit #{running.number} is already under way.")
    audit = services.start_audit(project, user=request.user)
    audit.refresh_from_db()  # without a broker it has already run
    return Status(202, audit_out(audit))


@router.post(
    "/projects/{int:project_id}/imports",
    response={201: AuditOut},
    summary="Import a Markdown report or SARIF log",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "report": {"type": "string", "format": "binary"}
                        },
                        "required": ["report"],
                    }
                }
            },
        }
    },
)
def audit_import(request: ApiRequest, project_id: int) -> Status[dict[str, Any]]:
    """Import a Markdown audit report or a SARIF 2.1.0 log as an audit.

    Send it as ``multipart/form-data`` in the field ``report``. Nothing is
    stored when the file cannot be imported; ``detail`` says why.
    """
    from .forms import ReportUploadForm
    from .imports import ReportError, import_report

    project = get_object(
        request, Project.objects.select_related("team"), pk=project_id, write=True
    )
    too_large = getattr(request, "upload_too_large", None)
    if too_large:
        raise HttpError(400, ReportUploadForm.too_large_message(too_large))
    form = ReportUploadForm({}, request.FILES)
    if not form.is_valid():
        raise HttpError(400, " ".join(form.errors.get("report", ["Invalid file."])))
    try:
        audit = import_report(
            project,
            data=form.read(),
            filename=form.cleaned_data["report"].name,
            user=request.user,
        )
    except ReportError as exc:
        raise HttpError(400, str(exc)) from exc
    return Status(201, audit_out(audit))


@router.get(
    "/audits/{int:audit_id}/report.md",
    response={200: str},
    summary="Export an audit's Markdown report",
    openapi_extra={
        "responses": {
            200: {"content": {"text/markdown": {"schema": {"type": "string"}}}}
        }
    },
)
def audit_report(request: ApiRequest, audit_id: int) -> HttpResponse:
    from .views import report_response

    audit = get_object(request, Audit.objects.select_related("project"), pk=audit_id)
    response: HttpResponse = report_response(audit)
    return response
