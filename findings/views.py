from collections.abc import Callable
from datetime import date
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import connection, transaction
from django.db.models import BigIntegerField, Count, F, Func, Q, QuerySet
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from audits.engine.registry import SPECS, all_checks
from projects.access import can_write, scoped
from projects.http import AppRequest
from projects.models import Project, Team
from projects.responses import toast

from .filters import (
    ALL,
    STATUS_TABS,
    UNRESOLVED_TAB,
    FindingFilter,
    can_be_assigned,
    team_members,
)
from .forms import (
    AssignForm,
    BulkForm,
    CommentForm,
    DueDateForm,
    SeverityForm,
    TriageForm,
)
from .models import NEEDS_REASON, Effort, Finding, FindingEvent, TransitionError
from .proof import finding_proof
from .tables import FindingTable, severity_rank

# The check filter suggests the catalogue's ids; imported findings carry
# their own, which can be typed.
CHECK_IDS = sorted(spec.id for spec in all_checks())


PER_PAGE = 50


class KnownCountPaginator(Paginator):
    """A paginator told its count, so it never runs a COUNT of its own.

    The findings list already knows the total from the grouped status
    counts it shows as tabs.
    """

    def __init__(
        self, object_list: Any, per_page: int, *args: Any, count: int, **kwargs: Any
    ) -> None:
        super().__init__(object_list, per_page, *args, **kwargs)
        self.__dict__["count"] = count  # fills the cached property


# A text search scans the trigram index (PostgreSQL) in the status counts
# query, which also returns the matching ids of each status when there are
# at most this many; the page then reads its rows by primary key rather than
# scanning the index a second time.
SEARCH_IDS_CAP = 2000


def status_counts(
    filterset: FindingFilter, *, with_ids: bool = False
) -> tuple[dict[str, int], dict[str, list[int]] | None]:
    """Return the number of findings per status tab, in one grouped query.

    Every filter but the status applies, so the tabs say how many findings
    each status would show. With ``with_ids`` (PostgreSQL only) also return
    up to ``SEARCH_IDS_CAP`` matching ids per status, else ``None``.
    """
    counts = dict.fromkeys(Finding.Status.values, 0)
    # COUNT(*) rather than COUNT(id): the (project, status, ...) indexes
    # answer it without reading the table.
    rows = (
        filterset.without_status()
        .order_by()
        .values_list("status")
        .annotate(n=Count("*"))
    )
    ids = None
    if with_ids and connection.vendor == "postgresql":
        from django.contrib.postgres.aggregates import ArrayAgg
        from django.contrib.postgres.fields import ArrayField

        first_ids = Func(
            ArrayAgg("pk"),
            template=f"(%(expressions)s)[1:{SEARCH_IDS_CAP}]",
            output_field=ArrayField(BigIntegerField()),
        )
        ids = {}
        for status, n, status_ids in rows.annotate(ids=first_ids):
            counts[status] = n
            ids[status] = status_ids
    else:
        counts.update(dict(rows))
    counts[UNRESOLVED_TAB] = sum(counts[s] for s in Finding.UNRESOLVED)
    counts[ALL] = sum(counts[s] for s in Finding.Status.values)
    return counts, ids


def _rows_by_id(
    project: Project,
    status: str,
    counts: dict[str, int],
    ids: dict[str, list[int]] | None,
) -> QuerySet[Finding] | None:
    """Return the tab's findings by id when every one of them is in ``ids``."""
    if ids is None:
        return None
    if status == UNRESOLVED_TAB:
        statuses = Finding.UNRESOLVED
    elif status == ALL:
        statuses = Finding.Status.values
    else:
        statuses = [status]
    if any(len(ids.get(s) or ()) != counts[s] for s in statuses):
        return None
    return project.findings.filter(
        pk__in=[i for s in statuses for i in ids.get(s) or ()]
    )


# The columns a row of the list shows (templates/findings/partials/finding_row.html),
# and the project, which the related manager sets on every row it loads.
ROW_FIELDS = (
    "id",
    "project",
    "severity",
    "title",
    "regression",
    "check_id",
    "object",
    "file",
    "line",
    "status",
    "assignee__username",
    "due_date",
    "effort",
    "first_seen_at",
)
STATUS_LABELS = dict(Finding.Status.choices)
EFFORT_LABELS = dict(Effort.choices)


