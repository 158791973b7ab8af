"""How the system applies credit: one pure, deterministic function.

This is the "own discretion" of the FAQ, written down. Debit documents are paid
oldest first (issue date, then number); credits are consumed oldest first
(issue date, then number). When the credit does not cover the selection, the
oldest documents are paid in full and the next one partly. No database here:
lists in, plan out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class OpenItem:
    """A document with something open: unpaid debit or unapplied credit."""

    id: int
    number: str
    issue_date: date
    open_amount: Decimal


@dataclass(frozen=True, slots=True)
class PlannedAllocation:
    credit_id: int
    debit_id: int
    amount: Decimal


def policy_order(items: Iterable[OpenItem]) -> list[OpenItem]:
    """Return ``items`` in the order the policy uses them: oldest first."""
    return sorted(items, key=lambda item: (item.issue_date, item.number, item.id))


def plan_allocations(
    credits: Iterable[OpenItem], debits: Iterable[OpenItem]
) -> list[PlannedAllocation]:
    """Plan how ``credits`` pay ``debits``, oldest first on both sides.

    Every planned amount is positive, no credit gives more than its open
    amount, no debit receives more than its open amount, and the total planned
    is the smaller of the two sides' totals. Linear after sorting.
    """
    credit_queue = [item for item in policy_order(credits) if item.open_amount > 0]
    plan: list[PlannedAllocation] = []
    ci = 0
    credit_left = credit_queue[0].open_amount if credit_queue else ZERO
    for debit in policy_order(debits):
        debit_left = debit.open_amount
        while debit_left > 0 and ci < len(credit_queue):
            amount = min(debit_left, credit_left)
            plan.append(PlannedAllocation(credit_queue[ci].id, debit.id, amount))
            debit_left -= amount
            credit_left -= amount
            if credit_left == 0:
                ci += 1
                credit_left = (
                    credit_queue[ci].open_amount if ci < len(credit_queue) else ZERO
                )
        if ci >= len(credit_queue):
            break
    return plan


def remaining_after(
    debits: Sequence[OpenItem], plan: Iterable[PlannedAllocation]
) -> list[tuple[OpenItem, Decimal]]:
    """Return each debit, oldest first, with what the plan leaves open on it."""
    covered: dict[int, Decimal] = {}
    for allocation in plan:
        covered[allocation.debit_id] = (
            covered.get(allocation.debit_id, ZERO) + allocation.amount
        )
    return [
        (debit, debit.open_amount - covered.get(debit.id, ZERO))
        for debit in policy_order(debits)
    ]
