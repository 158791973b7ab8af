"""Reading bank statements: camt.053/054, BAI2, MT940 and a plain CSV.

Each reader turns a file into :class:`Statement` objects holding only the
credit lines (money in); debits and reversals are left out. Pure code, no
database. Any problem raises :class:`StatementError` with a message for
people, before anything is written: a file is read whole or not at all.

XML is read with defusedxml: no DTD, no entity expansion, no network, and
streamed (each entry is dropped once read) so memory stays bounded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.utils.translation import gettext_lazy as _

from billing.exceptions import InvalidAmount
from billing.money import parse_amount as parse_amount_of_currency

# Refused before any parsing; a 10,000-line camt.053 is about 12 MB.
MAX_STATEMENT_BYTES = 25 * 1024 * 1024
MAX_TEXT = 1000


class StatementError(ValueError):
    """A statement file that cannot be read; nothing of it is used."""

    def __init__(self, message, code: str = "invalid_statement"):
        super().__init__(message)
        self.message = message
        self.code = code


@dataclass(frozen=True, slots=True)
class Line:
    """One credit line of a statement."""

    entry_reference: str
    booking_date: date
    amount: Decimal
    currency: str
    payer_name: str = ""
    payer_account: str = ""
    text: str = ""
    value_date: date | None = None


@dataclass
class Statement:
    """One statement of one account, with its credit lines in bank order."""

    format: str
    account: str
    statement_id: str
    currency: str
    lines: list[Line] = field(default_factory=list)


def stable_reference(account: str, line: Line, occurrence: int) -> str:
    """Return the key of a line whose bank gave no entry reference.

    A hash of account, date, amount, currency, payer and text, so the same
    line in an overlapping statement gets the same key; ``occurrence`` tells
    apart identical lines of one day.
    """
    payload = "|".join(
        [
            account,
            line.booking_date.isoformat(),
            str(line.amount),
            line.currency,
            line.payer_account,
            line.payer_name,
            line.text,
            str(occurrence),
        ]
    )
    return "H:" + hashlib.sha256(payload.encode()).hexdigest()[:40]


def detect_format(data: bytes) -> str:
    """Return the format of a statement file from its first bytes."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or head.startswith(b"<"):
        return "camt"
    if head.startswith(b"01,"):
        return "bai2"
    if head.startswith((b":20:", b"{1:", b":940:")) or b"\n:20:" in head[:200]:
        return "mt940"
    return "csv"


def read_statements(data: bytes) -> list[Statement]:
    """Return the statements of a file, or raise :class:`StatementError`."""
    from billing.statements import bai2, camt, csvfile, mt940

    if len(data) > MAX_STATEMENT_BYTES:
        raise StatementError(
            _("The file is larger than %(mb)d MB; split it and try again.")
            % {"mb": MAX_STATEMENT_BYTES // (1024 * 1024)},
            code="too_large",
        )
    if not data.strip():
        raise StatementError(_("The file is empty."), code="empty")
    readers = {
        "camt": camt.read,
        "bai2": bai2.read,
        "mt940": mt940.read,
        "csv": csvfile.read,
    }
    statements = readers[detect_format(data)](data)
    if not statements:
        raise StatementError(_("The file holds no statement."), code="empty")
    for statement in statements:
        for position, line in enumerate(statement.lines, start=1):
            # A line's position counts within its statement: in a file of
            # several, the statement is named too.
            check_amount(line, position, statement if len(statements) > 1 else None)
    return statements


def check_amount(line: Line, position: int, statement: Statement | None = None) -> None:
    """Refuse a line whose amount the ledger cannot hold exactly: more
    decimals than its currency has, or more than ``MAX_AMOUNT``."""
    try:
        parse_amount_of_currency(line.amount, line.currency, allow_zero=True)
    except InvalidAmount as exc:
        facts = {
            "position": position,
            "amount": str(line.amount)[:40],
            "currency": line.currency[:3],
            "problem": exc.message,
        }
        if statement is None:
            message = _("Line %(position)d, %(amount)s %(currency)s: %(problem)s")
        else:
            facts["statement"] = statement.statement_id[:40]
            message = _(
                "Statement %(statement)s, line %(position)d, %(amount)s "
                "%(currency)s: %(problem)s"
            )
        raise StatementError(message % facts, code="amount") from exc


def decode_text(data: bytes, *, fallback: str | None = None) -> str:
    """Return the text of a line-based file: UTF-8 (or ASCII), or, for a
    format whose banks may write it so, ``fallback`` when it is not UTF-8."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if fallback is not None:
            return _without_binary(data.decode(fallback))
        raise StatementError(
            _(
                "The file is not UTF-8 text (byte %(position)d). Export it as "
                "UTF-8 and try again."
            )
            % {"position": exc.start},
            code="encoding",
        ) from exc
    return _without_binary(text)


def _without_binary(text: str) -> str:
    if "\x00" in text:
        raise StatementError(_("The file holds binary data."), code="encoding")
    return text


def clip(text: str) -> str:
    """Return ``text`` with runs of white space folded, at most MAX_TEXT long."""
    return " ".join((text or "").split())[:MAX_TEXT]


def parse_amount(value: str, *, decimal_mark: str = ".") -> Decimal:
    """Return a positive amount written as ``1234.56``; refuse anything else."""
    raw = (value or "").strip()
    if decimal_mark != ".":
        raw = raw.replace(".", "").replace(decimal_mark, ".")
    if not raw or raw.count(".") > 1 or not raw.replace(".", "").isdigit():
        raise StatementError(
            _("%(value)r is not an amount.") % {"value": value[:40]},
            code="amount",
        )
    return Decimal(raw)
