"""Planning a payment: what paying a selection would do, read-only.

The plan is computed from the balances as they are: which credit the policy
applies to which selected document, what is left for the payment method, and
a fingerprint of everything the reseller saw. The preview shows it; paying
(:mod:`billing.services.payments`) computes it again under the reseller lock
and refuses to go on when the fingerprint changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _

from billing import rows
from billing.allocation_policy import (
    OpenItem,
    PlannedAllocation,
    plan_allocations,
    policy_order,
    remaining_after,
)
from billing.exceptions import (
    DocumentNotFound,
    DocumentNotPayable,
    DocumentOnHold,
    NothingSelected,
)
from billing.models import (
    CREDIT_KINDS,
    DEBIT_KINDS,
    CreditPolicy,
    Document,
    PaymentModel,
    Reseller,
)

ZERO = Decimal(0)
MAX_DOCUMENTS_PER_PAYMENT = 1000


@dataclass(frozen=True)
class PlanLine:
    """One selected document: what credit pays on it and what remains."""

    document: Document
    credit_applied: Decimal
    remainder: Decimal


@dataclass(frozen=True)
class PaymentPlan:
    """What paying the selection would do, as shown to the reseller."""

    reseller: Reseller
    lines: tuple[PlanLine, ...]
    allocations: tuple[PlannedAllocation, ...]
    credits: dict[int, Document] = field(repr=False)
    use_credit: bool
    credit_allowed: bool
    credit_balance: Decimal
    fingerprint: str

    @property
    def documents(self) -> list[Document]:
        return [line.document for line in self.lines]

    @property
    def total_selected(self) -> Decimal:
        return sum((line.document.open_amount for line in self.lines), ZERO)

    @property
    def credit_applied(self) -> Decimal:
        return sum((line.credit_applied for line in self.lines), ZERO)

    @property
    def remainder(self) -> Decimal:
        return sum((line.remainder for line in self.lines), ZERO)

    @property
    def allocation_rows(self) -> list[tuple[Document, Document, Decimal]]:
        """Return (credit document, debit document, amount) for display."""
        debits = {line.document.pk: line.document for line in self.lines}
        return [
            (self.credits[a.credit_id], debits[a.debit_id], a.amount)
            for a in self.allocations
        ]


def credit_allowed(reseller: Reseller) -> bool:
    """Return whether the reseller may pay with its credit balance.

    A prepaid account's credit is always used. A term account may choose to
    use it in a self-service marketplace; in a contact-support marketplace it
    is only told its credit and whom to contact.
    """
    return (
        reseller.payment_model == PaymentModel.PREPAID
        or reseller.marketplace.term_credit_policy == CreditPolicy.SELF_SERVICE
    )


def preview_payment(
    *, reseller: Reseller, document_ids: Iterable[int | str], use_credit: bool
) -> PaymentPlan:
    """Return what paying the selected documents would do, changing nothing."""
    ids = clean_document_ids(document_ids)
    if not Reseller.marketplace.is_cached(reseller):
        # The signed-in user's reseller comes with its marketplace; any other
        # caller's reseller is read with it, in one statement.
        reseller = Reseller.objects.select_related("marketplace").get(pk=reseller.pk)
    return plan_payment(reseller=reseller, ids=ids, use_credit=use_credit)


def open_item(document: Document) -> OpenItem:
    return OpenItem(
        id=document.pk,
        number=document.number,
        issue_date=document.issue_date,
        open_amount=document.open_amount,
    )


# The plan's reads, sent under the lock by every payment, link and posting:
# written out once rather than built by the ORM each time. Each document row
# ends in 1 when it is one of the open credits, else 0.
def _documents(marker: int, where: str) -> str:
    return (
        f"SELECT {rows.columns(Document)}, {marker} "  # noqa: S608 - names from _meta
        f'FROM "billing_document" WHERE {where}'
    )


def _open(kinds: Sequence[str], table: str = "billing_document") -> str:
    """Return the condition "the reseller's open documents of ``kinds``".

    The kinds are written into the SQL, as the open condition is: these
    reads run as prepared statements, and a generic plan of ``"kind" IN
    ($2, $3)`` does not know which kinds it reads. It read an account's
    open credits through the open-documents index in date order, filtering
    every open invoice out (8.6 ms for an account with 27,000 open
    invoices, against 0.07 ms through the open credits' own index, which
    only literal kinds can use).
    """
    return (
        f'"{table}"."reseller_id" = %s AND "{table}"."is_open" '
        f'AND "{table}"."kind" IN ({rows.names(kinds)})'
    )


OPEN_CREDITS = _documents(1, _open(CREDIT_KINDS))
OPEN_DEBITS = _documents(
    0, _open(DEBIT_KINDS) + ' AND "billing_document"."held_at" IS NULL'
)
ANY_OPEN_CREDIT = (
    ' AND EXISTS (SELECT 1 FROM "billing_document" AS "credit" '  # noqa: S608 - no values
    f"WHERE {_open(CREDIT_KINDS, table='credit')})"
)
SELECTED = _documents(
    0, '"billing_document"."reseller_id" = %s AND "billing_document"."id" {ids}'
)


def plan_read(
    reseller: Reseller, sql: str, params: Sequence[object]
) -> tuple[str, list[object]]:
    """Return one read of the reseller's open credits and of the documents
    ``sql`` reads (``UNION ALL``), with its parameters."""
    return f"{OPEN_CREDITS} UNION ALL {sql}", [reseller.pk, *params]


def with_open_credits(
    reseller: Reseller, sql: str, params: Sequence[object]
) -> tuple[list[Document], list[Document]]:
    """Return the reseller's open credits and the documents ``sql`` reads.

    One ``UNION ALL`` of the two reads (:func:`plan_read`), so planning under
    the lock costs one round trip. The order of either list is the
    database's: the policy sorts.
    """
    connection = transaction.get_connection()
    with connection.cursor() as cursor:
        cursor.execute(*plan_read(reseller, sql, params))
        found = cursor.fetchall()
    documents = rows.instances(Document, found, connection)
    credits = [doc for doc, row in zip(documents, found, strict=True) if row[-1]]
    others = [doc for doc, row in zip(documents, found, strict=True) if not row[-1]]
    return credits, others


def auto_apply_read(
    reseller: Reseller, *, with_new_credit: bool = False
) -> tuple[str, list[object]]:
    """Return the read :func:`auto_apply_plan` plans from: the open credits
    and the open debits not on hold (only if some credit is open, unless new
    credit arrives)."""
    # Disputed documents on hold wait for support, whatever credit is open.
    sql, params = OPEN_DEBITS, [reseller.pk]
    if not with_new_credit:
        # Without open credit there is nothing to apply: no debit is read.
        sql, params = sql + ANY_OPEN_CREDIT, [*params, reseller.pk]
    return plan_read(reseller, sql, params)


def auto_apply_plan(
    reseller: Reseller,
    *,
    new_credit: OpenItem | None = None,
    posted: Document | None = None,
    read: tuple[list[Document], list[Document]] | None = None,
) -> tuple[list[Document], list[Document], list[PlannedAllocation]]:
    """Return what automatic application would apply now, by the policy.

    Returns the open credits, the open debits and the planned allocations.
    Debit documents on a dispute hold are left out.
    With ``new_credit`` (a document not posted yet, such as a credit memo
    under review) the plan shows what posting it would apply as well.
    ``posted`` is a document being posted (not in the database yet): it is
    one of the returned credits or debits. ``read`` holds the credits and
    debits :func:`auto_apply_read` read, when the caller read them already.
    """
    new = new_credit is not None or (posted is not None and posted.is_credit)
    if read is None:
        connection = transaction.get_connection()
        with connection.cursor() as cursor:
            cursor.execute(*auto_apply_read(reseller, with_new_credit=new))
            found = cursor.fetchall()
        documents = rows.instances(Document, found, connection)
        read = (
            [doc for doc, row in zip(documents, found, strict=True) if row[-1]],
            [doc for doc, row in zip(documents, found, strict=True) if not row[-1]],
        )
    credits, debits = list(read[0]), list(read[1])
    if posted is not None:
        (credits if posted.is_credit else debits).append(posted)
    credit_items = [open_item(doc) for doc in credits]
    if new_credit is not None:
        credit_items.append(new_credit)
    if not credit_items:
        return credits, [], []
    planned = plan_allocations(credit_items, map(open_item, debits))
    return credits, debits, planned


def selected_read(reseller: Reseller, ids: Sequence[int]) -> tuple[str, list[object]]:
    """Return the read :func:`plan_payment` plans from: the open credits and
    the selected documents."""
    return plan_read(reseller, *documents_read(reseller, ids))


def plan_payment(
    *,
    reseller: Reseller,
    ids: list[int],
    use_credit: bool,
    read: tuple[list[Document], list[Document]] | None = None,
) -> PaymentPlan:
    """Plan the payment from the balances as they are now.

    ``read`` holds the open credits and the selected documents
    :func:`selected_read` read, when the caller read them already.
    """
    if read is None:
        read = with_open_credits(reseller, *documents_read(reseller, ids))
    credits, selected = read
    if len(selected) != len(ids):
        raise DocumentNotFound()
    if any(doc.kind not in DEBIT_KINDS or doc.open_amount <= 0 for doc in selected):
        raise DocumentNotPayable()
    held = sorted(doc.number for doc in selected if doc.is_held)
    if held:
        raise DocumentOnHold(DocumentOnHold.message.format(document=", ".join(held)))
    allowed = credit_allowed(reseller)
    balance = sum((doc.open_amount for doc in credits), ZERO)
    by_id = {doc.pk: doc for doc in selected}
    debit_items = [open_item(doc) for doc in selected]
    planned: list[PlannedAllocation] = []
    if use_credit and allowed:
        planned = plan_allocations(map(open_item, credits), debit_items)
    lines = tuple(
        PlanLine(
            document=by_id[item.id],
            credit_applied=item.open_amount - left,
            remainder=left,
        )
        for item, left in remaining_after(debit_items, planned)
    )
    digest = fingerprint(
        reseller=reseller,
        use_credit=use_credit,
        debits=debit_items,
        credits=[(doc.pk, doc.open_amount) for doc in credits],
        planned=planned,
    )
    return PaymentPlan(
        reseller=reseller,
        lines=lines,
        allocations=tuple(planned),
        credits={doc.pk: doc for doc in credits},
        use_credit=use_credit and allowed,
        credit_allowed=allowed,
        credit_balance=balance,
        fingerprint=digest,
    )


def fingerprint(
    *,
    reseller: Reseller,
    use_credit: bool,
    debits: Sequence[OpenItem],
    credits: Sequence[tuple[int, Decimal]],
    planned: Sequence[PlannedAllocation],
) -> str:
    """Hash everything the reseller saw: balances in, allocations out."""
    payload = {
        "reseller": reseller.pk,
        "use_credit": bool(use_credit),
        "debits": [(d.id, str(d.open_amount)) for d in policy_order(debits)],
        "credits": sorted((pk, str(amount)) for pk, amount in credits),
        "plan": [(p.credit_id, p.debit_id, str(p.amount)) for p in planned],
    }
    return hashlib.sha256(
        json.dumps(payload, sort_keys=True, default=str).encode()
    ).hexdigest()


def clean_document_ids(document_ids: Iterable[int | str]) -> list[int]:
    """Return the selected ids as distinct integers, refusing anything else."""
    ids: list[int] = []
    for value in document_ids or ():
        try:
            number = int(str(value).strip())
        except ValueError as exc:
            raise DocumentNotFound() from exc
        if number <= 0:
            raise DocumentNotFound()
        ids.append(number)
    ids = sorted(set(ids))
    if not ids:
        raise NothingSelected()
    if len(ids) > MAX_DOCUMENTS_PER_PAYMENT:
        raise NothingSelected(
            _("Pay at most %(n)d documents at once.")
            % {"n": MAX_DOCUMENTS_PER_PAYMENT},
            code="too_many_documents",
        )
    return ids


def documents_read(reseller: Reseller, ids: Sequence[int]) -> tuple[str, list[object]]:
    """Return a read of the reseller's documents among ``ids`` (others are
    left out), shaped as the plan's reads."""
    if len(ids) > rows.FEW_ROWS and transaction.get_connection().vendor == "postgresql":
        # One array: the statement's text is the same however many are asked.
        return SELECTED.format(ids="= ANY(%s::bigint[])"), [
            reseller.pk,
            rows.integer_array(ids),
        ]
    return SELECTED.format(ids=f"IN ({', '.join(['%s'] * len(ids))})"), [
        reseller.pk,
        *ids,
    ]
