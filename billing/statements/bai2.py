"""BAI2 (Cash Management Balance Reporting Specification, version 2).

Records end with ``/`` and ``88`` continues the record before it. Amounts
are whole minor units. Detail records (``16``) with type codes 100-399 are
credits; every account trailer's control total is checked, so a cut or
edited file is refused rather than read in part.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal

from django.utils.translation import gettext as _

from billing.money import currency_exponent, is_supported_currency
from billing.statements import (
    Line,
    Statement,
    StatementError,
    clip,
    decode_text,
)

CREDIT_TYPES = range(100, 400)
# Where a name in a US bank's text ends: the next keyword of ACH or wire text.
_NEXT_FIELD = re.compile(
    r"\s+(?:OBI=|BNF=|REF=|BY ORDER OF:|ORIG ID:|DESC DATE:|ENTRY DESCR:|SEC:"
    r"|IND ID:|IND NAME:|TRACE)"
)


def _records(text: str) -> list[list[str]]:
    """Return the logical records, continuations (``88``) joined in."""
    records: list[str] = []
    for raw in text.splitlines():
        raw = raw.strip()
        if not raw:
            continue
        if raw.startswith("88,"):
            if not records:
                raise StatementError(_("BAI2 continuation without a record."))
            records[-1] = records[-1].rstrip("/") + "," + raw[3:]
        else:
            records.append(raw)
    return [record.rstrip("/").split(",") for record in records]


def _date(value: str) -> date:
    try:
        return datetime.strptime(value, "%y%m%d").date()
    except ValueError as exc:
        raise StatementError(
            _("%(value)r is not a BAI2 date.") % {"value": value[:10]}, code="date"
        ) from exc


def _int(value: str, what: str) -> int:
    value = value.strip()
    if value in ("", "+", "-"):
        return 0
    sign = -1 if value.startswith("-") else 1
    digits = value.lstrip("+-")
    if not digits.isdigit():
        raise StatementError(
            _("BAI2 %(what)s %(value)r is not a number.")
            % {"what": what, "value": value[:20]},
            code="amount",
        )
    return sign * int(digits)


def read(data: bytes) -> list[Statement]:
    """Return one statement per account of a BAI2 file."""
    records = _records(decode_text(data))
    if not records or records[0][0] != "01":
        raise StatementError(_("A BAI2 file starts with a 01 record."))
    if records[-1][0] != "99":
        raise StatementError(
            _("The BAI2 file has no file trailer (99): it is incomplete."),
            code="truncated",
        )
    statements: list[Statement] = []
    group_date: date | None = None
    group_currency = "USD"
    current: Statement | None = None
    control = 0
    for fields in records:
        code = fields[0]
        if code == "02":
            if len(fields) < 5:
                raise StatementError(_("A BAI2 group header is short."))
            group_date = _date(fields[4])
            group_currency = (fields[6] if len(fields) > 6 else "") or "USD"
        elif code == "03":
            if group_date is None or len(fields) < 3:
                raise StatementError(_("A BAI2 account record is out of place."))
            currency = fields[2] or group_currency
            if not is_supported_currency(currency):
                raise StatementError(
                    _("Unknown currency %(code)r.") % {"code": currency[:5]},
                    code="currency",
                )
            current = Statement(
                format="bai2",
                account=fields[1].strip(),
                statement_id=f"{fields[1].strip()} {group_date.isoformat()}",
                currency=currency,
            )
            # Summary amounts come in (type, amount, count, funds) groups.
            control = sum(_int(fields[i], "amount") for i in range(4, len(fields), 4))
        elif code == "16":
            if current is None or group_date is None:
                raise StatementError(_("A BAI2 detail record is out of place."))
            line, amount = _detail(fields, current.currency, group_date)
            control += amount
            if line is not None:
                current.lines.append(line)
        elif code == "49":
            if current is None:
                raise StatementError(_("A BAI2 account trailer is out of place."))
            if _int(fields[1], "control total") != control:
                raise StatementError(
                    _(
                        "The BAI2 account %(account)s does not add up to its "
                        "control total: the file is damaged."
                    )
                    % {"account": current.account},
                    code="control_total",
                )
            statements.append(current)
            current = None
    if current is not None:
        raise StatementError(_("A BAI2 account has no trailer (49)."), code="truncated")
    return statements


def _detail(
    fields: list[str], currency: str, group_date: date
) -> tuple[Line | None, int]:
    """Return the credit line of a ``16`` record (or None) and its amount."""
    if len(fields) < 4:
        raise StatementError(_("A BAI2 detail record is short."))
    type_code = _int(fields[1], "type code")
    minor = _int(fields[2], "amount")
    funds = fields[3].strip().upper()
    position = 4
    value_date = None
    if funds == "V":
        value_date = _date(fields[4]) if fields[4].strip() else None
        position = 6
    elif funds == "S":
        position = 7
    elif funds == "D":
        position = 5 + 2 * _int(fields[4], "distribution count")
    rest = fields[position:]
    bank_ref = rest[0].strip() if rest else ""
    customer = rest[1].strip() if len(rest) > 1 else ""
    text = ",".join(rest[2:]) if len(rest) > 2 else ""
    if customer and customer.upper() != "NONREF":
        text = f"{customer} {text}"
    if type_code not in CREDIT_TYPES or minor <= 0:
        return None, minor
    amount = Decimal(minor).scaleb(-currency_exponent(currency))
    return (
        Line(
            entry_reference=bank_ref,
            booking_date=group_date,
            value_date=value_date,
            amount=amount,
            currency=currency,
            payer_name=_payer(text),
            text=clip(text),
        ),
        minor,
    )


def _payer(text: str) -> str:
    """Return the originator a US bank names in an ACH or wire text."""
    upper = text.upper()
    for marker in ("ORIG CO NAME:", "ORIG CO NAME=", "BY ORDER OF:", "ORG="):
        start = upper.find(marker)
        if start >= 0:
            value = text[start + len(marker) :].split(",")[0]
            return clip(_NEXT_FIELD.split(value)[0])[:200]
    return ""
