"""Form fields every panel form uses for ids and amounts.

An id is ASCII digits within the range a database key holds; anything else
(``²``, ``③``, a NUL, ten thousand characters) is a form error, never an
exception further down: one id chosen from a list (:class:`IdChoiceField`)
or several of one name (:class:`IdListField`). An amount is typed by the
active language's rules (``1.234,50`` in German, ``1,234.50`` in English) and
bounded by what the ledger holds; a reviewed amount carried in a hidden field
is canonical (``1234.50``) whatever the language.
"""

from __future__ import annotations

import re
from decimal import Decimal

from django import forms
from django.utils.translation import get_language, to_locale
from django.utils.translation import gettext_lazy as _

from billing.exceptions import InvalidAmount
from billing.money import format_amount, parse_amount, parse_localized_amount

# Database keys are signed 64-bit integers.
MAX_ID = 2**63 - 1
ID_PATTERN = re.compile(r"[0-9]{1,19}")
CANONICAL = re.compile(r"[0-9]{1,15}\.[0-9]{1,3}")
INVALID_ID = _("Enter a valid id: digits only.")


def parse_id(value: object) -> int | None:
    """Return ``value`` as a positive database id, or None if it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    else:
        text = str(value).strip() if value is not None else ""
        if not ID_PATTERN.fullmatch(text):
            return None
        number = int(text)
    return number if 0 < number <= MAX_ID else None


def active_locale() -> str:
    """Return the babel locale of the active language: ``de``, ``en_US``."""
    return to_locale(get_language() or "en-us")


class IdListField(forms.Field):
    """Several ids of one name (``?document=1&document=2``): distinct, sorted,
    each an id by :func:`parse_id`, at most ``max_count`` of them."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {
        "invalid": INVALID_ID,
        "too_many": _("At most %(n)d at once."),
    }

    def __init__(self, *, max_count: int, **kwargs):
        super().__init__(**kwargs)
        self.max_count = max_count

    def to_python(self, value) -> list[int]:
        if not value:
            return []
        if isinstance(value, str | int):
            value = [value]
        ids: set[int] = set()
        for item in value:
            number = parse_id(item)
            if number is None:
                raise forms.ValidationError(self.error_messages["invalid"], "invalid")
            ids.add(number)
        if len(ids) > self.max_count:
            raise forms.ValidationError(
                self.error_messages["too_many"] % {"n": self.max_count}, "too_many"
            )
        return sorted(ids)


class IdChoiceField(forms.ModelChoiceField):
    """Choose a row by id; an id that is no id is refused like a wrong one."""

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if parse_id(value) is None:
            raise forms.ValidationError(
                self.error_messages["invalid_choice"], code="invalid_choice"
            )
        return super().to_python(value)


class AmountField(forms.Field):
    """A money amount in ``currency``: positive, exact, bounded.

    Typed by the active language's conventions; with ``canonical`` set (a
    reviewed amount coming back from a hidden field) plain ``1234.50`` only.
    """

    widget = forms.TextInput

    def __init__(self, *, currency: str = "USD", canonical: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.currency = currency
        self.canonical = canonical

    def to_python(self, value):
        text = value.strip() if isinstance(value, str) else value
        if text in self.empty_values:
            return None
        if not isinstance(text, str | Decimal):
            raise forms.ValidationError(str(InvalidAmount.message), "invalid_amount")
        try:
            if self.canonical or isinstance(text, Decimal):
                return parse_amount(text, self.currency)
            return parse_localized_amount(text, self.currency, locale=active_locale())
        except InvalidAmount as exc:
            raise forms.ValidationError(str(exc.message), code=exc.code) from exc

    def prepare_value(self, value):
        """Show an amount as the active language writes it: ``1.234,50``.

        A canonical value sent back for correction is shown localized too.
        """
        canonical_text = isinstance(value, str) and CANONICAL.fullmatch(value.strip())
        if self.canonical and canonical_text:
            value = Decimal(value.strip())
        if isinstance(value, Decimal) and value.is_finite():
            return format_amount(value, self.currency, active_locale())
        return value


def canonical_value(value: object) -> str:
    """Return a cleaned value as a hidden field carries it, whatever the
    language: a row as its id, an amount as ``1234.50``, a flag as 1 or ""."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, Decimal):
        return format(value, "f")
    pk = getattr(value, "pk", None)
    if pk is not None:
        return str(pk)
    return str(value)
