"""SWIFT MT940 customer statements, as German and other European banks send.

A file holds one or more statements (``:20:`` … ``:62F:``). Each ``:61:``
statement line is followed by its ``:86:`` information; the structured
German form (``?20``-``?29`` remittance, ``?31`` payer IBAN, ``?32``/``?33``
payer name) is understood. Credits are ``C`` lines; reversals (``RC``,
``RD``) and debits are left out. Each statement must reconcile: opening
balance plus its lines equals the closing balance, or the file is refused.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

from django.utils.translation import gettext as _

from billing.statements import (
    Line,
    Statement,
    StatementError,
    clip,
    decode_text,
    parse_amount,
)

_TAG = re.compile(r"^:(\d{2}[A-Z]?):", re.MULTILINE)
_BALANCE = re.compile(r"^([CD])(\d{6})([A-Z]{3})([\d,]+)$")
_LINE = re.compile(
    r"^(?P<value>\d{6})(?P<entry>\d{4})?(?P<mark>RC|RD|C|D)(?P<funds>[A-Z])?"
    r"(?P<amount>\d[\d,]*)(?P<type>[NSF][A-Z0-9]{3})(?P<ref>[^/\n]*)"
    r"(?://(?P<bank>[^\n]*))?(?:\n(?P<extra>.*))?$",
    re.DOTALL,
)
_SUBFIELD = re.compile(r"\?(\d{2})")


def _date(value: str) -> date:
    try:
        return date(2000 + int(value[:2]), int(value[2:4]), int(value[4:6]))
    except ValueError as exc:
        raise StatementError(
            _("%(value)r is not an MT940 date.") % {"value": value[:10]},
            code="date",
        ) from exc


def _fields(block: str) -> list[tuple[str, str]]:
    """Return the (tag, value) pairs of one statement block, in order."""
    parts = _TAG.split(block)
    return [
        (parts[i], parts[i + 1].strip("\n").replace("\r", ""))
        for i in range(1, len(parts) - 1, 2)
    ]


def _blocks(text: str) -> list[str]:
    """Return the statement blocks of a file, envelopes ({1:…}{4:) removed."""
    text = re.sub(r"\{[1-3]:[^}]*\}", "", text).replace("{4:", "")
    text = text.replace("-}", "\n-").replace("{5:", "")
    blocks, current = [], []
    for raw in text.splitlines():
        if raw.strip() == "-":
            blocks.append("\n".join(current))
            current = []
        elif raw.startswith(":20:") and any(c.startswith(":20:") for c in current):
            blocks.append("\n".join(current))
            current = [raw]
        else:
            current.append(raw)
    blocks.append("\n".join(current))
    return [block for block in blocks if ":20:" in block]


def _balance(value: str) -> tuple[Decimal, str]:
    match = _BALANCE.match(value.strip())
    if match is None:
        raise StatementError(
            _("MT940 balance %(value)r is not readable.") % {"value": value[:40]},
            code="balance",
        )
    amount = parse_amount(match.group(4), decimal_mark=",")
    return (amount if match.group(1) == "C" else -amount), match.group(3)


def read(data: bytes) -> list[Statement]:
    """Return the statements of an MT940 file.

    MT940 carries no declaration of its encoding, and German banks write it
    in UTF-8 or in ISO 8859-1 (the DFÜ-Abkommen allows both): a file that is
    not UTF-8 is read as ISO 8859-1, where every byte is a character, so a
    payer's "Müller" reaches the unmatched queue as written.
    """
    text = decode_text(data, fallback="iso-8859-1")
    statements = [_statement(block) for block in _blocks(text)]
    if not statements:
        raise StatementError(_("The file holds no MT940 statement."))
    return statements


def _statement(block: str) -> Statement:
    fields = _fields(block)
    tags = dict(fields)
    for tag in ("20", "25"):
        if tag not in tags:
            raise StatementError(
                _("An MT940 statement lacks field :%(tag)s:.") % {"tag": tag}
            )
    opening_tag = "60F" if "60F" in tags else "60M"
    closing_tag = "62F" if "62F" in tags else "62M"
    if opening_tag not in tags or closing_tag not in tags:
        raise StatementError(
            _("An MT940 statement lacks its opening or closing balance."),
            code="truncated",
        )
    opening, currency = _balance(tags[opening_tag])
    closing, _currency = _balance(tags[closing_tag])
    account = tags["25"].strip()
    statement = Statement(
        format="mt940",
        account=account,
        statement_id=tags["20"].strip() + " " + tags.get("28C", "").strip(),
        currency=currency,
    )
    movement = Decimal(0)
    pending: tuple[re.Match, date] | None = None
    for tag, value in fields:
        if tag == "61":
            if pending is not None:
                statement.lines.extend(_line(pending, "", currency))
            match = _LINE.match(value)
            if match is None:
                raise StatementError(
                    _("MT940 statement line %(value)r is not readable.")
                    % {"value": value[:40]},
                    code="line",
                )
            amount = parse_amount(match.group("amount"), decimal_mark=",")
            credit = match.group("mark") in ("C", "RD")
            movement += amount if credit else -amount
            pending = (match, _date(match.group("value")))
        elif tag == "86" and pending is not None:
            statement.lines.extend(_line(pending, value, currency))
            pending = None
    if pending is not None:
        statement.lines.extend(_line(pending, "", currency))
    if opening + movement != closing:
        raise StatementError(
            _(
                "MT940 statement %(id)s does not reconcile: opening balance "
                "plus its lines is not the closing balance."
            )
            % {"id": statement.statement_id},
            code="balance",
        )
    return statement


def _line(pending: tuple[re.Match, date], info: str, currency: str) -> list[Line]:
    match, value_date = pending
    if match.group("mark") != "C":
        return []
    booking = value_date
    if match.group("entry"):
        month, day = int(match.group("entry")[:2]), int(match.group("entry")[2:])
        year = value_date.year
        if month == 12 and value_date.month == 1:
            year -= 1
        elif month == 1 and value_date.month == 12:
            year += 1
        try:
            booking = date(year, month, day)
        except ValueError as exc:
            raise StatementError(_("An MT940 entry date is not valid.")) from exc
    reference = (match.group("bank") or "").strip()
    customer = match.group("ref").strip()
    if not reference and customer.upper() != "NONREF":
        reference = customer
    payer_name, payer_account, text = _information(info.replace("\n", ""))
    return [
        Line(
            entry_reference=reference,
            booking_date=booking,
            value_date=value_date,
            amount=parse_amount(match.group("amount"), decimal_mark=","),
            currency=currency,
            payer_name=payer_name,
            payer_account=payer_account,
            text=text,
        )
    ]


def _information(info: str) -> tuple[str, str, str]:
    """Return payer name, payer account and remittance text of a ``:86:``."""
    if not _SUBFIELD.search(info):
        return "", "", clip(info)
    parts = _SUBFIELD.split(info)
    subfields: dict[str, str] = {}
    for i in range(1, len(parts) - 1, 2):
        subfields[parts[i]] = subfields.get(parts[i], "") + parts[i + 1]
    remittance = "".join(
        subfields.get(f"{n:02d}", "") for n in (*range(20, 30), *range(60, 64))
    )
    name = (subfields.get("32", "") + subfields.get("33", "")).strip()
    return clip(name)[:200], subfields.get("31", "").strip()[:42], clip(remittance)
