"""Walk a report's blocks and collect every place that states a finding."""

from __future__ import annotations

import re
from dataclasses import dataclass

from audits.engine.issues import Severity
from audits.engine.reports.values import (
    Location,
    parse_effort,
    parse_location,
    severity_from_ref,
    severity_in_cell,
    severity_tag,
)

from .blocks import Blank, Block, Code, Heading, Table, Text
from .candidate import (
    SEV_CONTEXT,
    SEV_REF,
    SEV_TAG,
    Candidate,
    apply_fields,
)
from .tables import TableReader, grade_line, grade_table, status_of
from .text import (
    FIELD_ROLES,
    ID_TITLE,
    MAX_FIELD,
    NUMBERED,
    NUMBERED_TITLE,
    SECTION_NUMBER,
    clean,
    drop_checkbox,
    fields_in,
    heading_area,
    is_ref,
    is_status_heading,
    is_test_title,
    join,
    mentions,
    object_from,
    retracts,
    split_headline,
    strip_tags,
    struck,
    unstrike,
    xrefs,
)

# "Priority 2 - Improve soon" and "High priority: ..." head a group of
# findings however many words follow; a bare "P0 - ..." heads one finding.
_GROUP_HEAD = re.compile(
    r"^\W*(?:priority\s*#?\d|(?:critical|high|medium|low|info)\s+priority)\b",
    re.IGNORECASE,
)
_GROUP_WORDS = frozenset(
    re.findall(
        r"\w+",
        """priority severity findings finding issues issue items item risks risk
        recommendations recommendation actions action fix fixes now problems
        problem level immediate soon later tasks and the of to do must should
        could severity проблемы замечания befunde probleme hallazgos
        problemas constatations problèmes 问题""",
    )
)


@dataclass
class _Context:
    level: int
    severity: Severity | None
    area: str


