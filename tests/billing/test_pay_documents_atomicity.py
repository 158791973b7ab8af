"""All-or-nothing payments, and no gateway call while the ledger is locked."""

import threading
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection, transaction

from billing.gateways import ChargeResult, SandboxGateway
from billing.locking import lock_reseller
from billing.models import (
    Allocation,
    AuditEvent,
    Document,
    DocumentKind,
    Operation,
)
from billing.services import ledger_steps, payments
from tests.billing.ledger_checks import (
    assert_ledger_consistent,
    ledger_snapshot,
    open_amount,
)
from tests.factories import pay, post

GATEWAY = "tests.billing.test_pay_documents_atomicity.RecordingGateway"


def lock_is_free(reseller_id: int, wait: float = 10) -> bool:
    """Return whether another connection can take the reseller's lock now."""
    outcome: list[object] = []

    def take_lock() -> None:
        try:
            with transaction.atomic(durable=True):
                lock_reseller(reseller_id)
            outcome.append(True)
        except Exception as exc:  # reported through the outcome
            outcome.append(exc)
        finally:
            connection.close()

    worker = threading.Thread(target=take_lock)
    worker.start()
    worker.join(timeout=wait)
    return outcome == [True]


@pytest.mark.django_db(transaction=True)
def test_lock_probe_sees_a_held_reseller_lock(term_reseller):
    """The probe the gateway below uses can tell a held lock from a free one."""
    assert lock_is_free(term_reseller.pk) is True
    with transaction.atomic(durable=True):
        lock_reseller(term_reseller.pk)
        assert lock_is_free(term_reseller.pk, wait=2) is False


class RecordingGateway(SandboxGateway):
    """The sandbox, noting the caller's transaction state at each charge."""

    calls: list[dict[str, object]] = []

    def charge(self, **kwargs) -> ChargeResult:
        reseller_id = int(kwargs["idempotency_key"].split(":")[0])
        RecordingGateway.calls.append(
            {
                "in_atomic_block": connection.in_atomic_block,
                "lock_free": lock_is_free(reseller_id),
                "amount": kwargs["amount"],
                "key": kwargs["idempotency_key"],
            }
        )
        return super().charge(**kwargs)


@pytest.fixture
def recording_gateway(settings):
    RecordingGateway.calls = []
    settings.PAYMENT_GATEWAY = GATEWAY
    return RecordingGateway


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "card",
    [SandboxGateway.SUCCESS_CARD, SandboxGateway.DECLINED_CARD],
    ids=["charged", "declined"],
)
def test_gateway_is_called_outside_any_transaction_and_lock(
    term_reseller, recording_gateway, card
):
    post(term_reseller, "credit_memo", "10.00", issue_date=date(2025, 12, 1))
    invoice = post(term_reseller, "invoice", "100.00")

    operation = pay(term_reseller, [invoice], payment_method="card", card_token=card)

    assert operation.status in (
        Operation.Status.COMPLETED,
        Operation.Status.DECLINED,
    )
    assert len(recording_gateway.calls) == 1
    (call,) = recording_gateway.calls
    assert call["in_atomic_block"] is False
    assert call["lock_free"] is True
    assert call["amount"] == Decimal("90.00")
    assert call["key"] == f"{term_reseller.pk}:{operation.idempotency_key}"
    assert_ledger_consistent(term_reseller)


@pytest.mark.django_db(transaction=True)
def test_retry_after_unavailable_gateway_is_also_outside_the_lock(
    term_reseller, recording_gateway
):
    invoice = post(term_reseller, "invoice", "100.00")
    with pytest.raises(Exception, match="did not answer"):
        pay(
            term_reseller,
            [invoice],
            payment_method="card",
            card_token=SandboxGateway.UNAVAILABLE_CARD,
            idempotency_key="retry",
        )
    pay(
        term_reseller,
        [invoice],
        payment_method="card",
        card_token=SandboxGateway.SUCCESS_CARD,
        idempotency_key="retry",
    )
    assert [c["in_atomic_block"] for c in recording_gateway.calls] == [False, False]
    assert [c["lock_free"] for c in recording_gateway.calls] == [True, True]
    assert open_amount(invoice) == 0


class BrokenNetworkGateway(SandboxGateway):
    """A gateway whose client library fails with an unexpected error."""

    def charge(self, **kwargs) -> ChargeResult:
        raise ConnectionResetError("peer reset")


