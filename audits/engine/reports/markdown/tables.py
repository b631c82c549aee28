"""Read findings, and the report's own grades, out of Markdown tables."""

from __future__ import annotations

import re

from audits.engine.issues import Severity
from audits.engine.reports.values import (
    is_non_problem,
    parse_effort,
    parse_location,
    parse_status,
    severity_from_ref,
    severity_in_cell,
    severity_tag,
)

from .blocks import Table
from .candidate import SEV_CONTEXT, SEV_FIELD, SEV_IMPACT, SEV_REF, SEV_TAG, Candidate
from .text import (
    clean,
    is_ref,
    is_test_title,
    mentions,
    object_from,
    retracts,
    strip_tags,
    struck,
    unstrike,
    xrefs,
)

# Header names per column role, best first, in the languages reports use.
_COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "ref": ("id", "ref", "reference", "finding id", "issue id", "key", "code", "编号"),
    "number": ("#", "no", "no.", "nr", "nr.", "n", "num", "rank", "№", "номер"),
    "title": (
        "title",
        "finding",
        "issue",
        "problem",
        "summary",
        "gap",
        "item",
        "task",
        "action",
        "recommendation",
        "description",
        "name",
        "what",
        "short title",
        "проблема",
        "замечание",
        "befund",
        "hallazgo",
        "problema",
        "constatation",
        "problème",
        "问题",
        "描述",
    ),
    "severity": (
        "severity",
        "sev",
        "priority",
        "criticality",
        "risk level",
        "level",
        "risk",
        "критичность",
        "серьёзность",
        "приоритет",
        "schweregrad",
        "priorität",
        "severidad",
        "gravedad",
        "prioridad",
        "gravité",
        "sévérité",
        "priorité",
        "severidade",
        "gravidade",
        "prioridade",
        "严重程度",
        "级别",
        "风险等级",
        "优先级",
    ),
    "location": (
        "location",
        "file:line",
        "file",
        "files",
        "where",
        "path",
        "source",
        "файл",
        "расположение",
        "datei",
        "ort",
        "archivo",
        "ubicación",
        "fichier",
        "emplacement",
        "arquivo",
        "localização",
        "位置",
        "文件",
    ),
    "status": (
        "status",
        "state",
        "resolution",
        "done",
        "статус",
        "estado",
        "statut",
        "状态",
    ),
    "effort": ("effort", "fix estimate", "estimate", "time to fix", "time", "cost"),
    "remediation": (
        "fix",
        "remediation",
        "recommended fix",
        "suggested fix",
        "solution",
        "mitigation",
        "recommendation",
        "action",
    ),
    "impact": ("impact", "влияние", "auswirkung", "impacto", "影响"),
    "description": ("description", "details", "notes", "note", "why", "comment"),
    "category": ("category", "area", "dimension", "topic", "категория", "kategorie"),
    "object": ("object", "table", "column", "index", "entity"),
}
_FIRST_ROLES = ("ref", "number", "title", "severity", "location", "status", "effort")
_LATER_ROLES = ("remediation", "impact", "description", "category", "object")
_GRADE_COLUMNS = ("grade", "score", "rating", "mark")
_GRADE_VALUE = re.compile(r"^([A-F][+-]?|\d{1,3}(?:\.\d+)?\s*(?:/\s*(?:10|100)|%)?)$")


def columns(header: list[str]) -> dict[str, int]:
    """Return the column index of each role the header names."""
    cols: dict[str, int] = {}
    used: set[int] = set()
    for role in (*_FIRST_ROLES, *_LATER_ROLES):
        for name in _COLUMN_NAMES[role]:
            idx = next(
                (i for i, h in enumerate(header) if h == name and i not in used), None
            )
            if idx is not None:
                cols[role] = idx
                used.add(idx)
                break
    return cols


