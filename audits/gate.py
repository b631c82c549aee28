"""The quality gate: does an audit introduce what the project refuses?

A project names what fails its gate (``Project.gate_*``): a new unresolved
finding at or above a severity, any regression (a fixed finding seen
again), or a critical finding past its due date. The gate reads what the
audit changed, so a pull request fails only on what it brought in.
"""

from __future__ import annotations

from functools import reduce
from operator import or_

from django.db.models import Q
from django.utils import timezone

from findings.models import SEVERITY_ORDER, Finding, FindingEvent

# The findings listed on an audit for failing its gate; the count is exact.
LISTED = 100

FIELDS = ("id", "severity", "title", "check_id", "object", "file", "line", "status")


def rules(project) -> list[str]:
    """Return the project's gate rules in words."""
    said = []
    if project.gate_new_severity:
        said.append(f"no new finding at {project.gate_new_severity} or above")
    if project.gate_regressions:
        said.append("no regression")
    if project.gate_overdue_critical:
        said.append("no overdue critical finding")
    return said


def _at_or_above(severity: str) -> list[str]:
    return SEVERITY_ORDER[: SEVERITY_ORDER.index(severity) + 1]


def failing(audit) -> list[tuple[str, Q]]:
    """Return (reason, condition) per rule of the audit's project that applies."""
    project = audit.project
    found = []
    if project.gate_new_severity:
        found.append(
            (
                "new",
                Q(
                    first_seen_audit=audit,
                    status__in=Finding.UNRESOLVED,
                    severity__in=_at_or_above(project.gate_new_severity),
                ),
            )
        )
    if project.gate_regressions:
        reopened = FindingEvent.objects.filter(
            audit=audit, kind=FindingEvent.Kind.REOPENED
        ).values("finding_id")
        found.append(("regression", Q(pk__in=reopened, status__in=Finding.UNRESOLVED)))
    if project.gate_overdue_critical:
        found.append(
            (
                "overdue",
                Q(
                    severity="critical",
                    status__in=Finding.UNRESOLVED,
                    due_date__lt=timezone.localdate(),
                ),
            )
        )
    return found


def evaluate(audit) -> dict:
    """Return the gate's verdict on a finished audit, ready to store.

    ``{"passed": bool, "rules": [...], "failed": n, "findings": [...]}``
    where each listed finding says which rule it broke.
    """
    conditions = failing(audit)
    result = {
        "passed": True,
        "rules": rules(audit.project),
        "failed": 0,
        "findings": [],
    }
    if not conditions:
        return result
    project_findings = Finding.objects.filter(project_id=audit.project_id)
    listed: dict[int, dict] = {}
    # A finding that breaks two rules counts once.
    total = project_findings.filter(reduce(or_, (c for _, c in conditions))).count()
    for reason, condition in conditions:
        if not total:
            break
        matching = project_findings.filter(condition)
        for row in matching.order_by("pk").values(*FIELDS)[:LISTED]:
            if row["id"] in listed or len(listed) >= LISTED:
                continue
            listed[row["id"]] = {
                "id": row["id"],
                "reason": reason,
                "severity": row["severity"],
                "title": row["title"],
                "check": row["check_id"],
                "location": _location(row),
                "status": row["status"],
            }
    rank = {s: i for i, s in enumerate(SEVERITY_ORDER)}
    result["findings"] = sorted(
        listed.values(), key=lambda f: (rank.get(f["severity"], 9), f["id"])
    )
    result["failed"] = total
    result["passed"] = total == 0
    return result


def _location(row: dict) -> str:
    if row["file"]:
        return f"{row['file']}:{row['line']}" if row["line"] else row["file"]
    return row["object"]


def record(audit) -> None:
    """Store the gate's verdict on a finished audit (none for a failed one)."""
    from .models import Audit

    if audit.status == Audit.Status.FAILED:
        return
    verdict = evaluate(audit)
    Audit.objects.filter(pk=audit.pk).update(
        gate_passed=verdict["passed"], gate=verdict
    )
    audit.gate_passed, audit.gate = verdict["passed"], verdict
