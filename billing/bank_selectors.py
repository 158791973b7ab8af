"""Reads of cash application: statements, bank lines and bank accounts.

Like :mod:`billing.selectors`, every function returns rows already scoped to
a staff user's marketplaces or to one reseller.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Prefetch, Q, QuerySet, prefetch_related_objects

from billing.models import (
    DEBIT_KINDS,
    Allocation,
    BankLine,
    BankStatement,
    Document,
    Marketplace,
    MarketplaceBankAccount,
    Operation,
    Payment,
    Reseller,
)
from billing.references import normalize
from billing.selectors import HAS_OPEN_AMOUNT, marketplaces_for_staff

RESELLER_MATCHES = 20


def bank_lines_for_staff(user) -> QuerySet[BankLine]:
    """Return the bank lines of the staff user's marketplaces."""
    return BankLine.objects.select_related(
        "marketplace", "reseller", "payment", "handled_by"
    ).filter(marketplace__in=marketplaces_for_staff(user))


def statements_for_staff(user) -> QuerySet[BankStatement]:
    """Return the imported statements of the staff user's marketplaces."""
    return BankStatement.objects.select_related("marketplace", "imported_by").filter(
        marketplace__in=marketplaces_for_staff(user)
    )


MAX_QUERY_LENGTH = 200


def resellers_for_line(line: BankLine, query: str) -> list[Reseller]:
    """Return resellers of the line's marketplace found by name, id,
    transfer reference or document number."""
    query = (query or "").strip()
    # Nothing stored holds a NUL (PostgreSQL text cannot) or is that long.
    if not query or "\x00" in query or len(query) > MAX_QUERY_LENGTH:
        return []
    resellers = Reseller.objects.filter(marketplace_id=line.marketplace_id)
    condition = Q(name__icontains=query)
    # An id is plain ASCII digits that fit a 64-bit key ("²" is a digit to
    # str.isdigit, and a long run of nines overflows the column).
    if query.isascii() and query.isdigit() and len(query) <= 18:
        condition |= Q(pk=int(query))
    compact = normalize(query)
    payment_owners = Payment.objects.filter(
        reseller__marketplace_id=line.marketplace_id
    ).filter(Q(transfer_reference=compact) | Q(transfer_reference=query))
    condition |= Q(pk__in=payment_owners.values("reseller_id"))
    document_owners = Document.objects.filter(
        marketplace_id=line.marketplace_id, number__iexact=query
    )
    condition |= Q(pk__in=document_owners.values("reseller_id"))
    return list(resellers.filter(condition).order_by("name")[:RESELLER_MATCHES])


def open_debits_of(reseller: Reseller) -> QuerySet[Document]:
    """Return the reseller's open invoices and debit memos, oldest first."""
    return Document.objects.filter(
        HAS_OPEN_AMOUNT, reseller=reseller, kind__in=DEBIT_KINDS
    ).order_by("issue_date", "number")


def bank_lines_of_operation(
    operation: Operation, allocations: Iterable[Allocation]
) -> list[BankLine]:
    """Return the bank lines whose money went to the operation's documents,
    in booking order: the lines it was made for, and the lines whose payment
    document its ``allocations`` applied.

    The lines belong to the marketplace and their payment documents to the
    reseller, which a sharded database keeps apart (BENCHMARKS.md): each is
    read on its own, restricted to its owner.
    """
    reseller_id = operation.reseller_id
    made_for = Q(operation=operation)
    applied = {allocation.credit_id for allocation in allocations}
    if applied:
        made_for |= Q(payment_id__in=applied)
    ordered = list(
        BankLine.objects.filter(
            made_for,
            marketplace_id=operation.reseller.marketplace_id,
            reseller_id=reseller_id,
        ).order_by("booking_date", "pk")
    )
    prefetch_related_objects(
        ordered,
        Prefetch("payment", queryset=Document.objects.filter(reseller_id=reseller_id)),
    )
    return ordered


def bank_account_of(marketplace: Marketplace) -> MarketplaceBankAccount | None:
    """Return the account the marketplace's resellers pay into, if configured."""
    return MarketplaceBankAccount.objects.filter(marketplace=marketplace).first()
