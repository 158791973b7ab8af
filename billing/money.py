"""Exact money: parsing, quantizing and formatting amounts per currency.

Amounts are ``Decimal`` everywhere. A currency's minor unit comes from ISO 4217
(through babel): JPY has 0 decimals, USD and EUR 2, KWD 3. Input with more
digits than the currency allows is rejected, never rounded.
"""

from decimal import Decimal, InvalidOperation
from functools import lru_cache

from babel import Locale
from babel.numbers import (
    NumberFormatError,
    format_currency,
    format_decimal,
    get_currency_name,
    get_currency_precision,
    get_decimal_symbol,
    get_group_symbol,
    parse_decimal,
)
from django.utils.translation import get_language, to_locale

from billing.exceptions import InvalidAmount

# The ledger stores amounts in thousandths of a unit, so no supported currency
# may have more than three decimals.
MAX_EXPONENT = 3
# The largest amount the ledger takes: a document, an allocation, a payment.
# Stored as thousandths in a 64-bit integer, even 92,000 documents of this
# size still sum without overflow, in SQL as well as in Python.
MAX_AMOUNT = Decimal(10) ** 11


def currency_exponent(currency: str) -> int:
    """Return the number of decimals of ``currency``'s minor unit."""
    return get_currency_precision(currency.upper())


def minor_unit(currency: str) -> Decimal:
    """Return the smallest amount of ``currency``: 0.01 for USD, 1 for JPY."""
    return Decimal(1).scaleb(-currency_exponent(currency))


def is_supported_currency(currency: str) -> bool:
    """Return True for a three-letter ISO code the ledger can store exactly."""
    code = currency.upper()
    if len(code) != 3 or not code.isalpha():
        return False
    known = get_currency_name(code, locale="en") != code
    return known and currency_exponent(code) <= MAX_EXPONENT


def quantize(amount: Decimal, currency: str) -> Decimal:
    """Return ``amount`` at ``currency``'s minor unit, refusing lost digits.

    ``Decimal("10.5")`` becomes ``Decimal("10.50")`` in USD; ``Decimal("10.505")``
    raises :class:`InvalidAmount` instead of being rounded.
    """
    if not isinstance(amount, Decimal):
        raise TypeError("money amounts must be Decimal")
    if not amount.is_finite():
        raise InvalidAmount(InvalidAmount.message)
    unit = minor_unit(currency)
    try:
        exact = amount.quantize(unit)
    except InvalidOperation as exc:
        raise InvalidAmount(InvalidAmount.message) from exc
    if exact != amount:
        raise InvalidAmount(
            InvalidAmount.too_many_digits.format(
                currency=currency, places=currency_exponent(currency)
            ),
            code=InvalidAmount.code_too_many_digits,
        )
    return exact


def parse_amount(value: object, currency: str, *, allow_zero: bool = False) -> Decimal:
    """Parse a user- or file-supplied amount into an exact positive Decimal.

    Accepts ``Decimal``, ``int`` and strings such as ``"1234.50"`` (surrounding
    spaces and thousands separators ``,`` or ``_`` are not accepted: a file or
    form should send plain digits). Floats are refused outright, and so is
    anything above :data:`MAX_AMOUNT`.
    """
    if isinstance(value, bool) or isinstance(value, float):
        raise InvalidAmount(InvalidAmount.message)
    if isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, Decimal):
        amount = value
    elif isinstance(value, str):
        text = value.strip()
        if not text or any(ch not in "0123456789.-+" for ch in text):
            raise InvalidAmount(InvalidAmount.message)
        try:
            amount = Decimal(text)
        except InvalidOperation as exc:
            raise InvalidAmount(InvalidAmount.message) from exc
    else:
        raise InvalidAmount(InvalidAmount.message)
    if amount.is_finite() and abs(amount) > MAX_AMOUNT:
        raise InvalidAmount(
            InvalidAmount.too_large.format(
                limit=format_decimal(
                    MAX_AMOUNT, locale=to_locale(get_language() or "en-us")
                )
            ),
            code=InvalidAmount.code_too_large,
        )
    amount = quantize(amount, currency)
    if amount < 0 or (amount == 0 and not allow_zero):
        raise InvalidAmount(
            InvalidAmount.not_positive, code=InvalidAmount.code_not_positive
        )
    return amount


def parse_localized_amount(
    value: str, currency: str, *, locale: str, allow_zero: bool = False
) -> Decimal:
    """Parse an amount as a person types it in ``locale``, then as
    :func:`parse_amount` does.

    German takes ``1.234,50`` and ``25,5``, English ``1,234.50`` and
    ``1234.50``. Parsing is strict: a misplaced separator (``25.00`` in German,
    ``1,23`` in English), letters, exponents and non-ASCII digits are refused.
    """
    locale = locale.replace("-", "_")
    text = (value or "").strip() if isinstance(value, str) else None
    if not text or len(text) > 64:
        raise InvalidAmount(InvalidAmount.message)
    allowed = set("0123456789-+")
    allowed |= {get_decimal_symbol(locale), get_group_symbol(locale)}
    if any(ch not in allowed for ch in text):
        raise InvalidAmount(InvalidAmount.message)
    try:
        amount = parse_decimal(text, locale=locale, strict=True)
    except (NumberFormatError, InvalidOperation, ValueError) as exc:
        raise InvalidAmount(InvalidAmount.message) from exc
    return parse_amount(amount, currency, allow_zero=allow_zero)


@lru_cache(maxsize=64)
def _babel_locale(locale: str) -> Locale:
    """Return babel's data for ``locale``, parsed once per process.

    A page formats many amounts in one locale; babel looks the locale's data
    up again on every call given its name, and only once given the object.
    """
    return Locale.parse(locale.replace("-", "_"))


def format_amount(amount: Decimal, currency: str, locale: str = "en_US") -> str:
    """Return ``amount`` as typed in ``locale``, no symbol: ``1.234,50``."""
    places = currency_exponent(currency)
    pattern = "#,##0" + ("." + "0" * places if places else "")
    return format_decimal(
        amount,
        format=pattern,
        locale=_babel_locale(locale),
        decimal_quantization=False,
    )


def format_money(amount: Decimal, currency: str, locale: str = "en_US") -> str:
    """Return ``amount`` as a person reads it: ``$1,234.50``, ``1.234,50 €``."""
    return _money_text(str(amount), currency.upper(), locale)


@lru_cache(maxsize=4096)
def _money_text(amount: str, currency: str, locale: str) -> str:
    """Return the amount written ``amount`` as :func:`format_money` gives it.

    Pages, receipts and audit sentences show the same few amounts again and
    again (every zero, a price many documents share); babel's formatting of
    one costs more than the rest of its row. Keyed by the amount's text, so
    ``-0`` and ``0`` stay apart.
    """
    return format_currency(
        Decimal(amount), currency, locale=_babel_locale(locale), currency_digits=True
    )
