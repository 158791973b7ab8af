"""ISO 20022 camt.053 (statement) and camt.054 (notification), any version.

Elements are matched by local name, so ``camt.053.001.02`` to ``.08`` (and
camt.054) read alike. A batched entry (several ``TxDtls``) gives one line per
transaction. Only booked credit entries count; reversals are left out.
"""

from __future__ import annotations

import io
from datetime import date
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse
from django.utils.translation import gettext as _

from billing.statements import (
    Line,
    Statement,
    StatementError,
    clip,
    parse_amount,
)

STATEMENT_TAGS = {"Stmt", "Ntfctn", "Rpt"}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: Element | None, *path: str) -> Element | None:
    for name in path:
        if element is None:
            return None
        element = next((c for c in element if _local(c.tag) == name), None)
    return element


def _children(element: Element | None, name: str) -> list[Element]:
    if element is None:
        return []
    return [c for c in element if _local(c.tag) == name]


def _text(element: Element | None, *path: str) -> str:
    found = _child(element, *path)
    return (found.text or "").strip() if found is not None else ""


def _date(element: Element | None) -> date | None:
    """Return the ``Dt`` (or the date of ``DtTm``) of a date element."""
    value = _text(element, "Dt") or _text(element, "DtTm")[:10]
    if not value:
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError as exc:
        raise StatementError(
            _("%(value)r is not a date.") % {"value": value[:20]}, code="date"
        ) from exc


def _account(element: Element | None) -> str:
    return _text(element, "Id", "IBAN") or _text(element, "Id", "Othr", "Id")


def _party_name(party: Element | None) -> str:
    # v02 has Dbtr/Nm; from v06 on it is Dbtr/Pty/Nm.
    return _text(party, "Nm") or _text(party, "Pty", "Nm")


def read(data: bytes) -> list[Statement]:
    """Return the statements of a camt.053 or camt.054 file."""
    statements: list[Statement] = []
    current: Statement | None = None
    stack: list[str] = []
    try:
        for event, element in iterparse(
            io.BytesIO(data),
            events=("start", "end"),
            forbid_dtd=True,
            forbid_entities=True,
            forbid_external=True,
        ):
            name = _local(element.tag)
            if event == "start":
                stack.append(name)
                if name in STATEMENT_TAGS:
                    current = Statement(
                        format="camt", account="", statement_id="", currency=""
                    )
                continue
            stack.pop()
            parent = stack[-1] if stack else ""
            if current is None:
                continue
            if parent in STATEMENT_TAGS and name == "Id":
                current.statement_id = (element.text or "").strip()
            elif parent in STATEMENT_TAGS and name == "Acct":
                current.account = _account(element)
                current.currency = _text(element, "Ccy")
                element.clear()
            elif name == "Ntry" and parent in STATEMENT_TAGS:
                current.lines.extend(_entry_lines(element, current))
                element.clear()
            elif name in STATEMENT_TAGS:
                if not current.account:
                    raise StatementError(
                        _("A statement names no account."), code="account"
                    )
                statements.append(current)
                current = None
                element.clear()
    except DefusedXmlException as exc:
        raise StatementError(
            _(
                "The file declares a DTD or entities, which bank statements "
                "never need; it was not read."
            ),
            code="xml_forbidden",
        ) from exc
    except ParseError as exc:
        raise StatementError(
            _("The file is not well-formed XML (%(error)s).") % {"error": exc},
            code="xml_malformed",
        ) from exc
    if stack:
        raise StatementError(_("The file ends too early."), code="xml_malformed")
    return statements


def _entry_lines(entry: Element, statement: Statement) -> list[Line]:
    """Return the credit lines of one ``Ntry``: one per transaction."""
    if _text(entry, "CdtDbtInd") != "CRDT":
        return []
    if _text(entry, "RvslInd").lower() in ("true", "1"):
        return []
    status = _text(entry, "Sts") or _text(entry, "Sts", "Cd")
    if status and status != "BOOK":
        return []
    amount_element = _child(entry, "Amt")
    currency = (
        amount_element.get("Ccy", "") if amount_element is not None else ""
    ) or statement.currency
    entry_amount = parse_amount(_text(entry, "Amt"))
    booked = _date(_child(entry, "BookgDt")) or _date(_child(entry, "ValDt"))
    if booked is None:
        raise StatementError(_("An entry has no booking date."), code="date")
    valued = _date(_child(entry, "ValDt"))
    entry_ref = _text(entry, "AcctSvcrRef") or _text(entry, "NtryRef")
    details = [
        tx
        for block in _children(entry, "NtryDtls")
        for tx in _children(block, "TxDtls")
    ]
    if not details:
        return [
            Line(
                entry_reference=entry_ref,
                booking_date=booked,
                value_date=valued,
                amount=entry_amount,
                currency=currency,
                text=clip(_text(entry, "AddtlNtryInf")),
            )
        ]
    lines = []
    for index, tx in enumerate(details, start=1):
        if _text(tx, "CdtDbtInd") == "DBIT":
            continue
        amount_element = _child(tx, "Amt")
        if amount_element is None:
            amount_element = _child(tx, "AmtDtls", "TxAmt", "Amt")
        if amount_element is not None:
            amount = parse_amount(amount_element.text or "")
            tx_currency = amount_element.get("Ccy", "") or currency
        elif len(details) == 1:
            amount, tx_currency = entry_amount, currency
        else:
            raise StatementError(
                _("A batched entry has a transaction without an amount."),
                code="amount",
            )
        parties = _child(tx, "RltdPties")
        reference = _text(tx, "Refs", "AcctSvcrRef")
        if not reference and entry_ref:
            reference = entry_ref if len(details) == 1 else f"{entry_ref}/{index}"
        remittance = _child(tx, "RmtInf")
        texts = [(u.text or "") for u in _children(remittance, "Ustrd")]
        texts += [
            _text(strd, "CdtrRefInf", "Ref") for strd in _children(remittance, "Strd")
        ]
        texts += [_text(tx, "AddtlTxInf")]
        lines.append(
            Line(
                entry_reference=reference,
                booking_date=booked,
                value_date=valued,
                amount=amount,
                currency=tx_currency,
                payer_name=clip(_party_name(_child(parties, "Dbtr")))[:200],
                payer_account=_account(_child(parties, "DbtrAcct"))[:42],
                text=clip(" ".join(t for t in texts if t)),
            )
        )
    return lines
