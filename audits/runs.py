"""Run an audit: scan its targets with the engine, reconcile, summarise.

The Celery tasks call in here; nothing here enqueues a task.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from findings.models import Finding
from findings.reconcile import Detection, Outcome, Scope, reconcile
from projects.models import Target

from . import gate, notifications
from .models import LOST_ERROR, STUCK_ERROR, Audit
from .summary import TargetOutcome, build_summary, space_of

if TYPE_CHECKING:
    from audits.engine.issues import Issue
    from audits.engine.scan import TargetResult

log = logging.getLogger(__name__)


class AuditCancelled(Exception):
    """The audit was cancelled (or swept) while this process ran it."""


class Heartbeat:
    """Write the running audit's ``heartbeat_at`` from a thread of its own.

    The sweeper fails running audits whose heartbeat stopped: their process
    died. A thread, not the scan's progress calls, so one long step (a big
    target) does not look like a dead worker.
    """

    def __init__(self, audit_id: int) -> None:
        self.audit_id = audit_id
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"plumbline-heartbeat-{audit_id}", daemon=True
        )

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)

    def _beat(self) -> None:
        from django.db import close_old_connections, connection

        try:
            while not self._stop.wait(settings.AUDIT_HEARTBEAT_SECONDS):
                try:
                    Audit.objects.filter(
                        pk=self.audit_id, status=Audit.Status.RUNNING
                    ).update(heartbeat_at=timezone.now())
                except DatabaseError:  # busy for a moment: the next beat will do
                    close_old_connections()
        finally:
            connection.close()


def execute_audit(audit_id: int) -> Audit | None:
    """Run a claimed-or-queued audit to the end; idempotent for finished ones."""
    if not Audit.objects.claim(audit_id):
        return None
    audit = Audit.objects.select_related("project").get(pk=audit_id)
    try:
        with Heartbeat(audit_id):
            return _run(audit)
    except AuditCancelled:
        audit.refresh_from_db()
        return audit
    except SoftTimeLimitExceeded:
        audit.fail(STUCK_ERROR)
        return audit
    except Exception as exc:
        log.exception("audit %s failed", audit_id)
        audit.fail(
            f"The audit stopped on an internal error: {type(exc).__name__}: {exc}"
        )
        raise


def _still_running(audit: Audit) -> None:
    """Raise AuditCancelled when someone cancelled the audit meanwhile."""
    if not Audit.objects.filter(pk=audit.pk, status=Audit.Status.RUNNING).exists():
        raise AuditCancelled(audit.pk)


def _scan_targets(
    audit: Audit, targets: list[Target]
) -> Iterator[tuple[Target, TargetResult]]:
    """Scan each target with the engine, reporting progress; yield (target, result)."""
    from audits.engine.scan import TargetResult, scan_each

    total = len(targets) + 1
    by_engine_target = {}
    earlier = earlier_spaces(audit)
    for target in targets:
        try:
            engine = target.engine_target()
        except ValueError as exc:  # stored credentials no longer decrypt
            yield target, TargetResult(target=None, ok=False, error=str(exc))
            continue
        if target.pk in earlier:
            engine = replace(engine, earlier_space=earlier[target.pk])
        by_engine_target[id(engine)] = (target, engine)
    done = len(targets) - len(by_engine_target)

    def progress(message: str) -> None:
        _still_running(audit)
        audit.report_progress(done, total, message)

    engines = [engine for _, engine in by_engine_target.values()]
    for engine, result in scan_each(engines, progress=progress):
        done += 1
        yield by_engine_target[id(engine)][0], result


# Finished audits searched for a target's last space reading.
SPACE_LOOKBACK = 20


def earlier_spaces(audit: Audit) -> dict[int, dict]:
    """Return each target's last successful space reading before ``audit``.

    Keyed by target id, each a stored ``SpaceReading`` with a ``label``
    naming its audit, as the engine takes it. Failed audits are never a
    base, nor a partial one for a target it could not read; only the
    :data:`SPACE_LOOKBACK` audits before this one are searched.
    """
    found: dict[int, dict] = {}
    rows = (
        Audit.objects.filter(
            project_id=audit.project_id,
            number__lt=audit.number,
            status__in=[Audit.Status.SUCCEEDED, Audit.Status.PARTIAL],
        )
        .order_by("-number")
        .values_list("number", "summary")[:SPACE_LOOKBACK]
    )
    for number, summary in rows:
        for outcome in summary.get("targets", ()):
            target = outcome.get("target")
            if outcome.get("ok") and outcome.get("space") and target not in found:
                found[target] = {**outcome["space"], "label": f"audit #{number}"}
    return found


def _run(audit: Audit) -> Audit:
    started = time.monotonic()
    project = audit.project
    targets = list(project.targets.filter(enabled=True, uploaded=False))
    if not targets:
        return _finish(
            audit,
            Audit.Status.FAILED,
            error="The project has no enabled targets; add one in settings.",
        )
    return record_results(audit, list(_scan_targets(audit, targets)), started=started)


def record_results(audit: Audit, pairs, *, started: float | None = None) -> Audit:
    """Reconcile the engine results of a running audit and finish it.

    ``pairs`` holds ``(target, result)``: each project target with the
    engine's result for it. Findings are fixed only on the targets that
    were scanned, for the checks that ran there.
    """
    started = time.monotonic() if started is None else started
    detections: list[Detection] = []
    checks_by_target: dict[int, frozenset[str]] = {}
    outcomes: list[TargetOutcome] = []
    issues: list[Issue] = []
    results: list[TargetResult] = []
    for target, result in pairs:
        results.append(result)
        outcome_row = TargetOutcome(
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
        if result.ok and target.kind in (Target.Kind.POSTGRESQL, Target.Kind.MYSQL):
            space, growth = space_of(result.schema)
            if space is not None:
                outcome_row["space"] = space
            if growth is not None:
                outcome_row["growth"] = growth
        if getattr(result, "commit", ""):
            # A git target: the commit scanned, and where it came from.
            outcome_row["commit"] = result.commit
            outcome_row["location"] = target.location
        if getattr(result, "dry_run", ""):
            outcome_row["dry_run"] = result.dry_run
        outcomes.append(outcome_row)
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
    _still_running(audit)
    used = next((r.config for r in results if r.config is not None), None)
    if used is not None:
        audit.record_scan_config(used.as_dict())
    audit.report_progress(len(outcomes), len(outcomes) + 1, "Reconciling findings")
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


def _render_report(
    audit: Audit, results: list[TargetResult], issues: list[Issue]
) -> str:
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


def sweep_stuck_audits(now: datetime | None = None) -> int:
    """Fail audits whose process died or that ran past the time limit.

    No finding is touched: an audit reconciles in one transaction, so one
    that never finished changed nothing.
    """
    lost = list(Audit.objects.lost(now).values_list("pk", flat=True))
    stuck = list(Audit.objects.stuck(now).values_list("pk", flat=True))
    # The conditions again: an audit that ended meanwhile keeps its outcome.
    failed = Audit.objects.filter(pk__in=lost).lost(now).fail(LOST_ERROR, now=now)
    failed += Audit.objects.filter(pk__in=stuck).stuck(now).fail(STUCK_ERROR, now=now)
    # A failed audit is news like any other; notifying is once per audit.
    notifications.notify_later(dict.fromkeys(lost + stuck))
    return failed


_last_sweep = 0.0
_sweep_lock = threading.Lock()


def sweep_if_due(every: float = 60.0) -> int:
    """Sweep stuck audits at most once a minute per process; for embedded mode.

    Without a broker there is no beat to run the sweeper, so the pages that
    show audits call this instead.
    """
    global _last_sweep
    now = time.monotonic()
    with _sweep_lock:
        if now - _last_sweep < every:
            return 0
        _last_sweep = now
    try:
        return sweep_stuck_audits()
    except DatabaseError:  # the database is busy: the next page will sweep
        log.warning("could not sweep stuck audits", exc_info=True)
        return 0
