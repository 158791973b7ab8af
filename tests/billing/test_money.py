"""Money is exact: Decimal only, at the currency's minor unit, never rounded."""

from decimal import Decimal

import pytest
from babel.numbers import format_currency
from django.core.exceptions import ValidationError
from django.db.models import Sum

from billing import selectors
from billing.exceptions import InvalidAmount
from billing.fields import AmountField
from billing.models import Document
from billing.money import (
    MAX_AMOUNT,
    currency_exponent,
    format_amount,
    format_money,
    is_supported_currency,
    minor_unit,
    parse_amount,
    parse_localized_amount,
    quantize,
)
from tests import factories
from tests.factories import post


@pytest.mark.parametrize(
    ("currency", "exponent", "unit"),
    [
        ("JPY", 0, Decimal("1")),
        ("USD", 2, Decimal("0.01")),
        ("EUR", 2, Decimal("0.01")),
        ("KWD", 3, Decimal("0.001")),
        ("usd", 2, Decimal("0.01")),
    ],
)
def test_currency_minor_unit_follows_iso_4217(currency, exponent, unit):
    assert currency_exponent(currency) == exponent
    assert minor_unit(currency) == unit


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        ("100", "JPY", "100"),
        ("100.0", "JPY", "100"),
        ("10.5", "USD", "10.50"),
        ("10.50", "EUR", "10.50"),
        ("7", "USD", "7.00"),
        ("1.234", "KWD", "1.234"),
        ("1.2", "KWD", "1.200"),
        ("0.01", "USD", "0.01"),
    ],
)
def test_quantize_pads_to_the_currency_minor_unit(amount, currency, expected):
    result = quantize(Decimal(amount), currency)
    assert result == Decimal(expected)
    assert str(result) == expected


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        ("100.5", "JPY"),
        ("0.1", "JPY"),
        ("10.505", "USD"),
        ("0.001", "EUR"),
        ("1.2345", "KWD"),
    ],
)
def test_quantize_refuses_digits_below_the_minor_unit(amount, currency):
    with pytest.raises(InvalidAmount) as excinfo:
        quantize(Decimal(amount), currency)
    assert excinfo.value.code == "too_many_decimals"


@pytest.mark.parametrize("value", [10.5, 1, "10.50"])
def test_quantize_refuses_anything_but_decimal(value):
    with pytest.raises(TypeError):
        quantize(value, "USD")


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_quantize_refuses_non_finite_amounts(value):
    with pytest.raises(InvalidAmount) as excinfo:
        quantize(Decimal(value), "USD")
    assert excinfo.value.code == "invalid_amount"


@pytest.mark.parametrize(
    ("value", "currency", "expected"),
    [
        ("1234.50", "USD", Decimal("1234.50")),
        ("1234.5", "EUR", Decimal("1234.50")),
        ("1234", "JPY", Decimal("1234")),
        ("0.125", "KWD", Decimal("0.125")),
        (15, "USD", Decimal("15.00")),
        (Decimal("2.5"), "USD", Decimal("2.50")),
        ("+3.10", "USD", Decimal("3.10")),
        ("9999999999.999", "KWD", Decimal("9999999999.999")),
    ],
)
def test_parse_amount_returns_exact_decimal(value, currency, expected):
    result = parse_amount(value, currency)
    assert isinstance(result, Decimal)
    assert result == expected
    assert result.as_tuple().exponent == -currency_exponent(currency)


@pytest.mark.parametrize(
    ("value", "currency"),
    [("1.234", "USD"), ("1.5", "JPY"), ("0.0001", "KWD"), (Decimal("9.999"), "EUR")],
)
def test_parse_amount_rejects_too_many_decimals(value, currency):
    with pytest.raises(InvalidAmount) as excinfo:
        parse_amount(value, currency)
    assert excinfo.value.code == "too_many_decimals"


@pytest.mark.parametrize("value", [0.1, 10.0, float("nan")])
def test_parse_amount_refuses_floats(value):
    with pytest.raises(InvalidAmount) as excinfo:
        parse_amount(value, "USD")
    assert excinfo.value.code == "invalid_amount"


@pytest.mark.parametrize(
    "value", ["0", "0.00", "-1", "-0.01", 0, -5, Decimal("-10.00")]
)
def test_parse_amount_refuses_zero_and_negative(value):
    with pytest.raises(InvalidAmount) as excinfo:
        parse_amount(value, "USD")
    assert excinfo.value.code == "amount_not_positive"


@pytest.mark.parametrize(
    "value",
    ["100000000000.01", "100000000000000000000", 10**20, Decimal("-1e12")],
)
def test_parse_amount_refuses_what_the_ledger_cannot_hold(value):
    with pytest.raises(InvalidAmount) as excinfo:
        parse_amount(value, "USD")
    assert excinfo.value.code == "amount_too_large"


def test_parse_amount_takes_the_largest_amount():
    assert parse_amount(str(MAX_AMOUNT), "USD") == MAX_AMOUNT


def test_parse_amount_allows_zero_only_when_asked():
    assert parse_amount("0", "USD", allow_zero=True) == Decimal("0.00")
    with pytest.raises(InvalidAmount) as excinfo:
        parse_amount("-1", "USD", allow_zero=True)
    assert excinfo.value.code == "amount_not_positive"


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "abc",
        "1,000.00",
        "1_000",
        "1e3",
        "NaN",
        "Infinity",
        "1.2.3",
        True,
        None,
        [1],
        b"10",
    ],
)
def test_parse_amount_refuses_what_is_not_a_plain_number(value):
    with pytest.raises(InvalidAmount) as excinfo:
        parse_amount(value, "USD")
    assert excinfo.value.code == "invalid_amount"


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "expected"),
    [
        ("1234.5", "USD", "en_US", "$1,234.50"),
        ("1234.5", "EUR", "de_DE", "1.234,50\xa0€"),
        ("1234.5", "EUR", "de-DE", "1.234,50\xa0€"),
        ("1234", "JPY", "en_US", "¥1,234"),
        ("1.234", "KWD", "en_US", "KWD1.234"),
        ("0.1", "usd", "en_US", "$0.10"),
    ],
)
def test_format_money_shows_the_currency_minor_unit(amount, currency, locale, expected):
    assert format_money(Decimal(amount), currency, locale) == expected


