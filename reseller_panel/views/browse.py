"""The reseller panel's pages that read: Home, documents, payments, receipts."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.views.decorators.http import require_GET

from billing import selectors
from billing.bank_selectors import bank_lines_of_operation
from billing.models import DocumentKind, Operation
from billing.references import format_reference
from panelkit.filters import ResellerDocumentFilter, UnpaidDocumentFilter
from panelkit.paging import document_page, paginate
from panelkit.payee import payee_rows
from reseller_panel.access import reseller_required
from reseller_panel.presenters import aging_bars, outcome_of, receipt_lines
from reseller_panel.views import render_page

# The operations a reseller gets a receipt for: its own payments and the
# automatic applications of a prepaid account's credit.
RECEIPT_KINDS = (Operation.Kind.PAYMENT, Operation.Kind.AUTO_APPLY)
HOME_UNPAID_ROWS = 5


@require_GET
@reseller_required
def home(request: HttpRequest) -> HttpResponse:
    reseller = request.reseller
    summary = selectors.account_summary(reseller, today=timezone.localdate())
    oldest = selectors.unpaid_documents(reseller)[:HOME_UNPAID_ROWS]
    return render_page(
        request,
        "home.html",
        {"summary": summary, "bars": aging_bars(summary), "oldest": oldest},
    )


@require_GET
@reseller_required
def unpaid_documents(request: HttpRequest) -> HttpResponse:
    reseller = request.reseller
    documents = UnpaidDocumentFilter(
        request.GET or None, queryset=selectors.unpaid_documents(reseller)
    )
    return render_page(
        request,
        "unpaid.html",
        {
            "form": documents.form,
            "page": paginate(request, documents.qs),
            "credit_balance": selectors.credit_balance(reseller),
        },
    )


@require_GET
@reseller_required
def receipt(request: HttpRequest, operation_id: int) -> HttpResponse:
    reseller = request.reseller
    operation = get_object_or_404(
        selectors.operations_for_reseller(reseller).filter(kind__in=RECEIPT_KINDS),
        pk=operation_id,
    )
    allocations = list(selectors.allocations_of_operation(operation))
    documents = selectors.documents_of_receipt(operation, allocations)
    payment = getattr(operation, "payment", None)
    # What support took back since: the receipt says what is true now and
    # keeps the original outcome as history.
    correction = selectors.operation_corrections(reseller, [operation]).get(
        operation.pk
    )
    return render_page(
        request,
        "receipt.html",
        {
            "operation": operation,
            "allocations": allocations,
            "lines": receipt_lines(operation, allocations, documents),
            "bank_rows": payee_rows(reseller),
            "outcome": outcome_of(operation),
            "transfer_reference": format_reference(
                payment.transfer_reference if payment else ""
            ),
            "bank_lines": bank_lines_of_operation(operation, allocations),
            "retry_ids": [doc.pk for doc in documents if doc.open_amount > 0],
            "correction": correction,
        },
    )


@require_GET
@reseller_required
def payments(request: HttpRequest) -> HttpResponse:
    operations = selectors.operations_for_reseller(request.reseller).filter(
        kind__in=RECEIPT_KINDS
    )
    page = paginate(request, operations)
    page.object_list = list(page.object_list)
    corrections = selectors.operation_corrections(request.reseller, page.object_list)
    rows = [(op, outcome_of(op), corrections.get(op.pk)) for op in page.object_list]
    return render_page(request, "payments.html", {"page": page, "rows": rows})


@require_GET
@reseller_required
def documents(request: HttpRequest) -> HttpResponse:
    reseller = request.reseller
    documents = ResellerDocumentFilter(
        request.GET or None, queryset=selectors.documents_for_reseller(reseller)
    )
    return render_page(
        request,
        "documents.html",
        {"form": documents.form, "page": document_page(request, documents, reseller)},
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
    return render_page(
        request,
        "document.html",
        {"document": document, "allocations": allocations},
    )


@require_GET
@reseller_required
def help_paying(request: HttpRequest) -> HttpResponse:
    return render_page(request, "help_paying.html", {})