class Reader:
    """Collect candidates, grades and the title from a report's blocks."""

    def __init__(self, blocks: list[Block]) -> None:
        self.blocks = blocks
        self.candidates: list[Candidate] = []
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

    def area(self) -> str:
        return self.stack[-1].area if self.stack else ""

    def push(self, level: int, severity: Severity | None, area: str) -> None:
        while self.stack and self.stack[-1].level >= level:
            self.stack.pop()
        self.stack.append(_Context(level, severity, area))

    def add(self, cand: Candidate) -> None:
        cand.order = len(self.candidates)
        if cand.title:
            self.candidates.append(cand)

    # -- walking --

    def read(self) -> None:
        i = 0
        in_list = False
        while i < len(self.blocks):
            block = self.blocks[i]
            listed = isinstance(block, Text) and bool(block.marker)
            if listed and not in_list:
                self.table_count += 1  # a new list: its items are siblings
            if not isinstance(block, Blank):
                in_list = listed
            if isinstance(block, Heading):
                i = self.heading(i, block)
                continue
            if isinstance(block, Table):
                self.table(block)
            elif isinstance(block, Text):
                grade_line(block.text, self.grades)
                i = self.text(i, block)
                continue
            i += 1

    def section_end(self, start: int, level: int) -> int:
        j = start + 1
        while j < len(self.blocks):
            block = self.blocks[j]
            if isinstance(block, Heading) and (
                block.level <= level or ID_TITLE.match(clean(block.text))
            ):
                break
            j += 1
        return j

    def end_line(self, end: int) -> int:
        for k in range(end - 1, -1, -1):
            if not isinstance(self.blocks[k], Blank):
                return self.blocks[k].line
        return 0

    def heading(self, i: int, block: Heading) -> int:
        text = clean(block.text)
        if not self.title and block.level <= 2 and text:
            self.title = text
        while self.stack and self.stack[-1].level >= block.level:
            self.stack.pop()
        area = heading_area(text) or self.area()
        ident = ID_TITLE.match(text)
        if ident and is_ref(ident.group(1)):
            end = self.section_end(i, block.level)
            self.push(block.level, self.context_severity(), area)
            lead = severity_tag(text[: ident.start(1)])
            self.section(i, end, ident.group(2), ref=ident.group(1), tag=lead)
            return end
        bare = SECTION_NUMBER.sub("", text)
        if area == "none" or is_test_title(bare) or is_status_heading(bare):
            return self.skipped_heading(i, block, bare, area)
        own = severity_tag(bare, heading=True)
        if own is not None and (self.is_group(bare) or _GROUP_HEAD.match(bare)):
            self.push(block.level, own, area)
            return i + 1
        return self.maybe_section(i, block, bare, area)

    def skipped_heading(self, i: int, block: Heading, bare: str, area: str) -> int:
        end = self.section_end(i, block.level)
        self.push(block.level, None, "none")
        if area != "none" and (severity_tag(bare) or self.has_severity_field(i, end)):
            title = strip_tags(bare)
            cand = Candidate("section", block.line, self.end_line(end), title=title)
            cand.skip = (
                "its heading names a test scenario"
                if is_test_title(bare)
                else "its heading carries an all-good mark"
            )
            self.add(cand)
        return i + 1

    def has_severity_field(self, i: int, end: int) -> bool:
        return any(role == "severity" for role, _ in self.fields(i + 1, end))

    def has_location_field(self, i: int, end: int) -> bool:
        return any(role == "location" for role, _ in self.fields(i + 1, end))

    def maybe_section(self, i: int, block: Heading, bare: str, area: str) -> int:
        context = self.context_severity()
        end = self.section_end(i, block.level)
        numbered = NUMBERED_TITLE.match(bare)
        plain = NUMBERED.match(clean(block.text))
        tagged = severity_tag(bare)
        if (
            numbered
            or tagged is not None
            or self.has_severity_field(i, end)
            or (context is not None and block.level <= 6)
            # A recommendation that says where to act details a finding.
            or (
                area == "restates"
                and not heading_area(bare)
                and (plain or self.has_location_field(i, end))
            )
        ):
            self.push(block.level, context, area)
            if numbered:
                self.section(i, end, numbered.group(2), number=numbered.group(1))
            else:
                title = plain.group(2) if plain else bare
                number = plain.group(1) if plain else ""
                self.section(i, end, title, tag=tagged, number=number)
            return end
        self.push(block.level, None, area)
        return i + 1

    @staticmethod
    def is_group(text: str) -> bool:
        words = [
            w
            for w in re.findall(r"[^\W\d_]+", text.lower())
            if w not in _GROUP_WORDS
            and severity_in_cell(w) is None
            and not re.fullmatch(r"p[0-4]", w)
        ]
        return len(words) <= 2

    def fields(self, start: int, end: int) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        for block in self.blocks[start:end]:
            if isinstance(block, Heading):
                break
            if isinstance(block, Text):
                found.extend(fields_in(block.text))
        return found

    # -- sections --

    def section(
        self,
        i: int,
        end: int,
        title: str,
        *,
        ref: str = "",
        number: str = "",
        tag: Severity | None = None,
    ) -> None:
        head = self.blocks[i]
        cand = Candidate("section", head.line, self.end_line(end), self.area())
        cand.ref, cand.strong, cand.number = ref, bool(ref), number
        cand.title = strip_tags(clean(unstrike(title)))
        cand.offer_severity(tag or severity_tag(clean(title)), SEV_TAG)
        if ref:
            cand.offer_severity(severity_from_ref(ref), SEV_REF)
        cand.offer_severity(self.context_severity(), SEV_CONTEXT)
        cand.offer_status(status_of(title))
        if struck(title) and cand.status is None:
            cand.status, cand.status_note = "fixed", "struck through"
        cand.object = object_from(title)
        values, prose = _section_values(self.blocks[i + 1 : end])
        if prose and not values.get("description"):
            values["description"] = [join(prose)]
        apply_fields(cand, values)
        if retracts(cand.title):
            cand.skip = cand.skip or "its title takes the finding back"
        if self.area() == "none":
            cand.skip = cand.skip or "it sits under a heading that lists no problems"
        self.add(cand)

    # -- list items --

    def text(self, i: int, block: Text) -> int:
        if not block.marker or block.indent > 3 or self.area() == "none":
            return i + 1
        raw = block.text
        if re.fullmatch(r"\s*\[[^\]]*\]\(#[^)]*\)\s*", raw):
            return i + 1
        body, box = drop_checkbox(raw)
        is_struck = struck(body)
        body = unstrike(body)
        cleaned = clean(body)
        ident = ID_TITLE.match(cleaned)
        strong = bool(ident and is_ref(ident.group(1)))
        label, headline, rest = split_headline(
            ident.group(2) if strong and ident else body
        )
        tag = severity_in_cell(label) if label else severity_tag(cleaned)
        context = self.context_severity()
        refs = mentions(cleaned) + xrefs(cleaned)
        restates = self.area() == "restates"
        if not strong and tag is None and context is None and not (restates and refs):
            return i + 1
        cand = Candidate("list", block.line, block.line, self.area(), strong=strong)
        cand.block = self.table_count
        if strong and ident:
            cand.ref = ident.group(1)
            cand.offer_severity(severity_from_ref(cand.ref), SEV_REF)
        elif block.marker.isdigit():
            cand.number = block.marker
        cand.title = strip_tags(clean(headline))
        cand.offer_severity(tag, SEV_TAG)
        cand.offer_severity(context, SEV_CONTEXT)
        cand.offer_status(status_of(body))
        if box:
            cand.offer_status("fixed" if box == "x" else "open")
        if is_struck and cand.status is None:
            cand.status, cand.status_note = "fixed", "struck through"
        cand.object = object_from(body)
        j = self.list_details(i, block, cand, rest)
        if not cand.location.file:
            cand.location = _quoted_location(body)
        cand.mentions = mentions(cleaned, cand.ref)
        cand.xrefs = xrefs(cleaned)
        effort = re.search(r"\(\s*(?:effort\s*:?\s*)?(~?\d[^)]{0,20})\)", body)
        if effort and not cand.effort and parse_effort(effort.group(1))[0] is not None:
            cand.effort = effort.group(1).strip()
        if retracts(headline) or retracts(rest[:200]):
            cand.skip = "it takes itself back"
        self.add(cand)
        return j

    def list_details(self, i: int, block: Text, cand: Candidate, rest: str) -> int:
        values: dict[str, list[str]] = {}
        for role, value in fields_in(rest):
            values.setdefault(role, []).append(value)
        details: list[str] = [rest] if rest and not values else []
        j = i + 1
        while j < len(self.blocks):
            nxt = self.blocks[j]
            if not isinstance(nxt, Text) or (nxt.marker and nxt.indent <= block.indent):
                break
            found = fields_in(nxt.text)
            for role, value in found:
                values.setdefault(role, []).append(value)
            if not found:
                details.append(nxt.text)
            cand.end = nxt.line
            j += 1
        if details and not values.get("description"):
            values["description"] = [join(details)]
        apply_fields(cand, values)
        return j

    # -- tables and grades --

    def table(self, table: Table) -> None:
        if grade_table(table, self.grades):
            return
        reader = TableReader(table, self.context_severity(), self.area())
        if not reader.is_findings():
            return
        self.table_count += 1
        for cand in reader.candidates(self.table_count):
            if self.area() == "none":
                cand.skip = (
                    cand.skip or "it sits under a heading that lists no problems"
                )
            self.add(cand)


