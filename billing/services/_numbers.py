"""The document numbers the system issues itself, and the prefixes it keeps.

Numbers starting with a reserved prefix are issued by the system only: card
payments (``CARD-``), staff credit memos (``CM-``) and bank statement payments
(``BANK-``). Upstream billing, imports and any other poster are refused such a
number, so a system number can never be taken before the system needs it.
Documents from before the reservation may still hold such a number; the
system skips those (:func:`free_number`).
"""

from __future__ import annotations

from datetime import date

from django.db.models import F

from billing.exceptions import ReservedDocumentNumber
from billing.models import Document, NumberSequence, Reseller

CARD_PREFIX = "CARD-"
CREDIT_MEMO_PREFIX = "CM-"
BANK_PREFIX = "BANK-"
RESERVED_PREFIXES = (CARD_PREFIX, CREDIT_MEMO_PREFIX, BANK_PREFIX)


def is_reserved_number(number: str) -> bool:
    """Return whether ``number`` is in a series only the system issues."""
    return (number or "").strip().upper().startswith(RESERVED_PREFIXES)


def refuse_reserved_number(number: str) -> None:
    """Refuse a number of the system's own series to anyone but the system."""
    if is_reserved_number(number):
        raise ReservedDocumentNumber(
            ReservedDocumentNumber.message.format(prefixes=", ".join(RESERVED_PREFIXES))
        )


def free_number(reseller: Reseller, base: str) -> str:
    """Return ``base``, or ``base-2``, ``base-3``… if a document holds it.

    Only documents posted before the prefixes were reserved can hold a
    system number, so this almost always returns ``base``. Call under the lock.
    """
    taken = set(
        Document.objects.filter(
            marketplace_id=reseller.marketplace_id, number__startswith=base
        ).values_list("number", flat=True)
    )
    number, suffix = base, 1
    while number in taken:
        suffix += 1
        number = f"{base}-{suffix}"
    return number


def next_in_series(reseller: Reseller, series: str) -> int:
    """Draw the next number of the marketplace's ``series``; call under the lock.

    The sequence row is created on first use and incremented in the caller's
    transaction: a concurrent issuer of the same marketplace waits for it.
    """
    marketplace_id = reseller.marketplace_id
    NumberSequence.objects.bulk_create(
        [NumberSequence(marketplace_id=marketplace_id, series=series)],
        ignore_conflicts=True,
    )
    rows = NumberSequence.objects.filter(marketplace_id=marketplace_id, series=series)
    rows.update(last=F("last") + 1)
    return rows.values_list("last", flat=True).get()


def credit_memo_number(reseller: Reseller, issue_date: date) -> str:
    """Return the next staff credit memo number: ``CM-US-2026-0001``."""
    code = reseller.marketplace.code.upper()
    series = f"{CREDIT_MEMO_PREFIX}{code}-{issue_date.year}"
    while True:
        number = f"{series}-{next_in_series(reseller, series):04d}"
        if not Document.objects.filter(
            marketplace_id=reseller.marketplace_id, number=number
        ).exists():
            return number


def card_payment_number(reseller: Reseller, operation_id: int) -> str:
    """Return the payment document number of a card charge: ``CARD-00000042``."""
    return free_number(reseller, f"{CARD_PREFIX}{operation_id:08d}")
