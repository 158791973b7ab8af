"""Paying documents: apply the plan once, charge the card, settle the charge.

A payment runs in up to two short transactions so that no card is charged
while the reseller's ledger is locked:

1. under the lock: replay an earlier request with the same idempotency key,
   or re-plan from fresh balances, refuse a stale preview, apply the credit
   part and record what is left to charge;
2. the card is charged through the gateway, with no lock held;
3. under the lock again: the charge becomes a payment document allocated to
   the selected documents, or the decline is recorded.

A failure inside a step rolls that step back whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.allocation_policy import (
    plan_allocations,
)
from billing.exceptions import (
    CardRequired,
    CreditNotAllowed,
    InvalidPaymentMethod,
    PaymentInProgress,
    StalePreview,
)
from billing.gateways import ChargeResult, get_gateway
from billing.locking import lock_reseller
from billing.models import (
    AuditEvent,
    Document,
    DocumentKind,
    Operation,
    Payment,
    PaymentDocument,
    Reseller,
    Source,
    completed_now,
    same_reseller,
)
from billing.money import quantize
from billing.payment_plan import (
    ZERO,
    clean_document_ids,
    credit_allowed,
    open_item,
    plan_payment,
    selected_read,
)
from billing.references import creditor_reference
from billing.services._numbers import card_payment_number
from billing.services.ledger_steps import (
    Actor,
    UnderLock,
    Writes,
    apply_allocations,
    auto_apply,
    clean_idempotency_key,
    create_document,
    lock_and_read,
    record_audit_event,
    request_hash,
    rows_from,
    user_or_none,
)

# How long a card charge may stay unanswered before it is settled by asking
# the gateway (``settle_payments``); longer than the gateway's own time-out.
CHARGING_TIMEOUT = timedelta(minutes=15)


def pay_documents(
    *,
    reseller: Reseller,
    document_ids: Iterable[int | str],
    use_credit: bool,
    payment_method: str,
    idempotency_key: str,
    actor: Actor | None,
    fingerprint: str | None = None,
    card_token: str | None = None,
    source: str = Source.RESELLER_PANEL,
    request_digest: str | None = None,
) -> Operation:
    """Pay the selected documents: credit first (if chosen), then the method.

    Returns the payment operation (its request and outcome in
    ``operation.payment``). Replaying the same ``idempotency_key``
    returns the first operation (finishing its card charge if it was cut
    short) and applies nothing more.

    A replay must select the same documents, credit and method; the panel's
    retry may bring another card. ``request_digest`` is a digest of anything
    else the caller's replays must repeat (the API's: its whole body): it is
    recorded with the operation in the payment's own transaction, so of two
    requests sent at once with one key and different bodies, the one that
    did not pay is the one refused.
    """
    ids = clean_document_ids(document_ids)
    if payment_method not in Payment.Method.values:
        raise InvalidPaymentMethod()
    key = clean_idempotency_key(idempotency_key, required=True)
    actor = user_or_none(actor)
    parts = (sorted(ids), bool(use_credit), payment_method)
    digest, older = request_hash(*parts), None
    if request_digest is not None:
        # An operation recorded before the caller's part was counted carries
        # the digest without it: its retries stay replays.
        digest, older = request_hash(*parts, request_digest), digest

    with transaction.atomic(durable=True):
        locked, read = lock_and_read(
            reseller,
            key=key,
            kind=Operation.Kind.PAYMENT,
            digest=digest,
            older_digest=older,
            plan=selected_read(reseller, ids),
            new=[Operation],
        )
        operation = read.replay
        if operation is None:
            operation = _start_payment(
                reseller=locked,
                read=read,
                ids=ids,
                use_credit=use_credit,
                payment_method=payment_method,
                key=key,
                digest=digest,
                actor=actor,
                fingerprint=fingerprint,
                card_token=card_token,
                source=source,
            )
    if operation.status == Operation.Status.CHARGING and card_token:
        operation = _charge_card(operation=operation, card_token=card_token)
    return operation


def _start_payment(
    *,
    reseller: Reseller,
    read: UnderLock,
    ids: list[int],
    use_credit: bool,
    payment_method: str,
    key: str,
    digest: str,
    actor: Actor | None,
    fingerprint: str | None,
    card_token: str | None,
    source: str,
) -> Operation:
    """Step 1, under the lock: check the plan and apply its credit part.

    ``read`` holds the plan's documents and the operation's reserved id; the
    operation's writes are sent together at the end.
    """
    if use_credit and not credit_allowed(reseller):
        raise CreditNotAllowed()
    plan = plan_payment(
        reseller=reseller,
        ids=ids,
        use_credit=use_credit,
        read=(read.credits, read.documents),
    )
    if fingerprint is not None and fingerprint != plan.fingerprint:
        raise StalePreview(plan)
    remainder = plan.remainder
    charging = payment_method == Payment.Method.CARD and remainder > 0
    if charging and not (card_token or "").strip():
        raise CardRequired()
    if charging:
        _refuse_overlapping_charge(reseller, ids)

    if remainder == 0:
        status = Operation.Status.COMPLETED
    elif charging:
        status = Operation.Status.CHARGING
    else:
        status = Operation.Status.AWAITING_TRANSFER
    (operation_id,) = read.ids
    operation = Operation(
        pk=operation_id,
        reseller=reseller,
        kind=Operation.Kind.PAYMENT,
        status=status,
        actor=actor,
        source=source,
        idempotency_key=key,
        request_hash=digest,
        **(completed_now() if status == Operation.Status.COMPLETED else {}),
    )
    payment = Payment(
        operation=operation,
        reseller=reseller,
        method=payment_method,
        use_credit=use_credit,
        credit_applied=plan.credit_applied,
        amount_to_charge=remainder if charging else ZERO,
        amount_left_open=remainder,
    )
    if status == Operation.Status.AWAITING_TRANSFER:
        payment.transfer_reference = transfer_reference(operation)
    # Applying the credit lowers the plan's documents' open amounts in place.
    selected = plan.total_selected
    writes = Writes()
    record_payment(payment, ids, writes)
    documents = {**plan.credits, **{doc.pk: doc for doc in plan.documents}}
    apply_allocations(
        reseller=reseller,
        operation=operation,
        planned=plan.allocations,
        documents=documents,
        actor=actor,
        writes=writes,
    )
    numbers = [doc.number for doc in plan.documents]
    record_audit_event(
        reseller=reseller,
        action=AuditEvent.Action.PAYMENT_STARTED,
        actor=actor,
        source=source,
        operation=operation,
        amount=selected,
        facts={
            "numbers": numbers,
            "credit": str(plan.credit_applied),
            "rest": str(remainder),
            "method": payment.method,
        },
        writes=writes,
    )
    writes.send()
    return operation


def _charge_card(*, operation: Operation, card_token: str) -> Operation:
    """Steps 2 and 3: charge outside the lock, then record the outcome."""
    currency = operation.reseller.currency
    result = get_gateway().charge(
        amount=quantize(operation.payment.amount_to_charge, currency),
        currency=currency,
        card_token=card_token,
        idempotency_key=_gateway_key(operation),
        description=f"{operation.reference} {operation.reseller.name}",
    )
    return _record_outcome(operation, result)


def settle_payment(*, operation: Operation) -> Operation:
    """Settle a card payment left "charging" by asking the gateway what happened.

    A payment stays charging when the processor did not answer. The gateway is
    asked for the charge made under the payment's key: a charge it made is
    recorded as a payment document; when it made none, the payment is closed
    as not charged and its documents stay open. Run it only for payments older
    than the gateway's time-out (the ``settle_payments`` command does).
    """
    if operation.status != Operation.Status.CHARGING:
        return operation
    result = get_gateway().find_charge(idempotency_key=_gateway_key(operation))
    if result is None:
        result = ChargeResult(
            succeeded=False,
            reference="",
            # The receipt adds that nothing was charged, once.
            message=_("The card processor did not complete the charge."),
        )
    return _record_outcome(operation, result)


def _gateway_key(operation: Operation) -> str:
    return f"{operation.reseller_id}:{operation.idempotency_key}"


# What recording a charge's outcome changes on the payment record.
OUTCOME_FIELDS = ("message", "gateway_reference", "amount_charged", "amount_left_open")


def _record_outcome(operation: Operation, result: ChargeResult) -> Operation:
    """Step 3, under the lock: record a charge or a decline, once.

    A successful charge is always recorded, even on a payment already closed
    as not charged: money the gateway took must become a payment document.
    """
    with transaction.atomic(durable=True):
        reseller = lock_reseller(operation.reseller_id)
        operation = Operation.objects.select_related("reseller", "payment").get(
            same_reseller("payment"), pk=operation.pk, reseller=reseller
        )
        payment = operation.payment
        charging = operation.status == Operation.Status.CHARGING
        late_success = operation.status == Operation.Status.DECLINED and (
            result.succeeded and payment.amount_charged == 0
        )
        if not (charging or late_success):
            return operation  # a concurrent retry recorded the outcome already
        selected = list(selected_open_documents(payment))
        payment.gateway_reference = result.reference
        operation.completed_at = timezone.now()
        if result.succeeded:
            payment.message = ""
            _record_charge(reseller, operation, selected)
        else:
            _record_decline(reseller, operation, selected, result.message)
        Operation.objects.filter(pk=operation.pk, reseller=reseller).update(
            status=operation.status, completed_at=operation.completed_at
        )
        Payment.objects.filter(pk=payment.pk, reseller=reseller).update(
            **{name: getattr(payment, name) for name in OUTCOME_FIELDS}
        )
    return operation


def _record_decline(
    reseller: Reseller,
    operation: Operation,
    selected: Sequence[Document],
    message: str,
) -> None:
    payment = operation.payment
    operation.status = Operation.Status.DECLINED
    payment.message = message
    payment.amount_left_open = sum((doc.open_amount for doc in selected), ZERO)
    record_audit_event(
        reseller=reseller,
        action=AuditEvent.Action.PAYMENT_DECLINED,
        actor=operation.actor,
        source=Source.GATEWAY,
        operation=operation,
        amount=payment.amount_to_charge,
        facts={"amount": str(payment.amount_to_charge), "message": str(message)},
    )


def _record_charge(
    reseller: Reseller, operation: Operation, selected: Sequence[Document]
) -> None:
    """Turn a successful charge into a payment document and allocate it."""
    record = operation.payment
    amount = record.amount_to_charge
    payment = create_document(
        reseller,
        kind=DocumentKind.PAYMENT,
        number=card_payment_number(reseller, operation.pk),
        issue_date=timezone.localdate(),
        total=amount,
        open_amount=amount,
        description=f"Card payment {record.gateway_reference}",
        source=Source.GATEWAY,
        operation=operation,
    )
    planned = plan_allocations([open_item(payment)], map(open_item, selected))
    apply_allocations(
        reseller=reseller,
        operation=operation,
        planned=planned,
        documents={payment.pk: payment, **{doc.pk: doc for doc in selected}},
        actor=operation.actor,
    )
    operation.status = Operation.Status.COMPLETED
    record.amount_charged = amount
    record.amount_left_open = sum((doc.open_amount for doc in selected), ZERO)
    record_audit_event(
        reseller=reseller,
        action=AuditEvent.Action.PAYMENT_CHARGED,
        actor=operation.actor,
        source=Source.GATEWAY,
        operation=operation,
        document=payment,
        amount=amount,
        facts={
            "amount": str(amount),
            "reference": record.gateway_reference,
            "number": payment.number,
        },
    )
    if reseller.is_prepaid and payment.open_amount > 0:
        # Documents were paid meanwhile: the unused charge is credit, and a
        # prepaid account's credit is applied at once.
        auto_apply(reseller=reseller, actor=operation.actor, source=Source.GATEWAY)


def _refuse_overlapping_charge(reseller: Reseller, ids: Sequence[int]) -> None:
    """Refuse a second card charge for documents a pending charge covers."""
    if PaymentDocument.objects.filter(
        same_reseller("payment", "payment__operation"),
        reseller=reseller,
        document_id__in=ids,
        payment__operation__status=Operation.Status.CHARGING,
    ).exists():
        raise PaymentInProgress()


def record_payment(payment: Payment, ids: Sequence[int], writes: Writes) -> None:
    """Add the payment's operation (its id reserved), its record and its
    selected documents, in their order, to ``writes``."""
    writes.insert(payment.operation)
    writes.insert(payment)
    selected, params = rows_from(
        [(document_id, position) for position, document_id in enumerate(ids, 1)]
    )
    writes.add(
        'INSERT INTO "billing_paymentdocument" '  # noqa: S608 - names only
        '("payment_id", "reseller_id", "document_id", "position") '
        f"SELECT %s, %s, new.column1, new.column2 FROM {selected}",
        [payment.pk, payment.reseller_id, *params],
        len(ids),
    )


def selected_open_documents(payment: Payment):
    """Return the payment's selected documents that are still open."""
    return Document.objects.filter(
        reseller_id=payment.reseller_id,
        payment_selections__payment=payment,
        payment_selections__reseller_id=payment.reseller_id,
        open_amount__gt=0,
    )


def transfer_reference(operation: Operation) -> str:
    """Return the reference a bank transfer must quote: ``RF…`` (ISO 11649).

    It is derived from the operation, stored compact and printed in groups of
    four. References of the older ``TR-US-42-00000123`` form keep matching.
    """
    return creditor_reference(operation.pk)
