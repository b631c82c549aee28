"""The findings list's filters; exports read the same query parameters.

Every filter lives in the query string, so a filtered list is a link: the
overview's priority matrix links to ``?severity=high&effort=minutes&
status=unresolved``, and the export links carry the list's parameters.
"""

from __future__ import annotations

import re

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, F, Func, Q, TextField, Value
from django.db.models.functions import Cast, StrIndex
from django.forms.models import ModelChoiceIterator

from .models import Dimension, Effort, Finding, Severity

# The status tab (a value in the URL) that lists open and in-progress
# findings together, Finding.UNRESOLVED; it is the default.
UNRESOLVED_TAB = "unresolved"
ALL = "all"
# The status tabs, in order.
STATUS_TABS = [
    (UNRESOLVED_TAB, "Unresolved"),
    *Finding.Status.choices,
    (ALL, "All"),
]
# Filters that narrow the list besides the status tab; the status counts
# are computed with these applied and the tab left out.
NON_STATUS_FILTERS = (
    "severity",
    "dimension",
    "check",
    "assignee",
    "target",
    "overdue",
    "effort",
    "q",
)


class _ListedChoiceIterator(ModelChoiceIterator):
    """Choices read with one plain query, not a server-side cursor.

    A model choice field iterates its queryset with ``.iterator()``, which on
    PostgreSQL declares a cursor: several round trips for a project's
    handful of targets on every list page.
    """

    def __iter__(self):
        if self.field.empty_label is not None:
            yield ("", self.field.empty_label)
        for obj in list(self.queryset):
            yield self.choice(obj)


class _TargetField(forms.ModelChoiceField):
    iterator = _ListedChoiceIterator


class _TargetFilter(django_filters.ModelChoiceFilter):
    field_class = _TargetField


