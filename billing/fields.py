"""Model fields for exact money.

SQLite keeps ``NUMERIC`` columns as binary floating point, so a plain
``DecimalField`` would let floats touch money there. :class:`AmountField`
stores every amount as a whole number of thousandths of a unit in a 64-bit
integer column: exact on every database, summed and compared exactly by SQL,
and seen by Python as ``Decimal`` only.
"""

from decimal import Decimal

from django import forms
from django.core import exceptions
from django.db import models

SCALE = 3
_FACTOR = Decimal(10) ** SCALE


class AmountField(models.BigIntegerField):
    """A money amount: ``Decimal`` in Python, exact thousandths in the database."""

    description = "Money amount (exact, three decimals at most)"

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        return Decimal(int(value)).scaleb(-SCALE)

    def to_python(self, value):
        if value is None or isinstance(value, Decimal):
            return value
        if isinstance(value, float):
            raise exceptions.ValidationError("Amounts must not be floats.")
        try:
            return Decimal(str(value))
        except ArithmeticError as exc:
            raise exceptions.ValidationError("Enter a valid amount.") from exc

    def get_prep_value(self, value):
        if value is None or hasattr(value, "resolve_expression"):
            return value
        if isinstance(value, float):
            raise TypeError("Amounts must not be floats.")
        amount = Decimal(value) if isinstance(value, int) else self.to_python(value)
        scaled = amount * _FACTOR
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{amount} has more than {SCALE} decimals")
        return int(scaled)

    def formfield(self, **kwargs):
        return forms.DecimalField(
            **{"decimal_places": SCALE, "max_digits": 18, **kwargs}
        )

    def value_to_string(self, obj):
        value = self.value_from_object(obj)
        return "" if value is None else str(value)
