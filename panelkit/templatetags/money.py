"""Money in templates, for both panels: `{% load money %}`."""

from decimal import Decimal

from django import template
from django.utils.translation import get_language, to_locale

from billing.money import format_money

register = template.Library()


@register.filter
def money(amount: Decimal | None, currency: str) -> str:
    """Render ``amount`` in ``currency`` for the active language: ``$1,234.50``."""
    if amount is None or amount == "":
        return ""
    return format_money(amount, currency, to_locale(get_language() or "en-us"))