def header_of(table: Table) -> list[str]:
    """Return the table's header cells, cleaned and lower-cased."""
    return [clean(h).lower().strip(" :") for h in table.header]


class TableReader:
    """Turn the rows of one findings table into candidates."""

    def __init__(self, table: Table, context: Severity | None, area: str) -> None:
        self.table = table
        self.context = context
        self.area = area
        self.cols = columns(header_of(table))
        width = len(table.header)
        self.rows = [row + [""] * (width - len(row)) for row in table.rows]
        if "title" not in self.cols and "category" in self.cols:
            # A summary keyed by category names its problem in the notes.
            keyed = self.cols.get("description", self.cols["category"])
            self.cols["title"] = keyed

    def is_findings(self) -> bool:
        """Return whether the table lists findings (rather than facts)."""
        if "title" not in self.cols:
            return False
        if any(role in self.cols for role in ("ref", "severity", "status")):
            return True
        if self.area == "restates":
            return True
        if "location" in self.cols and any(
            parse_location(row[self.cols["location"]]).file for row in self.rows
        ):
            return True
        return self.context is not None and (
            "effort" in self.cols or "number" in self.cols
        )

    def candidates(self, block: int) -> list[Candidate]:
        """Return one candidate per row that names something."""
        found: list[Candidate] = []
        lines = self.table.row_lines or [self.table.line] * len(self.rows)
        for row, line in zip(self.rows, lines, strict=False):
            cand = self.row(row, line)
            if cand is not None:
                cand.block = block
                found.append(cand)
        return found

    def cell(self, row: list[str], role: str) -> str:
        return row[self.cols[role]] if role in self.cols else ""

    def row(self, row: list[str], line: int) -> Candidate | None:
        raw_title = self.cell(row, "title")
        title = strip_tags(clean(unstrike(raw_title)))
        if not title or re.fullmatch(r"[-\u2014\u2013\s*_.]*|total|sum", title, re.I):
            return None
        cand = Candidate("table", line, line, self.area, title=title)
        ref = clean(self.cell(row, "ref"))
        if is_ref(ref):
            cand.ref, cand.strong = ref, True
        else:
            number = clean(self.cell(row, "number") or ref)
            if number.isdigit():
                cand.number = number
        self.severity(cand, row, raw_title)
        self.status(cand, row, raw_title)
        self.details(cand, row, raw_title)
        return cand

    def severity(self, cand: Candidate, row: list[str], raw_title: str) -> None:
        cell = self.cell(row, "severity")
        cand.offer_severity(severity_in_cell(cell), SEV_FIELD)
        cand.offer_severity(severity_tag(clean(raw_title)), SEV_TAG)
        if cand.strong:
            cand.offer_severity(severity_from_ref(cand.ref), SEV_REF)
        impact = clean(self.cell(row, "impact"))
        cand.offer_severity(severity_in_cell(" ".join(impact.split()[:2])), SEV_IMPACT)
        cand.offer_severity(self.context, SEV_CONTEXT)
        if cell and (is_non_problem(cell) or retracts(cell)):
            cand.skip = f"its severity says {clean(cell)[:40]!r}"

    def status(self, cand: Candidate, row: list[str], raw_title: str) -> None:
        cell = self.cell(row, "status")
        cand.offer_status(cell)
        if cand.status is None:
            cand.offer_status(_status_tag(raw_title))
        if struck(raw_title) and cand.status is None:
            cand.status, cand.status_note = "fixed", "struck through"
        if cell and is_non_problem(cell):
            cand.skip = cand.skip or f"its status says {clean(cell)[:40]!r}"
        if retracts(cand.title) or is_test_title(cand.title):
            cand.skip = cand.skip or "it takes itself back or is a test"

    def details(self, cand: Candidate, row: list[str], raw_title: str) -> None:
        effort = clean(self.cell(row, "effort"))
        if parse_effort(effort)[0] is not None:
            cand.effort = effort
        cand.location = parse_location(self.cell(row, "location"))
        title_col = self.cols["title"]
        if self.cols.get("remediation", title_col) != title_col:
            cand.remediation = clean(self.cell(row, "remediation"))
        parts = []
        for role in ("description", "impact"):
            if self.cols.get(role, title_col) != title_col:
                described = clean(self.cell(row, role))
                if severity_in_cell(described) is None or len(described.split()) > 3:
                    parts.append(described)
        category = self.cols.get("category", title_col)
        if category != title_col:
            parts.insert(0, clean(self.cell(row, "category")))
        cand.description = "\n\n".join(p for p in parts if p)
        cand.object = clean(self.cell(row, "object")) or object_from(raw_title)
        cand.mentions = mentions(raw_title, cand.ref)
        cand.xrefs = xrefs(raw_title)


