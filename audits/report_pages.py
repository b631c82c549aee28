"""An audit's Markdown report as HTML pages, rendered once and kept.

A report imported with tens of thousands of findings is megabytes of
Markdown; rendering it on every view took seconds. The report is cut into
pages of about ``PAGE_LINES`` lines, at a heading or blank line where it
can be, never inside a code fence, and a table cut across pages repeats its
header. Each page is rendered (``findings.markdown``: no raw HTML, no image,
no off-site link) the first time it is asked for and stored; later views
read the stored HTML.
"""

from __future__ import annotations

import re

from django.db import IntegrityError, transaction

from findings.markdown import render_markdown

from .models import Audit, ReportPage

PAGE_LINES = 1500
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")


def split_report(text: str, page_lines: int = PAGE_LINES) -> list[str]:
    """Return ``text`` cut into Markdown pages of about ``page_lines`` lines."""
    lines = text.split("\n")
    pages: list[str] = []
    current: list[str] = []
    fence = ""
    table_head: list[str] = []
    for i, line in enumerate(lines):
        opened = _FENCE.match(line)
        if fence:
            if (
                opened
                and opened.group(1)[0] == fence[0]
                and len(opened.group(1)) >= len(fence)
            ):
                fence = ""
        elif opened:
            fence = opened.group(1)
        in_table = bool(table_head) and line.lstrip().startswith("|")
        if not in_table:
            table_head = []
        if (
            not fence
            and i + 1 < len(lines)
            and "|" in line
            and _TABLE_SEP.match(lines[i + 1])
        ):
            table_head = [line, lines[i + 1]]
        cut_here = (
            len(current) >= page_lines
            and not fence
            and (not line.strip() or line.startswith("#") or in_table)
        )
        if cut_here:
            pages.append("\n".join(current))
            current = list(table_head) if in_table else []
        current.append(line)
    if current or not pages:
        pages.append("\n".join(current))
    return pages


def page_count(audit: Audit) -> int:
    """Return how many pages the audit's report has (0 without a report).

    An audit read with its ``report_length`` annotated and its Markdown
    deferred costs no query once the count is stored.
    """
    if audit.report_pages:
        return audit.report_pages
    if not getattr(audit, "report_length", True) or not audit.report_markdown:
        return 0
    count = len(split_report(audit.report_markdown))
    Audit.objects.filter(pk=audit.pk).update(report_pages=count)
    audit.report_pages = count
    return count


def report_page(audit: Audit, number: int) -> str:
    """Return page ``number`` (from 1) of the report as HTML, rendering it once."""
    stored = (
        ReportPage.objects.filter(audit=audit, number=number)
        .values_list("html", flat=True)
        .first()
    )
    if stored is not None:
        return stored
    pages = split_report(audit.report_markdown)
    if not 1 <= number <= len(pages):
        return ""
    html = render_markdown(pages[number - 1])
    try:
        with transaction.atomic():
            ReportPage.objects.create(audit=audit, number=number, html=html)
    except IntegrityError:
        pass  # another request rendered it first: the same HTML
    return html
