"""Import a Markdown audit report or a SARIF log as an audit of a project.

An import is an audit with trigger ``import`` whose origin is the kind of
file (``markdown`` or ``sarif``). Its items reconcile like an engine audit's
detections, with these rules (those about what an import fixes are
reconciliation's: ``Scope.of_import`` and ``reported_fixed`` in
``findings.reconcile``):

- Nothing is stored unless the whole import succeeds: the file is parsed
  before any row is written, and the audit, its findings and their events
  are written in one transaction.
- A Markdown document with no findings (a schema description, say) is
  refused with the parser's explanation and stores no audit. Storing an
  empty import would mark every finding of earlier Markdown imports fixed.
  A SARIF log with no results is a clean run of its tools and is imported.
- A Markdown import replaces what earlier Markdown imports said: their
  unresolved findings that the new report no longer lists become fixed. A
  SARIF import does the same per tool, so importing ruff's log never fixes
  bandit's findings.
- A report's own status applies to findings it creates. An item the report
  marks FIXED also fixes an unresolved finding it already created; other
  statuses never override a decision made in Plumbline.
- Markdown items that describe a problem one of Plumbline's checks detects
  keep that check id, so the next engine audit that runs the check verifies
  them; the others get the check id ``report`` (``UNMAPPED_CHECK``). SARIF
  items use ``tool:RULE``.
"""

from __future__ import annotations

import logging
import re
import time
from pathlib import PurePath

from django.conf import settings
from django.db import transaction

from audits.engine.reports import ParsedReport, ReportError, ReportItem, parse_report
from audits.engine.reports.decode import decode_text
from findings.reconcile import Detection, Outcome, Scope, reconcile
from projects.models import Project, Target

from . import services
from .models import Audit
from .summary import ImportedReport, TargetOutcome, build_summary

log = logging.getLogger(__name__)

# The check id of a Markdown finding that matches none of Plumbline's checks.
UNMAPPED_CHECK = "report"

_MAX_WARNINGS = 50
_MAX_LINE = 2**31 - 1  # the line column is a 32-bit integer on PostgreSQL
# NUL and lone surrogates cannot be stored in PostgreSQL text or JSON.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

__all__ = ["UNMAPPED_CHECK", "ReportError", "import_report"]


def import_report(
    project: Project,
    *,
    data: bytes,
    filename: str,
    user=None,
    root: str | None = None,
) -> Audit:
    """Import a Markdown report or SARIF log into ``project``; return its audit.

    ``root`` is stripped from absolute SARIF paths; by default it is the
    folder of the project's code target. Raise ReportError with a message
    for the uploader when the file cannot be imported; nothing is stored
    then.
    """
    started = time.monotonic()
    filename = _clean(PurePath(filename.replace("\\", "/")).name, 200)
    report = _parse(project, data, filename, root)
    if report.kind == "markdown" and not report.items:
        reason = report.warnings[0] if report.warnings else "No findings found."
        raise ReportError(
            f"{filename or 'The document'} has no findings to import, so nothing "
            f"was stored. {reason}"
        )
    detections = [_detection(item, filename) for item in report.items]
    with transaction.atomic():
        audit = services.start_audit(
            project,
            trigger=Audit.Trigger.IMPORT,
            user=user,
            origin=report.kind,
            enqueue=False,
        )
        Audit.objects.claim(audit.pk)
        audit.refresh_from_db()
        outcome = reconcile(audit, detections, _scope(report))
        _complete(audit, report, filename, outcome, data, started)
    audit.refresh_from_db()
    return audit


def _parse(
    project: Project, data: bytes, filename: str, root: str | None
) -> ParsedReport:
    if root is None:
        root = _code_root(project)
    try:
        return parse_report(
            data, filename, max_bytes=settings.IMPORT_MAX_BYTES, root=root
        )
    except ReportError:
        raise
    except Exception as exc:  # a parser bug must not lose the user's upload quietly
        log.exception("could not parse %r for project %s", filename, project.pk)
        raise ReportError(
            "Plumbline could not read this file (an internal error: "
            f"{type(exc).__name__}); nothing was stored."
        ) from exc


def _code_root(project: Project) -> str:
    location = (
        project.targets.filter(kind=Target.Kind.CODE)
        .order_by("pk")
        .values_list("location", flat=True)
        .first()
    )
    return location or ""


def _clean(text: str, limit: int | None = None) -> str:
    text = _UNSTORABLE.sub("", text)
    return text[:limit] if limit is not None else text


