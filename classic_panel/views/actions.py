"""Staff actions of the classic panel: link, unlink, revert, credit memos.

Each is a review page and a confirmation carrying a one-time key, answered
by :class:`panelkit.confirm.ConfirmedAction`: a replayed confirmation shows
the first result, a refusal shows the ledger's message and changes nothing.
Link and credit memo review the values typed on a form first; unlink and
revert review what exists and take the reason on the review page itself.
"""

from __future__ import annotations

from decimal import Decimal

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from billing import services
from billing.allocation_policy import OpenItem
from billing.models import Document, Operation, Reseller
from billing.money import format_money, quantize
from billing.payment_plan import auto_apply_plan
from billing.selectors import (
    allocations_for_reseller,
    allocations_of_operation,
    operations_for_reseller,
    without_reversal,
)
from billing.services.links import REVERTIBLE_KINDS
from classic_panel.access import CREDIT_MEMO_PERMISSION, LINK_PERMISSION, classic_view
from classic_panel.forms import CreditMemoForm, LinkForm, ReasonForm
from classic_panel.views import reseller_page
from panelkit.confirm import (
    KEY_FIELD,
    ConfirmedAction,
    Outcome,
    new_key,
    reviewed_fields,
)
from panelkit.fields import active_locale, parse_id


def _money(amount: Decimal, reseller: Reseller) -> str:
    return format_money(amount, reseller.currency, active_locale())


def _document_url(reseller: Reseller, document: Document) -> str:
    return reverse("classic:document", args=[reseller.pk, document.pk])


# --- link --------------------------------------------------------------------


def _link_form_page(request, reseller, form, *, error=None):
    form.limit_choices()
    return reseller_page(request, "link.html", reseller, "link", form=form, error=error)


@classic_view(permission=LINK_PERMISSION)
def link(request: HttpRequest, reseller: Reseller) -> HttpResponse:
    """Step 1: choose the credit, the debit, the amount and the reason.

    A valid POST shows the effect for review; nothing is written yet.
    """
    if request.method != "POST":
        initial = {
            key: value
            for key in ("credit", "debit", "amount")
            if (value := request.GET.get(key, "").strip())
            and (key == "amount" or parse_id(value) is not None)
        }
        form = LinkForm(initial=initial, reseller=reseller)
        _prefill_link_amount(form, initial)
        return _link_form_page(request, reseller, form)
    if "edit" in request.POST:
        # Back from the review page: its canonical values, shown localized.
        form = LinkForm(request.POST, reseller=reseller, reviewed=True)
        return _link_form_page(request, reseller, form)
    form = LinkForm(request.POST, reseller=reseller)
    if not form.is_valid():
        return _link_form_page(request, reseller, form)
    return reseller_page(
        request,
        "link_review.html",
        reseller,
        "link",
        form=form,
        effect=form.effect(),
        hidden=reviewed_fields(form, new_key()),
    )


def _prefill_link_amount(form: LinkForm, initial: dict) -> None:
    """Preselect the oldest open document of a side not chosen yet, and offer
    the most possible amount: the smaller of the two open amounts."""
    chosen = {}
    for name in ("credit", "debit"):
        queryset = form.fields[name].queryset
        if initial.get(name):
            queryset = queryset.filter(pk=parse_id(initial[name]))
        chosen[name] = queryset.first()
        if chosen[name] is not None:
            form.initial[name] = chosen[name].pk
    if initial.get("amount") or None in chosen.values():
        return
    form.initial["amount"] = quantize(
        min(chosen["credit"].open_amount, chosen["debit"].open_amount),
        form.reseller.currency,
    )