def _status_tag(text: str) -> str:
    if re.search("[\u2705\u2714\u2611]", text):
        return "fixed"
    match = re.search(r"[\[(]\s*([^\W\d][\w' -]{2,19})\s*[\])]", text)
    return match.group(1) if match else ""


def grade_table(table: Table, grades: dict[str, str]) -> bool:
    """Read a table of grades per area into ``grades``; return whether it was one."""
    header = header_of(table)
    grade_col = next(
        (i for i, h in enumerate(header) if any(g in h for g in _GRADE_COLUMNS)),
        None,
    )
    cols = columns(header)
    if grade_col is None or grade_col == 0 or "ref" in cols or "severity" in cols:
        return False
    found = False
    for row in table.rows:
        if len(row) <= grade_col:
            continue
        label = clean(row[0])
        value = clean(row[grade_col])
        if not label or not _GRADE_VALUE.match(value):
            continue
        found = True
        _grade_row(label, value, grades)
    return found


def _grade_row(label: str, value: str, grades: dict[str, str]) -> None:
    if not re.search(r"\boverall\b|\btotal\b", label, re.IGNORECASE):
        grades[label] = value
        return
    if re.match(r"^[A-F]", value):
        grades.setdefault("overall", value)
        return
    number = re.match(r"[\d.]+", value)
    if number:
        rest = value[number.end() :]
        scale = "100" if "100" in rest or "%" in rest else "10"
        grades.setdefault("score", score(number.group(0), scale))


# "Overall grade: B-", "Overall score: 7.4/10" and "Score 74/100" in prose.
_OVERALL_GRADE, _OVERALL_SCORE, _ANY_SCORE = (
    re.compile(pattern, re.IGNORECASE)
    for pattern in (
        r"\boverall\b[^:\n|]{0,40}:\s*[*_]*\s*([A-F][+-]?)(?![\w+-])",
        r"\b(?:overall|final|total)\b[^:\n|]{0,40}:\s*[*_]*\s*(\d{1,3}(?:\.\d+)?)"
        r"\s*/\s*(10|100)\b",
        r"\bscore\b[^:\n|]{0,20}?[:\s]\s*[*_]*(\d{1,3}(?:\.\d+)?)\s*/\s*(10|100)\b",
    )
)


def grade_line(text: str, grades: dict[str, str]) -> None:
    """Read an overall grade or score stated in a line of prose into ``grades``."""
    match = _OVERALL_GRADE.search(text)
    if match and "overall" not in grades:
        grades["overall"] = match.group(1)
    match = _OVERALL_SCORE.search(text) or _ANY_SCORE.search(text)
    if match and "score" not in grades:
        grades["score"] = score(match.group(1), match.group(2))


def score(number: str, scale: str) -> str:
    """Return a score out of ``scale`` as a score out of ten."""
    value = float(number) / (10.0 if scale == "100" else 1.0)
    return f"{value:g}"


def status_of(text: str) -> str:
    """Return the status a title marks with an emoji or a bracketed word."""
    tag = _status_tag(text)
    return tag if parse_status(tag) else ""
