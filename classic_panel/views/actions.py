"""Staff actions of the classic panel: link, unlink, revert, credit memos."""

from __future__ import annotations

from uuid import uuid4

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from billing import services
from billing.exceptions import BillingError
from billing.models import Document, Reseller
from billing.money import format_money, quantize
from billing.selectors import (
    allocations_for_reseller,
    allocations_of_operation,
    operations_for_reseller,
)
from billing.services.links import REVERTIBLE_KINDS
from classic_panel.access import CREDIT_MEMO_PERMISSION, LINK_PERMISSION, classic_view
from classic_panel.forms import (
    CreditMemoForm,
    LinkForm,
    ReasonForm,
)
from classic_panel.views import reseller_page


def _confirmation_key(request: HttpRequest) -> str:
    """Return the idempotency key the review step put in the confirm form.

    The ledger refuses an empty key, so a confirm that did not come from a
    review page changes nothing.
    """
    return request.POST.get("token", "")


# --- link --------------------------------------------------------------------


def _link_form_page(request, reseller, form, *, error=None, status=200):
    form.limit_choices()
    response = reseller_page(
        request, "link.html", reseller, "link", form=form, error=error
    )
    response.status_code = status
    return response


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
            and (key == "amount" or value.isdigit())
        }
        form = LinkForm(initial=initial, reseller=reseller)
        _prefill_link_amount(form, initial)
        return _link_form_page(request, reseller, form)
    form = LinkForm(request.POST, reseller=reseller)
    if "edit" in request.POST or not form.is_valid():
        if "edit" in request.POST:
            form = LinkForm(initial=request.POST.dict(), reseller=reseller)
        return _link_form_page(request, reseller, form)
    token = uuid4().hex
    return reseller_page(
        request,
        "link_review.html",
        reseller,
        "link",
        form=form,
        effect=form.effect(),
        token=token,
    )


def _prefill_link_amount(form: LinkForm, initial: dict) -> None:
    """Preselect the oldest open document of a side not chosen yet, and offer
    the most possible amount: the smaller of the two open amounts."""
    chosen = {}
    for name in ("credit", "debit"):
        queryset = form.fields[name].queryset
        if initial.get(name):
            queryset = queryset.filter(pk=initial[name])
        chosen[name] = queryset.first()
        if chosen[name] is not None:
            form.initial[name] = chosen[name].pk
    if initial.get("amount") or None in chosen.values():
        return
    form.initial["amount"] = quantize(
        min(chosen["credit"].open_amount, chosen["debit"].open_amount),
        form.reseller.currency,
    )


@classic_view(permission=LINK_PERMISSION)
@require_POST
def link_confirm(request: HttpRequest, reseller: Reseller) -> HttpResponse:
    """Step 2: link, once: the review's key makes a replayed confirm a no-op."""
    form = LinkForm(request.POST, reseller=reseller)
    if not form.is_valid():
        return _link_form_page(request, reseller, form)
    credit, debit = form.cleaned_data["credit"], form.cleaned_data["debit"]
    try:
        allocation = services.link_documents(
            credit=credit,
            debit=debit,
            amount=form.cleaned_data["amount"],
            actor=request.user,
            reason=form.cleaned_data["reason"],
            idempotency_key=_confirmation_key(request),
        )
    except BillingError as exc:
        return _link_form_page(request, reseller, form, error=exc.message)
    messages.success(
        request,
        _("Linked %(amount)s of %(credit)s to %(debit)s.")
        % {
            "amount": format_money(allocation.amount, reseller.currency),
            "credit": credit.number,
            "debit": debit.number,
        },
    )
    return redirect(_document_url(reseller, debit))


def _document_url(reseller: Reseller, document: Document) -> str:
    return reverse("classic:document", args=[reseller.pk, document.pk])


# --- unlink and revert -------------------------------------------------------