def _quoted_location(text: str) -> Location:
    """Return a path with a folder or line that a list item quotes in code."""
    for quoted in re.findall(r"`([^`]{1,200})`", text):
        found = parse_location(quoted)
        if found.file and ("/" in found.file or found.line is not None):
            return found
    return Location()


def _section_values(body: list[Block]) -> tuple[dict[str, list[str]], list[str]]:
    """Return the labelled fields and the leading prose of a section body."""
    values: dict[str, list[str]] = {}
    prose: list[str] = []
    current = ""
    gap = 0
    for block in body:
        if isinstance(block, Blank):
            gap += 1
            continue
        if isinstance(block, Heading):
            current = FIELD_ROLES.get(clean(block.text).lower().strip(" :"), "")
        elif isinstance(block, Code):
            if current and gap <= 1:
                values.setdefault(current, []).append(
                    "```\n" + block.text[:MAX_FIELD] + "\n```"
                )
        elif isinstance(block, Table):
            current = ""
        else:
            current = _section_line(block, values, prose, current, gap)
        gap = 0
    return values, prose


def _section_line(
    block: Text, values: dict[str, list[str]], prose: list[str], current: str, gap: int
) -> str:
    found = fields_in(block.text)
    if found:
        for role, value in found:
            values.setdefault(role, []).append(value)
        return found[-1][0]
    if current and (gap == 0 or block.marker):
        values.setdefault(current, []).append(
            ("- " if block.marker else "") + block.text
        )
        return current
    if len(prose) < 3 or gap == 0:
        prose.append(block.text)
    return ""
