from django import forms
from django.contrib.auth import get_user_model

from .models import NEEDS_REASON, Finding, TransitionError, check_transition


class TriageForm(forms.Form):
    status = forms.ChoiceField(choices=Finding.Status.choices)
    reason = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, finding=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.finding = finding

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
        self.fields["assignee"].queryset = (
            get_user_model()
            .objects.filter(memberships__team_id=project.team_id)
            .order_by("username")
        )


class CommentForm(forms.Form):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=10000)

    def clean_text(self):
        text = self.cleaned_data["text"].strip()
        if not text:
            raise forms.ValidationError("A comment cannot be empty.")
        return text
