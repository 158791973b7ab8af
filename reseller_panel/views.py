"""Views of the reseller panel.

Each view parses its input with a form, reads through ``billing.selectors`` or
writes through ``billing.services.pay_documents``, and renders. Every view
sees only the signed-in user's reseller account (``request.reseller``).
"""

from __future__ import annotations

from uuid import uuid4

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from billing import selectors
from billing.exceptions import (
    BillingError,
    DocumentNotFound,
    GatewayUnavailable,
    StalePreview,
)
from billing.gateways import SandboxGateway
from billing.models import DEBIT_KINDS, DocumentKind, Operation
from billing.services import PaymentPlan, pay_documents, preview_payment
from billing.ui import (
    DocumentFilterForm,
    document_page,
    paginate,
    query_without_page,
)
from reseller_panel.access import reseller_required
from reseller_panel.bank import bank_details
from reseller_panel.forms import ConfirmPaymentForm, SelectionForm
from reseller_panel.presenters import aging_bars, receipt_lines

# The operations a reseller gets a receipt for: its own payments and the
# automatic applications of a prepaid account's credit.
RECEIPT_KINDS = (Operation.Kind.PAYMENT, Operation.Kind.AUTO_APPLY)
HOME_UNPAID_ROWS = 5


def _render(
    request: HttpRequest, template: str, context: dict, status: int = 200
) -> HttpResponse:
    reseller = request.reseller
    context = {
        "reseller": reseller,
        "marketplace": reseller.marketplace,
        "today": timezone.localdate(),
        **context,
    }
    return render(request, f"reseller_panel/{template}", context, status=status)


@require_GET
@reseller_required
def home(request: HttpRequest) -> HttpResponse:
    reseller = request.reseller
    summary = selectors.account_summary(reseller, today=timezone.localdate())
    oldest = selectors.unpaid_documents(reseller)[:HOME_UNPAID_ROWS]
    return _render(
        request,
        "home.html",
        {"summary": summary, "bars": aging_bars(summary), "oldest": oldest},
    )


@require_GET
@reseller_required
def unpaid_documents(request: HttpRequest) -> HttpResponse:
    reseller = request.reseller
    form = DocumentFilterForm(request.GET or None, for_reseller=True, kinds=DEBIT_KINDS)
    page = paginate(request, form.filter(selectors.unpaid_documents(reseller)))
    return _render(
        request,
        "unpaid.html",
        {
            "form": form,
            "page": page,
            "query": query_without_page(request),
            "credit_balance": selectors.credit_balance(reseller),
        },
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
        key=uuid4().hex,
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
        key = data.get("idempotency_key") or uuid4().hex
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
            request, exc.plan, key=uuid4().hex, error=exc.message, status=409
        )
    except GatewayUnavailable as exc:
        # The operation exists and waits for its charge: the same key finishes it.
        return _preview(
            request,
            ids,
            use_credit,
            key=data["idempotency_key"],
            form=form,
            error=exc.message,
            status=503,
        )
    except BillingError as exc:
        return _preview(
            request,
            ids,
            use_credit,
            key=uuid4().hex,
            form=form,
            error=exc.message,
            status=400,
        )
    return redirect("receipt", operation_id=operation.pk)


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
    return _render(
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
    return _render(request, "pay_refused.html", {"message": message}, status=status)


def _hidden_errors(form: ConfirmPaymentForm) -> str:
    """Return the errors of fields the reseller cannot see or fix one by one."""
    names = ("__all__", "fingerprint", "idempotency_key", "use_credit")
    errors = [str(e) for name in names for e in form.errors.get(name, [])]
    return " ".join(dict.fromkeys(errors))


def _first_error(form) -> str:
    for errors in form.errors.values():
        return str(errors[0])
    return ""


@require_GET
@reseller_required
def receipt(request: HttpRequest, operation_id: int) -> HttpResponse:
    reseller = request.reseller
    operation = get_object_or_404(
        selectors.operations_for_reseller(reseller).filter(kind__in=RECEIPT_KINDS),
        pk=operation_id,
    )
    allocations = list(selectors.allocations_of_operation(operation))
    ids = {*operation.document_ids, *(a.debit_id for a in allocations)}
    documents = list(selectors.documents_for_reseller(reseller).filter(pk__in=ids))
    return _render(
        request,
        "receipt.html",
        {
            "operation": operation,
            "allocations": allocations,
            "lines": receipt_lines(operation, allocations, documents),
            "bank_rows": bank_details(reseller.currency),
            "retry_ids": [doc.pk for doc in documents if doc.open_amount > 0],
        },
    )


@require_GET
@reseller_required
def payments(request: HttpRequest) -> HttpResponse:
    operations = selectors.operations_for_reseller(request.reseller).filter(
        kind__in=RECEIPT_KINDS
    )
    return _render(request, "payments.html", {"page": paginate(request, operations)})


@require_GET
@reseller_required
def documents(request: HttpRequest) -> HttpResponse:
    form = DocumentFilterForm(request.GET or None, for_reseller=True)
    return _render(
        request,
        "documents.html",
        {
            "form": form,
            "page": document_page(request, form, request.reseller),
            "query": query_without_page(request),
        },
    )


@require_GET
@reseller_required
def document_detail(request: HttpRequest, document_id: int) -> HttpResponse:
    document = get_object_or_404(
        selectors.documents_for_reseller(request.reseller), pk=document_id
    )
    allocations = []
    if document.kind != DocumentKind.CREDIT_MEMO:
        allocations = list(selectors.allocations_for_document(document))
    return _render(
        request,
        "document.html",
        {"document": document, "allocations": allocations},
    )


@require_GET
@reseller_required
def help_paying(request: HttpRequest) -> HttpResponse:
    return _render(request, "help_paying.html", {})
