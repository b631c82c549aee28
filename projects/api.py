"""API endpoints of projects and their targets."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from django.db.models import OuterRef, Subquery, Value
from ninja import Router, Schema, Status
from ninja.errors import HttpError

from audits.models import Audit
from config.api import ApiRequest, get_object, keyset_page

from .forms import TargetForm
from .models import Membership, Project, Target

router = Router(tags=["projects"])

PAGE = 100


class LatestAudit(Schema):
    id: int
    number: int
    status: str
    finished_at: datetime | None
    grades: dict[str, str]
    score: float | None
    open: int | None
    by_severity: dict[str, int]
    gate_passed: bool | None


class Gate(Schema):
    new_severity: Literal["", "critical", "high", "medium", "low", "info"]
    regressions: bool
    overdue_critical: bool


class Sla(Schema):
    critical: int
    high: int
    medium: int
    low: int


class ProjectOut(Schema):
    id: int
    name: str
    slug: str
    team: str
    description: str
    role: str
    audit_interval_hours: int
    next_audit_at: datetime | None
    sla: Sla
    gate: Gate
    latest_audit: LatestAudit | None
    url: str


class ProjectPage(Schema):
    items: list[ProjectOut]
    next: str | None


def latest_audit_ids() -> Subquery:
    """Return a subquery of each project's latest finished audit's id."""
    return Subquery(
        Audit.objects.filter(project=OuterRef("pk"))
        .finished()
        .order_by("-number")
        .values("pk")[:1]
    )


def project_out(project: Project, latest: Audit | None) -> dict[str, Any]:
    summary = (latest.summary or {}) if latest else {}
    return {
        "id": project.pk,
        "name": project.name,
        "slug": project.slug,
        "team": project.team.slug,
        "description": project.description,
        "role": project.role,
        "audit_interval_hours": project.audit_interval_hours,
        "next_audit_at": project.next_audit_at,
        "sla": {
            "critical": project.sla_critical_days,
            "high": project.sla_high_days,
            "medium": project.sla_medium_days,
            "low": project.sla_low_days,
        },
        "gate": {
            "new_severity": project.gate_new_severity,
            "regressions": project.gate_regressions,
            "overdue_critical": project.gate_overdue_critical,
        },
        "latest_audit": None
        if latest is None
        else {
            "id": latest.pk,
            "number": latest.number,
            "status": latest.status,
            "finished_at": latest.finished_at,
            "grades": summary.get("grades", {}),
            "score": summary.get("score"),
            "open": summary.get("open"),
            "by_severity": summary.get("by_severity", {}),
            "gate_passed": latest.gate_passed,
        },
        "url": project.get_absolute_url(),
    }


def _latest_audits(ids: Iterable[int | None]) -> dict[int, Audit]:
    ids = [i for i in ids if i]
    if not ids:
        return {}
    return {
        a.pk: a
        for a in Audit.objects.filter(pk__in=ids).only(
            "pk",
            "project_id",
            "number",
            "status",
            "finished_at",
            "summary",
            "gate_passed",
        )
    }


@router.get("/projects", response=ProjectPage, summary="List your projects")
def project_list(request: ApiRequest, cursor: int | None = None) -> dict[str, Any]:
    """Return the projects of your teams, in id order, a hundred at a time.

    Pass the previous page's ``next`` as ``cursor`` for the next page.
    """
    if request.auth.project is not None:  # a project token: its project only
        projects = Project.objects.filter(pk=request.auth.project.pk).annotate(
            role=Value(Membership.Role.VIEWER)
        )
    else:
        role = Membership.objects.filter(
            team=OuterRef("team"), user=request.user
        ).values("role")[:1]
        projects = Project.objects.for_user(request.user).annotate(role=Subquery(role))
    projects = (
        projects.select_related("team")
        .annotate(latest_id=latest_audit_ids())
        .order_by("pk")
    )
    if cursor is not None:
        projects = projects.filter(pk__gt=cursor)
    rows, after = keyset_page(projects, size=PAGE, key="pk")
    latest = _latest_audits(p.latest_id for p in rows)
    return {
        "items": [project_out(p, latest.get(p.latest_id)) for p in rows],
        "next": after,
    }


@router.get("/projects/{int:project_id}", response=ProjectOut, summary="Read a project")
def project_detail(request: ApiRequest, project_id: int) -> dict[str, Any]:
    project = get_object(
        request,
        Project.objects.select_related("team").annotate(latest_id=latest_audit_ids()),
        pk=project_id,
    )
    latest = _latest_audits([project.latest_id])
    return project_out(project, latest.get(project.latest_id))


class GateIn(Schema):
    new_severity: Literal["", "critical", "high", "medium", "low", "info"] | None = None
    regressions: bool | None = None
    overdue_critical: bool | None = None


@router.patch(
    "/projects/{int:project_id}/gate", response=ProjectOut, summary="Change the gate"
)
def project_gate(
    request: ApiRequest, project_id: int, payload: GateIn
) -> dict[str, Any]:
    """Change what fails the project's quality gate (owners and admins)."""
    project = get_object(
        request,
        Project.objects.select_related("team").annotate(latest_id=latest_audit_ids()),
        pk=project_id,
        manage=True,
    )
    changes = {
        f"gate_{name}": value
        for name, value in payload.dict(exclude_unset=True).items()
        if value is not None
    }
    if changes:
        Project.objects.filter(pk=project.pk).update(**changes)
        for name, value in changes.items():
            setattr(project, name, value)
    latest = _latest_audits([project.latest_id])
    return project_out(project, latest.get(project.latest_id))