class FindingFilter(django_filters.FilterSet):
    """Filter one project's findings from the list's query string."""

    status = django_filters.ChoiceFilter(
        choices=STATUS_TABS, method="filter_status", empty_label=None
    )
    severity = django_filters.ChoiceFilter(
        choices=Severity.choices, empty_label="Any severity"
    )
    dimension = django_filters.ChoiceFilter(
        choices=Dimension.choices, empty_label="Any dimension"
    )
    check = django_filters.CharFilter(
        field_name="check_id",
        label="Check",
        widget=forms.TextInput(
            attrs={"list": "check-ids", "placeholder": "Any check", "size": 16}
        ),
    )
    assignee = django_filters.ChoiceFilter(
        choices=[], method="filter_assignee", empty_label="Anyone"
    )
    target = _TargetFilter(queryset=None, empty_label="Any target")
    overdue = django_filters.BooleanFilter(
        method="filter_overdue",
        label="Overdue only",
        widget=forms.CheckboxInput(attrs={"value": "1"}),
    )
    effort = django_filters.ChoiceFilter(
        choices=Effort.choices, empty_label="Any effort"
    )
    q = django_filters.CharFilter(
        method="filter_text",
        label="Search",
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": "Title, object or file",
                "aria-label": "Search findings",
            }
        ),
    )

    class Meta:
        model = Finding
        fields: list[str] = []

    def __init__(self, data=None, *args, project, user, members=(), **kwargs):
        data = data.copy() if data is not None else {}
        if data.get("status") not in dict(STATUS_TABS):
            data["status"] = UNRESOLVED_TAB
        super().__init__(data, *args, queryset=project.findings.all(), **kwargs)
        self.project = project
        self.user = user
        self.filters["assignee"].extra["choices"] = [
            ("me", "Me"),
            ("nobody", "Nobody"),
            *((str(u.pk), u.username) for u in members),
        ]
        self.filters["target"].queryset = project.targets.all()
        self._index_parts: dict[str, str] = {}

    @property
    def status_tab(self) -> str:
        """Return the selected status tab (``unresolved`` when none is valid)."""
        self.form.is_valid()
        return self.form.cleaned_data.get("status") or UNRESOLVED_TAB

    def filter_status(self, queryset, name, value):
        if value == UNRESOLVED_TAB:
            return queryset.filter(status__in=Finding.UNRESOLVED)
        if value == ALL:
            return queryset
        return queryset.filter(status=value)

    def filter_assignee(self, queryset, name, value):
        if value == "me":
            # A project token acts for no user: nothing is assigned to it.
            if not self.user.is_authenticated:
                return queryset.none()
            return queryset.filter(assignee=self.user)
        if value == "nobody":
            return queryset.filter(assignee__isnull=True)
        return queryset.filter(assignee_id=value)

    def filter_overdue(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.overdue()

    def filter_text(self, queryset, name, value):
        term = value.strip().upper()
        if not term:
            return queryset
        # One expression over the three fields, as finding_search_trgm_idx
        # indexes it on PostgreSQL: a single trigram index scan.
        queryset = queryset.alias(search_text=search_text())
        part = self.index_part(term)
        if part == term:
            return queryset.filter(search_text__contains=term)
        # The index looks up the rare part; STRPOS, which no index serves,
        # keeps the findings that hold the whole term.
        return (
            queryset.filter(search_text__contains=part)
            .alias(term_at=StrIndex(search_text(), Value(term)))
            .filter(term_at__gt=0)
        )

    def index_part(self, term: str) -> str:
        """Return the part of a search term the trigram index should look up.

        A trigram shared by most findings ("TAB" of every ``table_...``) costs
        a read of a posting list as long as the table, while the rarest word
        of the term alone already narrows the findings to a few. Each word
        (with the characters around it, which bound it) is counted in the
        project's newest ``SEARCH_SAMPLE`` findings, one query; the rarest is
        looked up in the index and the whole term checked on those rows.
        Elsewhere than PostgreSQL, and for a one-word term, the term itself.
        """
        if term in self._index_parts:
            return self._index_parts[term]
        parts = search_parts(term)
        part = term
        if len(parts) > 1 and connection.vendor == "postgresql":
            sample = self.project.findings.order_by("-id")[:SEARCH_SAMPLE]
            counts = (
                Finding.objects.filter(pk__in=sample.values("pk"))
                .alias(search_text=search_text())
                .aggregate(
                    **{
                        f"p{i}": Count("pk", filter=Q(search_text__contains=p))
                        for i, p in enumerate(parts)
                    }
                )
            )
            part = min(parts, key=lambda p: (counts[f"p{parts.index(p)}"], -len(p)))
        self._index_parts[term] = part
        return part

    def without_status(self):
        """Return the findings matching every filter but the status tab."""
        # Like the filter set's own ``qs``, a value that does not validate
        # is ignored rather than emptying the list.
        self.form.is_valid()
        queryset = self.queryset
        for name in NON_STATUS_FILTERS:
            value = self.form.cleaned_data.get(name)
            if value in (None, "", [], ()):
                continue
            queryset = self.filters[name].filter(queryset, value)
        return queryset

    def active_filters(self) -> list[tuple[str, str]]:
        """Return (label, value) of every filter in use besides the status tab."""
        self.form.is_valid()
        chosen = []
        for name in NON_STATUS_FILTERS:
            value = self.form.cleaned_data.get(name)
            if value in (None, "", False):
                continue
            field = self.form.fields[name]
            if hasattr(field, "choices") and not hasattr(value, "pk"):
                value = dict(field.choices).get(value, value)
            chosen.append((str(field.label or name).capitalize(), str(value)))
        return chosen


class SearchText(Func):
    """``UPPER(title || ' ' || object || ' ' || file)``: what the text search reads.

    Migration 0006 creates the trigram GIN index ``finding_search_trgm_idx``
    on exactly this expression (PostgreSQL), so a search is one index scan
    whatever field the text is in.
    """

    template = "UPPER(%(expressions)s)"
    arg_joiner = " || ' ' || "
    output_field = TextField()


# How many of a project's newest findings a search samples to find the
# rarest word of its term (FindingFilter.index_part).
SEARCH_SAMPLE = 500
# A word as the trigram index splits text: letters and digits.
_WORD = re.compile(r"[^\W_]+")


def search_parts(term: str) -> list[str]:
    """Return each word of ``term`` with the character either side of it.

    The characters around a word make the index read it as a whole word
    (``_42.`` is the word 42, not any number holding 42). Words too short to
    give the index a trigram of their own are left out.
    """
    parts = []
    for word in _WORD.finditer(term):
        start, end = max(word.start() - 1, 0), min(word.end() + 1, len(term))
        bounded = start < word.start() and end > word.end()
        if len(word.group()) >= 3 or (len(word.group()) == 2 and bounded):
            parts.append(term[start:end])
    return list(dict.fromkeys(parts))


def search_text():
    return SearchText(
        *(Cast(name, TextField()) for name in ("title", "object", "file"))
    )


def team_members(project):
    """Return the members of the project's team, by username, with their role."""
    return (
        get_user_model()
        .objects.filter(memberships__team_id=project.team_id)
        .annotate(team_role=F("memberships__role"))
        .order_by("username")
        .only("pk", "username")
    )


def assignable_members(project):
    """Return the members of the project's team who may change findings.

    Viewers are left out: a finding assigned to them could not be moved by
    its assignee.
    """
    from projects.models import Membership

    return (
        get_user_model()
        .objects.filter(
            memberships__team_id=project.team_id,
            memberships__role__in=Membership.WRITER_ROLES,
        )
        .order_by("username")
        .only("pk", "username")
    )


def can_be_assigned(user) -> bool:
    """Return whether a user from ``team_members`` may be assigned findings."""
    from projects.models import Membership

    return getattr(user, "team_role", None) in Membership.WRITER_ROLES
