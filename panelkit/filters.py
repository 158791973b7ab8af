"""The filters, search and sort of a document list, read from the query string.

Both panels list documents the same way; they differ only in the statuses
they speak of (a reseller sees a credit memo as "Closed", staff see its real
state) and, for the reseller's unpaid list, in the kinds offered.

A filter whose value does not parse (``?issued_from=bogus``) is reported
beside its field and left out; every other valid filter still applies.
"""

from __future__ import annotations

import django_filters
from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.models import DEBIT_KINDS, Document, DocumentKind
from billing.selectors import DocumentStatus, overdue_condition, status_filter

# Each sort key ends on the primary key, so the order is total: pages never
# share or skip a row, and a late page can be read backwards from the end.
ORDERINGS: dict[str, tuple[str, ...]] = {
    "issue_date": ("issue_date", "number", "id"),
    "due_date": ("due_date", "number", "id"),
    "number": ("number", "id"),
    "total": ("total", "id"),
    "open_amount": ("open_amount", "id"),
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


class IsoDateInput(forms.DateInput):
    """A date typed and shown as ``YYYY-MM-DD`` in every language.

    A text box rather than the browser's date picker, whose format follows
    the browser's locale (``mm/dd/yyyy``) instead of the page's.
    """

    input_type = "text"

    def __init__(self, attrs=None):
        super().__init__(
            {
                "pattern": r"\d{4}-\d{2}-\d{2}",
                "placeholder": _("YYYY-MM-DD"),
                "inputmode": "numeric",
                "autocomplete": "off",
                "size": 10,
                **(attrs or {}),
            },
            format="%Y-%m-%d",
        )


class IsoDateFilter(django_filters.DateFilter):
    field_class = forms.DateField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", IsoDateInput)
        kwargs.setdefault("input_formats", ["%Y-%m-%d"])
        super().__init__(*args, **kwargs)


class CheckboxFilter(django_filters.Filter):
    """A filter that is on when its box is ticked."""

    field_class = forms.BooleanField


class DocumentOrdering(django_filters.OrderingFilter):
    """Sort by one of ``keys`` (of :data:`ORDERINGS`); ``-key`` sorts descending."""

    def __init__(self, keys=tuple(ORDERINGS), **kwargs):
        super().__init__(fields={key: key for key in keys}, label=_("Sort"), **kwargs)

    def get_ordering_value(self, param: str) -> tuple[str, ...]:
        descending = param.startswith("-")
        fields = ORDERINGS[param.removeprefix("-")]
        return tuple(f"-{field}" if descending else field for field in fields)

    def filter(self, qs: QuerySet, value) -> QuerySet:
        if not value:
            return qs
        ordering: list[str] = []
        for param in value:
            for field in self.get_ordering_value(param):
                if field.lstrip("-") not in {f.lstrip("-") for f in ordering}:
                    ordering.append(field)
        return qs.order_by(*ordering)


def _kind_filter(kinds) -> django_filters.ChoiceFilter:
    return django_filters.ChoiceFilter(
        label=_("Kind"),
        choices=[(kind.value, kind.label) for kind in kinds],
        empty_label=_("All kinds"),
    )


def _status_filter(statuses) -> django_filters.ChoiceFilter:
    return django_filters.ChoiceFilter(
        label=_("Status"),
        choices=[(status, DocumentStatus.labels[status]) for status in statuses],
        empty_label=_("All statuses"),
        method="filter_status",
    )


class DocumentFilter(django_filters.FilterSet):
    """A document list as support staff see it: real statuses."""

    for_reseller = False

    q = django_filters.CharFilter(
        field_name="number",
        lookup_expr="icontains",
        label=_("Number"),
        max_length=64,
        widget=forms.SearchInput,
    )
    kind = _kind_filter(DocumentKind)
    status = _status_filter(STAFF_STATUSES)
    overdue = CheckboxFilter(label=_("Overdue only"), method="filter_overdue")
    issued_from = IsoDateFilter(
        field_name="issue_date", lookup_expr="gte", label=_("Issued from")
    )
    issued_to = IsoDateFilter(
        field_name="issue_date", lookup_expr="lte", label=_("Issued to")
    )
    sort = DocumentOrdering()

    class Meta:
        model = Document
        fields: list[str] = []

    def filter_status(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(status_filter(value, for_reseller=self.for_reseller))

    def filter_overdue(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        if not value:
            return queryset
        return queryset.filter(overdue_condition(timezone.localdate()))

    def narrows(self) -> bool:
        """Whether a valid filter or search leaves out some documents (sorting
        does not). A value that did not parse narrows nothing."""
        if not self.is_bound:
            return False
        self.form.is_valid()  # keeps in cleaned_data only the values that parse
        data = self.form.cleaned_data
        return any(value for name, value in data.items() if name != "sort")


class ResellerDocumentFilter(DocumentFilter):
    """A document list as a reseller sees it: a credit memo is "Closed"."""

    for_reseller = True

    status = _status_filter(RESELLER_STATUSES)
    # A credit memo's open amount is not shown to a reseller, so the list
    # does not sort by it either.
    sort = DocumentOrdering(keys=[key for key in ORDERINGS if key != "open_amount"])


class UnpaidDocumentFilter(ResellerDocumentFilter):
    """The reseller's unpaid list: only invoices and debit memos."""

    kind = _kind_filter(DEBIT_KINDS)
    sort = DocumentOrdering()