def _detection(item: ReportItem, filename: str) -> Detection:
    line = item.line if item.line and 0 < item.line <= _MAX_LINE else None
    title = _clean(item.title, 300).strip() or _clean(item.ref, 300) or "Untitled"
    return Detection(
        fingerprint=item.fingerprint,
        check_id=_clean(item.check or UNMAPPED_CHECK, 100),
        severity=item.severity.value,
        title=title,
        dimension=item.dimension.value if item.dimension else "",
        effort=item.effort_bucket.value if item.effort_bucket else "",
        object=_clean(item.object, 300),
        file=_clean(item.file, 500),
        line=line,
        evidence=_clean(item.description),
        remediation=_clean(item.remediation),
        ref=_clean(item.ref, 50),
        status=item.status,
        status_reason=status_reason(item, filename) if item.status != "open" else "",
        note=history_note(item, filename),
    )


def source_of(item: ReportItem, filename: str) -> str:
    """Return where in the imported file an item was read: "review.md, line 40"."""
    name = filename or "the imported report"
    return f"{name}, line {item.source_line}" if item.source_line else name


def reported_as(item: ReportItem) -> tuple[str, str]:
    """Return the status as the report wrote it and the reason it gave:
    ("ACCEPTED", "codes come from the HR system.")."""
    note = _clean(item.status_note, 300).strip()
    if not note:
        return item.status.replace("_", " "), ""
    parts = re.split(r"\s+[\u2014\u2013-]\s+|:\s+", note, maxsplit=1)
    label, reason = parts[0], parts[1] if len(parts) > 1 else ""
    return label.strip(), reason.strip()


def status_reason(item: ReportItem, filename: str) -> str:
    """Return why an imported finding has the report's status, in its words."""
    label, reason = reported_as(item)
    text = f"Reported as {label} in {source_of(item, filename)}"
    text = f"{text}: {reason}" if reason else f"{text}."
    if item.status == "fixed":
        text += " No audit has verified it yet."
    return text


def history_note(item: ReportItem, filename: str) -> str:
    """Return the history's note for an imported item: where it was read and
    the status the report gave it."""
    label, _ = reported_as(item)
    return f"Imported from {source_of(item, filename)}, reported as {label}."


def _scope(report: ParsedReport) -> Scope:
    """Return what the import speaks for: a SARIF log, the tools that wrote it."""
    tools = {t.strip() for t in report.tool.split(",") if t.strip()}
    tools |= {i.check.split(":", 1)[0] for i in report.items if ":" in i.check}
    return Scope.of_import(report.kind, tools)


def _complete(
    audit: Audit,
    report: ParsedReport,
    filename: str,
    outcome: Outcome,
    data: bytes,
    started: float,
) -> None:
    warnings = [_clean(w, 500) for w in report.warnings[:_MAX_WARNINGS]]
    summary = build_summary(
        audit.project,
        targets=[
            TargetOutcome(
                target=None,
                label=filename or f"{report.kind} import",
                kind=report.kind,
                ok=True,
                error="",
                notes=warnings,
                checks_run=0,
                issues=len(report.items),
                seconds=round(time.monotonic() - started, 3),
            )
        ],
        changes=outcome,
        started=started,
        imported=ImportedReport(
            kind=report.kind,
            title=_clean(report.title, 300),
            tool=_clean(report.tool, 300),
            filename=filename,
            items=len(report.items),
            grades={
                _clean(k, 200): _clean(str(v), 50) for k, v in report.grades.items()
            },
            warnings=warnings,
            stated=dict(report.stated) if report.stated is not None else None,
            counts=report.imported_counts(),
        ),
    )
    audit.finish(
        Audit.Status.SUCCEEDED,
        summary=summary,
        report=_report_text(report, data),
        progress_done=1,
        progress_total=1,
    )
    services.conclude_audit(audit)


def _report_text(report: ParsedReport, data: bytes) -> str:
    """Return the Markdown shown on the audit page: the report itself, or a
    table of a SARIF log's results."""
    if report.kind == "markdown":
        return _clean(decode_text(data, max_bytes=settings.IMPORT_MAX_BYTES))
    lines = [f"# {report.title}", ""]
    if not report.items:
        lines.append("The log has no results.")
    else:
        lines += ["| Severity | Rule | Location | Result |", "|---|---|---|---|"]
        for item in report.items:
            place = f"{item.file}:{item.line}" if item.line else item.file
            cells = [item.severity.value, item.check, place or item.object, item.title]
            lines.append(
                "| " + " | ".join(_cell(c) for c in cells) + " |",
            )
    return _clean("\n".join(lines) + "\n")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()[:300]
