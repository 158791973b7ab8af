"""Card payments left charging are settled by asking the gateway."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from billing import services
from billing.exceptions import GatewayUnavailable, NothingToRevert
from billing.gateways import SandboxGateway
from billing.models import Document, DocumentKind, Operation
from billing.services.ledger_steps import active_allocations
from tests.billing.ledger_checks import assert_ledger_consistent, open_amount
from tests.factories import pay, post


@pytest.fixture
def stuck_payment(term_reseller):
    """A card payment whose processor did not answer: credit applied, rest open."""
    post(term_reseller, "credit_memo", "30.00", issue_date=date(2025, 12, 1))
    invoice = post(term_reseller, "invoice", "100.00")
    with pytest.raises(GatewayUnavailable):
        pay(
            term_reseller,
            [invoice],
            payment_method="card",
            card_token=SandboxGateway.UNAVAILABLE_CARD,
            idempotency_key="stuck",
        )
    operation = Operation.objects.get(idempotency_key="stuck")
    assert operation.status == Operation.Status.CHARGING
    return operation, invoice


def age(operation: Operation, minutes: int) -> None:
    Operation.objects.filter(pk=operation.pk).update(
        created_at=timezone.now() - timedelta(minutes=minutes)
    )


def test_payment_the_gateway_never_charged_is_closed_as_not_charged(
    term_reseller, stuck_payment
):
    operation, invoice = stuck_payment

    settled = services.settle_payment(operation=operation)

    assert settled.status == Operation.Status.DECLINED
    assert settled.payment.message == "The card processor did not complete the charge."
    assert settled.payment.amount_charged == 0
    assert settled.payment.amount_left_open == Decimal("70.00")
    assert open_amount(invoice) == Decimal("70.00")
    assert_ledger_consistent(term_reseller)


def test_payment_the_gateway_did_charge_becomes_a_payment_document(
    term_reseller, stuck_payment
):
    operation, invoice = stuck_payment
    # The processor charged, but its answer never reached the ledger.
    SandboxGateway().charge(
        amount=Decimal("70.00"),
        currency="USD",
        card_token=SandboxGateway.SUCCESS_CARD,
        idempotency_key=f"{term_reseller.pk}:stuck",
        description="lost answer",
    )

    settled = services.settle_payment(operation=operation)

    assert settled.status == Operation.Status.COMPLETED
    assert settled.payment.amount_charged == Decimal("70.00")
    payment = Document.objects.get(operation=operation, kind=DocumentKind.PAYMENT)
    assert payment.total == Decimal("70.00")
    assert open_amount(invoice) == 0
    assert_ledger_consistent(term_reseller)


class SettledMeanwhileGateway(SandboxGateway):
    """Charges successfully, but only after settling closed the payment as
    not charged: the answer arrived later than the settling cut-off."""

    def charge(self, *, idempotency_key: str, **kwargs):
        key = idempotency_key.split(":", 1)[1]
        services.settle_payment(operation=Operation.objects.get(idempotency_key=key))
        operation = Operation.objects.get(idempotency_key=key)
        assert operation.status == "declined"
        self.meanwhile(operation)
        return super().charge(idempotency_key=idempotency_key, **kwargs)

    def meanwhile(self, operation: Operation) -> None:
        """What else happens before the charge's answer arrives."""


def pay_by_card_through(gateway: type[SandboxGateway], settings, reseller, invoice):
    settings.PAYMENT_GATEWAY = f"{__name__}.{gateway.__name__}"
    return pay(
        reseller,
        [invoice],
        payment_method="card",
        card_token=SandboxGateway.SUCCESS_CARD,
        idempotency_key=gateway.__name__,
    )


def test_charge_answered_after_settling_is_still_recorded(term_reseller, settings):
    invoice = post(term_reseller, "invoice", "100.00")

    operation = pay_by_card_through(
        SettledMeanwhileGateway, settings, term_reseller, invoice
    )

    # Money the gateway took always becomes a payment document.
    assert operation.status == Operation.Status.COMPLETED
    assert operation.payment.amount_charged == Decimal("100.00")
    assert operation.payment.message == ""
    assert Document.objects.filter(operation=operation).count() == 1
    assert open_amount(invoice) == 0
    assert_ledger_consistent(term_reseller)


def test_settling_twice_changes_nothing_more(term_reseller, stuck_payment):
    operation, _invoice = stuck_payment
    first = services.settle_payment(operation=operation)
    again = services.settle_payment(operation=first)
    assert again.status == first.status
    assert again.completed_at == first.completed_at
    assert_ledger_consistent(term_reseller)


def test_command_settles_only_payments_older_than_the_cutoff(
    term_reseller, stuck_payment, capsys
):
    operation, _invoice = stuck_payment

    call_command("settle_payments", "--older-than", "15")
    operation.refresh_from_db()
    assert operation.status == Operation.Status.CHARGING
    assert "Settled 0 payment(s)" in capsys.readouterr().out

    age(operation, 20)
    call_command("settle_payments", "--older-than", "15")
    operation.refresh_from_db()
    assert operation.status == Operation.Status.DECLINED
    assert "Settled 1 payment(s) (declined 1)" in capsys.readouterr().out


def test_sandbox_remembers_each_charge_by_key():
    gateway = SandboxGateway()
    first = gateway.charge(
        amount=Decimal("5.00"),
        currency="EUR",
        card_token=SandboxGateway.DECLINED_CARD,
        idempotency_key="k",
        description="",
    )
    retry = gateway.charge(
        amount=Decimal("5.00"),
        currency="EUR",
        card_token=SandboxGateway.SUCCESS_CARD,
        idempotency_key="k",
        description="",
    )
    assert first == retry
    assert retry.succeeded is False
    assert gateway.find_charge(idempotency_key="k") == first
    assert gateway.find_charge(idempotency_key="other") is None


pytestmark = pytest.mark.django_db


class RevertedMeanwhileGateway(SettledMeanwhileGateway):
    """As above, and staff reverted the credit the payment had applied before
    the charge's answer arrived."""

    def meanwhile(self, operation: Operation) -> None:
        services.revert_operation(
            operation=operation, actor=None, reason="credit applied to the wrong bill"
        )


def test_charge_recorded_after_a_revert_is_left_for_staff_to_unlink(
    term_reseller, settings, staff_user
):
    memo = post(term_reseller, "credit_memo", "30.00", issue_date=date(2025, 12, 1))
    invoice = post(term_reseller, "invoice", "100.00")

    operation = pay_by_card_through(
        RevertedMeanwhileGateway, settings, term_reseller, invoice
    )

    # The credit went back; the 70.00 charged still paid the invoice.
    assert operation.status == Operation.Status.COMPLETED
    assert open_amount(memo) == Decimal("30.00")
    assert open_amount(invoice) == Decimal("30.00")
    assert Operation.objects.filter(reverts=operation).count() == 1

    # An operation is reverted once: what the late charge applied is
    # unlinked one allocation at a time, by a person who sees it.
    with pytest.raises(NothingToRevert) as refused:
        services.revert_operation(operation=operation, actor=staff_user, reason="again")
    assert "reverted already" in refused.value.message
    assert Operation.objects.filter(reverts=operation).count() == 1
    assert open_amount(invoice) == Decimal("30.00")

    (late,) = active_allocations(operation=operation)
    services.unlink_allocation(allocation=late, actor=staff_user, reason="refund")
    assert open_amount(invoice) == Decimal("100.00")
    assert_ledger_consistent(term_reseller)