@classic_view(permission=LINK_PERMISSION)
def unlink(
    request: HttpRequest, reseller: Reseller, allocation_id: int
) -> HttpResponse:
    """Confirm and unlink one allocation; both open amounts come back."""
    allocation = get_object_or_404(allocations_for_reseller(reseller), pk=allocation_id)
    form = ReasonForm(request.POST or None)
    error = None
    if request.method == "POST" and form.is_valid():
        try:
            services.unlink_allocation(
                allocation=allocation,
                actor=request.user,
                reason=form.cleaned_data["reason"],
            )
        except BillingError as exc:
            error = exc.message
        else:
            messages.success(
                request,
                _(
                    "Unlinked %(amount)s of %(credit)s from %(debit)s; both open "
                    "amounts are restored."
                )
                % {
                    "amount": format_money(allocation.amount, reseller.currency),
                    "credit": allocation.credit.number,
                    "debit": allocation.debit.number,
                },
            )
            return redirect(_document_url(reseller, allocation.debit))
    return reseller_page(
        request,
        "unlink.html",
        reseller,
        "documents",
        allocation=allocation,
        reversal=getattr(allocation, "reversal", None),
        form=form,
        error=error,
    )


@classic_view(permission=LINK_PERMISSION)
def revert(request: HttpRequest, reseller: Reseller, operation_id: int) -> HttpResponse:
    """Confirm and revert everything an operation applied that is still in place."""
    operation = get_object_or_404(operations_for_reseller(reseller), pk=operation_id)
    form = ReasonForm(request.POST or None)
    error = None
    if request.method == "POST" and form.is_valid():
        try:
            reverted = services.revert_operation(
                operation=operation,
                actor=request.user,
                reason=form.cleaned_data["reason"],
            )
        except BillingError as exc:
            error = exc.message
        else:
            messages.success(
                request,
                _("Reverted %(operation)s as %(revert)s; the amounts are open again.")
                % {"operation": operation.reference, "revert": reverted.reference},
            )
            return redirect(
                "classic:operation", reseller_id=reseller.pk, operation_id=operation.pk
            )
    active = allocations_of_operation(operation).filter(reversal__isnull=True)
    return reseller_page(
        request,
        "revert.html",
        reseller,
        "operations",
        operation=operation,
        active=active,
        revertible=operation.kind in REVERTIBLE_KINDS,
        form=form,
        error=error,
    )


# --- credit memo -------------------------------------------------------------


def _credit_memo_form_page(request, reseller, form, *, error=None):
    return reseller_page(
        request, "credit_memo.html", reseller, "credit_memo", form=form, error=error
    )


@classic_view(permission=CREDIT_MEMO_PERMISSION)
def credit_memo(request: HttpRequest, reseller: Reseller) -> HttpResponse:
    """Step 1: amount and reason; a valid POST shows what will happen."""
    form = CreditMemoForm(request.POST or None, reseller=reseller)
    if request.method != "POST" or "edit" in request.POST or not form.is_valid():
        if "edit" in request.POST:
            form = CreditMemoForm(initial=request.POST.dict(), reseller=reseller)
        return _credit_memo_form_page(request, reseller, form)
    token = uuid4().hex
    return reseller_page(
        request,
        "credit_memo_review.html",
        reseller,
        "credit_memo",
        form=form,
        token=token,
    )


@classic_view(permission=CREDIT_MEMO_PERMISSION)
@require_POST
def credit_memo_confirm(request: HttpRequest, reseller: Reseller) -> HttpResponse:
    """Step 2: issue the credit memo, once: a replayed confirm is a no-op."""
    form = CreditMemoForm(request.POST, reseller=reseller)
    if not form.is_valid():
        return _credit_memo_form_page(request, reseller, form)
    try:
        memo = services.issue_credit_memo(
            reseller=reseller,
            amount=form.cleaned_data["amount"],
            reason=form.cleaned_data["reason"],
            actor=request.user,
            idempotency_key=_confirmation_key(request),
        )
    except BillingError as exc:
        return _credit_memo_form_page(request, reseller, form, error=exc.message)
    text = _("Credit memo %(number)s issued for %(amount)s.") % {
        "number": memo.number,
        "amount": format_money(memo.total, reseller.currency),
    }
    if memo.open_amount < memo.total:
        text += " " + _("%(applied)s of it was applied automatically.") % {
            "applied": format_money(memo.applied_amount, reseller.currency)
        }
    messages.success(request, text)
    return redirect(_document_url(reseller, memo))
