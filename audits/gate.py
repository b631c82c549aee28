"""The quality gate: does an audit introduce what the project refuses?

A project names what fails its gate (``Project.gate_*``): a new unresolved
finding at or above a severity, any regression (a fixed finding seen
again), or a critical finding past its due date. The gate reads what the
audit changed, so a pull request fails only on what it brought in.

The first audit of a target sets its baseline, as "clean as you code"
gates do: what a target already held when Plumbline first read it is not
new, so a project's first audit (or first CI upload, or a target added
later) passes the "new" rule and says how many findings it took as the
starting point. From the next audit on, every new finding counts.
Regressions and overdue criticals are never baselined.
"""

from __future__ import annotations

from functools import reduce
from operator import or_

from django.db.models import Q
from django.db.models.fields.json import KeyTransform
from django.utils import timezone

from findings.models import SEVERITY_ORDER, Finding, FindingEvent

# The findings listed on an audit for failing its gate; the count is exact.
LISTED = 100

FIELDS = ("id", "severity", "title", "check_id", "object", "file", "line", "status")


def rules(project) -> list[str]:
    """Return what fails the project's gate, one phrase per rule."""
    said = []
    if project.gate_new_severity:
        said.append(f"a new finding at {project.gate_new_severity} or above")
    if project.gate_regressions:
        said.append("a regression")
    if project.gate_overdue_critical:
        said.append("an overdue critical finding")
    return said


def _at_or_above(severity: str) -> list[str]:
    return SEVERITY_ORDER[: SEVERITY_ORDER.index(severity) + 1]


def baseline_targets(audit) -> tuple[bool, set[int]]:
    """Return (first audit of the project, targets this audit read first).

    A target is read first when no earlier finished audit of the project
    read it without an error. Earlier audits are read newest first and only
    until every target of this audit has been met.
    """
    from .models import Audit

    fresh = {
        t["target"]
        for t in (audit.summary or {}).get("targets", [])
        if t.get("ok") and t.get("target")
    }
    earlier = (
        Audit.objects.finished()
        .filter(project_id=audit.project_id, number__lt=audit.number)
        .exclude(status=Audit.Status.FAILED)
        .order_by("-number")
        .annotate(read=KeyTransform("targets", "summary"))
        .values_list("read", flat=True)
    )
    first = True
    for read in earlier.iterator(chunk_size=100):
        first = False
        fresh -= {t.get("target") for t in read or () if t.get("ok")}
        if not fresh:
            break
    return first, fresh


def _new_rule(audit, severity: str) -> tuple[Q, Q | None]:
    """Return (what fails the "new" rule, what the baseline took in or None)."""
    new = Q(
        first_seen_audit=audit,
        status__in=Finding.UNRESOLVED,
        severity__in=_at_or_above(severity),
    )
    first, fresh = baseline_targets(audit)
    if first:
        return Q(pk__in=[]), new
    if fresh:
        return new & ~Q(target_id__in=fresh), new & Q(target_id__in=fresh)
    return new, None


def failing(audit) -> tuple[list[tuple[str, Q]], Q | None]:
    """Return (reason, condition) per rule of the audit's project, and what
    the baseline took in (None when nothing was baselined)."""
    project = audit.project
    found = []
    baseline = None
    if project.gate_new_severity:
        new, baseline = _new_rule(audit, project.gate_new_severity)
        found.append(("new", new))
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
    return found, baseline


def evaluate(audit) -> dict:
    """Return the gate's verdict on a finished audit, ready to store.

    ``{"passed": bool, "rules": [...], "checks": [...], "failed": n,
    "baseline": n, "findings": [...]}``: ``checks`` gives each rule with how
    many findings broke it, ``baseline`` how many new findings the first
    audit of their target took as the starting point, and each listed
    finding says which rule it broke.
    """
    conditions, baseline = failing(audit)
    project_findings = Finding.objects.filter(project_id=audit.project_id)
    result = {
        "passed": True,
        "rules": rules(audit.project),
        "checks": [],
        "failed": 0,
        "baseline": project_findings.filter(baseline).count() if baseline else 0,
        "findings": [],
    }
    if not conditions:
        return result
    # A finding that breaks two rules counts once.
    total = project_findings.filter(reduce(or_, (c for _, c in conditions))).count()
    listed: dict[int, dict] = {}
    for (reason, condition), rule in zip(conditions, result["rules"], strict=True):
        broken = project_findings.filter(condition).count() if total else 0
        result["checks"].append({"reason": reason, "rule": rule, "failed": broken})
        if not broken:
            continue
        for row in (
            project_findings.filter(condition).order_by("pk").values(*FIELDS)[:LISTED]
        ):
            if row["id"] not in listed and len(listed) < LISTED:
                listed[row["id"]] = _listed(row, reason)
    rank = {s: i for i, s in enumerate(SEVERITY_ORDER)}
    result["findings"] = sorted(
        listed.values(), key=lambda f: (rank.get(f["severity"], 9), f["id"])
    )
    result["failed"] = total
    result["passed"] = total == 0
    return result


def _listed(row: dict, reason: str) -> dict:
    return {
        "id": row["id"],
        "reason": reason,
        "severity": row["severity"],
        "title": row["title"],
        "check": row["check_id"],
        "location": _location(row),
        "status": row["status"],
    }


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


def shown(audit) -> dict:
    """Return the audit's verdict as the API and the CI upload answer it."""
    return {**(audit.gate or {}), "passed": audit.gate_passed}
