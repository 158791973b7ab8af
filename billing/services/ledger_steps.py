"""Building blocks shared by the services; always called under the lock."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import F, Q
from django.utils import translation

from billing.allocation_policy import PlannedAllocation
from billing.audit import describe
from billing.exceptions import (
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    ReasonRequired,
)
from billing.models import (
    Allocation,
    AuditEvent,
    Document,
    Operation,
    Reseller,
    Reversal,
    Source,
)
from billing.payment_plan import auto_apply_plan

# Who acts: a signed-in user (support, a reseller's user) or None for the system.
Actor = AbstractBaseUser
MAX_KEY_LENGTH = 64


def create_document(reseller: Reseller, **fields) -> Document:
    """Create one of the reseller's documents and count it on the account."""
    document = Document.objects.create(
        reseller=reseller, marketplace_id=reseller.marketplace_id, **fields
    )
    Reseller.objects.filter(pk=reseller.pk).update(
        document_count=F("document_count") + 1
    )
    return document


def clean_idempotency_key(key: str | None, *, required: bool) -> str | None:
    """Return the request's idempotency key, stripped, or refuse a bad one.

    ``None`` means the caller does not use idempotency (allowed unless
    ``required``); a key that is given must be usable.
    """
    if key is None and not required:
        return None
    key = (key or "").strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidIdempotencyKey()
    return key


def request_hash(*parts: object) -> str:
    """Return a digest of a request's parameters, to recognise a true replay."""
    payload = json.dumps([str(part) for part in parts])
    return hashlib.sha256(payload.encode()).hexdigest()


def replayed_operation(
    *, reseller: Reseller, key: str | None, kind: str, digest: str
) -> Operation | None:
    """Return the operation an earlier request with ``key`` made, if any.

    The same key with other parameters (or for another action) is refused:
    it is a mistake, not a replay. Call under the reseller lock.
    """
    if key is None:
        return None
    operation = Operation.objects.filter(reseller=reseller, idempotency_key=key).first()
    if operation is not None and (
        operation.kind != kind or operation.request_hash != digest
    ):
        raise IdempotencyKeyReused()
    return operation


def require_reason(reason: str) -> str:
    """Return the stripped reason, or refuse an empty one."""
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired()
    return reason


def user_or_none(actor: Actor | None) -> Actor | None:
    """Return ``actor`` if it is a saved user (anonymous users record as None)."""
    return actor if actor is not None and getattr(actor, "pk", None) else None


def apply_allocations(
    *,
    reseller: Reseller,
    operation: Operation,
    planned: Sequence[PlannedAllocation],
    documents: dict[int, Document],
    actor: Actor | None,
) -> list[Allocation]:
    """Record the planned allocations and lower both open amounts.

    ``documents`` holds every document the plan names, as loaded under the
    lock. The database's CHECK constraints back up the arithmetic here.
    """
    if not planned:
        return []
    allocations = []
    touched: dict[int, Document] = {}
    for item in planned:
        credit = documents[item.credit_id]
        debit = documents[item.debit_id]
        if item.amount <= 0 or item.amount > min(credit.open_amount, debit.open_amount):
            raise AssertionError(f"plan overspends: {item}")
        credit.open_amount -= item.amount
        debit.open_amount -= item.amount
        touched[credit.pk] = credit
        touched[debit.pk] = debit
        allocations.append(
            Allocation(
                reseller=reseller,
                credit=credit,
                debit=debit,
                amount=item.amount,
                operation=operation,
                created_by=actor,
            )
        )
    set_open_amounts(reseller, touched.values())
    return Allocation.objects.bulk_create(allocations)


def reverse_allocations(
    *,
    reseller: Reseller,
    operation: Operation,
    allocations: Sequence[Allocation],
    actor: Actor | None,
    reason: str,
) -> list[Reversal]:
    """Unlink ``allocations`` (loaded with their documents under the lock)."""
    touched: dict[int, Document] = {}
    for allocation in allocations:
        credit = touched.setdefault(allocation.credit_id, allocation.credit)
        debit = touched.setdefault(allocation.debit_id, allocation.debit)
        credit.open_amount += allocation.amount
        debit.open_amount += allocation.amount
    set_open_amounts(reseller, touched.values())
    return Reversal.objects.bulk_create(
        Reversal(
            reseller=reseller,
            allocation=allocation,
            operation=operation,
            actor=actor,
            reason=reason,
        )
        for allocation in allocations
    )


def set_open_amounts(reseller: Reseller, documents: Iterable[Document]) -> None:
    """Store the documents' new open amounts, restricted to the reseller.

    The reseller's filter keeps the update on the reseller's shard (a plain
    ``bulk_update`` addresses the rows by id alone).
    """
    Document.objects.filter(reseller=reseller).bulk_update(
        list(documents), ["open_amount"]
    )


def active_allocations(**filters) -> list[Allocation]:
    """Return allocations not yet unlinked, with their documents."""
    return list(
        Allocation.objects.filter(Q(reversal__isnull=True), **filters)
        .select_related("credit", "debit")
        .order_by("id")
    )


def auto_apply(
    *, reseller: Reseller, actor: Actor | None, source: str
) -> Operation | None:
    """Apply the reseller's open credit to its open debits, by the policy.

    Used for prepaid accounts each time a document is posted. Returns the
    automatic-application operation, or None when there was nothing to apply.
    """
    credits, debits, planned = auto_apply_plan(reseller)
    if not planned:
        return None
    applied = sum((item.amount for item in planned), Decimal(0))
    operation = Operation.objects.create(
        reseller=reseller,
        kind=Operation.Kind.AUTO_APPLY,
        actor=actor,
        source=source,
        amount=applied,
    )
    documents = {doc.pk: doc for doc in (*credits, *debits)}
    apply_allocations(
        reseller=reseller,
        operation=operation,
        planned=planned,
        documents=documents,
        actor=actor,
    )
    record_audit_event(
        reseller=reseller,
        action=AuditEvent.Action.CREDIT_APPLIED,
        actor=actor,
        source=source,
        operation=operation,
        amount=applied,
        facts={
            "amount": str(applied),
            "count": len({p.debit_id for p in planned}),
        },
    )
    return operation


def record_audit_event(
    *,
    reseller: Reseller,
    action: str,
    actor: Actor | None,
    source: str,
    facts: dict[str, object] | None = None,
    summary: str = "",
    reason: str = "",
    operation: Operation | None = None,
    document: Document | None = None,
    amount: Decimal | None = None,
) -> AuditEvent:
    """Write one audit-trail entry, in the caller's transaction.

    ``facts`` (amounts as strings, document numbers, counts, codes) are what
    the entry's sentence is rendered from, in each reader's language; the
    reseller's currency is added to them. An action without a sentence in
    :mod:`billing.audit` gives its English ``summary`` instead.
    """
    facts = {**facts, "currency": reseller.currency} if facts else {}
    event = AuditEvent(
        reseller=reseller,
        action=action,
        actor=actor,
        source=source or Source.SYSTEM,
        reason=reason,
        operation=operation,
        document=document,
        amount=amount,
        facts=facts,
    )
    event.summary = summary
    if facts:
        with translation.override("en"):
            event.summary = describe(event)
    event.summary = event.summary[:500]
    event.save()
    return event
