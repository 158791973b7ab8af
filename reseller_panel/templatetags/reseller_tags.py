"""Template helpers of the reseller panel: statuses and sortable headers."""

from django import template
from django.http import HttpRequest

from billing.models import Document
from billing.money import currency_exponent
from billing.selectors import DocumentStatus, reseller_document_status

register = template.Library()


@register.filter
def reseller_status(document: Document) -> str:
    """Return the status key a reseller sees (a credit memo is always closed)."""
    return reseller_document_status(document)


@register.filter
def status_label(status: str) -> str:
    return str(DocumentStatus.labels.get(status, status))


@register.simple_tag(takes_context=True)
def sort_query(context, field: str) -> str:
    """Return the query string sorting by ``field``, toggling its direction."""
    request: HttpRequest = context["request"]
    params = request.GET.copy()
    params.pop("page", None)
    params["sort"] = f"-{field}" if params.get("sort") == field else field
    return params.urlencode()


@register.simple_tag(takes_context=True)
def sort_state(context, field: str) -> str:
    """Return the ``aria-sort`` value of the column ``field``."""
    current = context["request"].GET.get("sort", "")
    if current == field:
        return "ascending"
    if current == f"-{field}":
        return "descending"
    return "none"


@register.filter
def currency_places(currency: str) -> int:
    """Return the number of decimals of ``currency`` (2 for USD, 0 for JPY)."""
    return currency_exponent(currency)


@register.filter
def minor_units(amount, currency: str) -> int:
    """Return ``amount`` in the currency's minor unit, for exact sums in JS."""
    return int(amount.scaleb(currency_exponent(currency)).to_integral_value())
