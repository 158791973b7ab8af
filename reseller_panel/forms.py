"""Forms of the reseller panel: they parse input and change nothing."""

from __future__ import annotations

import re

from django import forms
from django.core.validators import RegexValidator
from django.utils.translation import gettext_lazy as _

from billing.models import Payment
from billing.payment_plan import MAX_DOCUMENTS_PER_PAYMENT
from panelkit.fields import IdListField

NOT_A_SELECTION = _("Select documents from the list of unpaid documents.")


class DocumentIdsField(IdListField):
    """The ``document`` values of a selection: distinct positive integers."""

    default_error_messages = {
        "required": _("Select at least one document to pay."),
        "invalid": NOT_A_SELECTION,
        "too_many": _("Pay at most %(n)d documents at once."),
    }

    def __init__(self, **kwargs):
        super().__init__(max_count=MAX_DOCUMENTS_PER_PAYMENT, **kwargs)


class SelectionForm(forms.Form):
    """The Pay page's query string: which documents, and whether to use credit."""

    document = DocumentIdsField()
    use_credit = forms.BooleanField(required=False)


hex_key = RegexValidator(r"^[0-9a-f]{32}$", _("This payment form has expired."))
hex_fingerprint = RegexValidator(r"^[0-9a-f]{64}$", _("This payment form has expired."))
CARD_DIGITS = re.compile(r"^\d{12,19}$")


class ConfirmPaymentForm(SelectionForm):
    """The confirmed payment: the previewed plan's fingerprint and a one-time key."""

    fingerprint = forms.CharField(
        widget=forms.HiddenInput, max_length=64, validators=[hex_fingerprint]
    )
    idempotency_key = forms.CharField(
        widget=forms.HiddenInput, max_length=32, validators=[hex_key]
    )
    payment_method = forms.ChoiceField(
        label=_("Pay the rest by"),
        choices=Payment.Method.choices,
        widget=forms.RadioSelect,
        error_messages={
            "required": _("Choose a payment method: card or bank transfer.")
        },
    )
    card_number = forms.CharField(
        label=_("Card number"),
        required=False,
        max_length=23,
        widget=forms.TextInput(
            attrs={"autocomplete": "cc-number", "inputmode": "numeric"}
        ),
    )

    def clean(self):
        data = super().clean()
        card = "".join((data.get("card_number") or "").split())
        if data.get("payment_method") != Payment.Method.CARD:
            card = ""
        elif card and not CARD_DIGITS.match(card):
            self.add_error("card_number", _("Enter the card number: 12 to 19 digits."))
        data["card_number"] = card
        return data
