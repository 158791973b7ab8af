"""Helpers both panels use to list documents: one filter form, one paginator.

The reseller panel and the classic panel show the same kind of list; only
the statuses they speak of differ (a reseller never sees a credit memo as
anything but "Closed").
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence

from django import forms
from django.core.paginator import Page, Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.models import Document, DocumentKind, Reseller
from billing.selectors import DocumentStatus, documents_for_reseller, status_filter

PAGE_SIZE = 25

SORTS = {
    "issue_date": ("issue_date", "number", "id"),
    "-issue_date": ("-issue_date", "-number", "-id"),
    "due_date": ("due_date", "number", "id"),
    "-due_date": ("-due_date", "-number", "-id"),
    "number": ("number", "id"),
    "-number": ("-number", "-id"),
    "total": ("total", "id"),
    "-total": ("-total", "-id"),
    "open_amount": ("open_amount", "id"),
    "-open_amount": ("-open_amount", "-id"),
}

RESELLER_STATUSES = (
    DocumentStatus.OPEN,
    DocumentStatus.PARTLY_PAID,
    DocumentStatus.PAID,
    DocumentStatus.UNAPPLIED,
    DocumentStatus.PARTLY_APPLIED,
    DocumentStatus.APPLIED,
    DocumentStatus.CLOSED,
)
STAFF_STATUSES = RESELLER_STATUSES[:-1]


class DocumentFilterForm(forms.Form):
    """Filters, search and sort of a document list, read from the query string."""

    q = forms.CharField(label=_("Number"), required=False, max_length=64)
    kind = forms.ChoiceField(
        label=_("Kind"),
        required=False,
        choices=[("", _("All kinds"))] + DocumentKind.choices,
    )
    status = forms.ChoiceField(label=_("Status"), required=False)
    overdue = forms.BooleanField(label=_("Overdue only"), required=False)
    issued_from = forms.DateField(
        label=_("Issued from"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    issued_to = forms.DateField(
        label=_("Issued to"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    sort = forms.ChoiceField(
        label=_("Sort"), required=False, choices=[(key, key) for key in SORTS]
    )

    def __init__(self, data=None, *, for_reseller: bool, kinds=None, **kwargs):
        super().__init__(data, **kwargs)
        self.for_reseller = for_reseller
        statuses = RESELLER_STATUSES if for_reseller else STAFF_STATUSES
        self.fields["status"].choices = [("", _("All statuses"))] + [
            (status, DocumentStatus.labels[status]) for status in statuses
        ]
        if kinds is not None:
            self.fields["kind"].choices = [("", _("All kinds"))] + [
                (kind.value, kind.label) for kind in kinds
            ]

    def narrows(self) -> bool:
        """Whether a valid filter or search leaves out some documents (sorting
        does not)."""
        if not self.is_bound or not self.is_valid():
            return False
        return any(value for name, value in self.cleaned_data.items() if name != "sort")

    def filter(self, queryset: QuerySet[Document]) -> QuerySet[Document]:
        """Return ``queryset`` narrowed by the valid filters (invalid ones ignored)."""
        if not self.is_bound:
            return queryset
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        condition = Q()
        if data.get("q"):
            condition &= Q(number__icontains=data["q"].strip())
        if data.get("kind"):
            condition &= Q(kind=data["kind"])
        if data.get("status"):
            condition &= status_filter(data["status"], for_reseller=self.for_reseller)
        if data.get("overdue"):
            condition &= Q(due_date__lt=timezone.localdate(), open_amount__gt=0)
        if data.get("issued_from"):
            condition &= Q(issue_date__gte=data["issued_from"])
        if data.get("issued_to"):
            condition &= Q(issue_date__lte=data["issued_to"])
        queryset = queryset.filter(condition)
        if data.get("sort"):
            queryset = queryset.order_by(*SORTS[data["sort"]])
        return queryset


class LedgerPaginator(Paginator):
    """A paginator whose cost does not grow with the list.

    It can be given the number of rows (an account's stored document count)
    instead of counting them, and it reads pages in the second half of a
    totally ordered list backwards from the end, so the last page of 100,000
    documents skips 25 rows, not 99,975.
    """

    def __init__(self, object_list, per_page: int, *, count: int | None = None):
        super().__init__(object_list, per_page)
        if count is not None:
            self.count = count  # takes the place of the cached COUNT(*)

    def page(self, number) -> Page:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = min(bottom + self.per_page, self.count)
        if bottom <= self.count // 2 or not _totally_ordered(self.object_list):
            return super().page(number)
        rows = list(self.object_list.reverse()[self.count - top : self.count - bottom])
        rows.reverse()
        return self._get_page(rows, number, self)


def _totally_ordered(object_list) -> bool:
    """Whether ``object_list`` is a queryset whose order ends on the primary
    key, so reading it backwards gives exactly the same rows in reverse."""
    if not isinstance(object_list, QuerySet) or not object_list.ordered:
        return False
    query = object_list.query
    ordering = query.order_by or (
        query.default_ordering and object_list.model._meta.ordering
    )
    return bool(ordering) and str(ordering[-1]).lstrip("-") in {"pk", "id"}


def paginate(
    request: HttpRequest,
    queryset: QuerySet,
    per_page: int = PAGE_SIZE,
    *,
    count: int | None = None,
) -> Page:
    """Return the requested page of ``queryset``: a number, or ``last``;
    anything else or out of range clamps to the first or last page.

    ``count``, when the caller knows it, saves counting the rows.
    """
    paginator = LedgerPaginator(queryset, per_page, count=count)
    number = request.GET.get("page")
    return paginator.get_page(paginator.num_pages if number == "last" else number)


def document_page(
    request: HttpRequest, form: DocumentFilterForm, reseller: Reseller
) -> Page:
    """Return the requested page of the reseller's documents under ``form``.

    Unfiltered, the list is every document of the account, and the account's
    stored document count stands in for counting them.
    """
    count = None if form.narrows() else reseller.document_count
    queryset = form.filter(documents_for_reseller(reseller))
    return paginate(request, queryset, count=count)


def query_without_page(request: HttpRequest) -> str:
    """Return the current query string minus ``page``, for pagination links."""
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


# --- CSV export --------------------------------------------------------------

# Spreadsheets run cells starting with these as formulas (CSV injection).
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class _Echo:
    """A file-like object whose ``write`` returns the line instead of storing it."""

    def write(self, value: str) -> str:
        return value


def _safe_cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_response(
    filename: str, header: Sequence[str], rows: Iterable[Sequence[object]]
) -> StreamingHttpResponse:
    """Stream ``rows`` as a CSV download, one line at a time.

    ``rows`` is consumed lazily (pass ``queryset.iterator()``-backed
    generators), so a list of 100,000 documents never sits in memory.
    Amounts should be passed as exact strings (``str(Decimal)``).
    """
    writer = csv.writer(_Echo())

    def lines():
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([_safe_cell(cell) for cell in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
