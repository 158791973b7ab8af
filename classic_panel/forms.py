"""Forms of the classic panel: they parse and check input, never write.

Ids and amounts are :mod:`panelkit.fields`: an amount is typed by the active
language's rules and shows the very message the ledger would give (too many
decimals, not positive, too large). A form built with ``reviewed=True`` reads
the canonical values a review page carries in hidden fields. The services
check everything again under the reseller's lock.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from billing.exceptions import AmountExceedsOpen, ReasonRequired
from billing.models import Document, Reseller
from billing.money import format_money, quantize
from billing.selectors import marketplaces_for_staff, open_credits, unpaid_documents
from classic_panel.access import is_classic_staff
from panelkit.fields import AmountField, IdChoiceField, parse_id

# The link form lists at most this many open documents per side (oldest
# first); a document chosen from its detail page is always listed.
CHOICES_LIMIT = 200


class StaffAuthenticationForm(AuthenticationForm):
    """Sign-in that only lets classic-panel staff in."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "not_staff": _("This account has no access to the classic panel."),
    }

    def confirm_login_allowed(self, user) -> None:
        super().confirm_login_allowed(user)
        if not is_classic_staff(user):
            raise forms.ValidationError(
                self.error_messages["not_staff"], code="not_staff"
            )


class ResellerSearchForm(forms.Form):
    """Find a reseller by name or id, within the staff user's marketplaces."""

    q = forms.CharField(label=_("Name or id"), required=False, max_length=200)
    marketplace = forms.ModelChoiceField(
        label=_("Marketplace"),
        required=False,
        queryset=None,
        empty_label=_("All marketplaces"),
    )

    def __init__(self, data=None, *, user, **kwargs):
        super().__init__(data, **kwargs)
        self.fields["marketplace"].queryset = marketplaces_for_staff(user)

    def filter(self, queryset: QuerySet[Reseller]) -> QuerySet[Reseller]:
        """Return ``queryset`` narrowed by the valid criteria, by name."""
        queryset = queryset.order_by("name", "id")
        if not self.is_bound or not self.is_valid():
            return queryset
        text = self.cleaned_data["q"].strip()
        if text:
            condition = Q(name__icontains=text)
            if (number := parse_id(text)) is not None:
                condition |= Q(pk=number)
            queryset = queryset.filter(condition)
        if self.cleaned_data["marketplace"]:
            queryset = queryset.filter(marketplace=self.cleaned_data["marketplace"])
        return queryset


class ReasonForm(forms.Form):
    """The reason every ledger change needs; it goes to the audit trail."""

    reason = forms.CharField(
        label=_("Reason"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": ReasonRequired.message},
        help_text=_("Kept in the audit trail with your name."),
    )


class _DocumentChoiceField(IdChoiceField):
    def __init__(self, *args, currency: str = "USD", **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency

    def label_from_instance(self, document: Document) -> str:
        return _("%(number)s · %(kind)s · %(open)s open of %(total)s") % {
            "number": document.number,
            "kind": document.get_kind_display(),
            "open": format_money(document.open_amount, self.currency),
            "total": format_money(document.total, self.currency),
        }


class LinkForm(ReasonForm):
    """Apply an open credit of the reseller to one of its open debit documents.

    Only the reseller's open documents are valid choices, so a document of
    another reseller (posted by id) is refused like a closed one. An empty
    amount means the most possible: the smaller of the two open amounts.
    """

    credit = _DocumentChoiceField(
        label=_("Credit (payment or credit memo)"), queryset=Document.objects.none()
    )
    debit = _DocumentChoiceField(
        label=_("Debit document (invoice or debit memo)"),
        queryset=Document.objects.none(),
    )
    amount = AmountField(
        label=_("Amount"),
        required=False,
        help_text=_("Up to both open amounts. Empty: the most possible."),
    )
    field_order = ["credit", "debit", "amount", "reason"]

    def __init__(
        self, data=None, *, reseller: Reseller, reviewed: bool = False, **kwargs
    ):
        super().__init__(data, **kwargs)
        self.reseller = reseller
        self.fields["amount"].currency = reseller.currency
        self.fields["amount"].canonical = reviewed
        for name, queryset in (
            ("credit", open_credits(reseller)),
            ("debit", unpaid_documents(reseller)),
        ):
            field = self.fields[name]
            field.queryset = queryset
            field.currency = reseller.currency

    def limit_choices(self) -> None:
        """List only the oldest open documents (plus any chosen), for display."""
        for name in ("credit", "debit"):
            field = self.fields[name]
            documents = list(field.queryset[: CHOICES_LIMIT + 1])
            if len(documents) > CHOICES_LIMIT:
                documents = documents[:CHOICES_LIMIT]
                # The bound field keeps its own copy of the help text.
                self[name].help_text = _(
                    "Only the %(limit)d oldest are listed. For another one, open "
                    "it under Documents and choose “Apply”."
                ) % {"limit": CHOICES_LIMIT}
            chosen = parse_id(self[name].value())
            if chosen is not None and all(doc.pk != chosen for doc in documents):
                documents += list(field.queryset.filter(pk=chosen))
            field.widget.choices = [("", _("Choose…"))] + [
                (doc.pk, field.label_from_instance(doc)) for doc in documents
            ]

    def clean(self):
        data = super().clean()
        credit, debit = data.get("credit"), data.get("debit")
        if credit is None or debit is None:
            return data
        if "amount" not in data:
            return data  # refused by the amount field already
        amount = data["amount"]
        if amount is None:
            data["amount"] = quantize(
                min(credit.open_amount, debit.open_amount), self.reseller.currency
            )
            return data
        for document in (credit, debit):
            if amount > document.open_amount:
                self.add_error(
                    "amount",
                    str(AmountExceedsOpen.message).format(document=document.number),
                )
                return data
        data["amount"] = amount
        return data

    def effect(self) -> list[dict]:
        """Return each document's open amount before and after the link."""
        amount: Decimal = self.cleaned_data["amount"]
        return [
            {
                "document": document,
                "before": document.open_amount,
                "after": document.open_amount - amount,
            }
            for document in (self.cleaned_data["credit"], self.cleaned_data["debit"])
        ]


class CreditMemoForm(ReasonForm):
    """Issue a credit memo: an amount in the reseller's currency and a reason."""

    amount = AmountField(label=_("Amount"))
    field_order = ["amount", "reason"]

    def __init__(
        self, data=None, *, reseller: Reseller, reviewed: bool = False, **kwargs
    ):
        super().__init__(data, **kwargs)
        self.reseller = reseller
        field = self.fields["amount"]
        field.currency = reseller.currency
        field.canonical = reviewed
        field.help_text = _("In %(currency)s.") % {"currency": reseller.currency}


class HoldForm(ReasonForm):
    """Put a disputed debit document on hold, or release it: why, for the trail."""
