"""An audit's summary: the snapshot of its project that trends and pages read."""

from __future__ import annotations

from django.db.models import Count

from findings.models import Finding
from projects.models import Project


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
