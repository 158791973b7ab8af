"""The pay flow: select documents, preview the plan, confirm it once."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from billing.exceptions import (
    BillingError,
    DocumentNotFound,
    GatewayUnavailable,
    StalePreview,
)
from billing.gateways import SandboxGateway
from billing.models import Operation
from billing.selectors import documents_for_reseller, operations_for_reseller
from billing.services import PaymentPlan, pay_documents, preview_payment
from panelkit.confirm import new_key
from reseller_panel.access import reseller_required
from reseller_panel.forms import ConfirmPaymentForm, SelectionForm
from reseller_panel.views import render_page

logger = logging.getLogger(__name__)

NOT_RECORDED = gettext_lazy(
    "The payment could not be recorded just now. Nothing more was charged; "
    "retry the same payment to finish it."
)


@require_http_methods(["GET", "POST"])
@reseller_required
def pay(request: HttpRequest) -> HttpResponse:
    """Preview paying the selected documents (GET) or pay them (POST)."""
    if request.method == "POST":
        return _confirm_payment(request)
    form = SelectionForm(request.GET)
    if not form.is_valid():
        messages.error(request, _first_error(form))
        return redirect("unpaid_documents")
    return _preview(
        request,
        form.cleaned_data["document"],
        _use_credit(request, form.cleaned_data),
        key=new_key(),
    )


def _confirm_payment(request: HttpRequest) -> HttpResponse:
    form = ConfirmPaymentForm(request.POST)
    valid = form.is_valid()
    data = form.cleaned_data
    ids = data.get("document")
    if not ids:
        return _refused(request, _first_error(form), status=400)
    use_credit = _use_credit(request, data)
    if not valid:
        key = data.get("idempotency_key") or new_key()
        error = _hidden_errors(form) or _("Please correct the errors below.")
        return _preview(
            request, ids, use_credit, key=key, form=form, error=error, status=400
        )
    try:
        operation = pay_documents(
            reseller=request.reseller,
            document_ids=ids,
            use_credit=use_credit,
            payment_method=data["payment_method"],
            idempotency_key=data["idempotency_key"],
            fingerprint=data["fingerprint"],
            card_token=data["card_number"] or None,
            actor=request.user,
        )
    except StalePreview as exc:
        return _render_pay(
            request, exc.plan, key=new_key(), error=exc.message, status=409
        )
    except GatewayUnavailable as exc:
        return _retry_page(request, form, error=exc.message)
    except DatabaseError:
        # Each step of a payment rolls back whole: at most the credit part is
        # recorded, waiting for its charge. The same key finishes it.
        logger.exception("payment could not be recorded")
        return _retry_page(request, form, error=str(NOT_RECORDED))
    except BillingError as exc:
        return _preview(
            request,
            ids,
            use_credit,
            key=new_key(),
            form=form,
            error=exc.message,
            status=400,
        )
    return redirect("receipt", operation_id=operation.pk)


def _retry_page(
    request: HttpRequest, form: ConfirmPaymentForm, *, error: str
) -> HttpResponse:
    """Offer to retry a payment the card processor left unanswered.

    The payment exists and waits for its charge (its credit part may already
    be applied, so the selection may not be payable any more): the retry
    sends the same confirmation, with the same key, and a card to charge.
    """
    data = form.cleaned_data
    operation = (
        operations_for_reseller(request.reseller)
        .filter(idempotency_key=data["idempotency_key"], kind=Operation.Kind.PAYMENT)
        .first()
    )
    documents = documents_for_reseller(request.reseller).filter(pk__in=data["document"])
    return render_page(
        request,
        "pay_retry.html",
        {
            "operation": operation,
            "documents": documents,
            "ids": data["document"],
            "use_credit": bool(data.get("use_credit")),
            "fingerprint": data["fingerprint"],
            "key": data["idempotency_key"],
            "method": data["payment_method"],
            "error": error,
            "sandbox": settings.PAYMENT_GATEWAY.endswith(".SandboxGateway"),
            "sandbox_cards": (
                SandboxGateway.SUCCESS_CARD,
                SandboxGateway.DECLINED_CARD,
                SandboxGateway.UNAVAILABLE_CARD,
            ),
        },
        status=503,
    )


def _use_credit(request: HttpRequest, data: dict) -> bool:
    """Prepaid accounts always use their credit; others choose."""
    return bool(data.get("use_credit")) or request.reseller.is_prepaid


def _preview(
    request: HttpRequest,
    ids: list[int],
    use_credit: bool,
    *,
    key: str,
    form: ConfirmPaymentForm | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    try:
        plan = preview_payment(
            reseller=request.reseller, document_ids=ids, use_credit=use_credit
        )
    except DocumentNotFound as exc:
        return _refused(request, exc.message, status=404)
    except BillingError as exc:
        text = " ".join(str(part) for part in (error, exc.message) if part)
        return _refused(request, text)
    return _render_pay(request, plan, key=key, form=form, error=error, status=status)


def _render_pay(
    request: HttpRequest,
    plan: PaymentPlan,
    *,
    key: str,
    form: ConfirmPaymentForm | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    reseller = request.reseller
    method = (form.data.get("payment_method") if form else "") or "card"
    return render_page(
        request,
        "pay.html",
        {
            "plan": plan,
            "key": key,
            "form": form,
            "error": error,
            "method": method,
            "prepaid": reseller.is_prepaid,
            "credit_choice": plan.credit_allowed and not reseller.is_prepaid,
            "sandbox": settings.PAYMENT_GATEWAY.endswith(".SandboxGateway"),
            "sandbox_cards": (
                SandboxGateway.SUCCESS_CARD,
                SandboxGateway.DECLINED_CARD,
                SandboxGateway.UNAVAILABLE_CARD,
            ),
        },
        status=status,
    )


def _refused(request: HttpRequest, message: str, status: int = 400) -> HttpResponse:
    return render_page(request, "pay_refused.html", {"message": message}, status=status)


def _hidden_errors(form: ConfirmPaymentForm) -> str:
    """Return the errors of fields the reseller cannot see or fix one by one."""
    names = ("__all__", "fingerprint", "idempotency_key", "use_credit")
    errors = [str(e) for name in names for e in form.errors.get(name, [])]
    return " ".join(dict.fromkeys(errors))


def _first_error(form) -> str:
    for errors in form.errors.values():
        return str(errors[0])
    return ""