def _page_records(table: FindingTable, total: int) -> list[Finding]:
    """Return the findings of the table's page, in the table's order.

    A page past the middle is read from the other end: the order reversed
    (every sort ends with the id, so the reverse is exact) and a shorter
    OFFSET, then turned back. The last of 1,400 pages then costs what the
    first does instead of walking 70,000 rows.
    """
    page = table.page
    # A django-tables2 page holds BoundRows over a slice of the queryset.
    low = (page.number - 1) * page.paginator.per_page
    if low <= total // 2:
        return list(page.object_list.data)
    high = min(low + page.paginator.per_page, total)
    backwards = table.data.data.reverse()
    return list(backwards[total - high : total - low])[::-1]


def prepare_rows(table: FindingTable, *, total: int, today: date) -> None:
    """Load the page's findings and give each what its row shows, ready made.

    Labels, dates as text, the overdue flag and the link are worked out once
    per row here
    rather than through model methods from the template, which makes the
    row template several times cheaper.
    """
    page = table.page
    records = _page_records(table, total)
    url = reverse("findings:detail", args=[0]).replace("/0/", "/{}/")
    for record in records:
        record.url = url.format(record.pk)
        record.overdue = (
            record.status in Finding.UNRESOLVED
            and record.due_date is not None
            and record.due_date < today
        )
        record.status_label = STATUS_LABELS.get(record.status, record.status)
        record.effort_label = EFFORT_LABELS.get(record.effort, record.effort) or "–"
        # Plain strings: a date filter per cell is the row's largest cost.
        record.ref = str(record.pk)
        record.due_text = record.due_date.isoformat() if record.due_date else ""
        found = timezone.localtime(record.first_seen_at)
        record.found_at = found.strftime("%Y-%m-%d %H:%M")
        record.found_day = record.found_at[:10]
    page.object_list.data = records


def _query(params: QueryDict, **changes: str | None) -> str:
    """Return ``params`` as a query string with ``changes`` (None removes)."""
    query = params.copy()
    for key, value in changes.items():
        query.pop(key, None)
        if value is not None:
            query[key] = value
    return query.urlencode()