@pytest.mark.django_db(transaction=True)
def test_unexpected_gateway_error_leaves_the_payment_charging(term_reseller, settings):
    settings.PAYMENT_GATEWAY = (
        "tests.billing.test_pay_documents_atomicity.BrokenNetworkGateway"
    )
    post(term_reseller, "credit_memo", "10.00", issue_date=date(2025, 12, 1))
    invoice = post(term_reseller, "invoice", "100.00")
    with pytest.raises(ConnectionResetError):
        pay(
            term_reseller,
            [invoice],
            payment_method="card",
            card_token=SandboxGateway.SUCCESS_CARD,
            idempotency_key="k",
        )
    operation = Operation.objects.get(idempotency_key="k")
    assert operation.status == Operation.Status.CHARGING
    assert open_amount(invoice) == Decimal("90.00")
    assert not Document.objects.filter(kind=DocumentKind.PAYMENT).exists()
    assert_ledger_consistent(term_reseller)


def fail_on(action: str, real):
    """Return ``record`` that raises when asked to write ``action``."""

    def record(**kwargs):
        if kwargs["action"] == action:
            raise RuntimeError(f"audit store down at {action}")
        return real(**kwargs)

    return record


@pytest.mark.django_db(transaction=True)
def test_failure_after_credit_was_applied_rolls_the_payment_back(
    term_reseller, monkeypatch
):
    post(term_reseller, "credit_memo", "150.00", issue_date=date(2025, 12, 1))
    first = post(term_reseller, "invoice", "100.00")
    second = post(term_reseller, "invoice", "100.00", issue_date=date(2026, 1, 2))
    before = ledger_snapshot(term_reseller)
    monkeypatch.setattr(
        payments,
        "record_audit_event",
        fail_on(AuditEvent.Action.PAYMENT_STARTED, payments.record_audit_event),
    )

    with pytest.raises(RuntimeError):
        pay(term_reseller, [first, second])

    assert ledger_snapshot(term_reseller) == before
    assert not Allocation.objects.exists()
    assert_ledger_consistent(term_reseller)


@pytest.mark.django_db(transaction=True)
def test_failure_recording_a_successful_charge_leaves_no_partial_allocation(
    term_reseller, monkeypatch, recording_gateway
):
    post(term_reseller, "credit_memo", "30.00", issue_date=date(2025, 12, 1))
    first = post(term_reseller, "invoice", "100.00")
    second = post(term_reseller, "invoice", "50.00", issue_date=date(2026, 1, 2))
    real_record = payments.record_audit_event
    monkeypatch.setattr(
        payments,
        "record_audit_event",
        fail_on(AuditEvent.Action.PAYMENT_CHARGED, real_record),
    )

    with pytest.raises(RuntimeError):
        pay(
            term_reseller,
            [first, second],
            payment_method="card",
            card_token=SandboxGateway.SUCCESS_CARD,
            idempotency_key="card-1",
        )

    # Step 1 (the credit part) stands; step 3 left nothing behind.
    operation = Operation.objects.get(idempotency_key="card-1")
    assert operation.status == Operation.Status.CHARGING
    assert operation.payment.amount_charged == 0
    assert not Document.objects.filter(kind=DocumentKind.PAYMENT).exists()
    assert open_amount(first) == Decimal("70.00")
    assert open_amount(second) == Decimal("50.00")
    assert Allocation.objects.count() == 1
    assert_ledger_consistent(term_reseller)

    monkeypatch.setattr(payments, "record_audit_event", real_record)
    finished = pay(
        term_reseller,
        [first, second],
        payment_method="card",
        card_token=SandboxGateway.SUCCESS_CARD,
        idempotency_key="card-1",
    )
    assert finished.status == Operation.Status.COMPLETED
    assert finished.payment.amount_charged == Decimal("120.00")
    keys = {call["key"] for call in recording_gateway.calls}
    assert len(recording_gateway.calls) == 2 and len(keys) == 1
    assert open_amount(first) == open_amount(second) == 0
    assert Document.objects.filter(kind=DocumentKind.PAYMENT).count() == 1
    assert_ledger_consistent(term_reseller)


@pytest.mark.django_db(transaction=True)
def test_failed_automatic_application_rolls_the_posting_back(
    prepaid_reseller, monkeypatch
):
    post(prepaid_reseller, "invoice", "40.00")
    post(prepaid_reseller, "invoice", "80.00", issue_date=date(2026, 1, 2))
    before = ledger_snapshot(prepaid_reseller)
    calls = []
    real_record = ledger_steps.record_audit_event

    def record_then_fail(**kwargs):
        calls.append(kwargs["action"])
        if kwargs["action"] == AuditEvent.Action.CREDIT_APPLIED:
            raise RuntimeError("second write fails")
        return real_record(**kwargs)

    monkeypatch.setattr(ledger_steps, "record_audit_event", record_then_fail)

    with pytest.raises(RuntimeError):
        post(prepaid_reseller, "credit_memo", "100.00", number="MEMO-FAIL")

    assert calls == [AuditEvent.Action.CREDIT_APPLIED]
    assert ledger_snapshot(prepaid_reseller) == before
    assert not Document.objects.filter(number="MEMO-FAIL").exists()
    assert_ledger_consistent(prepaid_reseller)
