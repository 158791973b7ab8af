"""Checks of the ledger's guarantees, shared by the billing tests.

``assert_ledger_consistent`` recomputes every open amount from the active
allocations (the TigerBeetle "auditor" idea); ``ledger_snapshot`` captures
everything a refused request must leave untouched.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from billing import selectors
from billing.models import (
    CREDIT_KINDS,
    DEBIT_KINDS,
    Allocation,
    AuditEvent,
    Document,
    Operation,
    Reseller,
    Reversal,
)

ZERO = Decimal(0)


def assert_ledger_consistent(reseller: Reseller) -> None:
    """Assert every guarantee of the ledger for one reseller's rows."""
    documents = {doc.pk: doc for doc in Document.objects.filter(reseller=reseller)}
    applied: dict[int, Decimal] = defaultdict(lambda: ZERO)
    allocations = Allocation.objects.filter(reseller=reseller).select_related(
        "reversal"
    )
    for allocation in allocations:
        assert allocation.amount > 0, allocation
        credit = documents[allocation.credit_id]
        debit = documents[allocation.debit_id]
        assert credit.kind in CREDIT_KINDS, allocation
        assert debit.kind in DEBIT_KINDS, allocation
        if not hasattr(allocation, "reversal"):
            applied[credit.pk] += allocation.amount
            applied[debit.pk] += allocation.amount
    for doc in documents.values():
        assert isinstance(doc.open_amount, Decimal)
        assert ZERO <= doc.open_amount <= doc.total, doc
        assert applied[doc.pk] == doc.total - doc.open_amount, (
            f"{doc.number}: allocations {applied[doc.pk]} but "
            f"total {doc.total} - open {doc.open_amount}"
        )
    expected_balance = sum(
        (doc.open_amount for doc in documents.values() if doc.kind in CREDIT_KINDS),
        ZERO,
    )
    assert selectors.credit_balance(reseller) == expected_balance
    stored_count = Reseller.objects.values_list("document_count", flat=True)
    assert stored_count.get(pk=reseller.pk) == len(documents)
    foreign = Allocation.objects.filter(reseller=reseller).exclude(
        credit__reseller=reseller, debit__reseller=reseller
    )
    assert not foreign.exists()


def ledger_snapshot(reseller: Reseller) -> dict[str, object]:
    """Return the reseller's open amounts and row counts, for before/after."""
    return {
        "open": dict(
            Document.objects.filter(reseller=reseller)
            .order_by("pk")
            .values_list("pk", "open_amount")
        ),
        "allocations": Allocation.objects.filter(reseller=reseller).count(),
        "reversals": Reversal.objects.filter(reseller=reseller).count(),
        "operations": Operation.objects.filter(reseller=reseller).count(),
        "audit_events": AuditEvent.objects.filter(reseller=reseller).count(),
    }


def open_amount(document: Document) -> Decimal:
    """Return the document's open amount as stored now."""
    return Document.objects.values_list("open_amount", flat=True).get(pk=document.pk)
