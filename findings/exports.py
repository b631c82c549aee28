"""Exports of a findings list: CSV, Markdown and SARIF.

CSV and Markdown take the list's own query parameters (the same
``FindingFilter``), stream their rows from ``.values_list().iterator()`` so
memory stays flat however many findings match, and order them worst first.

The CSV columns, in this order (the order never changes; new columns go at
the end):

``id, severity, status, title, check, dimension, effort, object, file, line,
function, target, assignee, due_date, overdue, regression, status_reason,
first_seen, last_seen, fingerprint, remediation, fix_sql, url``

Dates are ISO 8601 (UTC for times); booleans are ``yes``/``no``. Any text
cell that a spreadsheet would read as a formula (starting with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return) gets a leading ``'``.
"""

from __future__ import annotations

import csv
import io
from itertools import islice
from pathlib import Path

from django.contrib.auth.decorators import login_required
from django.db.models import CharField, Count, Func, QuerySet
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from audits.engine.levels import Severity
from audits.engine.render import markdown as md
from audits.models import Audit
from projects.access import scoped
from projects.http import AppRequest
from projects.models import Project

from .filters import STATUS_TABS, FindingFilter, team_members
from .models import Finding
from .tables import severity_rank

CSV_COLUMNS = (
    "id",
    "severity",
    "status",
    "title",
    "check",
    "dimension",
    "effort",
    "object",
    "file",
    "line",
    "function",
    "target",
    "assignee",
    "due_date",
    "overdue",
    "regression",
    "status_reason",
    "first_seen",
    "last_seen",
    "fingerprint",
    "remediation",
    "fix_sql",
    "url",
)
# The model fields read for each export row, in one tuple per finding.
ROW_FIELDS = (
    "pk",
    "severity",
    "status",
    "title",
    "check_id",
    "dimension",
    "effort",
    "object",
    "file",
    "line",
    "function",
    "target__name",
    "target__kind",
    "target__location",
    "assignee__username",
    "due_date",
    "regression",
    "status_reason",
    "first_seen_iso",
    "last_seen_iso",
    "fingerprint",
    "remediation",
    "fix_sql",
)
CHUNK = 2000
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
STATUS_LABELS = dict(Finding.Status.choices)
SEVERITY_LABELS = {s.value: s.label for s in Severity}
REPORT_PREFIXES = {s.value: s.short for s in Severity}


