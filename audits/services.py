"""Audit workflows: start, run (engine + reconcile), schedule and sweep."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Q
from django.utils import timezone

from findings.models import Finding
from findings.reconcile import Detection, Outcome, Scope, reconcile
from projects.models import Project, Target

from .models import Audit

log = logging.getLogger(__name__)


def start_audit(
    project: Project,
    *,
    trigger: str = Audit.Trigger.MANUAL,
    user=None,
    origin: str = "engine",
    enqueue: bool = True,
) -> Audit:
    """Create the project's next audit, queued, and enqueue its task on commit."""
    from .tasks import run_audit

    with transaction.atomic():
        # Lock the project row so two starts never take the same number.
        Project.objects.select_for_update().filter(pk=project.pk).first()
        last = (
            Audit.objects.filter(project=project).aggregate(n=Max("number"))["n"] or 0
        )
        audit = Audit.objects.create(
            project=project,
            number=last + 1,
            trigger=trigger,
            origin=origin,
            requested_by=user if user and user.is_authenticated else None,
        )
        if trigger != Audit.Trigger.IMPORT:
            project.schedule_next()
            Project.objects.filter(pk=project.pk).update(
                next_audit_at=project.next_audit_at
            )
        if enqueue:
            run_audit.delay_on_commit(audit.pk)
    return audit


def claim_audit(audit_id: int) -> bool:
    """Move a queued audit to running; return False if someone else has it."""
    return bool(
        Audit.objects.filter(pk=audit_id, status=Audit.Status.QUEUED).update(
            status=Audit.Status.RUNNING,
            started_at=timezone.now(),
            progress_step="Starting",
        )
    )


def _progress(audit_id: int, done: int, total: int, step: str) -> None:
    Audit.objects.filter(pk=audit_id).update(
        progress_done=done, progress_total=total, progress_step=step[:200]
    )


def execute_audit(audit_id: int) -> Audit | None:
    """Run a claimed-or-queued audit to the end; idempotent for finished ones."""
    if not claim_audit(audit_id):
        return None
    audit = Audit.objects.select_related("project").get(pk=audit_id)
    try:
        return _run(audit)
    except Exception as exc:
        log.exception("audit %s failed", audit_id)
        Audit.objects.filter(pk=audit_id).update(
            status=Audit.Status.FAILED,
            finished_at=timezone.now(),
            error=f"The audit stopped on an internal error: {type(exc).__name__}: {exc}",
        )
        raise


def _scan_targets(audit: Audit, targets: list[Target]):
    """Scan each target with the engine, reporting progress; yield (target, result)."""
    from audits.engine.scan import TargetResult, scan_each

    total = len(targets) + 1
    by_engine_target = {}
    for target in targets:
        try:
            engine = target.engine_target()
        except ValueError as exc:  # stored credentials no longer decrypt
            yield target, TargetResult(target=None, ok=False, error=str(exc))
            continue
        by_engine_target[id(engine)] = (target, engine)
    done = len(targets) - len(by_engine_target)

    def progress(message: str) -> None:
        _progress(audit.pk, done, total, message)

    engines = [engine for _, engine in by_engine_target.values()]
    for engine, result in scan_each(engines, progress=progress):
        done += 1
        yield by_engine_target[id(engine)][0], result


def _run(audit: Audit) -> Audit:
    started = time.monotonic()
    project = audit.project
    targets = list(project.targets.filter(enabled=True))
    if not targets:
        return _finish(
            audit,
            Audit.Status.FAILED,
            error="The project has no enabled targets; add one in settings.",
        )
    detections: list[Detection] = []
    checks_by_target: dict[int, frozenset[str]] = {}
    outcomes: list[dict] = []
    issues = []
    results = []
    for target, result in _scan_targets(audit, targets):
        results.append(result)
        outcomes.append(
            {
                "target": target.pk,
                "label": str(target),
                "kind": target.kind,
                "ok": result.ok,
                "error": result.error,
                "notes": list(result.notes)[:50],
                "checks_run": len(result.checks_run),
                "issues": len(result.issues),
                "seconds": round(result.duration, 3),
            }
        )
        if result.ok:
            checks_by_target[target.pk] = result.checks_run
            issues.extend(result.issues)
            detections.extend(
                Detection.from_issue(i, target_id=target.pk) for i in result.issues
            )
    failed = [o for o in outcomes if not o["ok"]]
    if len(failed) == len(outcomes):
        errors = "; ".join(f"{o['label']}: {o['error']}" for o in failed)
        return _finish(
            audit,
            Audit.Status.FAILED,
            error=f"No target could be scanned. {errors}",
            targets=outcomes,
            started=started,
        )
    _progress(audit.pk, len(targets), len(targets) + 1, "Reconciling findings")
    outcome = reconcile(
        audit, detections, Scope(origin="engine", checks_by_target=checks_by_target)
    )
    status = Audit.Status.PARTIAL if failed else Audit.Status.SUCCEEDED
    error = "; ".join(f"{o['label']}: {o['error']}" for o in failed)
    report = _render_report(audit, [r for r in results if r.target is not None], issues)
    return _finish(
        audit,
        status,
        error=error,
        targets=outcomes,
        outcome=outcome,
        started=started,
        report=report,
    )


