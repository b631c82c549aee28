"""API endpoints of findings: list, read with history, triage, bulk, export.

The list takes the findings page's own filters (``FindingFilter``, the
query parameters of ``/projects/<id>/findings/``) and sorts
(``FindingTable``'s columns), and pages with an opaque cursor: each page
continues from the sort key and id of the previous page's last row, so a
page deep in a million findings costs what the first does.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import django_filters
from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.db.models.expressions import OrderBy
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status
from ninja.errors import HttpError
from pydantic import create_model

from config.api import ApiRequest, get_object
from projects.models import Project

from . import exports
from .filters import FindingFilter, team_members
from .forms import BulkForm
from .models import Finding, TransitionError
from .tables import FindingTable, severity_rank

router = Router(tags=["findings"])

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def _filter_schema() -> type[Schema]:
    """Return the list's query parameters, made from ``FindingFilter``'s filters.

    The schema documents and type-checks them; the filtering itself is the
    filter set's, exactly as on the page.
    """
    fields: dict[str, Any] = {}
    for name, spec in FindingFilter.base_filters.items():
        label = str(spec.label or name)
        choices = spec.extra.get("choices")
        if isinstance(spec, django_filters.BooleanFilter):
            kind = bool
        elif isinstance(spec, django_filters.ModelChoiceFilter):
            kind, label = int, "A target's id"
        elif choices:
            kind = Literal[tuple(value for value, _ in choices)]  # type: ignore[misc]
            label = ", ".join(f"{value} ({text})" for value, text in choices)
        elif name == "assignee":
            kind, label = str, "me, nobody, or a team member's user id"
        else:
            kind = str
        fields[name] = (kind | None, Field(None, description=label))
    return create_model("FindingFilters", __base__=Schema, **fields)


FindingFilters = _filter_schema()

# Sorts: the findings table's sortable columns, each "name" or "-name".
SORTS = {
    name: tuple(str(o) for o in column.order_by)
    for name, column in FindingTable.base_columns.items()
    if column.orderable is not False and column.order_by
}
SortName = Literal[tuple(s for name in SORTS for s in (name, f"-{name}"))]  # type: ignore[misc]
NULLABLE = {"assignee__username", "due_date"}

# A cursor's sort value: a row's sort key as JSON keeps it (dates as ISO text).
CursorValue = str | int | float | bool | None


def nulls_largest() -> bool:
    """Return True when the database sorts NULL after every value (PostgreSQL)."""
    return connection.vendor == "postgresql"


@dataclass(frozen=True)
class Ordering:
    """A sort as (key, id), NULLs where the database puts them, so the
    order is the findings page's and the indexes serve it."""

    key: str | None
    key_desc: bool
    id_desc: bool

    @classmethod
    def of(cls, sort: str) -> Ordering:
        flip = sort.startswith("-")
        fields = SORTS[sort.lstrip("-")]
        keys = [f for f in fields if f.lstrip("-") != "id"]
        id_desc = any(f == "-id" for f in fields) != flip
        if not keys:
            return cls(None, False, id_desc)
        key = keys[0]
        return cls(key.lstrip("-"), key.startswith("-") != flip, id_desc)

    def reversed(self) -> Ordering:
        return Ordering(self.key, not self.key_desc, not self.id_desc)

    @property
    def id_order(self) -> str:
        return "-id" if self.id_desc else "id"

    def order_by(self) -> list[OrderBy | str]:
        if self.key is None:
            return [self.id_order]
        key = F(self.key).desc() if self.key_desc else F(self.key).asc()
        return [key, self.id_order]

    def value(self, row: Finding) -> CursorValue:
        if self.key is None:
            return None
        if self.key == "assignee__username":
            return row.assignee.username if row.assignee_id else None
        value = getattr(row, self.key)
        return value.isoformat() if isinstance(value, date) else value

    def segments(
        self, queryset: QuerySet[Finding], value: CursorValue, last_id: int
    ) -> list[QuerySet[Finding]]:
        """Return the queries whose rows, in turn, follow (value, last_id).

        Each one is a plain range of an index, rather than one OR of
        conditions that a planner would answer by walking from the start.
        """
        beyond_id = Q(id__lt=last_id) if self.id_desc else Q(id__gt=last_id)
        if self.key is None:
            return [queryset.filter(beyond_id).order_by(self.id_order)]
        if self.key == "due_date" and value is not None:
            value = date.fromisoformat(value)
        key = self.key
        nulls_at_end = self.key_desc != nulls_largest()
        same = Q(**{f"{key}__isnull": True}) if value is None else Q(**{key: value})
        found = [queryset.filter(same, beyond_id).order_by(self.id_order)]
        if value is not None:
            lookup = f"{key}__lt" if self.key_desc else f"{key}__gt"
            found.append(queryset.filter(**{lookup: value}).order_by(*self.order_by()))
            if key in NULLABLE and nulls_at_end:
                found.append(
                    queryset.filter(**{f"{key}__isnull": True}).order_by(self.id_order)
                )
        elif not nulls_at_end:
            found.append(
                queryset.filter(**{f"{key}__isnull": False}).order_by(*self.order_by())
            )
        return found


