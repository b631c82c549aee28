from django import forms
from django.conf import settings

from audits.engine.reports.decode import human_size


class ReportUploadForm(forms.Form):
    """Upload one Markdown audit report or SARIF log to import.

    Size and emptiness are checked from the upload's metadata, before the
    file is read into memory; Django keeps large uploads on disk until then.
    """

    report = forms.FileField(
        label="Report file",
        help_text="A Markdown audit report or a SARIF 2.1.0 log.",
        error_messages={
            "required": "Choose a Markdown report or a SARIF file to import.",
            "empty": "The file is empty.",
            "invalid": "No file was received; choose the file again.",
        },
        widget=forms.ClearableFileInput(
            attrs={"accept": ".md,.markdown,.txt,.sarif,.json,text/markdown"}
        ),
    )

    def clean_report(self):
        upload = self.cleaned_data["report"]
        if upload.size > settings.IMPORT_MAX_BYTES:
            raise forms.ValidationError(self.too_large_message(upload.size))
        return upload

    @staticmethod
    def too_large_message(size: int) -> str:
        """Return the message for an upload of ``size`` bytes over the limit."""
        return (
            f"The file is {human_size(size)}, over the size limit of "
            f"{human_size(settings.IMPORT_MAX_BYTES)}; split it or ask an "
            "administrator to raise the limit."
        )

    def read(self) -> bytes:
        """Return the uploaded bytes of a valid form."""
        upload = self.cleaned_data["report"]
        upload.seek(0)
        return upload.read()
