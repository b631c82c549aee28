from collections import Counter
from dataclasses import dataclass, field

from django import forms
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Case, DateField, Value, When
from django.utils import timezone

from .filters import assignable_members
from .models import (
    NEEDS_REASON,
    SEVERITY_ORDER,
    TRANSITIONS,
    Finding,
    FindingEvent,
    Severity,
    TransitionError,
    check_transition,
)


class TriageForm(forms.Form):
    status = forms.ChoiceField(choices=Finding.Status.choices)
    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, finding=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.finding = finding
        if finding is not None:
            # Offer only the moves the lifecycle allows; any other status
            # still validates, and is refused with the rule's own message.
            allowed = TRANSITIONS[finding.status]
            self.fields["status"].widget.choices = [
                (value, label)
                for value, label in Finding.Status.choices
                if value in allowed
            ]

    def clean(self):
        data = super().clean()
        status, reason = data.get("status"), data.get("reason", "")
        if self.finding is not None and status:
            try:
                check_transition(self.finding.status, status, reason)
            except TransitionError as exc:
                raise forms.ValidationError(str(exc)) from exc
        elif status in NEEDS_REASON and not reason.strip():
            raise forms.ValidationError("This status needs a reason.")
        return data


class AssignForm(forms.Form):
    assignee = forms.ModelChoiceField(
        queryset=get_user_model().objects.none(), required=False, empty_label="Nobody"
    )

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = assignable_members(project)


class SeverityForm(forms.Form):
    severity = forms.ChoiceField(choices=Severity.choices)
    severity_reason = forms.CharField(
        label="Why", max_length=2000, widget=forms.TextInput()
    )

    def clean_severity_reason(self):
        reason = self.cleaned_data["severity_reason"].strip()
        if not reason:
            raise forms.ValidationError("Say why the severity changes.")
        return reason


class DueDateForm(forms.Form):
    due_date = forms.DateField(
        required=False,
        label="Due date",
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Left empty, the finding has no due date.",
    )
    due_reason = forms.CharField(label="Why", max_length=2000, widget=forms.TextInput())

    def clean_due_reason(self):
        reason = self.cleaned_data["due_reason"].strip()
        if not reason:
            raise forms.ValidationError("Say why the due date changes.")
        return reason


class CommentForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=10000)

    def clean_text(self):
        text = self.cleaned_data["text"].strip()
        if not text:
            raise forms.ValidationError("A comment cannot be empty.")
        return text