@pytest.mark.parametrize("locale", ["en_US", "de_DE"])
def test_format_money_gives_babels_text_for_every_amount_asked_again(locale):
    """Formatted amounts are kept once made; asked again, each gives exactly
    what babel writes, a negative zero and a longer zero included."""
    amounts = ["0", "-0.00", "0.000", "-12.5", "12.50", "12.500", "999999.999"]
    for _ in range(2):
        for text in amounts:
            assert format_money(Decimal(text), "EUR", locale) == format_currency(
                Decimal(text), "EUR", locale=locale, currency_digits=True
            )


@pytest.mark.parametrize(
    ("code", "supported"),
    [
        ("USD", True),
        ("jpy", True),
        ("KWD", True),
        ("XYZ", False),
        ("US", False),
        ("12A", False),
    ],
)
def test_is_supported_currency(code, supported):
    assert is_supported_currency(code) is supported


# --- AmountField --------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        (Decimal("0.1"), 100),
        (Decimal("0.001"), 1),
        (Decimal("9999999999.999"), 9999999999999),
        (Decimal("-2.5"), -2500),
        (7, 7000),
        ("12.34", 12340),
    ],
)
def test_amount_field_stores_exact_thousandths(value, stored):
    field = AmountField()
    assert field.get_prep_value(value) == stored
    back = field.from_db_value(stored, None, None)
    assert isinstance(back, Decimal)
    assert back == Decimal(str(value))


def test_amount_field_refuses_floats():
    field = AmountField()
    with pytest.raises(TypeError):
        field.get_prep_value(0.1)
    with pytest.raises(ValidationError):
        field.to_python(0.1)


def test_amount_field_refuses_more_than_three_decimals():
    with pytest.raises(ValueError, match="more than 3 decimals"):
        AmountField().get_prep_value(Decimal("0.0001"))


def test_amounts_sum_exactly_in_the_database(reseller):
    for total in ("0.10", "0.20", "0.10", "0.20", "0.10", "0.20", "0.10"):
        post(reseller, "credit_memo", total)
    summed = Document.objects.filter(reseller=reseller).aggregate(s=Sum("total"))["s"]
    assert isinstance(summed, Decimal)
    assert summed == Decimal("1.00")
    assert selectors.credit_balance(reseller) == Decimal("1.00")


def test_large_amounts_round_trip_exactly(db):
    kuwait = factories.MarketplaceFactory(currency="KWD")
    reseller = factories.ResellerFactory(marketplace=kuwait)
    for _ in range(3):
        post(reseller, "invoice", "9999999999.999")
    post(reseller, "credit_memo", "0.001")
    totals = list(
        Document.objects.filter(reseller=reseller).values_list("total", flat=True)
    )
    assert sorted(totals) == [Decimal("0.001")] + [Decimal("9999999999.999")] * 3
    summed = Document.objects.filter(reseller=reseller).aggregate(s=Sum("total"))["s"]
    assert summed == Decimal("29999999999.998")


@pytest.mark.parametrize(
    ("locale", "typed", "amount"),
    [
        ("de", "1.234,50", "1234.50"),
        ("de", "25,5", "25.50"),
        ("de", "25,00", "25.00"),
        ("de", "1234", "1234.00"),
        ("en_US", "1,234.50", "1234.50"),
        ("en_US", "1234.50", "1234.50"),
        ("en", " 7 ", "7.00"),
    ],
)
def test_amounts_are_read_as_the_language_writes_them(locale, typed, amount):
    assert parse_localized_amount(typed, "EUR", locale=locale) == Decimal(amount)


@pytest.mark.parametrize(
    ("locale", "typed", "code"),
    [
        ("de", "25.00", "invalid_amount"),  # a misplaced group separator
        ("de", "1.2.3", "invalid_amount"),
        ("en_US", "25,00", "invalid_amount"),
        ("en_US", "1,23", "invalid_amount"),
        ("de", "NaN", "invalid_amount"),
        ("de", "Infinity", "invalid_amount"),
        ("en_US", "1e9999", "invalid_amount"),
        ("en_US", "²", "invalid_amount"),
        ("en_US", "١٢", "invalid_amount"),
        ("en_US", "1\x00", "invalid_amount"),
        ("en_US", "9" * 10_000, "invalid_amount"),
        ("de", "25,555", "too_many_decimals"),
        ("de", "-1", "amount_not_positive"),
        ("en_US", "100,000,000,000.01", "amount_too_large"),
    ],
)
def test_amounts_typed_wrong_are_refused_with_a_code(locale, typed, code):
    with pytest.raises(InvalidAmount) as refused:
        parse_localized_amount(typed, "EUR", locale=locale)
    assert refused.value.code == code


def test_amounts_are_shown_for_typing_in_the_language():
    assert format_amount(Decimal("1234.5"), "EUR", "de") == "1.234,50"
    assert format_amount(Decimal("1234.5"), "EUR", "en_US") == "1,234.50"
    assert format_amount(Decimal("1234"), "JPY", "de") == "1.234"
    for locale in ("de", "en_US"):
        shown = format_amount(Decimal("98765.43"), "EUR", locale)
        assert parse_localized_amount(shown, "EUR", locale=locale) == Decimal(
            "98765.43"
        )