class ConfirmLink(ConfirmedAction):
    kind = Operation.Kind.LINK

    def form(self, data) -> LinkForm:
        return LinkForm(data, reseller=self.reseller, reviewed=True)

    def perform(self, form, key) -> Operation:
        allocation = services.link_documents(
            credit=form.cleaned_data["credit"],
            debit=form.cleaned_data["debit"],
            amount=form.cleaned_data["amount"],
            actor=self.request.user,
            reason=form.cleaned_data["reason"],
            idempotency_key=key,
        )
        return allocation.operation

    def outcome(self, operation) -> Outcome:
        allocation = operation.allocations.select_related("credit", "debit").get()
        return Outcome(
            _("Linked %(amount)s of %(credit)s to %(debit)s.")
            % {
                "amount": _money(allocation.amount, self.reseller),
                "credit": allocation.credit.number,
                "debit": allocation.debit.number,
            },
            _document_url(self.reseller, allocation.debit),
        )

    def page(self, form, *, key, error) -> HttpResponse:
        return _link_form_page(self.request, self.reseller, form, error=error)


@classic_view(permission=LINK_PERMISSION)
@require_POST
def link_confirm(request: HttpRequest, reseller: Reseller) -> HttpResponse:
    """Step 2: link, once: the review's key makes a replayed confirm a no-op."""
    return ConfirmLink(request, reseller).confirm()


# --- unlink and revert -------------------------------------------------------


class ConfirmUnlink(ConfirmedAction):
    """Unlink one allocation; both open amounts come back."""

    kind = Operation.Kind.UNLINK

    def __init__(self, request, reseller, allocation):
        super().__init__(request, reseller)
        self.allocation = allocation

    def form(self, data=None) -> ReasonForm:
        return ReasonForm(data)

    def perform(self, form, key) -> Operation:
        reversal = services.unlink_allocation(
            allocation=self.allocation,
            actor=self.request.user,
            reason=form.cleaned_data["reason"],
            idempotency_key=key,
        )
        return reversal.operation

    def outcome(self, operation) -> Outcome:
        reversals = operation.reversals.select_related(
            "allocation__credit", "allocation__debit"
        )
        allocation = reversals.get().allocation
        return Outcome(
            _(
                "Unlinked %(amount)s of %(credit)s from %(debit)s; both open "
                "amounts are restored."
            )
            % {
                "amount": _money(allocation.amount, self.reseller),
                "credit": allocation.credit.number,
                "debit": allocation.debit.number,
            },
            _document_url(self.reseller, allocation.debit),
        )

    def page(self, form, *, key, error=None) -> HttpResponse:
        allocation = self.allocation
        return reseller_page(
            self.request,
            "unlink.html",
            self.reseller,
            "documents",
            allocation=allocation,
            reversal=getattr(allocation, "reversal", None),
            form=form,
            error=error,
            hidden=[(KEY_FIELD, key)],
        )


@classic_view(permission=LINK_PERMISSION)
def unlink(
    request: HttpRequest, reseller: Reseller, allocation_id: int
) -> HttpResponse:
    """Review an allocation (GET) and unlink it once (POST with the key)."""
    allocation = get_object_or_404(allocations_for_reseller(reseller), pk=allocation_id)
    return ConfirmUnlink(request, reseller, allocation).review_or_confirm()


class ConfirmRevert(ConfirmedAction):
    """Revert everything an operation applied that is still in place."""

    kind = Operation.Kind.REVERT

    def __init__(self, request, reseller, operation):
        super().__init__(request, reseller)
        self.operation = operation

    def form(self, data=None) -> ReasonForm:
        return ReasonForm(data)

    def perform(self, form, key) -> Operation:
        return services.revert_operation(
            operation=self.operation,
            actor=self.request.user,
            reason=form.cleaned_data["reason"],
            idempotency_key=key,
        )

    def outcome(self, operation) -> Outcome:
        return Outcome(
            _("Reverted %(operation)s as %(revert)s; the amounts are open again.")
            % {"operation": operation.reverts_reference, "revert": operation.reference},
            reverse("classic:operation", args=[self.reseller.pk, operation.reverts_id]),
        )

    def page(self, form, *, key, error=None) -> HttpResponse:
        operation = self.operation
        active = without_reversal(allocations_of_operation(operation))
        return reseller_page(
            self.request,
            "revert.html",
            self.reseller,
            "operations",
            operation=operation,
            active=active,
            revertible=operation.kind in REVERTIBLE_KINDS,
            form=form,
            error=error,
            hidden=[(KEY_FIELD, key)],
        )


