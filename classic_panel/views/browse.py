"""Browsing the classic panel: reseller search, documents, operations, activity."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse_lazy
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from billing.models import Reseller
from billing.money import quantize
from billing.selectors import (
    DocumentStatus,
    account_summary,
    allocations_for_document,
    allocations_of_operation,
    audit_events_for_reseller,
    document_status,
    documents_for_reseller,
    is_overdue,
    operations_for_reseller,
    resellers_for_staff,
    reversals_of_operation,
)
from billing.services.links import REVERTIBLE_KINDS
from classic_panel.access import classic_view
from classic_panel.forms import (
    ResellerSearchForm,
    StaffAuthenticationForm,
)
from classic_panel.views import reseller_page
from panelkit.downloads import csv_response
from panelkit.filters import DocumentFilter
from panelkit.paging import document_page, paginate, query_without_page

CSV_CHUNK = 2000

login = auth_views.LoginView.as_view(
    template_name="classic_panel/login.html",
    authentication_form=StaffAuthenticationForm,
    next_page=reverse_lazy("classic:home"),
    extra_context={"title": gettext_lazy("Classic panel — staff sign in")},
)
logout = auth_views.LogoutView.as_view(next_page=reverse_lazy("classic:login"))


def _document_rows(documents, today) -> list[dict]:
    return [
        {
            "document": document,
            "status": (status := document_status(document)),
            "status_label": DocumentStatus.labels[status],
            "overdue": is_overdue(document, today=today),
        }
        for document in documents
    ]


@classic_view()
def home(request: HttpRequest) -> HttpResponse:
    """Billing: find a reseller by name or id within the user's marketplaces."""
    form = ResellerSearchForm(request.GET or None, user=request.user)
    page = paginate(request, form.filter(resellers_for_staff(request.user)))
    return render(
        request,
        "classic_panel/home.html",
        {"form": form, "page": page},
    )


@classic_view()
def reseller_documents(request: HttpRequest, reseller: Reseller) -> HttpResponse:
    """Reseller > Documents: real statuses, open amounts, filters, totals."""
    today = timezone.localdate()
    documents = DocumentFilter(
        request.GET or None, queryset=documents_for_reseller(reseller)
    )
    page = document_page(request, documents, reseller)
    return reseller_page(
        request,
        "documents.html",
        reseller,
        "documents",
        form=documents.form,
        page=page,
        rows=_document_rows(page, today),
        summary=account_summary(reseller, today=today),
        export_query=query_without_page(request),
    )


@classic_view()
def documents_csv(request: HttpRequest, reseller: Reseller) -> HttpResponse:
    """Stream the filtered document list as CSV, with exact amounts."""
    today = timezone.localdate()
    documents = DocumentFilter(
        request.GET or None, queryset=documents_for_reseller(reseller)
    ).qs
    currency = reseller.currency

    def rows():
        for document in documents.iterator(chunk_size=CSV_CHUNK):
            yield [
                document.number,
                document.get_kind_display(),
                document.issue_date.isoformat(),
                document.due_date.isoformat() if document.due_date else "",
                currency,
                str(quantize(document.total, currency)),
                str(quantize(document.open_amount, currency)),
                str(DocumentStatus.labels[document_status(document)]),
                _("yes") if is_overdue(document, today=today) else "",
            ]

    header = [
        _("Number"),
        _("Kind"),
        _("Issue date"),
        _("Due date"),
        _("Currency"),
        _("Total"),
        _("Open amount"),
        _("Status"),
        _("Overdue"),
    ]
    filename = f"reseller-{reseller.pk}-documents-{today.isoformat()}.csv"
    return csv_response(filename, header, rows())


@classic_view()
def document_detail(
    request: HttpRequest, reseller: Reseller, document_id: int
) -> HttpResponse:
    """Document: its facts and every allocation touching it, reversed ones too."""
    document = get_object_or_404(documents_for_reseller(reseller), pk=document_id)
    allocations = [
        {
            "allocation": allocation,
            "counterpart": allocation.debit
            if allocation.credit_id == document.pk
            else allocation.credit,
            "reversal": getattr(allocation, "reversal", None),
        }
        for allocation in allocations_for_document(document)
    ]
    status = document_status(document)
    return reseller_page(
        request,
        "document.html",
        reseller,
        "documents",
        document=document,
        status=status,
        status_label=DocumentStatus.labels[status],
        overdue=is_overdue(document, today=timezone.localdate()),
        allocations=allocations,
    )


@classic_view()
def operations(request: HttpRequest, reseller: Reseller) -> HttpResponse:
    """The reseller's operations, newest first, with what can be reverted."""
    page = paginate(request, operations_for_reseller(reseller))
    return reseller_page(
        request,
        "operations.html",
        reseller,
        "operations",
        page=page,
        revertible_kinds=REVERTIBLE_KINDS,
    )


@classic_view()
def operation_detail(
    request: HttpRequest, reseller: Reseller, operation_id: int
) -> HttpResponse:
    """One operation: what it applied or reversed, and whether it was reverted."""
    operation = get_object_or_404(operations_for_reseller(reseller), pk=operation_id)
    reverted_by = operations_for_reseller(reseller).filter(reverts=operation).first()
    return reseller_page(
        request,
        "operation.html",
        reseller,
        "operations",
        operation=operation,
        allocations=allocations_of_operation(operation),
        reversals=reversals_of_operation(operation),
        created_documents=documents_for_reseller(reseller).filter(operation=operation),
        reverted_by=reverted_by,
        revertible=operation.kind in REVERTIBLE_KINDS
        and operation.has_active_allocations,
    )


@classic_view()
def activity(request: HttpRequest, reseller: Reseller) -> HttpResponse:
    """The reseller's audit trail: every change with actor, source and reason."""
    page = paginate(request, audit_events_for_reseller(reseller))
    return reseller_page(
        request,
        "activity.html",
        reseller,
        "activity",
        page=page,
    )
