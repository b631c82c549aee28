"""Turn a merged group of statements into one imported finding."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from audits.engine.issues import Severity, make_fingerprint, normalise
from audits.engine.reports.checkmap import match_check
from audits.engine.reports.types import ItemStatus, ReportItem
from audits.engine.reports.values import STATUS_RANK, parse_effort

from .candidate import Candidate
from .merge import Group

FINGERPRINT_KIND = "import:markdown"


def _severity(group: Group, warnings: list[str], name: str) -> Severity:
    best: Candidate | None = None
    for cand in group.primary:
        if cand.severity is None:
            continue
        if best is None or (cand.severity_rank, cand.severity.rank) > (
            best.severity_rank,
            best.severity.rank if best.severity else -1,
        ):
            best = cand
    if best is not None and best.severity is not None:
        return best.severity
    # A reference's own severity (a matrix's column) beats its group heading.
    refs = sorted(
        (c for c in group.references if c.severity is not None),
        key=lambda c: -c.severity_rank,
    )
    if refs and refs[0].severity is not None:
        return refs[0].severity
    warnings.append(f"{name!r} states no severity; it was imported as medium.")
    return Severity.MEDIUM


def _status(group: Group) -> tuple[ItemStatus, str]:
    named = [c for c in group.references if c.strong or c.mentions]
    for members in (group.primary + named, group.members):
        stated = [c for c in members if c.status is not None]
        if stated:
            best = max(stated, key=lambda c: STATUS_RANK[c.status or "open"])
            return best.status or "open", best.status_note
    return "open", ""


def _first(values: list[str]) -> str:
    return next((v for v in values if v), "")


def build_item(group: Group, warnings: list[str]) -> ReportItem:
    """Return the finding ``group`` describes, taking each field from the
    strongest place that states it."""
    primary, members = group.primary, group.members
    ref = _first([c.ref for c in primary] + [c.ref for c in members if c.strong])
    ref = ref or _first([c.number for c in primary])
    sections = [c for c in members if c.source == "section"]
    title = ([c for c in primary if c.source == "section"] or primary)[0].title
    severity = _severity(group, warnings, ref or title)
    status, note = _status(group)
    location = max((c.location for c in primary), key=lambda loc: loc.specificity)
    if not location.file:
        location = max((c.location for c in members), key=lambda loc: loc.specificity)
    effort = _first([c.effort for c in primary] + [c.effort for c in members])
    minutes, bucket = parse_effort(effort) if effort else (None, None)
    description = _first([c.description for c in sections]) or max(
        (c.description for c in primary), key=len
    )
    remediation = _first([c.remediation for c in sections + members])
    same_id = [c for c in group.references if c.strong and c.ref == ref]
    titles = list(dict.fromkeys(c.title for c in primary + same_id))
    check, dimension = match_check(*titles)
    details: dict[str, Any] = {
        "effort": effort,
        "effort_minutes": minutes,
        "effort_bucket": bucket,
        "file": location.file,
        "line": location.line,
        "object": _first([c.object for c in primary]),
        "description": description,
        "remediation": remediation,
        "check": check,
        "dimension": dimension,
        "fingerprint": make_fingerprint(FINGERPRINT_KIND, ref, normalise(title)),
        "status_note": note if status != "open" else "",
        "source_line": primary[0].line or None,
        "source_lines": tuple(sorted({c.line for c in members})),
    }
    return replace(ReportItem(ref, title, severity, status), **details)


__all__ = ["FINGERPRINT_KIND", "build_item"]