def encode_cursor(sort: str, direction: str, value: CursorValue, pk: int) -> str:
    raw = json.dumps([sort, direction, value, pk], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[str, CursorValue, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        got_sort, direction, value, pk = json.loads(raw)
        if (
            got_sort != sort
            or direction not in ("next", "prev")
            or not isinstance(pk, int)
        ):
            raise ValueError
    except (ValueError, TypeError, binascii.Error) as exc:
        raise HttpError(
            400,
            "The cursor is not valid for this list; start again without it "
            "(a cursor only works with the sort it came from).",
        ) from exc
    return direction, value, pk


def page_of(
    queryset: QuerySet[Finding], *, sort: str, cursor: str | None, limit: int
) -> tuple[list[Finding], str | None, str | None]:
    """Return (rows, next cursor, previous cursor) of a keyset page."""
    ordering = Ordering.of(sort)
    if cursor is None:
        rows = list(queryset.order_by(*ordering.order_by())[: limit + 1])
        more_after, more_before = len(rows) > limit, False
        rows = rows[:limit]
    else:
        direction, value, pk = decode_cursor(cursor, sort)
        walk = ordering if direction == "next" else ordering.reversed()
        rows = []
        for segment in walk.segments(queryset, value, pk):
            need = limit + 1 - len(rows)
            if need <= 0:
                break
            rows.extend(segment[:need])
        more = len(rows) > limit
        rows = rows[:limit]
        if direction == "next":
            more_after, more_before = more, True
        else:
            rows.reverse()
            more_after, more_before = True, more
    after = before = None
    if rows and more_after:
        after = encode_cursor(sort, "next", ordering.value(rows[-1]), rows[-1].pk)
    if rows and more_before:
        before = encode_cursor(sort, "prev", ordering.value(rows[0]), rows[0].pk)
    return rows, after, before


class FindingRow(Schema):
    id: int
    project: int
    severity: str
    title: str
    check: str
    dimension: str
    effort: str
    object: str
    file: str
    line: int | None
    function: str
    target: int | None
    status: str
    status_reason: str
    assignee: str | None
    due_date: date | None
    overdue: bool
    regression: bool
    first_seen_at: datetime
    fingerprint: str
    url: str


class FindingPage(Schema):
    items: list[FindingRow]
    next: str | None = Field(description="Pass as cursor for the next page.")
    previous: str | None = Field(description="Pass as cursor for the page before.")


class HistoryEvent(Schema):
    kind: str
    actor: str | None
    audit: int | None
    from_value: str
    to_value: str
    note: str
    created_at: datetime


class FindingOut(FindingRow):
    evidence: str
    remediation: str
    fix_sql: str
    origin: str
    ref: str
    first_seen_audit: int | None
    fixed_by_audit: int | None
    last_seen_audit: int | None
    last_seen_at: datetime | None
    history: list[HistoryEvent]


ROW_FIELDS = (
    "id",
    "project_id",
    "severity",
    "title",
    "check_id",
    "dimension",
    "effort",
    "object",
    "file",
    "line",
    "function",
    "target_id",
    "status",
    "status_reason",
    "assignee__username",
    "due_date",
    "regression",
    "first_seen_at",
    "fingerprint",
)


def finding_row(f: Finding, today: date, url: str) -> dict[str, Any]:
    return {
        "id": f.pk,
        "project": f.project_id,
        "severity": f.severity,
        "title": f.title,
        "check": f.check_id,
        "dimension": f.dimension,
        "effort": f.effort,
        "object": f.object,
        "file": f.file,
        "line": f.line,
        "function": f.function,
        "target": f.target_id,
        "status": f.status,
        "status_reason": f.status_reason,
        "assignee": f.assignee.username if f.assignee_id else None,
        "due_date": f.due_date,
        "overdue": f.status in Finding.UNRESOLVED
        and f.due_date is not None
        and f.due_date < today,
        "regression": f.regression,
        "first_seen_at": f.first_seen_at,
        "fingerprint": f.fingerprint,
        "url": url.format(f.pk),
    }


def _url_pattern() -> str:
    return reverse("findings:detail", args=[0]).replace("/0/", "/{}/")


def _filterset(
    request: ApiRequest,
    project: Project,
    members: Sequence[AbstractBaseUser] | None = None,
) -> FindingFilter:
    if members is None:
        # The members are the assignee filter's choices: read only when asked.
        wanted = request.GET.get("assignee") not in (None, "", "me", "nobody")
        members = list(team_members(project)) if wanted else []
    filterset = FindingFilter(
        request.GET, project=project, user=request.user, members=members
    )
    if not filterset.is_valid():
        problems = "; ".join(
            f"{name}: {' '.join(errors)}" for name, errors in filterset.errors.items()
        )
        raise HttpError(400, f"Invalid filter. {problems}")
    return filterset


@router.get(
    "/projects/{int:project_id}/findings",
    response=FindingPage,
    summary="List a project's findings",
)
def finding_list(
    request: ApiRequest,
    project_id: int,
    filters: Query[FindingFilters],  # type: ignore[valid-type]
    sort: SortName = "severity",  # type: ignore[valid-type]
    cursor: str | None = None,
    limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT),
) -> dict[str, Any]:
    """Return the findings the page's filters select, in the page's sort.

    Without ``status`` the unresolved findings (open and in progress) are
    listed, as on the page; ``status=all`` lists every one.
    """
    project = get_object(request, Project.objects.all(), pk=project_id)
    findings = (
        _filterset(request, project)
        .qs.select_related("assignee")
        .only(*ROW_FIELDS)
        .annotate(sev_rank=severity_rank())
    )
    rows, after, before = page_of(findings, sort=sort, cursor=cursor, limit=limit)
    today, url = timezone.localdate(), _url_pattern()
    return {
        "items": [finding_row(f, today, url) for f in rows],
        "next": after,
        "previous": before,
    }


DETAIL_RELATED = ("assignee", "sighting")


def finding_out(finding: Finding) -> dict[str, Any]:
    sighting = getattr(finding, "sighting", None)
    events = finding.events.select_related("actor", "audit").order_by(
        "created_at", "pk"
    )
    return {
        **finding_row(finding, timezone.localdate(), _url_pattern()),
        "evidence": finding.evidence,
        "remediation": finding.remediation,
        "fix_sql": finding.fix_sql,
        "origin": finding.origin,
        "ref": finding.ref,
        "first_seen_audit": finding.first_seen_audit_id,
        "fixed_by_audit": finding.fixed_by_audit_id,
        "last_seen_audit": sighting.audit_number if sighting else None,
        "last_seen_at": sighting.seen_at if sighting else None,
        "history": [
            {
                "kind": e.kind,
                "actor": e.actor_label,
                "audit": e.audit_id,
                "from_value": e.from_value,
                "to_value": e.to_value,
                "note": e.note,
                "created_at": e.created_at,
            }
            for e in events
        ],
    }


def _finding(request: ApiRequest, finding_id: int, *, write: bool = False) -> Finding:
    return get_object(
        request,
        Finding.objects.select_related("project", *DETAIL_RELATED),
        pk=finding_id,
        write=write,
    )


@router.get(
    "/findings/{int:finding_id}",
    response=FindingOut,
    summary="Read a finding with its history",
)
def finding_detail(request: ApiRequest, finding_id: int) -> dict[str, Any]:
    return finding_out(_finding(request, finding_id))


class StatusIn(Schema):
    status: Literal["open", "in_progress", "fixed", "documented", "false_positive"]
    reason: str = Field("", description="Needed for documented and false_positive.")


class AssignIn(Schema):
    assignee: str | None = Field(
        description="A team member's username, or null to unassign."
    )


class CommentIn(Schema):
    text: str = Field(max_length=10000)


SeverityName = Literal["critical", "high", "medium", "low", "info"]


class DueIn(Schema):
    due_date: date | None = Field(description="The new due date; null clears it.")
    reason: str = Field(
        max_length=2000, description="Why: kept in the finding's history."
    )


class SeverityIn(Schema):
    severity: SeverityName
    reason: str = Field(
        max_length=2000, description="Why: kept in the finding's history."
    )


@router.post(
    "/findings/{int:finding_id}/status",
    response=FindingOut,
    summary="Change a finding's status",
)
def finding_status(
    request: ApiRequest, finding_id: int, payload: StatusIn
) -> dict[str, Any]:
    """Move the finding along its lifecycle; a refused move is a 400 saying why."""
    return _edit(
        request,
        finding_id,
        lambda f: f.change_status(
            payload.status, by=request.user, reason=payload.reason
        ),
    )


def _edit(
    request: ApiRequest, finding_id: int, change: Callable[[Finding], object]
) -> dict[str, Any]:
    """Apply ``change`` to the finding in a transaction; a refusal is a 400."""
    finding = _finding(request, finding_id, write=True)
    try:
        with transaction.atomic():
            change(finding)
    except TransitionError as exc:
        raise HttpError(400, str(exc)) from exc
    return finding_out(_finding(request, finding_id))


@router.post(
    "/findings/{int:finding_id}/assign", response=FindingOut, summary="Assign a finding"
)
def finding_assign(
    request: ApiRequest, finding_id: int, payload: AssignIn
) -> dict[str, Any]:
    finding = _finding(request, finding_id, write=True)
    user = None
    if payload.assignee:
        user = team_members(finding.project).filter(username=payload.assignee).first()
        if user is None:
            raise HttpError(
                400, f"“{payload.assignee}” is not a member of the project's team."
            )
    with transaction.atomic():
        finding.assign(user, by=request.user)
    return finding_out(_finding(request, finding_id))


@router.post(
    "/findings/{int:finding_id}/severity",
    response=FindingOut,
    summary="Override a finding's severity",
)
def finding_severity(
    request: ApiRequest, finding_id: int, payload: SeverityIn
) -> dict[str, Any]:
    """Set the severity by hand, as the finding's page does: a reason is
    needed and kept in the history, and later audits keep the new severity."""
    return _edit(
        request,
        finding_id,
        lambda f: f.override_severity(
            payload.severity, by=request.user, reason=payload.reason
        ),
    )


@router.post(
    "/findings/{int:finding_id}/due",
    response=FindingOut,
    summary="Set or clear a finding's due date",
)
def finding_due(request: ApiRequest, finding_id: int, payload: DueIn) -> dict[str, Any]:
    """Set the due date by hand, as the finding's page does: a reason is
    needed and kept in the history."""
    return _edit(
        request,
        finding_id,
        lambda f: f.set_due_date(
            payload.due_date, by=request.user, reason=payload.reason
        ),
    )


@router.post(
    "/findings/{int:finding_id}/comments",
    response={201: HistoryEvent},
    summary="Comment on a finding",
)
def finding_comment(
    request: ApiRequest, finding_id: int, payload: CommentIn
) -> Status[dict[str, Any]]:
    finding = _finding(request, finding_id, write=True)
    try:
        event = finding.comment(payload.text, by=request.user)
    except TransitionError as exc:
        raise HttpError(400, str(exc)) from exc
    return Status(
        201,
        {
            "kind": event.kind,
            "actor": event.actor_label,
            "audit": None,
            "from_value": "",
            "to_value": "",
            "note": event.note,
            "created_at": event.created_at,
        },
    )


class BulkIn(Schema):
    ids: list[int] = Field(
        default_factory=list, description="The findings to change (of this project)."
    )
    all_matching: bool = Field(
        False,
        description="Change every finding the query's filters select instead of ids.",
    )
    status: Literal[
        "", "open", "in_progress", "fixed", "documented", "false_positive"
    ] = ""
    reason: str = ""
    assignee: str | None = Field(
        "",
        description='A member\'s username; null unassigns; "" (the default) keeps.',
    )
    severity: Literal["", "critical", "high", "medium", "low", "info"] = Field(
        "", description='Override the severity ("" keeps it); needs severity_reason.'
    )
    severity_reason: str = Field("", max_length=2000)
    comment: str = Field(
        "", max_length=10000, description="Add this comment to each finding."
    )


class BulkOut(Schema):
    changed: int
    skipped: int
    reasons: dict[str, int]
    message: str


@router.post(
    "/projects/{int:project_id}/findings/bulk",
    response=BulkOut,
    summary="Triage many findings at once",
)
def finding_bulk(
    request: ApiRequest,
    project_id: int,
    payload: BulkIn,
    filters: Query[FindingFilters],  # type: ignore[valid-type]
) -> dict[str, Any]:
    """Assign, change the status or severity of, or comment on the given
    findings, or all the findings the query parameters (the list's filters)
    select. The rules are the single edits': a status change or severity
    override needs a reason where the page asks for one.

    Findings whose lifecycle refuses the change are skipped and counted by
    reason; when every one is refused the answer is a 400.
    """
    project = get_object(request, Project.objects.all(), pk=project_id, write=True)
    members = list(team_members(project))
    assignee = ""
    if payload.assignee is None:
        assignee = "nobody"
    elif payload.assignee:
        match = [u for u in members if u.username == payload.assignee]
        if not match:
            raise HttpError(
                400, f"“{payload.assignee}” is not a member of the project's team."
            )
        assignee = str(match[0].pk)
    form = BulkForm(
        {
            "ids": [str(i) for i in payload.ids],
            "scope": "matching" if payload.all_matching else "selected",
            "assignee": assignee,
            "status": payload.status,
            "reason": payload.reason,
            "severity": payload.severity,
            "severity_reason": payload.severity_reason,
            "comment": payload.comment,
        },
        members=members,
        actions=tuple(BulkForm.LABELS),
    )
    if not form.is_valid():
        raise HttpError(400, " ".join(_errors(form)))
    if payload.all_matching:
        selection = _filterset(request, project, members).qs
    else:
        selection = project.findings.filter(pk__in=form.cleaned_data["ids"])
    result = form.save(selection, project=project, by=request.user)
    body = {
        "changed": result.changed,
        "skipped": result.skipped,
        "reasons": dict(result.reasons),
        "message": result.message,
    }
    if result.skipped and not result.changed:
        raise HttpError(400, result.message)
    return body


def _errors(form: BulkForm) -> list[str]:
    found = list(form.non_field_errors())
    for name, errors in form.errors.items():
        if name != "__all__":
            found.extend(f"{name}: {e}" for e in errors)
    return found


@router.get(
    "/projects/{int:project_id}/findings/export.csv",
    response={200: str},
    summary="Export findings as CSV",
    openapi_extra={
        "responses": {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}
    },
)
def finding_export_csv(
    request: ApiRequest,
    project_id: int,
    filters: Query[FindingFilters],  # type: ignore[valid-type]
) -> StreamingHttpResponse:
    """Stream the findings the filters select as CSV (the page's export)."""
    project = get_object(request, Project.objects.all(), pk=project_id)
    _filterset(request, project)
    return exports.csv_response(request, project)


@router.get(
    "/projects/{int:project_id}/findings/export.md",
    response={200: str},
    summary="Export findings as a Markdown report",
    openapi_extra={
        "responses": {
            200: {"content": {"text/markdown": {"schema": {"type": "string"}}}}
        }
    },
)
def finding_export_markdown(
    request: ApiRequest,
    project_id: int,
    filters: Query[FindingFilters],  # type: ignore[valid-type]
) -> StreamingHttpResponse:
    project = get_object(request, Project.objects.select_related("team"), pk=project_id)
    _filterset(request, project)
    return exports.markdown_response(request, project)


@router.get(
    "/projects/{int:project_id}/findings/export.sarif",
    response={200: dict},
    summary="Export the filtered findings (unresolved by default) as SARIF",
    openapi_extra={
        "responses": {
            200: {"content": {"application/sarif+json": {"schema": {"type": "object"}}}}
        }
    },
)
def finding_export_sarif(request: ApiRequest, project_id: int) -> HttpResponse:
    project = get_object(request, Project.objects.all(), pk=project_id)
    _filterset(request, project)
    return exports.sarif_response(request, project)
