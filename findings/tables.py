"""The findings table: columns, sorting and the severity order."""

from __future__ import annotations

import django_tables2 as tables
from django.db.models import Case, IntegerField, Value, When

from .models import SEVERITY_ORDER, Finding


def severity_rank():
    """Return an expression ranking severities worst first (critical = 0)."""
    return Case(
        *(When(severity=s, then=Value(i)) for i, s in enumerate(SEVERITY_ORDER)),
        default=Value(len(SEVERITY_ORDER)),
        output_field=IntegerField(),
    )


EFFORT_ORDER = ["minutes", "hours", "days"]


def effort_rank():
    """Return an expression ranking efforts quickest first (unknown last)."""
    return Case(
        *(When(effort=e, then=Value(i)) for i, e in enumerate(EFFORT_ORDER)),
        default=Value(len(EFFORT_ORDER)),
        output_field=IntegerField(),
    )


class FindingTable(tables.Table):
    """One project's findings, worst first; rows carry a bulk-select box.

    The columns define the headers, sorting and the accessible cell
    templates; the page writes each row out with ``inline_row_template``,
    which is several times faster than rendering cell by cell.
    """

    inline_row_template = "findings/partials/finding_row.html"

    select = tables.CheckBoxColumn(
        accessor="pk",
        orderable=False,
        attrs={
            "th__input": {
                "id": "select-page",
                "aria-label": "Select every finding on this page",
            },
            "td__input": {
                "name": "ids",
                "form": "bulk-form",
                "class": "row-select",
                "aria-label": "Select this finding",
            },
            "th": {"class": "col-select"},
            "td": {"class": "col-select"},
        },
    )
    severity = tables.TemplateColumn(
        template_name="findings/partials/severity_cell.html",
        order_by=("sev_rank", "-id"),
    )
    title = tables.TemplateColumn(
        template_name="findings/partials/title_cell.html",
        verbose_name="Finding",
        order_by=("title", "-id"),
    )
    status = tables.TemplateColumn(
        template_name="findings/partials/status_cell.html",
        order_by=("status", "-id"),
    )
    assignee = tables.Column(
        accessor="assignee__username",
        verbose_name="Assignee",
        default="–",
        order_by=("assignee__username", "-id"),
        attrs={"th": {"class": "hide-sm"}, "td": {"class": "hide-sm"}},
    )
    due_date = tables.TemplateColumn(
        template_name="findings/partials/due_cell.html",
        verbose_name="Due",
        order_by=("due_date", "-id"),
        attrs={"th": {"class": "hide-sm"}, "td": {"class": "hide-sm"}},
    )
    effort = tables.Column(
        default="–",
        order_by=("effort", "-id"),
        attrs={"th": {"class": "hide-md"}, "td": {"class": "hide-md"}},
    )
    first_seen_at = tables.TemplateColumn(
        template_code='<span title="{{ value|date:"Y-m-d H:i" }}">'
        '{{ value|date:"Y-m-d" }}</span>',
        verbose_name="Found",
        order_by=("id",),
        attrs={"th": {"class": "hide-md"}, "td": {"class": "hide-md"}},
    )

    class Meta:
        model = Finding
        fields = ()
        sequence = (
            "select",
            "severity",
            "title",
            "status",
            "assignee",
            "due_date",
            "effort",
            "first_seen_at",
        )
        order_by = ("severity",)
        empty_text = "No findings match."
        attrs = {"class": "findings-table"}
        row_attrs = {
            "id": lambda record: f"finding-{record.pk}",
            "class": lambda record: "overdue" if record.is_overdue else "",
        }

    def render_effort(self, value, record):
        return record.get_effort_display()
