"""Run an audit: scan its targets with the engine, reconcile, summarise.

The Celery tasks call in here; nothing here enqueues a task.
"""

from __future__ import annotations

import logging
import time

from findings.models import Finding
from findings.reconcile import Detection, Outcome, Scope, reconcile
from projects.models import Target

from . import gate
from .models import STUCK_ERROR, Audit
from .summary import TargetOutcome, build_summary

log = logging.getLogger(__name__)


def execute_audit(audit_id: int) -> Audit | None:
    """Run a claimed-or-queued audit to the end; idempotent for finished ones."""
    if not Audit.objects.claim(audit_id):
        return None
    audit = Audit.objects.select_related("project").get(pk=audit_id)
    try:
        return _run(audit)
    except Exception as exc:
        log.exception("audit %s failed", audit_id)
        audit.fail(
            f"The audit stopped on an internal error: {type(exc).__name__}: {exc}"
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
        audit.report_progress(done, total, message)

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
    outcomes: list[TargetOutcome] = []
    issues = []
    results = []
    for target, result in _scan_targets(audit, targets):
        results.append(result)
        outcomes.append(
            TargetOutcome(
                target=target.pk,
                label=str(target),
                kind=target.kind,
                ok=result.ok,
                error=result.error,
                notes=list(result.notes)[:50],
                checks_run=len(result.checks_run),
                issues=len(result.issues),
                seconds=round(result.duration, 3),
            )
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
    audit.report_progress(len(targets), len(targets) + 1, "Reconciling findings")
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
    targets: list[TargetOutcome] | None = None,
    outcome: Outcome | None = None,
    started: float | None = None,
    report: str = "",
) -> Audit:
    summary = build_summary(
        audit.project, targets=targets or [], changes=outcome, started=started
    )
    audit.finish(status, summary=summary, error=error, report=report)
    gate.record(audit)
    return audit


def sweep_stuck_audits(now=None) -> int:
    """Mark audits running past the time limit as failed; touch no finding."""
    return Audit.objects.stuck(now).fail(STUCK_ERROR, now=now)
