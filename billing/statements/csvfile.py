"""A plain CSV export, for banks that send nothing else.

Columns (by header, in any order; comma or semicolon separated):
``date`` (ISO), ``amount`` (``1234.56``; negative amounts are debits and
left out), ``currency``, ``counterparty``, ``remittance``, ``reference``
(the bank's entry reference), and optionally ``counterparty_iban`` and
``account`` (our account; or give it as the file's ``# account:`` line).
A cell that a spreadsheet would run as a formula refuses the whole file.
"""

from __future__ import annotations

import csv
import io
from datetime import date

from django.utils.translation import gettext as _

from billing.money import is_supported_currency
from billing.statements import (
    Line,
    Statement,
    StatementError,
    clip,
    decode_text,
    parse_amount,
)

REQUIRED = ("date", "amount", "currency", "counterparty", "remittance", "reference")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def read(data: bytes) -> list[Statement]:
    """Return the one statement of a CSV file."""
    text = decode_text(data)
    lines = text.splitlines()
    account = ""
    while lines and lines[0].startswith("#"):
        key, _sep, value = lines.pop(0)[1:].partition(":")
        if key.strip().lower() == "account":
            account = value.strip()
    if not lines:
        raise StatementError(_("The CSV file has no header."))
    delimiter = ";" if lines[0].count(";") > lines[0].count(",") else ","
    reader = csv.DictReader(io.StringIO("\n".join(lines)), delimiter=delimiter)
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise StatementError(
            _("The CSV file lacks the column(s) %(names)s.")
            % {"names": ", ".join(missing)},
            code="csv_columns",
        )
    reader.fieldnames = header
    statement = Statement(format="csv", account=account, statement_id="", currency="")
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise StatementError(
            _("The CSV file is not readable (%(error)s).") % {"error": exc}
        ) from exc
    for number, row in enumerate(rows, start=2):
        line = _row(row, number)
        if not statement.account:
            statement.account = (row.get("account") or "").strip()
        if line is not None:
            statement.lines.append(line)
    if not statement.account:
        raise StatementError(
            _("The CSV file does not say which account it is of."), code="account"
        )
    return [statement]


def _row(row: dict, number: int) -> Line | None:
    if None in row or any(value is None for value in row.values()):
        raise StatementError(
            _("Row %(row)d of the CSV file has the wrong number of cells.")
            % {"row": number}
        )
    for name in ("counterparty", "remittance", "reference", "counterparty_iban"):
        value = row.get(name) or ""
        if value.startswith(FORMULA_START):
            raise StatementError(
                _(
                    "Row %(row)d, column %(column)s starts like a spreadsheet "
                    "formula; the file was refused."
                )
                % {"row": number, "column": name},
                code="csv_formula",
            )
    raw_amount = row["amount"].strip()
    if raw_amount.startswith("-"):
        return None  # a debit
    decimal_mark = "," if "," in raw_amount and "." not in raw_amount else "."
    amount = parse_amount(raw_amount.lstrip("+"), decimal_mark=decimal_mark)
    currency = row["currency"].strip().upper()
    if not is_supported_currency(currency):
        raise StatementError(
            _("Row %(row)d: unknown currency %(code)r.")
            % {"row": number, "code": currency[:5]},
            code="currency",
        )
    try:
        booked = date.fromisoformat(row["date"].strip())
    except ValueError as exc:
        raise StatementError(
            _("Row %(row)d: %(value)r is not a date (YYYY-MM-DD).")
            % {"row": number, "value": row["date"][:20]},
            code="date",
        ) from exc
    if amount == 0:
        return None
    return Line(
        entry_reference=row["reference"].strip()[:200],
        booking_date=booked,
        amount=amount,
        currency=currency,
        payer_name=clip(row["counterparty"])[:200],
        payer_account=(row.get("counterparty_iban") or "").strip()[:42],
        text=clip(row["remittance"]),
    )
