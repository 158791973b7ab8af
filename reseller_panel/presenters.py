"""Shape ledger rows for the reseller panel's pages: pure functions, no ORM."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from billing.models import Allocation, Document, Operation
from billing.selectors import AccountSummary, AgingBucket

ZERO = Decimal(0)
BAR_MAX = 260  # the widest aging bar, in SVG user units
BAR_ROW = 40


@dataclass(frozen=True)
class AgingBar:
    bucket: AgingBucket
    width: int
    y: int
    overdue: bool

    @property
    def text_x(self) -> int:
        return 170 + self.width + 10


def aging_bars(summary: AccountSummary) -> list[AgingBar]:
    """Return one bar per aging bucket, scaled to the largest amount."""
    top = max((bucket.amount for bucket in summary.aging), default=ZERO)
    bars = []
    for index, bucket in enumerate(summary.aging):
        width = int(bucket.amount * BAR_MAX / top) if top > 0 else 0
        if bucket.amount > 0:
            width = max(width, 3)  # a tiny amount still shows
        bars.append(
            AgingBar(bucket, width, index * BAR_ROW, overdue=bucket.key != "current")
        )
    return bars


@dataclass(frozen=True)
class Outcome:
    """What a payment or automatic application did, as the panel shows it."""

    credit_applied: Decimal
    amount_charged: Decimal
    amount_left_open: Decimal
    method: str


def outcome_of(operation: Operation) -> Outcome:
    """Return a payment's figures from its record; an automatic application
    applied credit only (``operation.payment`` is loaded with the operation)."""
    payment = getattr(operation, "payment", None)
    if payment is None:
        return Outcome(operation.amount, ZERO, ZERO, "")
    return Outcome(
        payment.credit_applied,
        payment.amount_charged,
        payment.amount_left_open,
        payment.method,
    )


@dataclass(frozen=True)
class ReceiptLine:
    """One document of a receipt: what credit and card paid, what is open now."""

    document: Document
    credit_applied: Decimal
    card_charged: Decimal
    reversed_amount: Decimal


def receipt_lines(
    operation: Operation,
    allocations: Iterable[Allocation],
    documents: Sequence[Document],
) -> list[ReceiptLine]:
    """Return the operation's per-document lines, oldest document first."""
    credit: dict[int, Decimal] = {}
    card: dict[int, Decimal] = {}
    reversed_: dict[int, Decimal] = {}
    for allocation in allocations:
        by_card = allocation.credit.operation_id == operation.pk
        target = card if by_card else credit
        target[allocation.debit_id] = target.get(allocation.debit_id, ZERO) + (
            allocation.amount
        )
        if getattr(allocation, "reversal", None) is not None:
            reversed_[allocation.debit_id] = (
                reversed_.get(allocation.debit_id, ZERO) + allocation.amount
            )
    ordered = sorted(documents, key=lambda d: (d.issue_date, d.number, d.pk))
    return [
        ReceiptLine(
            document=doc,
            credit_applied=credit.get(doc.pk, ZERO),
            card_charged=card.get(doc.pk, ZERO),
            reversed_amount=reversed_.get(doc.pk, ZERO),
        )
        for doc in ordered
    ]
