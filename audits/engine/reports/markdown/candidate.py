"""One finding as one place in a report states it, before merging."""

from __future__ import annotations

from dataclasses import dataclass, field

from audits.engine.issues import Severity
from audits.engine.reports.types import ItemStatus
from audits.engine.reports.values import (
    STATUS_RANK,
    Location,
    is_non_problem,
    parse_location,
    parse_status,
    severity_in_cell,
)

from .text import clean, join, retracts

# Severity evidence, strongest first: the finding's own severity field or
# column, a tag in its title, its id's prefix; then weaker signals that
# never outrank those: an Impact line, the heading above, a Risk line
# (usually about the fix, not the problem).
SEV_FIELD, SEV_TAG, SEV_REF, SEV_IMPACT, SEV_CONTEXT, SEV_RISK = 6, 5, 4, 3, 2, 1


@dataclass
class Candidate:
    """A finding as one section, table row or list item states it."""

    source: str  # "section", "table" or "list"
    line: int
    end: int = 0
    area: str = ""  # "restates" under a recommendations-like heading
    ref: str = ""
    strong: bool = False
    number: str = ""
    title: str = ""
    severity: Severity | None = None
    severity_rank: int = 0
    status: ItemStatus | None = None
    status_note: str = ""
    effort: str = ""
    location: Location = field(default_factory=Location)
    object: str = ""
    description: str = ""
    remediation: str = ""
    mentions: tuple[str, ...] = ()
    xrefs: tuple[str, ...] = ()
    block: int = -1
    skip: str = ""  # why this is not a problem, when it is not
    order: int = 0

    def offer_severity(self, severity: Severity | None, rank: int) -> None:
        """Keep ``severity`` when its evidence is stronger than what we have."""
        if severity is None:
            return
        if rank > self.severity_rank or (
            rank == self.severity_rank
            and self.severity is not None
            and severity.rank > self.severity.rank
        ):
            self.severity, self.severity_rank = severity, rank

    def offer_status(self, value: str) -> None:
        """Take the status ``value`` states, keeping the report's words."""
        status = parse_status(value)
        if status is None:
            return
        if self.status is None or STATUS_RANK[status] > STATUS_RANK[self.status]:
            self.status = status
            self.status_note = clean(value)[:500]

    @property
    def explicit(self) -> bool:
        """Return whether the item states its own severity."""
        return self.severity_rank >= SEV_REF

    def label(self) -> str:
        """Return how the explanation names this item."""
        return f"{self.ref} {self.title}".strip() if self.ref else self.title


def _severity_values(cand: Candidate, values: dict[str, list[str]]) -> None:
    for value in values.get("severity", []):
        if is_non_problem(value) or retracts(value):
            cand.skip = cand.skip or f"its severity says {clean(value)[:40]!r}"
        cand.offer_severity(severity_in_cell(value), SEV_FIELD)
    for role, rank in (("impact", SEV_IMPACT), ("risk", SEV_RISK)):
        for value in values.get(role, []):
            found = severity_in_cell(" ".join(clean(value).split()[:2]))
            cand.offer_severity(found, rank)


def apply_fields(cand: Candidate, values: dict[str, list[str]]) -> None:
    """Fill ``cand`` from the labelled fields found in its text."""
    for value in values.get("location", []):
        loc = parse_location(value)
        if loc.specificity > cand.location.specificity:
            cand.location = loc
    _severity_values(cand, values)
    for value in values.get("status", []):
        if is_non_problem(value):
            cand.skip = cand.skip or f"its status says {clean(value)[:40]!r}"
        cand.offer_status(value)
    if values.get("effort"):
        cand.effort = clean(values["effort"][0])
    if values.get("object") and not cand.object:
        cand.object = clean(values["object"][0])
    if values.get("remediation"):
        cand.remediation = join(values["remediation"])
    description = join(values.get("description", []))
    notes = [
        clean(v)
        for v in values.get("impact", []) + values.get("risk", [])
        if severity_in_cell(v) is None or len(clean(v).split()) > 3
    ]
    if notes:
        note = "Impact: " + "; ".join(notes)
        description = f"{description}\n\n{note}" if description else note
    if description:
        cand.description = description