@classic_view(permission=LINK_PERMISSION)
def revert(request: HttpRequest, reseller: Reseller, operation_id: int) -> HttpResponse:
    """Review an operation's allocations (GET) and revert them once (POST)."""
    operation = get_object_or_404(operations_for_reseller(reseller), pk=operation_id)
    return ConfirmRevert(request, reseller, operation).review_or_confirm()


# --- credit memo -------------------------------------------------------------


def _credit_memo_form_page(request, reseller, form, *, error=None):
    return reseller_page(
        request, "credit_memo.html", reseller, "credit_memo", form=form, error=error
    )


def credit_memo_effect(reseller: Reseller, amount: Decimal) -> list[dict]:
    """Return what issuing a credit memo of ``amount`` would apply, and where.

    Only a prepaid reseller's credit is applied automatically: together with
    any credit already open, by the same policy the ledger will use.
    """
    if not reseller.is_prepaid:
        return []
    memo = OpenItem(
        id=0,
        number="~",  # issued today, after any credit of the same day
        issue_date=timezone.localdate(),
        open_amount=amount,
    )
    credits, debits, planned = auto_apply_plan(reseller, new_credit=memo)
    by_id = {doc.pk: doc for doc in (*credits, *debits)}
    return [
        {
            "credit": by_id.get(item.credit_id),
            "debit": by_id[item.debit_id],
            "amount": item.amount,
        }
        for item in planned
    ]


@classic_view(permission=CREDIT_MEMO_PERMISSION)
def credit_memo(request: HttpRequest, reseller: Reseller) -> HttpResponse:
    """Step 1: amount and reason; a valid POST shows what will happen."""
    if request.method != "POST":
        form = CreditMemoForm(reseller=reseller)
        return _credit_memo_form_page(request, reseller, form)
    if "edit" in request.POST:
        form = CreditMemoForm(request.POST, reseller=reseller, reviewed=True)
        return _credit_memo_form_page(request, reseller, form)
    form = CreditMemoForm(request.POST, reseller=reseller)
    if not form.is_valid():
        return _credit_memo_form_page(request, reseller, form)
    amount = form.cleaned_data["amount"]
    effect = credit_memo_effect(reseller, amount)
    applied = sum((row["amount"] for row in effect), Decimal(0))
    return reseller_page(
        request,
        "credit_memo_review.html",
        reseller,
        "credit_memo",
        form=form,
        effect=effect,
        applied=applied,
        left=amount
        - sum((row["amount"] for row in effect if row["credit"] is None), Decimal(0)),
        hidden=reviewed_fields(form, new_key()),
    )


class ConfirmCreditMemo(ConfirmedAction):
    kind = Operation.Kind.CREDIT_MEMO

    def form(self, data) -> CreditMemoForm:
        return CreditMemoForm(data, reseller=self.reseller, reviewed=True)

    def perform(self, form, key) -> Operation:
        memo = services.issue_credit_memo(
            reseller=self.reseller,
            amount=form.cleaned_data["amount"],
            reason=form.cleaned_data["reason"],
            actor=self.request.user,
            idempotency_key=key,
        )
        return memo.operation

    def outcome(self, operation) -> Outcome:
        memo = operation.created_documents.get()
        text = _("Credit memo %(number)s issued for %(amount)s.") % {
            "number": memo.number,
            "amount": _money(memo.total, self.reseller),
        }
        if memo.open_amount < memo.total:
            text += " " + _("%(applied)s of it was applied automatically.") % {
                "applied": _money(memo.applied_amount, self.reseller)
            }
        return Outcome(text, _document_url(self.reseller, memo))

    def page(self, form, *, key, error) -> HttpResponse:
        return _credit_memo_form_page(self.request, self.reseller, form, error=error)


@classic_view(permission=CREDIT_MEMO_PERMISSION)
@require_POST
def credit_memo_confirm(request: HttpRequest, reseller: Reseller) -> HttpResponse:
    """Step 2: issue the credit memo, once: a replayed confirm is a no-op."""
    return ConfirmCreditMemo(request, reseller).confirm()