def _render_report(audit, results, issues) -> str:
    """Return the audit's Markdown report: what it saw, graded as tracked.

    Findings the team documented or marked false positive keep that status
    in the report and do not count against its grades.
    """
    from types import SimpleNamespace

    project = audit.project
    try:
        from audits.engine.issues import merge_issues

        # The same problem seen by several targets is one finding.
        issues = merge_issues(list(issues))
        from audits.engine import grading
        from audits.engine.render import markdown
        from audits.engine.scan import ScanResult

        # Everything this audit saw has just been stamped as last seen by it.
        statuses = dict(
            Finding.objects.filter(project=project, sighting__audit_number=audit.number)
            .values_list("fingerprint", "status")
            .iterator(chunk_size=5000)
        )
        rows = [
            SimpleNamespace(
                dimension=i.dimension,
                severity=i.severity,
                fingerprint=i.fingerprint,
                check=i.check,
                status=statuses.get(i.fingerprint, "open"),
            )
            for i in issues
        ]
        return markdown.render(
            ScanResult(targets=tuple(results), issues=tuple(issues)),
            grades=grading.grade(rows),
            title=f"{project.name}: database audit",
            project=project.name,
            statuses=statuses,
        )
    except Exception:  # a report problem must not fail the audit
        log.exception("could not render the report of %s", project)
        return ""


def _finish(
    audit: Audit,
    status: str,
    *,
    error: str = "",
    targets=None,
    outcome: Outcome | None = None,
    started: float | None = None,
    report: str = "",
) -> Audit:
    summary = snapshot(audit.project)
    summary["targets"] = targets or []
    if outcome is not None:
        summary.update(
            new=outcome.new,
            still_open=outcome.still_open,
            fixed=outcome.fixed,
            reopened=outcome.reopened,
            severity_changed=outcome.severity_changed,
        )
    if started is not None:
        summary["duration"] = round(time.monotonic() - started, 3)
    Audit.objects.filter(pk=audit.pk).update(
        status=status,
        error=error,
        finished_at=timezone.now(),
        summary=summary,
        report_markdown=report,
        progress_step="Done" if status != Audit.Status.FAILED else "Failed",
    )
    audit.refresh_from_db()
    return audit


def snapshot(project: Project) -> dict:
    """Return counts per severity/status/dimension/effort and grades, for trends."""
    rows = (
        Finding.objects.filter(project=project)
        .values("status", "severity", "dimension", "effort", "check_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    by_status: dict[str, int] = {}
    by_severity: dict[str, int] = {}
    by_dimension: dict[str, dict[str, int]] = {}
    by_check: dict[str, dict[str, dict[str, int]]] = {}
    matrix: dict[str, dict[str, int]] = {}
    for r in rows:
        n, sev = r["n"], r["severity"]
        by_status[r["status"]] = by_status.get(r["status"], 0) + n
        if r["status"] not in Finding.UNRESOLVED:
            continue
        by_severity[sev] = by_severity.get(sev, 0) + n
        dim = r["dimension"] or "other"
        counts = by_dimension.setdefault(dim, {})
        counts[sev] = counts.get(sev, 0) + n
        checks = by_check.setdefault(dim, {}).setdefault(sev, {})
        checks[r["check_id"]] = checks.get(r["check_id"], 0) + n
        cell = matrix.setdefault(sev, {})
        effort = r["effort"] or "unknown"
        cell[effort] = cell.get(effort, 0) + n
    return {
        "by_status": by_status,
        "by_severity": by_severity,
        "by_dimension": by_dimension,
        "matrix": matrix,
        "open": sum(by_severity.values()),
        **grade_counts(by_dimension, by_check),
    }


def grade_counts(by_dimension: dict, by_check: dict) -> dict:
    """Return the snapshot's grades from open-finding counts (engine formula)."""
    from audits.engine import grading

    grades = grading.grade_counts(by_dimension, by_check)
    return {
        "grades": grades.letters(),
        "grade_summaries": {g.dimension: g.summary for g in grades},
        "grade_worst": {
            g.dimension: g.worst.value if g.worst else None for g in grades
        },
        "score": grades.score,
    }


def test_target_connection(target: Target) -> tuple[bool, str]:
    """Read the target once; return (ok, a message for the user)."""
    from audits.engine.scan import scan_target

    started = time.monotonic()
    result = scan_target(target.engine_target())
    took = time.monotonic() - started
    if not result.ok:
        return False, result.error
    tables = len(result.schema.tables) if result.schema is not None else 0
    return (
        True,
        f"Connected and read {tables} table{'s' if tables != 1 else ''} in {took:.1f} s.",
    )


def enqueue_due_audits(now=None) -> list[Audit]:
    """Start one scheduled audit per project whose interval has elapsed.

    Safe with several beats or workers: due projects are claimed with
    ``SELECT ... FOR UPDATE SKIP LOCKED`` (PostgreSQL) or inside SQLite's
    IMMEDIATE write transaction, and their next time moves in the same
    transaction, so no project is claimed twice.
    """
    now = now or timezone.now()
    started: list[Audit] = []
    with transaction.atomic():
        due = list(
            Project.objects.due(now)
            .select_for_update(skip_locked=True)
            .order_by("next_audit_at")[:200]
        )
        busy = set(
            Audit.objects.active()
            .filter(project__in=due)
            .values_list("project_id", flat=True)
        )
        for project in due:
            if project.pk in busy:
                project.schedule_next(after=now)
                Project.objects.filter(pk=project.pk).update(
                    next_audit_at=project.next_audit_at
                )
                continue
            started.append(start_audit(project, trigger=Audit.Trigger.SCHEDULE))
    return started


def sweep_stuck_audits(now=None) -> int:
    """Mark audits running past the time limit as failed; touch no finding."""
    now = now or timezone.now()
    limit = timedelta(seconds=settings.AUDIT_TIME_LIMIT)
    return Audit.objects.filter(
        Q(status=Audit.Status.RUNNING, started_at__lt=now - limit)
        | Q(status=Audit.Status.QUEUED, created_at__lt=now - 2 * limit)
    ).update(
        status=Audit.Status.FAILED,
        finished_at=now,
        error="The audit did not finish within the time limit (its worker may have stopped); no finding was changed.",
    )