class IsoSeconds(Func):
    """A timestamp as ISO 8601 text in UTC to the second, written by the database.

    It reads as ``datetime.isoformat(timespec="seconds")`` of the UTC value
    (``2025-01-31T09:30:00+00:00``); formatting it in SQL spares the export
    a datetime object per cell, the larger part of its cost per row.
    """

    output_field = CharField()

    def as_postgresql(self, compiler, connection, **extra_context):
        return self.as_sql(
            compiler,
            connection,
            template="to_char(%(expressions)s AT TIME ZONE 'UTC', "
            '\'YYYY-MM-DD"T"HH24:MI:SS"+00:00"\')',
            **extra_context,
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        # Django stores UTC text; "%%%%" survives the template and the
        # backend's own "%%" unescaping as one "%".
        return self.as_sql(
            compiler,
            connection,
            template="strftime('%%%%Y-%%%%m-%%%%dT%%%%H:%%%%M:%%%%S+00:00', "
            "%(expressions)s)",
            **extra_context,
        )


def _csv_values(findings):
    """Return the export's rows as tuples, times already formatted as text."""
    return findings.annotate(
        first_seen_iso=IsoSeconds("first_seen_at"),
        last_seen_iso=IsoSeconds("sighting__seen_at"),
    ).values_list(*ROW_FIELDS)


def _filtered(
    request: AppRequest, project: Project
) -> tuple[FindingFilter, QuerySet[Finding]]:
    """Return the findings the list's query parameters select, worst first."""
    filterset = FindingFilter(
        request.GET,
        project=project,
        user=request.user,
        members=list(team_members(project)),
    )
    findings = filterset.qs.annotate(sev_rank=severity_rank()).order_by(
        "sev_rank", "pk"
    )
    return filterset, findings


def _filename(project, extension: str, variant: str = "") -> str:
    day = timezone.localdate().isoformat()
    variant = f"-{variant}" if variant else ""
    return f"{project.slug or 'project'}-findings-{day}{variant}.{extension}"


def _url_pattern(request: AppRequest) -> str:
    """Return the absolute URL of a finding with ``{}`` for its id."""
    return request.build_absolute_uri(
        reverse("findings:detail", args=[0]).replace("/0/", "/{}/")
    ).replace("%7B%7D", "{}")


def csv_rows(findings, *, url_pattern: str, today):
    """Yield one list of cells per finding, in ``CSV_COLUMNS`` order.

    This runs once per exported finding, so it stays lean: one tuple
    unpacked in the loop, the formula check inlined, and ``None`` left for
    the CSV writer to write as an empty cell.
    """
    unresolved = frozenset(Finding.UNRESOLVED)
    starts = FORMULA_START
    for (
        pk,
        severity,
        status,
        title,
        check,
        dimension,
        effort,
        obj,
        file,
        line,
        function,
        target_name,
        target_kind,
        target_location,
        assignee,
        due,
        regression,
        reason,
        first_seen,
        last_seen,
        fingerprint,
        remediation,
        fix_sql,
    ) in _csv_values(findings).iterator(chunk_size=CHUNK):
        if target_name:
            target = target_name
        elif target_kind:
            target = f"{target_kind}: {target_location}"
        else:
            target = ""
        yield [
            pk,
            severity,
            status,
            "'" + title if title.startswith(starts) else title,
            "'" + check if check.startswith(starts) else check,
            dimension,
            effort,
            "'" + obj if obj.startswith(starts) else obj,
            "'" + file if file.startswith(starts) else file,
            line,
            "'" + function if function.startswith(starts) else function,
            "'" + target if target.startswith(starts) else target,
            "'" + assignee if assignee and assignee.startswith(starts) else assignee,
            due.isoformat() if due else "",
            "yes" if status in unresolved and due is not None and due < today else "no",
            "yes" if regression else "no",
            "'" + reason if reason.startswith(starts) else reason,
            first_seen,
            last_seen,
            fingerprint,
            "'" + remediation if remediation.startswith(starts) else remediation,
            "'" + fix_sql if fix_sql.startswith(starts) else fix_sql,
            url_pattern.format(pk),
        ]


def _stream_csv(findings, *, url_pattern, bom: bool):
    """Yield the CSV as text, a few thousand rows per piece."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    if bom:
        buffer.write("\ufeff")
    writer.writerow(CSV_COLUMNS)
    rows = csv_rows(findings, url_pattern=url_pattern, today=timezone.localdate())
    while True:
        # One write and one yield per chunk rather than per row; the buffer
        # never holds more than a chunk, so memory stays flat.
        writer.writerows(islice(rows, CHUNK))
        text = buffer.getvalue()
        if not text:
            return
        yield text
        buffer.seek(0)
        buffer.truncate()


@login_required
@require_GET
def export_csv(request: AppRequest, pk: int) -> HttpResponse:
    """Stream the filtered findings as CSV (``?bom=1`` for Excel)."""
    project = scoped(request, Project.objects.all(), pk=pk)
    return csv_response(request, project)


def csv_response(request: AppRequest, project: Project) -> StreamingHttpResponse:
    """Stream the findings the request's filters select as CSV (pages and API)."""
    _, findings = _filtered(request, project)
    bom = request.GET.get("bom") in ("1", "true", "yes")
    response = StreamingHttpResponse(
        (
            chunk.encode("utf-8")
            for chunk in _stream_csv(
                findings, url_pattern=_url_pattern(request), bom=bom
            )
        ),
        content_type="text/csv; charset=utf-8",
    )
    # The spreadsheet variant gets its own name, so both can sit side by side.
    name = _filename(project, "csv", "excel" if bom else "")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# Text from users and reports is escaped as the engine's own report escapes
# it: a title can never open a link, an image, an emphasis, raw HTML or an
# autolink; an object's backticks cannot close its code span.
_md_cell = md.escape
_md_code = md.code


def _stream_markdown(project, filterset, findings, *, url_pattern):
    counts = dict(findings.order_by().values_list("severity").annotate(n=Count("pk")))
    total = sum(counts.values())
    status = dict(STATUS_TABS)[filterset.status_tab]
    scope = "; ".join(
        [f"Status: {_md_cell(status)}"]
        + [
            f"{_md_cell(label)}: {_md_cell(value)}"
            for label, value in filterset.active_filters()
        ]
    )
    yield (
        f"# Findings — {_md_cell(project.name)}\n\n"
        f"**Project:** {_md_cell(project.name)} | **Team:** {_md_cell(project.team.name)}\n"
        f"**Date:** {timezone.localdate().isoformat()}\n"
        f"**Scope:** {scope}\n"
        f"**Findings:** {total}\n\n---\n\n## Findings by Severity\n\n"
    )
    if not total:
        yield "No findings.\n"
        return
    current, number = None, 0
    rows = findings.values_list(
        "pk",
        "severity",
        "status",
        "title",
        "check_id",
        "object",
        "file",
        "line",
        "effort",
        "assignee__username",
    ).iterator(chunk_size=CHUNK)
    for pk, severity, status, title, check, obj, file, line, effort, who in rows:
        if severity != current:
            if current is not None:
                yield "\n"
            current, number = severity, 0
            yield (
                f"### {SEVERITY_LABELS.get(severity, severity)} "
                f"({counts.get(severity, 0)})\n\n"
                "| ID | Finding | Location | Effort | Status | Assignee |\n"
                "|----|---------|----------|--------|--------|----------|\n"
            )
        number += 1
        ref = f"{REPORT_PREFIXES.get(severity, severity.upper())}-{number}"
        where = f" — {_md_code(obj)}" if obj else ""
        finding = (
            f"[{_md_cell(title)}]({url_pattern.format(pk)}){where} ({_md_code(check)})"
        )
        places = []
        if file:
            places.append(_md_code(f"{file}:{line}" if line else file))
        if obj:
            places.append(_md_code(obj))
        location = " · ".join(places) or "N/A"
        yield (
            f"| {ref} | {finding} | {location} | {effort or '—'} "
            f"| {STATUS_LABELS.get(status, status)} | {_md_cell(who) or '—'} |\n"
        )


@login_required
@require_GET
def export_markdown(request: AppRequest, pk: int) -> HttpResponse:
    """Stream the filtered findings as a Markdown report, a table per severity."""
    project = scoped(request, Project.objects.select_related("team"), pk=pk)
    return markdown_response(request, project)


def markdown_response(request: AppRequest, project: Project) -> StreamingHttpResponse:
    """Stream the selected findings as a Markdown report (pages and API)."""
    filterset, findings = _filtered(request, project)
    response = StreamingHttpResponse(
        (
            chunk.encode("utf-8")
            for chunk in _stream_markdown(
                project, filterset, findings, url_pattern=_url_pattern(request)
            )
        ),
        content_type="text/markdown; charset=utf-8",
    )
    response["Content-Disposition"] = (
        f'attachment; filename="{_filename(project, "md")}"'
    )
    return response


def sarif_issues(findings):
    """Return engine issues rebuilt from finding rows, and the targets they name.

    The SARIF renderer works on engine results; a finding row carries every
    field of the issue it came from, and its target becomes the issue's
    source so locations resolve as they do for a scan.
    """
    from audits.engine.issues import Dimension, Effort, Issue
    from audits.engine.registry import SPECS
    from audits.engine.scan import Target as EngineTarget

    issues, targets = [], {}
    for f in findings:
        spec = SPECS.get(f.check_id)
        dimension = f.dimension or (spec.dimension.value if spec else "schema")
        effort = f.effort or (spec.effort.value if spec else "hours")
        sources: tuple[str, ...] = ()
        if f.target_id:
            target = targets.get(f.target_id)
            if target is None:
                target = EngineTarget(
                    kind=f.target.kind,
                    location=f.target.location,
                    dialect=f.target.dialect or None,
                )
                targets[f.target_id] = target
            sources = (target.label,)
        issues.append(
            Issue(
                check=f.check_id,
                dimension=Dimension(dimension),
                severity=Severity(f.severity),
                effort=Effort(effort),
                title=f.title,
                fingerprint=f.fingerprint,
                object=f.object,
                file=f.file,
                line=f.line,
                function=f.function,
                evidence=f.evidence,
                remediation=f.remediation,
                fix_sql=f.fix_sql,
                sources=sources,
            )
        )
    return issues, list(targets.values())


def _source_root(targets) -> Path:
    """Return the folder SARIF's relative URIs start from: the first code or DDL target's."""
    for target in targets:
        if target.kind in ("code", "ddl"):
            root = Path(target.location)
            return root if root.is_dir() else root.parent
    return Path.cwd()


@login_required
@require_GET
def export_sarif(request: AppRequest, pk: int) -> HttpResponse:
    """Return the filtered findings as SARIF (the list's link carries its filters)."""
    project = scoped(request, Project.objects.all(), pk=pk)
    return sarif_response(request, project)


def sarif_response(request, project) -> HttpResponse:
    """Return the findings the request's filters select as SARIF (pages and API).

    By default, the unresolved ones. Before any audit the log is valid and
    simply has no results.
    """
    import json

    from audits.engine.render import sarif
    from audits.engine.scan import ScanResult, TargetResult

    audit = (
        Audit.objects.filter(
            project=project,
            status__in=[Audit.Status.SUCCEEDED, Audit.Status.PARTIAL],
        )
        .order_by("-number")
        .first()
    )
    _, findings = _filtered(request, project)
    issues, targets = sarif_issues(findings.select_related("target"))
    result = ScanResult(
        targets=tuple(TargetResult(target=t, ok=True) for t in targets),
        issues=tuple(issues),
    )
    data = sarif.as_data(result, base=_source_root(targets))
    run = data["runs"][0]
    if audit is not None:
        run["automationDetails"] = {
            "id": f"plumbline/{project.slug}/audit-{audit.number}"
        }
    run["invocations"][0]["executionSuccessful"] = (
        audit is None or audit.status == Audit.Status.SUCCEEDED
    )
    response = HttpResponse(
        json.dumps(data, indent=2, ensure_ascii=False),
        content_type="application/sarif+json; charset=utf-8",
    )
    which = f"audit-{audit.number}" if audit else "no-audit"
    name = f"{project.slug or 'project'}-{which}.sarif"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