class TargetOut(Schema):
    id: int
    project: int
    name: str
    kind: str
    location: str
    dialect: str
    enabled: bool
    has_password: bool
    created_at: datetime


class TargetIn(Schema):
    kind: Literal["sqlite", "postgresql", "mysql", "ddl", "code"]
    location: str
    name: str = ""
    dialect: Literal["", "sqlite", "postgres", "mysql"] = ""
    enabled: bool = True
    password: str = ""


class TargetChange(Schema):
    kind: Literal["sqlite", "postgresql", "mysql", "ddl", "code"] | None = None
    location: str | None = None
    name: str | None = None
    dialect: Literal["", "sqlite", "postgres", "mysql"] | None = None
    enabled: bool | None = None
    password: str | None = None


def target_out(target: Target) -> dict[str, Any]:
    return {
        "id": target.pk,
        "project": target.project_id,
        "name": target.name,
        "kind": target.kind,
        "location": target.location,
        "dialect": target.dialect,
        "enabled": target.enabled,
        "has_password": target.has_password,
        "created_at": target.created_at,
    }


@router.get(
    "/projects/{int:project_id}/targets",
    response=list[TargetOut],
    summary="List a project's targets",
)
def target_list(request: ApiRequest, project_id: int) -> list[dict[str, Any]]:
    project = get_object(request, Project.objects.all(), pk=project_id)
    return [target_out(t) for t in project.targets.all()]


@router.get("/targets/{int:target_id}", response=TargetOut, summary="Read a target")
def target_detail(request: ApiRequest, target_id: int) -> dict[str, Any]:
    return target_out(get_object(request, Target.objects.all(), pk=target_id))


def _save_target(form: TargetForm) -> Target:
    if not form.is_valid():
        raise HttpError(400, _form_errors(form))
    return form.save()


def _form_errors(form: TargetForm) -> str:
    parts = [str(e) for e in form.non_field_errors()]
    for name, errors in form.errors.items():
        if name != "__all__":
            parts.extend(f"{name}: {e}" for e in errors)
    return " ".join(parts) or "The request is invalid."


@router.post(
    "/projects/{int:project_id}/targets",
    response={201: TargetOut},
    summary="Add a target (owners and admins)",
)
def target_create(
    request: ApiRequest, project_id: int, payload: TargetIn
) -> Status[dict[str, Any]]:
    """Add a target, checked as the settings page checks it."""
    project = get_object(request, Project.objects.all(), pk=project_id, manage=True)
    form = TargetForm(data=payload.dict())
    form.instance.project = project
    return Status(201, target_out(_save_target(form)))


@router.patch(
    "/targets/{int:target_id}",
    response=TargetOut,
    summary="Change a target (owners and admins)",
)
def target_change(
    request: ApiRequest, target_id: int, payload: TargetChange
) -> dict[str, Any]:
    """Change the given fields of a target; a blank password keeps the stored one."""
    target = get_object(request, Target.objects.all(), pk=target_id, manage=True)
    data = {
        "kind": target.kind,
        "location": target.location,
        "name": target.name,
        "dialect": target.dialect,
        "enabled": target.enabled,
        "password": "",
    }
    data.update(
        {k: v for k, v in payload.dict(exclude_unset=True).items() if v is not None}
    )
    return target_out(_save_target(TargetForm(data=data, instance=target)))
