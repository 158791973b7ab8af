"""Support staff's manual work on the ledger: link, unlink, revert."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _

from billing.allocation_policy import PlannedAllocation
from billing.exceptions import (
    AlreadyReversed,
    AmountExceedsOpen,
    DifferentResellers,
    NothingToRevert,
    NotRevertible,
    PaymentInProgress,
    WrongDocumentKind,
)
from billing.models import (
    CREDIT_KINDS,
    DEBIT_KINDS,
    Allocation,
    AuditEvent,
    Document,
    Operation,
    Reseller,
    Reversal,
    Source,
    completed_now,
)
from billing.money import parse_amount
from billing.payment_plan import documents_read
from billing.services.ledger_steps import (
    Actor,
    Writes,
    active_allocations,
    allocate,
    clean_idempotency_key,
    lock_and_read,
    lock_and_replay,
    record_audit_event,
    request_hash,
    require_reason,
    reverse_allocations,
    user_or_none,
)

REVERTIBLE_KINDS = (
    Operation.Kind.PAYMENT,
    Operation.Kind.AUTO_APPLY,
    Operation.Kind.LINK,
)


def link_documents(
    *,
    credit: Document,
    debit: Document,
    amount: Decimal | str | int,
    actor: Actor,
    reason: str,
    source: str = Source.CLASSIC_PANEL,
    idempotency_key: str | None = None,
) -> Allocation:
    """Apply ``amount`` of an open credit to an open debit of the same reseller.

    Any amount up to both open amounts is allowed: this is how support applies
    "a credit less than my invoices". With an ``idempotency_key``, a replayed
    request returns the first allocation and links nothing more.
    """
    reason = require_reason(reason)
    if credit.reseller_id != debit.reseller_id:
        raise DifferentResellers()
    key = clean_idempotency_key(idempotency_key, required=False)
    digest = request_hash(credit.pk, debit.pk, amount, reason)
    actor = user_or_none(actor)
    with transaction.atomic(durable=True):
        owner = Reseller(pk=credit.reseller_id)
        reseller, read = lock_and_read(
            owner,
            key=key,
            kind=Operation.Kind.LINK,
            digest=digest,
            plan=documents_read(owner, [credit.pk, debit.pk]),
            new=[Operation, Allocation],
        )
        if read.replay is not None:
            return Allocation.objects.get(operation=read.replay, reseller=reseller)
        documents = {doc.pk: doc for doc in read.documents}
        credit, debit = documents[credit.pk], documents[debit.pk]
        if credit.kind not in CREDIT_KINDS or debit.kind not in DEBIT_KINDS:
            raise WrongDocumentKind()
        value = parse_amount(amount, reseller.currency)
        for document in (credit, debit):
            if value > document.open_amount:
                raise AmountExceedsOpen(
                    AmountExceedsOpen.message.format(document=document.number)
                )
        operation_id, allocation_id = read.ids
        operation = Operation(
            pk=operation_id,
            reseller=reseller,
            kind=Operation.Kind.LINK,
            actor=actor,
            source=source,
            reason=reason,
            idempotency_key=key,
            request_hash=digest,
            amount=value,
            **completed_now(),
        )
        writes = Writes()
        writes.insert(operation)
        allocated = allocate(
            reseller=reseller,
            operation=operation,
            planned=[PlannedAllocation(credit.pk, debit.pk, value)],
            open_amounts={doc.pk: doc.open_amount for doc in (credit, debit)},
            actor=actor,
            writes=writes,
            ids=[allocation_id],
        )
        credit.open_amount = allocated.open_amounts[credit.pk]
        debit.open_amount = allocated.open_amounts[debit.pk]
        allocation = Allocation(
            pk=allocation_id,
            reseller=reseller,
            credit=credit,
            debit=debit,
            amount=value,
            operation=operation,
            created_by=actor,
            created_at=allocated.created_at,
        )
        allocation._state.adding = False  # inserted by allocate()
        allocation._state.db = transaction.get_connection().alias
        record_audit_event(
            reseller=reseller,
            action=AuditEvent.Action.DOCUMENTS_LINKED,
            actor=actor,
            source=source,
            reason=reason,
            operation=operation,
            document=debit,
            amount=value,
            facts={
                "amount": str(value),
                "credit": credit.number,
                "debit": debit.number,
            },
            writes=writes,
        )
        writes.send()
    return allocation


def unlink_allocation(
    *,
    allocation: Allocation,
    actor: Actor,
    reason: str,
    source: str = Source.CLASSIC_PANEL,
    idempotency_key: str | None = None,
) -> Reversal:
    """Reverse one allocation; both open amounts are restored, history stays.

    With an ``idempotency_key``, a replayed request returns the first
    reversal and unlinks nothing more.
    """
    reason = require_reason(reason)
    actor = user_or_none(actor)
    key = clean_idempotency_key(idempotency_key, required=False)
    digest = request_hash("unlink", allocation.pk, reason)
    with transaction.atomic(durable=True):
        reseller, replay = lock_and_replay(
            allocation.reseller_id, key=key, kind=Operation.Kind.UNLINK, digest=digest
        )
        if replay is not None:
            return replay.reversals.get()
        active = active_allocations(pk=allocation.pk, reseller=reseller)
        if not active:
            raise AlreadyReversed()
        (allocation,) = active
        operation = Operation.objects.create(
            reseller=reseller,
            kind=Operation.Kind.UNLINK,
            actor=actor,
            source=source,
            reason=reason,
            idempotency_key=key,
            request_hash=digest,
            **completed_now(),
        )
        (reversal,) = reverse_allocations(
            reseller=reseller,
            operation=operation,
            allocations=active,
            actor=actor,
            reason=reason,
        )
        record_audit_event(
            reseller=reseller,
            action=AuditEvent.Action.ALLOCATION_UNLINKED,
            actor=actor,
            source=source,
            reason=reason,
            operation=operation,
            document=allocation.debit,
            amount=allocation.amount,
            facts={
                "amount": str(allocation.amount),
                "credit": allocation.credit.number,
                "debit": allocation.debit.number,
            },
        )
    return reversal


def revert_operation(
    *,
    operation: Operation,
    actor: Actor,
    reason: str,
    source: str = Source.CLASSIC_PANEL,
    idempotency_key: str | None = None,
) -> Operation:
    """Unlink every allocation an operation made that is still in place.

    Returns the revert operation. Card charges stay: their payment document
    becomes unapplied credit of the reseller. With an ``idempotency_key``, a
    replayed request returns the first revert and reverts nothing more.
    """
    reason = require_reason(reason)
    actor = user_or_none(actor)
    key = clean_idempotency_key(idempotency_key, required=False)
    digest = request_hash("revert", operation.pk, reason)
    with transaction.atomic(durable=True):
        reseller, replay = lock_and_replay(
            operation.reseller_id, key=key, kind=Operation.Kind.REVERT, digest=digest
        )
        if replay is not None:
            return replay
        target = Operation.objects.get(pk=operation.pk, reseller=reseller)
        if target.kind not in REVERTIBLE_KINDS:
            raise NotRevertible()
        if target.status == Operation.Status.CHARGING:
            # Its card charge may still add allocations, and an operation is
            # reverted once: wait for the charge's outcome.
            raise PaymentInProgress()
        active = active_allocations(operation=target, reseller=reseller)
        if not active:
            raise NothingToRevert()
        if Operation.objects.filter(reverts=target, reseller=reseller).exists():
            # A card charge recorded after the revert added these allocations.
            raise NothingToRevert(
                _("This operation was reverted already; unlink what remains.")
            )
        revert = Operation.objects.create(
            reseller=reseller,
            kind=Operation.Kind.REVERT,
            actor=actor,
            source=source,
            reason=reason,
            reverts=target,
            idempotency_key=key,
            request_hash=digest,
            **completed_now(),
        )
        reverse_allocations(
            reseller=reseller,
            operation=revert,
            allocations=active,
            actor=actor,
            reason=reason,
        )
        total = sum((a.amount for a in active), Decimal(0))
        record_audit_event(
            reseller=reseller,
            action=AuditEvent.Action.OPERATION_REVERTED,
            actor=actor,
            source=source,
            reason=reason,
            operation=revert,
            amount=total,
            facts={
                "operation": target.reference,
                "operation_kind": target.kind,
                "count": len(active),
                "amount": str(total),
            },
        )
    return revert
