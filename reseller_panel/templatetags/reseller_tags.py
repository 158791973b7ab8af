"""Template helpers of the reseller panel: statuses and amounts for the page's
script."""

from django import template

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


@register.filter
def currency_places(currency: str) -> int:
    """Return the number of decimals of ``currency`` (2 for USD, 0 for JPY)."""
    return currency_exponent(currency)


@register.filter
def minor_units(amount, currency: str) -> int:
    """Return ``amount`` in the currency's minor unit, for exact sums in JS."""
    return int(amount.scaleb(currency_exponent(currency)).to_integral_value())
