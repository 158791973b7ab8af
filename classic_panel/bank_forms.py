"""Forms of the classic panel's cash-application pages."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from billing.statements import MAX_STATEMENT_BYTES
from panelkit.confirm import KEY_PATTERN

EXPIRED = _("This form has expired; reload the page and try again.")


class StatementUploadForm(forms.Form):
    statement = forms.FileField(
        label=_("Statement file"),
        help_text=_("camt.053 or camt.054 (XML), BAI2, MT940 or CSV."),
    )

    def clean_statement(self):
        upload = self.cleaned_data["statement"]
        if upload.size > MAX_STATEMENT_BYTES:
            raise forms.ValidationError(
                _("The file is larger than %(mb)d MB; split it and try again."),
                code="too_large",
                params={"mb": MAX_STATEMENT_BYTES // (1024 * 1024)},
            )
        return upload


class LineActionForm(forms.Form):
    """Assign a queued line to a reseller, or return it: always with a reason."""

    reason = forms.CharField(
        label=_("Reason"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Kept in the audit trail."),
    )
    idempotency_key = forms.RegexField(
        regex=KEY_PATTERN,
        widget=forms.HiddenInput,
        max_length=32,
        error_messages={"invalid": EXPIRED, "required": EXPIRED},
    )