class IdListField(forms.Field):
    """A list of finding ids from repeated ``ids`` inputs (the row checkboxes)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value):
        if not value:
            return []
        try:
            return sorted({int(v) for v in value})
        except (TypeError, ValueError) as exc:
            raise forms.ValidationError("Finding ids must be numbers.") from exc


@dataclass
class BulkResult:
    """What a bulk action did: counts, refusals and a sentence for the user."""

    changed: int = 0
    skipped: int = 0
    reasons: Counter = field(default_factory=Counter)
    parts: list[str] = field(default_factory=list)

    @property
    def message(self) -> str:
        return " ".join(self.parts)


class BulkForm(forms.Form):
    """Assign and/or change the status of many findings at once.

    ``scope`` is ``selected`` (the ``ids`` ticked on the page) or
    ``matching`` (every finding the list's filter matches). The same
    transition rules as ``Finding.change_status`` apply to each finding;
    findings they refuse are skipped and counted, never half-changed.
    """

    ids = IdListField(required=False)
    scope = forms.ChoiceField(
        choices=[("selected", "Selected"), ("matching", "All matching")],
        required=False,
    )
    assignee = forms.ChoiceField(required=False)
    status = forms.ChoiceField(
        choices=[("", "Keep status"), *Finding.Status.choices], required=False
    )
    reason = forms.CharField(required=False, max_length=2000)
    severity = forms.ChoiceField(
        choices=[("", "Keep severity"), *Severity.choices], required=False
    )
    severity_reason = forms.CharField(required=False, max_length=2000)
    comment = forms.CharField(required=False, max_length=10000)

    # The actions the page offers; the API offers every one.
    PAGE_ACTIONS = ("assignee", "status")
    LABELS = {
        "assignee": "an assignee",
        "status": "a status",
        "severity": "a severity",
        "comment": "a comment",
    }

    def __init__(self, *args, members=(), actions=PAGE_ACTIONS, **kwargs):
        super().__init__(*args, **kwargs)
        self.actions = actions
        self.members = {u.pk: u for u in members}
        self.fields["assignee"].choices = [
            ("", "Keep assignee"),
            ("nobody", "Nobody"),
            *((str(u.pk), u.username) for u in members),
        ]

    def clean(self):
        data = super().clean()
        if not data.get("scope"):
            data["scope"] = "selected"
        if data["scope"] == "selected" and not data.get("ids"):
            raise forms.ValidationError(
                "Select at least one finding, or all matching findings."
            )
        if not any((data.get(name) or "").strip() for name in self.actions):
            *most, last = [self.LABELS[name] for name in self.actions]
            raise forms.ValidationError(f"Choose {', '.join(most)} or {last} to apply.")
        data["severity_reason"] = (data.get("severity_reason") or "").strip()
        if data.get("severity") and not data["severity_reason"]:
            # The rule of a single finding's severity edit.
            raise forms.ValidationError("Changing the severity needs a reason.")
        data["comment"] = (data.get("comment") or "").strip()
        status, reason = data.get("status"), data.get("reason", "").strip()
        if status in NEEDS_REASON and not reason:
            label = Finding.Status(status).label.lower()
            raise forms.ValidationError(
                f"Marking findings {label} needs a reason: say why in the reason box."
            )
        data["reason"] = reason
        return data

    @property
    def new_assignee(self):
        value = self.cleaned_data.get("assignee")
        return None if value == "nobody" else self.members[int(value)]

    def save(self, selection, *, project, by) -> BulkResult:
        """Apply the action to the findings of ``selection`` in one transaction.

        The query count does not depend on how many findings are selected
        (up to ``CHUNK`` of them): one locking read, one UPDATE per action,
        one INSERT of the events per action.
        """
        result = BulkResult()
        now = timezone.now()
        with transaction.atomic():
            rows = list(
                selection.select_for_update(of=("self",))
                .order_by("pk")
                .values_list("pk", "status", "severity", "assignee_id")
            )
            if not rows:
                result.parts.append("No findings were selected.")
                return result
            if self.cleaned_data.get("assignee"):
                self._assign(rows, result, now=now, by=by)
            if self.cleaned_data.get("status"):
                self._change_status(rows, result, project=project, now=now, by=by)
            if self.cleaned_data.get("severity"):
                self._override_severity(rows, result, project=project, now=now, by=by)
            if self.cleaned_data.get("comment"):
                self._comment(rows, result, now=now, by=by)
        return result

    def _override_severity(self, rows, result, *, project, now, by):
        """Set the severity by hand as ``Finding.override_severity`` does, for
        every row not already at it; unresolved rows without a due date get
        the new severity's."""
        new, reason = (
            self.cleaned_data["severity"],
            self.cleaned_data["severity_reason"],
        )
        changed = [r for r in rows if r[2] != new]
        for chunk in _chunks([r[0] for r in changed]):
            Finding.objects.filter(pk__in=chunk).update(
                severity=new, severity_overridden=True, updated_at=now
            )
        undated = Finding.objects.filter(
            pk__in=[r[0] for r in changed if r[1] in Finding.UNRESOLVED],
            due_date__isnull=True,
        ).only("pk", "first_seen_at")
        dated = []
        for finding in undated.iterator(chunk_size=CHUNK):
            finding.due_date = project.due_date(new, finding.first_seen_at)
            dated.append(finding)
        Finding.objects.bulk_update(dated, ["due_date"], batch_size=CHUNK)
        _record(
            changed,
            FindingEvent.Kind.SEVERITY,
            by=by,
            now=now,
            to_value=new,
            note=reason,
            from_value=lambda r: r[2],
        )
        text = f"{len(changed)} set to {Severity(new).label.lower()}"
        if len(changed) < len(rows):
            text += f", {len(rows) - len(changed)} already were"
        result.parts.append(text + ".")
        result.changed = max(result.changed, len(changed))

    def _comment(self, rows, result, *, now, by):
        _record(
            rows,
            FindingEvent.Kind.COMMENT,
            by=by,
            now=now,
            note=self.cleaned_data["comment"],
        )
        result.parts.append(f"{len(rows)} commented.")
        result.changed = max(result.changed, len(rows))

    def _assign(self, rows, result, *, now, by):
        user = self.new_assignee
        user_id = user.pk if user else None
        # Old assignees are the team's members (or former ones: their names
        # are looked up only when not already known).
        names = {pk: u.username for pk, u in self.members.items()}
        missing = {r[3] for r in rows if r[3] and r[3] not in names}
        if missing:
            names.update(
                get_user_model()
                .objects.filter(pk__in=missing)
                .values_list("pk", "username")
            )
        to_change = [r for r in rows if r[3] != user_id]
        for chunk in _chunks([r[0] for r in to_change]):
            Finding.objects.filter(pk__in=chunk).update(assignee=user, updated_at=now)
        _record(
            to_change,
            FindingEvent.Kind.ASSIGNED,
            by=by,
            now=now,
            to_value=user.username if user else "",
            from_value=lambda r: names.get(r[3], "") if r[3] else "",
        )
        who = user.username if user else "nobody"
        text = f"{len(to_change)} assigned to {who}"
        if len(to_change) < len(rows):
            text += f", {len(rows) - len(to_change)} already were"
        result.parts.append(text + ".")
        result.changed = max(result.changed, len(to_change))

    def _change_status(self, rows, result, *, project, now, by):
        new = self.cleaned_data["status"]
        reason = self.cleaned_data["reason"]
        changed, refusals = [], Counter()
        for row in rows:
            try:
                check_transition(row[1], new, reason)
            except TransitionError as exc:
                refusals[_lower_first(str(exc).rstrip("."))] += 1
            else:
                changed.append(row)
        values = {
            "status": new,
            "status_reason": reason if new in NEEDS_REASON else "",
            "updated_at": now,
        }
        if new == Finding.Status.OPEN:
            # Reopened findings get a fresh SLA clock, as change_status does.
            values["fixed_by_audit"] = None
            values["due_date"] = Case(
                *(
                    When(severity=sev, then=Value(project.due_date(sev, now)))
                    for sev in SEVERITY_ORDER
                ),
                default=Value(None),
                output_field=DateField(),
            )
        for chunk in _chunks([r[0] for r in changed]):
            Finding.objects.filter(pk__in=chunk).update(**values)
        _record(
            changed,
            FindingEvent.Kind.STATUS,
            by=by,
            now=now,
            to_value=new,
            note=reason,
            from_value=lambda r: r[1],
        )
        skipped = sum(refusals.values())
        text = f"{len(changed)} changed to {Finding.Status(new).label.lower()}"
        if skipped:
            why = "; ".join(
                f"{why} ({n})" if len(refusals) > 1 else why
                for why, n in refusals.most_common()
            )
            text += f", {skipped} skipped: {why}"
        result.parts.append(text + ".")
        result.changed = max(result.changed, len(changed))
        result.skipped = skipped
        result.reasons = refusals


# Ids per UPDATE ... WHERE id IN (...) and events per INSERT: well under
# every backend's parameter limit, and a bounded number of queries.
CHUNK = 5000


def _record(rows, kind, *, by, now, note="", to_value="", from_value=None):
    """Insert one history event of ``kind`` per row, in batches."""
    FindingEvent.objects.bulk_create(
        [
            FindingEvent(
                finding_id=r[0],
                kind=kind,
                actor=by,
                from_value=from_value(r) if from_value else "",
                to_value=to_value,
                note=note,
                created_at=now,
            )
            for r in rows
        ],
        batch_size=CHUNK,
    )


def _chunks(ids):
    for start in range(0, len(ids), CHUNK):
        yield ids[start : start + CHUNK]


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]
