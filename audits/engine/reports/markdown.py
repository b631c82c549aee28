"""Read findings out of hand-written Markdown audit reports.

Reports come in many shapes, so the parser looks for the common ones rather
than one layout: sections headed ``ID: Title`` with ``**File:**``-style
fields, findings tables found by their header names, P0-P3 and priority
tables, numbered recommendations carrying priority words, remediation
matrices with effort and status columns, and grade or score tables.

When a report names its findings with ids (``CRIT-1``, ``MED-TX-001``) those
ids are the catalogue: rows and list items without an id only restate or
act on them, so they enrich a matching finding and never add one. Without
ids, each distinct title is one finding however often it is repeated.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from audits.engine.issues import Severity, make_fingerprint, normalise

from .types import ItemStatus, ParsedReport, ReportItem
from .values import (
    STATUS_RANK,
    Location,
    match_check,
    parse_effort,
    parse_location,
    parse_status,
    severity_from_ref,
    severity_in_cell,
    severity_tag,
)

FINGERPRINT_KIND = "import:markdown"

# Longer lines are cut before matching: no report needs them and it keeps
# every regular expression linear on hostile input.
_MAX_LINE = 4000
_MAX_FIELD = 4000

# A report's own finding id: ``CRIT-1``, ``HIGH-ORM-002``, ``SEC_3``,
# ``CVE-2024-1234``. Bare numbers are list numbering, not ids.
_ID = r"[A-Z][A-Z0-9]{0,11}(?:[-_][A-Z0-9]{1,12}){0,3}[-_]\d{1,5}[a-z]?"
_ID_RE = re.compile(rf"^{_ID}$")
_NOT_IDS = re.compile(
    r"^(UTF|ISO|SHA|MD|RFC|PEP|IPV|HTTP|TLS|SSL|AES|RSA|X|WCAG|ES|ECMA|BASE)[-_]",
)
_ID_TITLE = re.compile(
    rf"^\W{{0,6}}(?:(?:finding|issue)\s+)?\[?({_ID})\]?"
    r"\s*(?::|\.|\)|\u2014|\u2013|-|\|)\s*(.+)$",
)
_NUMBERED = re.compile(r"^(\d{1,3})[.)]\s+(.+)$")
_SECTION_NUMBER = re.compile(r"^\d+(?:\.\d+)*\.?\s+")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_SETEXT = re.compile(r"^(=+|-+)\s*$")
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_LIST_ITEM = re.compile(r"^(\s*)(?:([-*+])|(\d{1,3})[.)])\s+(.*)$")
_BOLD_LINE = re.compile(r"^\s*(\*\*|__)(.+?)\1\s*:?\s*$")
_HR = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_HTML_ONLY = re.compile(r"^\s*(<[^>]{1,200}>\s*)+$")
_FIELD = re.compile(
    r"(?:\*\*|__)\s*([A-Za-z][A-Za-z0-9 /&()'-]{0,40}?)\s*"
    r"(?::\s*(?:\*\*|__)|(?:\*\*|__)\s*:)"
)
_PLAIN_FIELD = re.compile(
    r"^\s*(?:[-*]\s+)?(file|files|location|path|where|risk|impact|priority|severity|"
    r"status|effort|estimate|fix|remediation|recommendation)\s*:\s+(.*)$",
    re.IGNORECASE,
)
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_MARKUP = re.compile(r"\*\*|~~|`|<br\s*/?>|<[^>]{1,40}>")
_REF_MENTION = re.compile(rf"(?<![\w-])({_ID})(?![\w-])")
_OVERALL_GRADE = re.compile(
    r"\boverall\b[^:\n|]{0,40}:\s*[*_]*\s*([A-F][+-]?)(?![\w+-])", re.IGNORECASE
)
_OVERALL_SCORE = re.compile(
    r"\b(?:overall|final|total)\b[^:\n|]{0,40}:\s*[*_]*\s*(\d{1,3}(?:\.\d+)?)\s*/\s*"
    r"(10|100)\b",
    re.IGNORECASE,
)
_ANY_SCORE = re.compile(
    r"\bscore\b[^:\n|]{0,20}?[:\s]\s*[*_]*(\d{1,3}(?:\.\d+)?)\s*/\s*(10|100)\b",
    re.IGNORECASE,
)
_GRADE_VALUE = re.compile(r"^([A-F][+-]?|\d{1,3}(?:\.\d+)?\s*(?:/\s*(?:10|100)|%)?)$")

_SEVERITY_WORDS = (
    "critical|high|medium|low|info|blocker|urgent|major|minor|moderate|"
    "required|recommended|optional"
)
_FIELD_ROLES: dict[str, str] = {
    "file": "location",
    "files": "location",
    "location": "location",
    "locations": "location",
    "path": "location",
    "where": "location",
    "source": "location",
    "file:line": "location",
    "priority": "severity",
    "severity": "severity",
    "sev": "severity",
    "level": "severity",
    "criticality": "severity",
    "risk": "risk",
    "impact": "risk",
    "risk level": "severity",
    "fix": "remediation",
    "remediation": "remediation",
    "recommendation": "remediation",
    "recommended fix": "remediation",
    "suggested fix": "remediation",
    "solution": "remediation",
    "mitigation": "remediation",
    "action": "remediation",
    "status": "status",
    "state": "status",
    "resolution": "status",
    "effort": "effort",
    "estimate": "effort",
    "fix estimate": "effort",
    "time": "effort",
    "time to fix": "effort",
    "issue": "description",
    "description": "description",
    "problem": "description",
    "details": "description",
    "finding": "description",
    "summary": "description",
    "object": "object",
    "table": "object",
    "column": "object",
    "index": "object",
}

# Header names per column role, best first.
_COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "ref": ("id", "ref", "reference", "finding id", "issue id", "key", "code"),
    "number": ("#", "no", "no.", "nr", "n", "num", "rank"),
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
    ),
    "severity": (
        "severity",
        "sev",
        "priority",
        "criticality",
        "risk level",
        "level",
        "risk",
        "impact",
    ),
    "location": ("location", "file:line", "file", "files", "where", "path", "source"),
    "status": ("status", "state", "resolution", "done"),
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
    "description": ("description", "details", "notes", "note", "impact", "why"),
    "object": ("object", "table", "column", "index", "entity"),
}
_GRADE_COLUMNS = ("grade", "score", "rating", "mark")
# "Priority 2 - Improve soon" and "High priority: ..." head a group of
# findings however many words follow; a bare "P0 - ..." heads one finding.
_GROUP_HEAD = re.compile(
    rf"^\W*(?:priority\s*#?\d|(?:{_SEVERITY_WORDS})\s+priority)\b", re.IGNORECASE
)
_CONTENTS_HEADING = re.compile(r"^(table of )?contents$|^toc$", re.IGNORECASE)
_GROUP_WORDS = frozenset(
    re.findall(
        r"\w+",
        """priority severity findings finding issues issue items item risks risk
        recommendations recommendation actions action fix fixes now problems
        problem level immediate soon later tasks and the of to do must should
        could""",
    )
)

_STOPWORDS = frozenset(
    re.findall(
        r"\w+",
        """the a an and or of on in to for with from by at is are be no not into
        via per all any its it this that as than then when which was were has
        have use using""",
    )
)

# Severity evidence, strongest first: a severity field or column beats a
# tag in the title, which beats an id prefix, which beats the heading above.
_SEV_FIELD, _SEV_TAG, _SEV_REF, _SEV_CONTEXT = 4, 3, 2, 1


# --- blocks ---------------------------------------------------------------


@dataclass
class _Heading:
    level: int
    text: str


@dataclass
class _Table:
    header: list[str]
    rows: list[list[str]]


@dataclass
class _Text:
    text: str
    indent: int = 0
    marker: str = ""  # "-" for a bullet, the number for a numbered item


@dataclass
class _Code:
    text: str


@dataclass
class _Blank:
    pass


_Block = _Heading | _Table | _Text | _Code | _Blank


def _split_row(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    cells: list[str] = []
    current: list[str] = []
    in_code = False
    i = 0
    while i < len(line):
        ch = line[i]
        if ch == "\\" and i + 1 < len(line) and line[i + 1] == "|":
            current.append("|")
            i += 2
            continue
        if ch == "`":
            in_code = not in_code
        if ch == "|" and not in_code:
            cells.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
        i += 1
    cells.append("".join(current).strip())
    return cells


def _blocks(text: str) -> list[_Block]:
    lines = [line[:_MAX_LINE] for line in text.split("\n")]
    blocks: list[_Block] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            marker = fence.group(1)
            body: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(marker):
                body.append(lines[i])
                i += 1
            blocks.append(_Code("\n".join(body)))
            i += 1
            continue
        if not line.strip():
            blocks.append(_Blank())
            i += 1
            continue
        heading = _HEADING.match(line)
        if heading and line.startswith("#"):
            blocks.append(_Heading(len(heading.group(1)), heading.group(2)))
            i += 1
            continue
        if (
            "|" in line
            and i + 1 < len(lines)
            and _TABLE_SEP.match(lines[i + 1])
            and "|" in lines[i + 1] + line.strip()[1:]
        ):
            header = _split_row(line)
            rows: list[list[str]] = []
            i += 2
            while i < len(lines) and "|" in lines[i] and lines[i].strip():
                rows.append(_split_row(lines[i]))
                i += 1
            blocks.append(_Table(header, rows))
            continue
        if (
            i + 1 < len(lines)
            and _SETEXT.match(lines[i + 1])
            and not _LIST_ITEM.match(line)
            and not _HR.match(line)
            and (
                lines[i + 1].startswith("=")
                or blocks
                and isinstance(blocks[-1], _Blank)
            )
        ):
            level = 1 if lines[i + 1].startswith("=") else 2
            blocks.append(_Heading(level, line.strip()))
            i += 2
            continue
        if _HR.match(line) or _HTML_ONLY.match(line):
            blocks.append(_Blank())
            i += 1
            continue
        bold = _BOLD_LINE.match(line)
        if bold and _ID_TITLE.match(_clean(bold.group(2))):
            blocks.append(_Heading(7, bold.group(2)))
            i += 1
            continue
        item = _LIST_ITEM.match(line)
        if item:
            indent = len(item.group(1).expandtabs(4))
            blocks.append(_Text(item.group(4), indent, item.group(3) or item.group(2)))
        else:
            blocks.append(_Text(line.strip(), len(line) - len(line.lstrip())))
        i += 1
    return blocks


# --- small text helpers ---------------------------------------------------


def _clean(text: str) -> str:
    """Return ``text`` without Markdown markup, links reduced to labels."""
    text = _LINK.sub(lambda m: m.group(1), text)
    text = _MARKUP.sub("", text)
    return re.sub(r"\s+", " ", text).strip()


def _strip_tags(title: str) -> str:
    """Return a title without severity or status tags around it."""

    def drop(match: re.Match[str]) -> str:
        inner = match.group(1)
        if severity_in_cell(inner) is not None or parse_status(inner) is not None:
            words = re.findall(r"[A-Za-z]+", inner)
            if len(words) <= 3:
                return ""
        return match.group(0)

    title = re.sub(r"\s*[\[(]([^\])]{1,40})[\])]\s*", lambda m: drop(m) or " ", title)
    title = re.sub(
        "[\U0001f534\U0001f7e0\U0001f7e1\U0001f7e2\U0001f535\U0001f7e5\U0001f7e7"
        "\U0001f7e8\U0001f7e9\u26aa\u2705\u2714\u2611\u274c\U0001f6a7\u26a0\ufe0f]",
        "",
        title,
    )
    title = re.sub(r"^\s*P[0-4]\s*[:\u2014\u2013-]\s*", "", title)
    title = re.sub(
        r"\s*[\u2014\u2013-]\s*(critical|high|medium|low|optional|required|"
        r"recommended)(\s+priority)?\s*$",
        "",
        title,
        flags=re.IGNORECASE,
    )
    return title.strip(" :.-\u2014\u2013|")


def _tokens(text: str) -> frozenset[str]:
    words: list[str] = []
    for word in re.findall(r"[a-z0-9_]+", _clean(text).lower()):
        parts = [p for p in word.split("_") if p]
        words.extend(parts)
        if len(parts) > 1:
            words.append("_".join(parts))
    return frozenset(_stem(w) for w in words if w not in _STOPWORDS and len(w) > 1)


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _title_key(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9_]+", _clean(text).lower()))


def _similarity(a: frozenset[str], b: frozenset[str]) -> tuple[float, int]:
    if not a or not b:
        return 0.0, 0
    shared = len(a & b)
    return shared / min(len(a), len(b)), shared


def _is_ref(text: str) -> bool:
    return bool(_ID_RE.match(text)) and not _NOT_IDS.match(text)


_CODE_SUFFIX = re.compile(
    r"\.(py|sql|js|ts|rb|go|java|md|txt|json|ya?ml|toml|cfg|ini|html|php|cs)$"
)
_DOTTED = re.compile(r"(?<![\w.])([a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*)(?![\w.(])")


def _object_from(text: str) -> str:
    for code in re.findall(r"`([^`]{1,80})`", text):
        if re.fullmatch(
            r"[A-Za-z_]\w*\.[A-Za-z_]\w*", code
        ) and not _CODE_SUFFIX.search(code):
            return str(code)
    for dotted in _DOTTED.findall(text):
        if "_" in dotted and not _CODE_SUFFIX.search(dotted):
            return str(dotted)
    return ""


# --- candidates -----------------------------------------------------------


@dataclass
class _Candidate:
    order: int
    source: str  # "section", "table" or "list"
    ref: str = ""
    strong: bool = False
    number: str = ""
    title: str = ""
    severity: Severity | None = None
    severity_rank: int = 0
    status: ItemStatus | None = None
    effort: str = ""
    location: Location = field(default_factory=Location)
    object: str = ""
    description: str = ""
    remediation: str = ""
    mentions: tuple[str, ...] = ()
    block: int = -1

    def offer_severity(self, severity: Severity | None, rank: int) -> None:
        if severity is None:
            return
        if rank > self.severity_rank or (
            rank == self.severity_rank
            and self.severity is not None
            and severity.rank > self.severity.rank
        ):
            self.severity, self.severity_rank = severity, rank


@dataclass
class _Context:
    level: int
    severity: Severity | None
    contents: bool


class _Reader:
    def __init__(self, blocks: list[_Block]) -> None:
        self.blocks = blocks
        self.candidates: list[_Candidate] = []
        self.grades: dict[str, str] = {}
        self.title = ""
        self.stack: list[_Context] = []
        self.table_count = 0

    # -- context --

    def context_severity(self) -> Severity | None:
        for ctx in reversed(self.stack):
            if ctx.severity is not None:
                return ctx.severity
        return None

    def in_contents(self) -> bool:
        return any(ctx.contents for ctx in self.stack)

    def push(self, level: int, severity: Severity | None, contents: bool) -> None:
        while self.stack and self.stack[-1].level >= level:
            self.stack.pop()
        self.stack.append(_Context(level, severity, contents))

    def add(self, candidate: _Candidate) -> None:
        candidate.order = len(self.candidates)
        if candidate.title:
            self.candidates.append(candidate)

    # -- walking --

    def read(self) -> None:
        i = 0
        while i < len(self.blocks):
            block = self.blocks[i]
            if isinstance(block, _Heading):
                i = self.heading(i, block)
                continue
            if isinstance(block, _Table):
                self.table(block)
            elif isinstance(block, _Text):
                self.grade_line(block.text)
                i = self.text(i, block)
                continue
            i += 1

    def section_end(self, start: int, level: int) -> int:
        j = start + 1
        while j < len(self.blocks):
            block = self.blocks[j]
            if isinstance(block, _Heading) and (
                block.level <= level or _ID_TITLE.match(_clean(block.text))
            ):
                break
            j += 1
        return j

    def heading(self, i: int, block: _Heading) -> int:
        text = _clean(block.text)
        if not self.title and block.level <= 2 and text:
            self.title = text
        ident = _ID_TITLE.match(text)
        while self.stack and self.stack[-1].level >= block.level:
            self.stack.pop()
        context = self.context_severity()
        if ident and _is_ref(ident.group(1)):
            end = self.section_end(i, block.level)
            self.push(block.level, context, False)
            self.section(ident.group(1), ident.group(2), self.blocks[i + 1 : end], True)
            return end
        bare = _SECTION_NUMBER.sub("", text)
        if _CONTENTS_HEADING.match(bare):
            self.push(block.level, None, True)
            return i + 1
        own = severity_tag(bare, heading=True)
        if own is not None and (self.is_group(bare) or _GROUP_HEAD.match(bare)):
            self.push(block.level, own, False)
            return i + 1
        end = self.section_end(i, block.level)
        body = self.blocks[i + 1 : end]
        tagged = severity_tag(bare)
        first_heading = next(
            (k for k, b in enumerate(body) if isinstance(b, _Heading)), len(body)
        )
        fields = self.fields(body[:first_heading])
        has_priority = any(role == "severity" for role, _ in fields)
        if (
            tagged is not None
            or has_priority
            or (context is not None and not self.in_contents() and block.level <= 6)
        ):
            self.push(block.level, context, False)
            number = _NUMBERED.match(text)
            title = number.group(2) if number else bare
            self.section("", title, body, False, tag=tagged)
            return end
        self.push(block.level, None, False)
        return i + 1

    @staticmethod
    def is_group(text: str) -> bool:
        words = [
            w
            for w in re.findall(r"[a-z]+", text.lower())
            if w not in _GROUP_WORDS
            and severity_in_cell(w) is None
            and not re.fullmatch(r"p[0-4]", w)
        ]
        return len(words) <= 2

    def fields(self, body: list[_Block]) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for block in body:
            if isinstance(block, _Text):
                found.extend(_fields_in(block.text))
        return found

    def section(
        self,
        ref: str,
        title: str,
        body: list[_Block],
        strong: bool,
        *,
        tag: Severity | None = None,
    ) -> None:
        cand = _Candidate(0, "section", ref=ref, strong=strong)
        raw_title = title
        cand.title = _strip_tags(_clean(title))
        cand.offer_severity(tag or severity_tag(_clean(raw_title)), _SEV_TAG)
        if ref:
            cand.offer_severity(severity_from_ref(ref), _SEV_REF)
        cand.offer_severity(self.context_severity(), _SEV_CONTEXT)
        cand.status = parse_status_tag(raw_title)
        cand.object = _object_from(raw_title)
        values: dict[str, list[str]] = {}
        prose: list[str] = []
        current = ""
        gap = 0
        for block in body:
            if isinstance(block, _Blank):
                gap += 1
                continue
            if isinstance(block, _Heading):
                name = _clean(block.text).lower().strip(" :")
                current = _FIELD_ROLES.get(name, "")
                gap = 0
                continue
            if isinstance(block, _Code):
                if current and gap <= 1:
                    values.setdefault(current, []).append(
                        "```\n" + block.text[:_MAX_FIELD] + "\n```"
                    )
                gap = 0
                continue
            if isinstance(block, _Table):
                current = ""
                continue
            found = _fields_in(block.text)
            if found:
                for role, value in found:
                    values.setdefault(role, []).append(value)
                current = found[-1][0]
            elif current and (gap == 0 or block.marker):
                values.setdefault(current, []).append(
                    ("- " if block.marker else "") + block.text
                )
            else:
                current = ""
                if len(prose) < 3 or gap == 0:
                    prose.append(block.text)
            gap = 0
        if prose and not values.get("description"):
            values["description"] = [_join(prose)]
        self.apply_fields(cand, values)
        self.add(cand)

    def apply_fields(self, cand: _Candidate, values: dict[str, list[str]]) -> None:
        for value in values.get("location", []):
            loc = parse_location(value)
            if loc.specificity > cand.location.specificity:
                cand.location = loc
        for value in values.get("severity", []):
            cand.offer_severity(severity_in_cell(value), _SEV_FIELD)
        risk_notes: list[str] = []
        for value in values.get("risk", []):
            found = severity_in_cell(value)
            if found is not None and len(_clean(value).split()) <= 3:
                cand.offer_severity(found, _SEV_FIELD)
            else:
                risk_notes.append(_clean(value))
        for value in values.get("status", []):
            status = parse_status(value)
            if status and (
                cand.status is None or STATUS_RANK[status] > STATUS_RANK[cand.status]
            ):
                cand.status = status
        if values.get("effort"):
            cand.effort = _clean(values["effort"][0])
        if values.get("object") and not cand.object:
            cand.object = _clean(values["object"][0])
        if values.get("remediation"):
            cand.remediation = _join(values["remediation"])
        description = _join(values.get("description", []))
        if risk_notes:
            note = "Impact: " + "; ".join(risk_notes)
            description = f"{description}\n\n{note}" if description else note
        if description:
            cand.description = description

    def text(self, i: int, block: _Text) -> int:
        if not block.marker or block.indent > 3 or self.in_contents():
            return i + 1
        text = block.text
        if re.fullmatch(r"\s*\[[^\]]*\]\(#[^)]*\)\s*", text):
            return i + 1
        cleaned = _clean(text)
        checkbox = re.match(r"^\[([ xX])\]\s+(.*)$", cleaned)
        if checkbox:
            cleaned = checkbox.group(2)
        ident = _ID_TITLE.match(cleaned)
        context = self.context_severity()
        tag = severity_tag(cleaned)
        strong = bool(ident and _is_ref(ident.group(1)))
        if not strong and tag is None and context is None:
            return i + 1
        cand = _Candidate(0, "list", strong=strong)
        if strong and ident:
            cand.ref = ident.group(1)
            cleaned = ident.group(2)
            cand.offer_severity(severity_from_ref(cand.ref), _SEV_REF)
        elif block.marker.isdigit():
            cand.number = block.marker
        headline, _, rest = _split_headline(text if not strong else cleaned)
        cand.title = _strip_tags(_clean(headline))
        cand.offer_severity(tag, _SEV_TAG)
        cand.offer_severity(context, _SEV_CONTEXT)
        cand.status = parse_status_tag(text)
        if checkbox:
            cand.status = "fixed" if checkbox.group(1).lower() == "x" else "open"
        cand.object = _object_from(text)
        values: dict[str, list[str]] = {}
        for role, value in _fields_in(rest):
            values.setdefault(role, []).append(value)
        details: list[str] = []
        if rest and not values:
            details.append(rest)
        j = i + 1
        while j < len(self.blocks):
            nxt = self.blocks[j]
            if not isinstance(nxt, _Text) or (
                nxt.marker and nxt.indent <= block.indent
            ):
                break
            found = _fields_in(nxt.text)
            for role, value in found:
                values.setdefault(role, []).append(value)
            if not found:
                details.append(nxt.text)
            j += 1
        if details and not values.get("description"):
            values["description"] = [_join(details)]
        self.apply_fields(cand, values)
        mentions = tuple(m for m in _REF_MENTION.findall(text) if _is_ref(m))
        cand.mentions = mentions
        effort = re.search(r"\(\s*(?:effort\s*:?\s*)?(~?\d[^)]{0,20})\)", text)
        if effort and not cand.effort and parse_effort(effort.group(1))[0] is not None:
            cand.effort = effort.group(1).strip()
        self.add(cand)
        return j

    def grade_line(self, text: str) -> None:
        match = _OVERALL_GRADE.search(text)
        if match and "overall" not in self.grades:
            self.grades["overall"] = match.group(1)
        match = _OVERALL_SCORE.search(text) or _ANY_SCORE.search(text)
        if match and "score" not in self.grades:
            self.grades["score"] = _score(match.group(1), match.group(2))

    # -- tables --

    def table(self, table: _Table) -> None:
        header = [_clean(h).lower().strip(" :") for h in table.header]
        if self.grade_table(header, table):
            return
        cols = _columns(header)
        if "title" not in cols or self.in_contents():
            return
        context = self.context_severity()
        rows = [row + [""] * (len(header) - len(row)) for row in table.rows]
        cands: list[_Candidate] = []
        self.table_count += 1
        for row in rows:
            cand = self.row(row, cols, context)
            if cand is not None:
                cand.block = self.table_count
                cands.append(cand)
        has_ref = any(c.strong for c in cands)
        has_sev = "severity" in cols and any(
            severity_in_cell(row[cols["severity"]]) for row in rows
        )
        has_status = "status" in cols and any(
            parse_status(row[cols["status"]]) for row in rows
        )
        has_signal = context is not None and (
            "effort" in cols or "number" in cols or "ref" in cols
        )
        if has_ref or has_sev or has_status or has_signal:
            for cand in cands:
                self.add(cand)

    def row(
        self, row: list[str], cols: dict[str, int], context: Severity | None
    ) -> _Candidate | None:
        def cell(role: str) -> str:
            return row[cols[role]] if role in cols else ""

        raw_title = cell("title")
        title = _strip_tags(_clean(raw_title))
        if not title or re.fullmatch(r"[-\u2014\u2013\s*_.]*|total|sum", title, re.I):
            return None
        cand = _Candidate(0, "table", title=title)
        ref = _clean(cell("ref"))
        if _is_ref(ref):
            cand.ref, cand.strong = ref, True
        else:
            number = _clean(cell("number") or ref)
            if number.isdigit():
                cand.number = number
        cand.offer_severity(severity_in_cell(cell("severity")), _SEV_FIELD)
        cand.offer_severity(severity_tag(_clean(raw_title)), _SEV_TAG)
        if cand.strong:
            cand.offer_severity(severity_from_ref(cand.ref), _SEV_REF)
        cand.offer_severity(context, _SEV_CONTEXT)
        cand.status = parse_status(cell("status")) or parse_status_tag(raw_title)
        if re.match(r"^\s*~~", raw_title) and cand.status is None:
            cand.status = "fixed"
        effort = _clean(cell("effort"))
        if parse_effort(effort)[0] is not None:
            cand.effort = effort
        cand.location = parse_location(cell("location"))
        if "remediation" in cols and cols["remediation"] != cols["title"]:
            cand.remediation = _clean(cell("remediation"))
        if "description" in cols and cols["description"] != cols["title"]:
            described = _clean(cell("description"))
            if severity_in_cell(described) is None or len(described.split()) > 3:
                cand.description = described
        cand.object = _clean(cell("object")) or _object_from(raw_title)
        cand.mentions = tuple(
            m for m in _REF_MENTION.findall(raw_title) if _is_ref(m) and m != cand.ref
        )
        return cand

    def grade_table(self, header: list[str], table: _Table) -> bool:
        grade_col = next(
            (i for i, h in enumerate(header) if any(g in h for g in _GRADE_COLUMNS)),
            None,
        )
        cols = _columns(header)
        if grade_col is None or grade_col == 0 or "ref" in cols or "severity" in cols:
            return False
        found = False
        for row in table.rows:
            if len(row) <= grade_col:
                continue
            label = _clean(row[0])
            value = _clean(row[grade_col])
            if not label or not _GRADE_VALUE.match(value):
                continue
            found = True
            if re.search(r"\boverall\b|\btotal\b", label, re.IGNORECASE):
                if re.match(r"^[A-F]", value):
                    self.grades.setdefault("overall", value)
                else:
                    number = re.match(r"[\d.]+", value)
                    if number:
                        rest = value[number.end() :]
                        scale = "100" if "100" in rest or "%" in rest else "10"
                        self.grades.setdefault("score", _score(number.group(0), scale))
            else:
                self.grades[label] = value
        return found


def parse_status_tag(text: str) -> ItemStatus | None:
    """Return a status marked in a title: an emoji, ``(FIXED)`` or strikethrough."""
    if re.search("[\u2705\u2714\u2611]", text) or re.match(r"^\s*~~", text):
        return "fixed"
    match = re.search(r"[\[(]\s*([A-Za-z' _-]{3,20})\s*[\])]", text)
    if match:
        return parse_status(match.group(1))
    return None


def _score(number: str, scale: str) -> str:
    value = float(number) / (10.0 if scale == "100" else 1.0)
    return f"{value:g}"


def _columns(header: list[str]) -> dict[str, int]:
    cols: dict[str, int] = {}
    used: set[int] = set()
    for role in ("ref", "number", "title", "severity", "location", "status", "effort"):
        for name in _COLUMN_NAMES[role]:
            idx = next(
                (i for i, h in enumerate(header) if h == name and i not in used), None
            )
            if idx is not None:
                cols[role] = idx
                used.add(idx)
                break
    for role in ("remediation", "description", "object"):
        for name in _COLUMN_NAMES[role]:
            idx = next(
                (i for i, h in enumerate(header) if h == name and i not in used), None
            )
            if idx is not None:
                cols[role] = idx
                used.add(idx)
                break
    return cols


def _fields_in(text: str) -> list[tuple[str, str]]:
    matches = list(_FIELD.finditer(text))
    found: list[tuple[str, str]] = []
    for k, match in enumerate(matches):
        role = _FIELD_ROLES.get(match.group(1).strip().lower())
        if role is None:
            continue
        end = matches[k + 1].start() if k + 1 < len(matches) else len(text)
        value = text[match.end() : end].strip().rstrip("|").strip()
        found.append((role, value[:_MAX_FIELD]))
    if not matches:
        plain = _PLAIN_FIELD.match(text)
        if plain:
            role = _FIELD_ROLES.get(plain.group(1).lower())
            if role:
                found.append((role, plain.group(2)[:_MAX_FIELD]))
    return found


def _split_headline(text: str) -> tuple[str, str, str]:
    """Split a list item into its headline and the rest after a separator."""
    bold = re.match(r"^\s*(?:\[[ xX]\]\s*)?(\*\*|__)(.+?)\1\s*:?\s*(.*)$", text)
    if bold:
        rest = bold.group(3).lstrip(":\u2014\u2013- ").strip()
        return bold.group(2), "", rest
    parts = re.split(r"\s+[\u2014\u2013]\s+|\s+-\s+|:\s+", text, maxsplit=1)
    if len(parts) == 2:
        return parts[0], "", parts[1]
    return text, "", ""


def _join(parts: list[str]) -> str:
    text = "\n".join(p for p in parts if p).strip()
    return text[: _MAX_FIELD * 2]


# --- merging --------------------------------------------------------------


def _merge(cands: list[_Candidate]) -> list[list[_Candidate]]:
    strong = [c for c in cands if c.strong]
    groups: dict[str, list[_Candidate]] = {}
    if strong:
        for cand in strong:
            groups.setdefault(cand.ref.upper(), []).append(cand)
        tokens = {
            key: frozenset().union(*(_tokens(c.title) for c in group))
            for key, group in groups.items()
        }
        for cand in cands:
            if cand.strong:
                continue
            known = [m.upper() for m in cand.mentions if m.upper() in groups]
            if len(set(known)) == 1:
                groups[known[0]].append(cand)
                continue
            target = _best_match(_tokens(cand.title), tokens, threshold=0.5)
            if target:
                groups[target].append(cand)
        return list(groups.values())
    ordered: list[list[_Candidate]] = []
    for cand in cands:
        own = _tokens(cand.title)
        key = _title_key(cand.title)
        home = None
        for group in ordered:
            # Two rows of one table are two findings, however alike.
            if cand.block >= 0 and any(o.block == cand.block for o in group):
                continue
            for other in group:
                ratio, shared = _similarity(own, _tokens(other.title))
                if _title_key(other.title) == key or (shared >= 3 and ratio >= 0.8):
                    home = group
                    break
            if home is not None:
                break
        if home is None:
            ordered.append([cand])
        else:
            home.append(cand)
    return ordered


def _best_match(
    own: frozenset[str], known: dict[str, frozenset[str]], *, threshold: float
) -> str:
    """Return the key of the finding ``own`` describes, or "" when unsure.

    The share of the finding's own words that ``own`` repeats decides, so a
    long action sentence matches the short finding it acts on.
    """
    scored = []
    for key, tokens in known.items():
        shared = len(own & tokens)
        ratio = shared / len(tokens) if tokens else 0.0
        if shared >= 2 and ratio >= threshold:
            scored.append((ratio, shared, key))
    if not scored:
        return ""
    scored.sort(reverse=True)
    if len(scored) > 1 and scored[0][0] - scored[1][0] < 0.15:
        return ""
    return scored[0][2]


def _item(group: list[_Candidate], warnings: list[str]) -> ReportItem:
    primary = [c for c in group if c.strong] or group
    first = primary[0]
    ref = first.ref or next((c.number for c in group if c.number), "")
    sections = [c for c in primary if c.source == "section"]
    title = (sections or primary)[0].title
    severity: Severity | None = None
    rank = -1
    for cand in primary:
        if cand.severity is None:
            continue
        if cand.severity_rank > rank or (
            cand.severity_rank == rank
            and severity is not None
            and cand.severity.rank > severity.rank
        ):
            severity, rank = cand.severity, cand.severity_rank
    if severity is None:
        severity = next((c.severity for c in group if c.severity), None)
    if severity is None:
        severity = Severity.MEDIUM
        warnings.append(
            f"{ref or title!r} states no severity; it was imported as medium."
        )
    status: ItemStatus = "open"
    for cand in primary:
        if cand.status and STATUS_RANK[cand.status] > STATUS_RANK[status]:
            status = cand.status
    location = max((c.location for c in primary), key=lambda loc: loc.specificity)
    if not location.file:
        location = max((c.location for c in group), key=lambda loc: loc.specificity)
    effort = next((c.effort for c in primary if c.effort), "") or next(
        (c.effort for c in group if c.effort), ""
    )
    minutes, bucket = parse_effort(effort) if effort else (None, None)
    description = next((c.description for c in sections if c.description), "") or max(
        (c.description for c in primary), key=len
    )
    remediation = next((c.remediation for c in sections if c.remediation), "") or next(
        (c.remediation for c in group if c.remediation), ""
    )
    obj = next((c.object for c in primary if c.object), "")
    titles = list(dict.fromkeys(c.title for c in primary))
    check, dimension = match_check(*titles)
    return ReportItem(
        ref=ref,
        title=title,
        severity=severity,
        status=status,
        effort=effort,
        effort_minutes=minutes,
        effort_bucket=bucket,
        file=location.file,
        line=location.line,
        object=obj,
        description=description,
        remediation=remediation,
        check=check,
        dimension=dimension,
        fingerprint=make_fingerprint(FINGERPRINT_KIND, ref, normalise(title)),
    )


def parse_markdown(text: str, *, filename: str = "") -> ParsedReport:
    """Return the findings, grades and title of a Markdown audit report."""
    warnings: list[str] = []
    reader = _Reader(_blocks(text))
    reader.read()
    items = tuple(_item(group, warnings) for group in _merge(reader.candidates))
    if not items:
        warnings.append(
            "No findings found: the document has no findings table, no sections "
            "headed 'ID: Title' and no prioritised recommendations (it may describe "
            "a system rather than audit it)."
        )
    title = reader.title or filename or "Imported report"
    return ParsedReport(
        kind="markdown",
        title=title,
        items=items,
        grades=reader.grades,
        warnings=tuple(warnings),
    )
