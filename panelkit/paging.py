"""Paging of lists whose cost does not grow with the ledger.

A list page asks for one page of rows and, when it can, takes the number of
rows from what is stored instead of counting them: an account with 100,000
documents opens as fast as one with 10.
"""

from __future__ import annotations

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest

from billing.models import Reseller
from panelkit.filters import DocumentFilter

PAGE_SIZE = 25


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
    request: HttpRequest, documents: DocumentFilter, reseller: Reseller
) -> Page:
    """Return the requested page of the reseller's documents under the filter.

    ``documents`` must list every document of ``reseller`` before filtering:
    unfiltered, the account's stored document count then stands in for
    counting them.
    """
    count = None if documents.narrows() else reseller.document_count
    return paginate(request, documents.qs, count=count)


def query_without_page(request: HttpRequest) -> str:
    """Return the current query string minus ``page``, for pagination links."""
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()