def _list_context(request: AppRequest, project: Project) -> dict[str, Any]:
    members = list(team_members(project))
    filterset = FindingFilter(
        request.GET, project=project, user=request.user, members=members
    )
    status = filterset.status_tab
    searching = bool((filterset.form.cleaned_data.get("q") or "").strip())
    counts, ids = status_counts(filterset, with_ids=searching)
    selected = _rows_by_id(project, status, counts, ids)
    findings = (
        (filterset.qs if selected is None else selected)
        .select_related("assignee")
        .only(*ROW_FIELDS)
        .annotate(sev_rank=severity_rank())
    )
    # Configured here rather than by RequestConfig, whose paginator would
    # COUNT the rows the status counts already counted.
    table = FindingTable(findings)
    table.request = request
    sort = request.GET.getlist("sort")
    if sort:
        table.order_by = sort
    try:
        page = int(request.GET.get("page", 1))
    except ValueError:
        page = 1
    total = counts[status]
    last_page = max(1, -(-total // PER_PAGE))
    table.paginate(
        paginator_class=KnownCountPaginator,
        per_page=PER_PAGE,
        page=min(max(page, 1), last_page),
        count=total,
    )
    prepare_rows(table, total=total, today=timezone.localdate())
    params = request.GET.copy()
    params.pop("page", None)
    return {
        "project": project,
        "filter": filterset,
        "table": table,
        "status": status,
        "total": total,
        "count_all": counts[ALL],
        "sort": sort,
        "tabs": [
            (value, label, counts[value], _query(params, status=value))
            for value, label in STATUS_TABS
        ],
        "filter_query": params.urlencode(),
        "active_filters": filterset.active_filters(),
        "members": members,
        "assignees": [u for u in members if can_be_assigned(u)],
        "check_ids": CHECK_IDS,
        "statuses": Finding.Status.choices,
        "can_write": can_write(project.role),
    }


@login_required
@require_GET
def finding_list(request: AppRequest, pk: int) -> HttpResponse:
    project = scoped(request, Project.objects.select_related("team"), pk=pk)
    template = "findings/finding_list.html"
    if request.htmx and not request.htmx.boosted:
        template += "#findings-table"
    return render(request, template, _list_context(request, project))


@login_required
@require_POST
def finding_bulk(request: AppRequest, pk: int) -> HttpResponse:
    """Assign or change the status of the selected (or all matching) findings."""
    project = scoped(request, Project.objects.select_related("team"), pk=pk, write=True)
    members = list(team_members(project))
    form = BulkForm(request.POST, members=[u for u in members if can_be_assigned(u)])
    back = f"{reverse('findings:list', args=[project.pk])}?{request.GET.urlencode()}"
    if not form.is_valid():
        error = " ".join(form.non_field_errors()) or " ".join(
            f"{form.fields[name].label or name}: {' '.join(errors)}"
            for name, errors in form.errors.items()
        )
        if request.htmx:
            return toast(request, error, status=400)
        messages.error(request, error)
        return redirect(back)
    if form.cleaned_data["scope"] == "matching":
        selection = FindingFilter(
            request.GET, project=project, user=request.user, members=members
        ).qs
    else:
        selection = project.findings.filter(pk__in=form.cleaned_data["ids"])
    result = form.save(selection, project=project, by=request.user)
    if request.htmx:
        response = render(
            request, "findings/finding_list.html#bulk-result", {"result": result}
        )
        response["HX-Trigger"] = "findings-changed"
        return response
    if result.skipped:
        messages.warning(request, result.message)
    else:
        messages.success(request, result.message)
    return redirect(back)


# Events whose from/to values are statuses, shown by their labels.
STATUS_KINDS = {
    FindingEvent.Kind.CREATED,
    FindingEvent.Kind.STATUS,
    FindingEvent.Kind.REOPENED,
    FindingEvent.Kind.FIXED,
}


def _timeline(finding: Finding) -> list[FindingEvent]:
    """Return the finding's events, oldest first, with status labels to show."""
    events = list(finding.events.select_related("actor", "audit"))
    for event in events:
        if event.kind in STATUS_KINDS:
            event.from_label = STATUS_LABELS.get(event.from_value, event.from_value)
            event.to_label = STATUS_LABELS.get(event.to_value, event.to_value)
        else:
            event.from_label, event.to_label = event.from_value, event.to_value
    return events


# Other findings shown as sharing the finding's place, at most.
NEARBY_LIMIT = 10


def nearby_findings(finding: Finding) -> list[Finding]:
    """Return other findings of the project on the same object or file."""
    place = Q()
    if finding.object:
        place |= Q(object=finding.object)
    if finding.file:
        place |= Q(file=finding.file)
    if not place:
        return []
    return list(
        finding.project.findings.filter(place)
        .exclude(pk=finding.pk)
        .only("id", "project_id", "severity", "title", "object", "file", "line")
        .annotate(sev_rank=severity_rank())
        .order_by("sev_rank", "-id")[:NEARBY_LIMIT]
    )


def _detail_context(request: AppRequest, finding: Finding) -> dict[str, Any]:
    return {
        "finding": finding,
        "project": finding.project,
        "events": _timeline(finding),
        "check": SPECS.get(finding.check_id),
        "nearby": nearby_findings(finding),
        "triage_form": TriageForm(finding=finding),
        "assign_form": AssignForm(
            project=finding.project, initial={"assignee": finding.assignee_id}
        ),
        "severity_form": SeverityForm(initial={"severity": finding.severity}),
        "due_form": DueDateForm(initial={"due_date": finding.due_date}),
        "comment_form": CommentForm(),
        "can_write": can_write(finding.role),
        "code_url": _code_url(finding),
        "proof": finding_proof(finding),
    }


def _code_url(finding: Finding) -> str:
    """Return a link to the finding's file and line at the commit last scanned."""
    target = finding.target
    if target is None or target.kind != "git" or not finding.file:
        return ""
    from audits.engine.sources import git
    from audits.models import Audit

    sighting = getattr(finding, "sighting", None)
    number = sighting.audit_number if sighting else None
    summary = (
        Audit.objects.filter(project_id=finding.project_id, number=number)
        .values_list("summary", flat=True)
        .first()
        or {}
    )
    for t in summary.get("targets", []):
        if t.get("target") == target.pk and t.get("commit"):
            return git.blob_url(
                target.location, t["commit"], finding.file, finding.line
            )
    return ""


@login_required
@require_GET
def finding_detail(request: AppRequest, pk: int) -> HttpResponse:
    finding = scoped(
        request,
        Finding.objects.select_related(
            "project",
            "project__team",
            "assignee",
            "target",
            "first_seen_audit",
            "sighting",
            "fixed_by_audit",
        ),
        pk=pk,
    )
    return render(
        request, "findings/finding_detail.html", _detail_context(request, finding)
    )


def _after_change(
    request: AppRequest,
    finding: Finding,
    error: str | None = None,
    *,
    form: Any = None,
    field: str | None = None,
) -> HttpResponse:
    """Return the triage panel for htmx, or redirect for a plain POST.

    A refusal comes back as a 400 with the message under the form that was
    used (``form`` keeps what the user typed; ``field`` is marked invalid and
    gets the focus).
    """
    if request.htmx:
        finding.refresh_from_db()
        finding.role = request.role
        context = _detail_context(request, finding)
        context["error"] = error
        if error:
            kind = {
                TriageForm: "status",
                AssignForm: "assign",
                SeverityForm: "severity",
                DueDateForm: "due",
                CommentForm: "comment",
            }.get(type(form), "status")
            context["error_for"] = kind
            if form is not None:
                context[_FORM_KEYS[kind]] = form
                name = field or next(iter(form.fields))
                form.fields[name].widget.attrs.update(
                    {"aria-invalid": "true", "aria-describedby": f"{kind}-error"}
                )
        context["oob"] = True
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


# The context name of each triage form, by the kind of error it shows.
_FORM_KEYS = {
    "status": "triage_form",
    "assign": "assign_form",
    "severity": "severity_form",
    "due": "due_form",
    "comment": "comment_form",
}


@login_required
@require_POST
def finding_status(request: AppRequest, pk: int) -> HttpResponse:
    finding = scoped(
        request, Finding.objects.select_related("project"), pk=pk, write=True
    )
    form = TriageForm(request.POST, finding=finding)
    if not form.is_valid():
        needs_reason = form.data.get("status") in NEEDS_REASON
        return _after_change(
            request,
            finding,
            " ".join(form.non_field_errors()) or "Choose a status.",
            form=form,
            field="reason" if needs_reason else "status",
        )
    try:
        with transaction.atomic():
            finding.change_status(
                form.cleaned_data["status"],
                by=request.user,
                reason=form.cleaned_data["reason"],
            )
    except TransitionError as exc:
        return _after_change(request, finding, str(exc), form=form)
    return _after_change(request, finding)


@login_required
@require_POST
def finding_assign(request: AppRequest, pk: int) -> HttpResponse:
    finding = scoped(
        request,
        Finding.objects.select_related("project", "assignee"),
        pk=pk,
        write=True,
    )
    form = AssignForm(request.POST, project=finding.project)
    if not form.is_valid():
        return _after_change(
            request,
            finding,
            "Choose a member of the project's team who may change findings.",
            form=form,
        )
    with transaction.atomic():
        finding.assign(form.cleaned_data["assignee"], by=request.user)
    return _after_change(request, finding)


@login_required
@require_POST
def finding_severity(request: AppRequest, pk: int) -> HttpResponse:
    """Set the severity by hand, with a reason kept in the history."""
    return _edit_with_reason(
        request,
        pk,
        SeverityForm,
        field="severity",
        change=lambda finding, data, user: finding.override_severity(
            data["severity"], by=user, reason=data["severity_reason"]
        ),
    )


@login_required
@require_POST
def finding_due(request: AppRequest, pk: int) -> HttpResponse:
    """Set or clear the due date by hand, with a reason kept in the history."""
    return _edit_with_reason(
        request,
        pk,
        DueDateForm,
        field="due_date",
        change=lambda finding, data, user: finding.set_due_date(
            data["due_date"], by=user, reason=data["due_reason"]
        ),
    )


def _edit_with_reason(
    request: AppRequest,
    pk: int,
    form_class: type[forms.Form],
    *,
    field: str,
    change: Callable[[Finding, dict[str, Any], Any], object],
) -> HttpResponse:
    """Validate a hand edit's form, apply it in a transaction, answer in place."""
    finding = scoped(
        request, Finding.objects.select_related("project"), pk=pk, write=True
    )
    form = form_class(request.POST)
    if not form.is_valid():
        return _after_change(
            request, finding, _first_error(form), form=form, field=_bad_field(form)
        )
    try:
        with transaction.atomic():
            change(finding, form.cleaned_data, request.user)
    except TransitionError as exc:
        return _after_change(request, finding, str(exc), form=form, field=field)
    return _after_change(request, finding)


def _first_error(form: forms.BaseForm) -> str:
    for name, errors in form.errors.items():
        label = form.fields[name].label if name in form.fields else ""
        text = " ".join(errors)
        return f"{label}: {text}" if label and "required" in text else text
    return "Check the form."


def _bad_field(form: forms.BaseForm) -> str | None:
    return next((name for name in form.errors if name in form.fields), None)


@login_required
@require_POST
def finding_comment(request: AppRequest, pk: int) -> HttpResponse:
    finding = scoped(
        request, Finding.objects.select_related("project"), pk=pk, write=True
    )
    form = CommentForm(request.POST)
    if not form.is_valid():
        return _after_change(request, finding, "A comment cannot be empty.", form=form)
    finding.comment(form.cleaned_data["text"], by=request.user)
    return _after_change(request, finding)


@login_required
@require_GET
def finding_mine(request: AppRequest) -> HttpResponse:
    """List the unresolved findings assigned to the user in all their teams."""
    today = timezone.localdate()
    findings = Finding.objects.filter(
        assignee=request.user,
        status__in=Finding.UNRESOLVED,
        project__team__in=Team.objects.filter(memberships__user=request.user),
    )
    # Counted from finding_assignee_due_idx alone (assignee, due date,
    # status, project), without reading the findings.
    totals = findings.aggregate(
        total=Count("*"), overdue=Count("due_date", filter=Q(due_date__lt=today))
    )
    rows = (
        findings.select_related("project", "project__team")
        .defer("evidence", "remediation", "fix_sql", "status_reason")
        .annotate(sev_rank=severity_rank())
        # Overdue first: the earliest due date is the most overdue.
        .order_by(F("due_date").asc(nulls_last=True), "sev_rank", "-pk")
    )
    page = KnownCountPaginator(rows, PER_PAGE, count=totals["total"]).get_page(
        request.GET.get("page")
    )
    template = "findings/finding_mine.html"
    if request.htmx:
        template += "#mine-table"
    return render(request, template, {"page": page, "totals": totals})


# Evidence kinds of the catalogue, in words.
EVIDENCE_WORDS = {
    "ddl": "schema text (SQL files, migrations, DDL strings in code)",
    "live": "a read-only connection to the database",
    "code": "the application's Python code",
    "history": "earlier audits of the same project",
    "migrations": "the project's migration files, replayed in order",
    "dry-run": "the migrations applied to a scratch database and rolled back",
}
# Findings of a check from the reader's own projects shown as examples.
CHECK_EXAMPLES = 5


def _evidence_words(evidence: str) -> list[str]:
    words = []
    for part in evidence.split():
        kinds = [EVIDENCE_WORDS.get(k, k) for k in part.split("+")]
        words.append(" together with ".join(kinds))
    return words


@require_GET
def check_list(request: AppRequest) -> HttpResponse:
    """List every check of the catalogue, by dimension."""
    from audits.engine.issues import Dimension

    by_dimension = {d: [] for d in Dimension}
    for spec in sorted(all_checks(), key=lambda s: (-s.severity.rank, s.id)):
        by_dimension[spec.dimension].append(spec)
    return render(
        request,
        "findings/check_list.html",
        {"groups": [(d, specs) for d, specs in by_dimension.items() if specs]},
    )


@require_GET
def check_detail(request: AppRequest, check_id: str) -> HttpResponse:
    """Document one check: what it means, why, how to fix it, with examples."""
    spec = SPECS.get(check_id)
    if spec is None:
        raise Http404("No such check.")
    examples = []
    if request.user.is_authenticated:
        # Real examples from the reader's own teams, and nobody else's.
        examples = list(
            Finding.objects.filter(
                check_id=spec.id,
                project__team__memberships__user=request.user,
            )
            .select_related("project")
            .only(
                "id",
                "title",
                "severity",
                "object",
                "file",
                "line",
                "status",
                "project__name",
            )
            .order_by("-id")[:CHECK_EXAMPLES]
        )
    return render(
        request,
        "findings/check_detail.html",
        {
            "check": spec,
            "evidence": _evidence_words(spec.evidence),
            "examples": examples,
        },
    )
