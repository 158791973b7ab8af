"""Support staff's manual work: link, unlink and revert, always with a reason."""

from datetime import date
from decimal import Decimal

import pytest

from billing import services
from billing.exceptions import BillingError
from billing.models import (
    Allocation,
    AuditEvent,
    Document,
    DocumentKind,
    Operation,
    Reversal,
)
from billing.selectors import credit_balance
from tests import factories
from tests.billing.ledger_checks import (
    assert_ledger_consistent,
    ledger_snapshot,
    open_amount,
)
from tests.factories import pay, post


@pytest.fixture
def memo(term_reseller):
    return post(term_reseller, "credit_memo", "100.00", issue_date=date(2025, 12, 1))


@pytest.fixture
def invoice(term_reseller):
    return post(term_reseller, "invoice", "60.00")


def link(credit, debit, amount, actor, reason="customer asked"):
    return services.link_documents(
        credit=credit, debit=debit, amount=amount, actor=actor, reason=reason
    )


# --- link -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "credit_left", "debit_left"),
    [
        ("0.01", "99.99", "59.99"),
        ("25.50", "74.50", "34.50"),
        ("60", "40.00", "0.00"),
        (Decimal("60.00"), "40.00", "0.00"),
    ],
)
def test_link_applies_a_partial_amount_to_both_documents(
    term_reseller, memo, invoice, staff_user, amount, credit_left, debit_left
):
    allocation = link(memo, invoice, amount, staff_user)
    assert allocation.amount == Decimal(str(amount))
    assert open_amount(memo) == Decimal(credit_left)
    assert open_amount(invoice) == Decimal(debit_left)
    assert allocation.created_by == staff_user
    operation = allocation.operation
    assert operation.kind == Operation.Kind.LINK
    assert operation.reason == "customer asked"
    assert operation.actor == staff_user
    event = AuditEvent.objects.get(action=AuditEvent.Action.DOCUMENTS_LINKED)
    assert (event.actor, event.reason, event.amount) == (
        staff_user,
        "customer asked",
        allocation.amount,
    )
    assert_ledger_consistent(term_reseller)


def test_link_twice_adds_up_to_the_open_amount(
    term_reseller, memo, invoice, staff_user
):
    link(memo, invoice, "20.00", staff_user)
    link(memo, invoice, "40.00", staff_user)
    assert open_amount(invoice) == 0
    assert open_amount(memo) == Decimal("40.00")
    assert_ledger_consistent(term_reseller)


@pytest.mark.parametrize(
    ("amount", "code"),
    [
        ("60.01", "amount_exceeds_open"),  # above the invoice's open amount
        ("100.01", "amount_exceeds_open"),  # above both
        ("0", "amount_not_positive"),
        ("0.00", "amount_not_positive"),
        ("-5.00", "amount_not_positive"),
        ("1.001", "too_many_decimals"),
        ("abc", "invalid_amount"),
        (1.5, "invalid_amount"),
    ],
)
def test_link_refuses_a_bad_amount_and_changes_nothing(
    term_reseller, memo, invoice, staff_user, amount, code
):
    before = ledger_snapshot(term_reseller)
    with pytest.raises(BillingError) as excinfo:
        link(memo, invoice, amount, staff_user)
    assert excinfo.value.code == code
    assert ledger_snapshot(term_reseller) == before


def test_link_refuses_more_than_the_credits_open_amount(term_reseller, staff_user):
    small = post(term_reseller, "credit_memo", "10.00")
    big_invoice = post(term_reseller, "invoice", "500.00")
    before = ledger_snapshot(term_reseller)
    with pytest.raises(BillingError) as excinfo:
        link(small, big_invoice, "10.01", staff_user)
    assert excinfo.value.code == "amount_exceeds_open"
    assert small.number in str(excinfo.value)
    assert ledger_snapshot(term_reseller) == before


def test_link_checks_the_open_amount_as_stored_not_as_passed_in(
    term_reseller, memo, invoice, staff_user
):
    stale_copy = Document.objects.get(pk=invoice.pk)
    link(memo, invoice, "50.00", staff_user)
    before = ledger_snapshot(term_reseller)
    assert stale_copy.open_amount == Decimal("60.00")
    with pytest.raises(BillingError) as excinfo:
        link(memo, stale_copy, "20.00", staff_user)
    assert excinfo.value.code == "amount_exceeds_open"
    assert ledger_snapshot(term_reseller) == before


def test_link_refuses_documents_of_different_resellers(term_reseller, memo, staff_user):
    other = factories.ResellerFactory(marketplace=term_reseller.marketplace)
    their_invoice = post(other, "invoice", "10.00")
    before = (ledger_snapshot(term_reseller), ledger_snapshot(other))
    with pytest.raises(BillingError) as excinfo:
        link(memo, their_invoice, "5.00", staff_user)
    assert excinfo.value.code == "different_resellers"
    assert (ledger_snapshot(term_reseller), ledger_snapshot(other)) == before


@pytest.mark.parametrize(
    ("credit_kind", "debit_kind"),
    [
        ("invoice", "invoice"),
        ("credit_memo", "credit_memo"),
        ("invoice", "credit_memo"),
        ("payment", "payment"),
        ("debit_memo", "payment"),
    ],
)
def test_link_refuses_wrong_document_kinds(
    term_reseller, staff_user, credit_kind, debit_kind
):
    first = post(term_reseller, credit_kind, "50.00")
    second = post(term_reseller, debit_kind, "50.00")
    before = ledger_snapshot(term_reseller)
    with pytest.raises(BillingError) as excinfo:
        link(first, second, "5.00", staff_user)
    assert excinfo.value.code == "wrong_document_kind"
    assert ledger_snapshot(term_reseller) == before


@pytest.mark.parametrize("reason", ["", "   ", None])
def test_link_requires_a_reason(term_reseller, memo, invoice, staff_user, reason):
    before = ledger_snapshot(term_reseller)
    with pytest.raises(BillingError) as excinfo:
        link(memo, invoice, "5.00", staff_user, reason=reason)
    assert excinfo.value.code == "reason_required"
    assert ledger_snapshot(term_reseller) == before


def test_payment_document_links_to_a_debit_memo(term_reseller, staff_user):
    payment = post(term_reseller, "payment", "30.00")
    debit_memo = post(term_reseller, "debit_memo", "45.00")
    link(payment, debit_memo, "30.00", staff_user)
    assert open_amount(payment) == 0
    assert open_amount(debit_memo) == Decimal("15.00")
    assert_ledger_consistent(term_reseller)


# --- unlink -----------------------------------------------------------------


def test_unlink_restores_both_open_amounts_and_keeps_history(
    term_reseller, memo, invoice, staff_user
):
    allocation = link(memo, invoice, "25.00", staff_user)
    reversal = services.unlink_allocation(
        allocation=allocation, actor=staff_user, reason="linked by mistake"
    )
    assert open_amount(memo) == Decimal("100.00")
    assert open_amount(invoice) == Decimal("60.00")
    assert Allocation.objects.filter(pk=allocation.pk).exists()
    assert reversal.allocation_id == allocation.pk
    assert (reversal.actor, reversal.reason) == (staff_user, "linked by mistake")
    assert reversal.operation.kind == Operation.Kind.UNLINK
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.ALLOCATION_UNLINKED, reason="linked by mistake"
    ).exists()
    assert_ledger_consistent(term_reseller)


def test_second_unlink_is_already_reversed(term_reseller, memo, invoice, staff_user):
    allocation = link(memo, invoice, "25.00", staff_user)
    services.unlink_allocation(allocation=allocation, actor=staff_user, reason="x")
    before = ledger_snapshot(term_reseller)
    with pytest.raises(BillingError) as excinfo:
        services.unlink_allocation(allocation=allocation, actor=staff_user, reason="y")
    assert excinfo.value.code == "already_reversed"
    assert ledger_snapshot(term_reseller) == before
    assert Reversal.objects.filter(allocation=allocation).count() == 1


def test_unlink_requires_a_reason(term_reseller, memo, invoice, staff_user):
    allocation = link(memo, invoice, "25.00", staff_user)
    before = ledger_snapshot(term_reseller)
    with pytest.raises(BillingError) as excinfo:
        services.unlink_allocation(allocation=allocation, actor=staff_user, reason="")
    assert excinfo.value.code == "reason_required"
    assert ledger_snapshot(term_reseller) == before


def test_unlinked_credit_can_be_linked_again(term_reseller, memo, invoice, staff_user):
    allocation = link(memo, invoice, "60.00", staff_user)
    services.unlink_allocation(allocation=allocation, actor=staff_user, reason="x")
    link(memo, invoice, "60.00", staff_user)
    assert open_amount(invoice) == 0
    assert Allocation.objects.filter(reseller=term_reseller).count() == 2
    assert_ledger_consistent(term_reseller)


# --- revert -----------------------------------------------------------------


def test_revert_undoes_a_whole_payment_operation(term_reseller, staff_user):
    first_memo = post(
        term_reseller, "credit_memo", "30.00", issue_date=date(2025, 1, 1)
    )
    second_memo = post(
        term_reseller, "credit_memo", "50.00", issue_date=date(2025, 1, 2)
    )
    first = post(term_reseller, "invoice", "40.00")
    second = post(term_reseller, "invoice", "40.00", issue_date=date(2026, 1, 2))
    operation = pay(term_reseller, [first, second])
    assert Allocation.objects.filter(operation=operation).count() == 3

    revert = services.revert_operation(
        operation=operation, actor=staff_user, reason="wrong documents"
    )

    assert revert.kind == Operation.Kind.REVERT
    assert revert.reverts_id == operation.pk
    assert Reversal.objects.filter(operation=revert).count() == 3
    assert [open_amount(doc) for doc in (first_memo, second_memo, first, second)] == [
        Decimal("30.00"),
        Decimal("50.00"),
        Decimal("40.00"),
        Decimal("40.00"),
    ]
    event = AuditEvent.objects.get(action=AuditEvent.Action.OPERATION_REVERTED)
    assert event.amount == Decimal("80.00")
    assert_ledger_consistent(term_reseller)


def test_revert_skips_allocations_already_unlinked(term_reseller, staff_user):
    post(term_reseller, "credit_memo", "100.00", issue_date=date(2025, 1, 1))
    first = post(term_reseller, "invoice", "40.00")
    second = post(term_reseller, "invoice", "40.00", issue_date=date(2026, 1, 2))
    operation = pay(term_reseller, [first, second])
    allocation = Allocation.objects.get(operation=operation, debit=first)
    services.unlink_allocation(allocation=allocation, actor=staff_user, reason="x")
    revert = services.revert_operation(
        operation=operation, actor=staff_user, reason="y"
    )
    assert Reversal.objects.filter(operation=revert).count() == 1
    assert open_amount(first) == open_amount(second) == Decimal("40.00")
    assert credit_balance(term_reseller) == Decimal("100.00")
    assert_ledger_consistent(term_reseller)


def test_reverting_a_card_payment_turns_the_charge_into_credit(
    term_reseller, staff_user
):
    invoice = post(term_reseller, "invoice", "75.00")
    operation = pay(
        term_reseller, [invoice], payment_method="card", card_token="4242424242424242"
    )
    services.revert_operation(operation=operation, actor=staff_user, reason="dispute")
    payment = Document.objects.get(operation=operation)
    assert payment.kind == DocumentKind.PAYMENT
    assert payment.open_amount == payment.total == Decimal("75.00")
    assert open_amount(invoice) == Decimal("75.00")
    assert credit_balance(term_reseller) == Decimal("75.00")
    assert_ledger_consistent(term_reseller)


def test_revert_undoes_an_automatic_application(prepaid_reseller, staff_user):
    invoice = post(prepaid_reseller, "invoice", "40.00")
    memo = post(prepaid_reseller, "credit_memo", "100.00")
    auto = Operation.objects.get(kind=Operation.Kind.AUTO_APPLY)
    services.revert_operation(operation=auto, actor=staff_user, reason="hold")
    assert open_amount(invoice) == Decimal("40.00")
    assert open_amount(memo) == Decimal("100.00")
    assert_ledger_consistent(prepaid_reseller)


def test_second_revert_has_nothing_to_revert(term_reseller, memo, invoice, staff_user):
    operation = pay(term_reseller, [invoice])
    services.revert_operation(operation=operation, actor=staff_user, reason="x")
    before = ledger_snapshot(term_reseller)
    with pytest.raises(BillingError) as excinfo:
        services.revert_operation(operation=operation, actor=staff_user, reason="y")
    assert excinfo.value.code == "nothing_to_revert"
    assert ledger_snapshot(term_reseller) == before


def test_operation_that_applied_nothing_has_nothing_to_revert(
    support_reseller, staff_user
):
    invoice = post(support_reseller, "invoice", "10.00")
    operation = pay(support_reseller, [invoice], use_credit=False)
    before = ledger_snapshot(support_reseller)
    with pytest.raises(BillingError) as excinfo:
        services.revert_operation(operation=operation, actor=staff_user, reason="x")
    assert excinfo.value.code == "nothing_to_revert"
    assert ledger_snapshot(support_reseller) == before


@pytest.mark.parametrize("kind", ["unlink", "revert"])
def test_unlink_and_revert_operations_are_not_revertible(
    term_reseller, memo, invoice, staff_user, kind
):
    allocation = link(memo, invoice, "10.00", staff_user)
    if kind == "unlink":
        target = services.unlink_allocation(
            allocation=allocation, actor=staff_user, reason="x"
        ).operation
    else:
        target = services.revert_operation(
            operation=allocation.operation, actor=staff_user, reason="x"
        )
    before = ledger_snapshot(term_reseller)
    with pytest.raises(BillingError) as excinfo:
        services.revert_operation(operation=target, actor=staff_user, reason="y")
    assert excinfo.value.code == "not_revertible"
    assert ledger_snapshot(term_reseller) == before


def test_revert_requires_a_reason(term_reseller, memo, invoice, staff_user):
    allocation = link(memo, invoice, "10.00", staff_user)
    before = ledger_snapshot(term_reseller)
    with pytest.raises(BillingError) as excinfo:
        services.revert_operation(
            operation=allocation.operation, actor=staff_user, reason=" "
        )
    assert excinfo.value.code == "reason_required"
    assert ledger_snapshot(term_reseller) == before


def test_payment_still_charging_cannot_be_reverted_until_its_outcome(
    term_reseller, staff_user
):
    post(term_reseller, "credit_memo", "30.00", issue_date=date(2025, 1, 1))
    invoice = post(term_reseller, "invoice", "100.00")
    with pytest.raises(BillingError):
        pay(
            term_reseller,
            [invoice],
            payment_method="card",
            card_token="4000000000000119",
            idempotency_key="card-1",
        )
    operation = Operation.objects.get(idempotency_key="card-1")
    before = ledger_snapshot(term_reseller)
    with pytest.raises(BillingError) as excinfo:
        services.revert_operation(operation=operation, actor=staff_user, reason="x")
    assert excinfo.value.code == "payment_in_progress"
    assert ledger_snapshot(term_reseller) == before

    pay(
        term_reseller,
        [invoice],
        payment_method="card",
        card_token="4242424242424242",
        idempotency_key="card-1",
    )
    services.revert_operation(operation=operation, actor=staff_user, reason="x")
    assert open_amount(invoice) == Decimal("100.00")
    assert credit_balance(term_reseller) == Decimal("100.00")
    assert_ledger_consistent(term_reseller)


# --- replayed staff confirmations --------------------------------------------


def test_replayed_link_returns_the_first_allocation(
    term_reseller, memo, invoice, staff_user
):
    first = services.link_documents(
        credit=memo,
        debit=invoice,
        amount="10.00",
        actor=staff_user,
        reason="customer asked",
        idempotency_key="confirm-1",
    )
    before = ledger_snapshot(term_reseller)

    again = services.link_documents(
        credit=memo,
        debit=invoice,
        amount="10.00",
        actor=staff_user,
        reason="customer asked",
        idempotency_key="confirm-1",
    )

    assert again.pk == first.pk
    assert ledger_snapshot(term_reseller) == before


@pytest.mark.parametrize("changes", [{"amount": "11.00"}, {"reason": "another reason"}])
def test_link_key_reused_with_other_parameters_is_refused(
    term_reseller, memo, invoice, staff_user, changes
):
    request = {
        "credit": memo,
        "debit": invoice,
        "amount": "10.00",
        "actor": staff_user,
        "reason": "customer asked",
        "idempotency_key": "confirm-1",
    }
    services.link_documents(**request)
    before = ledger_snapshot(term_reseller)

    with pytest.raises(BillingError) as refused:
        services.link_documents(**{**request, **changes})

    assert refused.value.code == "idempotency_key_reused"
    assert ledger_snapshot(term_reseller) == before


def test_empty_key_is_refused_and_links_nothing(
    term_reseller, memo, invoice, staff_user
):
    before = ledger_snapshot(term_reseller)
    with pytest.raises(BillingError) as refused:
        services.link_documents(
            credit=memo,
            debit=invoice,
            amount="10.00",
            actor=staff_user,
            reason="customer asked",
            idempotency_key="  ",
        )
    assert refused.value.code == "invalid_idempotency_key"
    assert ledger_snapshot(term_reseller) == before


def test_a_payment_key_cannot_be_replayed_as_a_link(
    term_reseller, memo, invoice, staff_user
):
    pay(term_reseller, [invoice], use_credit=False, idempotency_key="shared")
    before = ledger_snapshot(term_reseller)
    with pytest.raises(BillingError) as refused:
        services.link_documents(
            credit=memo,
            debit=invoice,
            amount="10.00",
            actor=staff_user,
            reason="customer asked",
            idempotency_key="shared",
        )
    assert refused.value.code == "idempotency_key_reused"
    assert ledger_snapshot(term_reseller) == before


def test_replayed_credit_memo_returns_the_first_memo(term_reseller, staff_user):
    def issue(amount: str = "15.00"):
        return services.issue_credit_memo(
            reseller=term_reseller,
            amount=amount,
            reason="goodwill",
            actor=staff_user,
            idempotency_key="memo-1",
        )

    memo = issue()
    before = ledger_snapshot(term_reseller)

    assert issue().pk == memo.pk
    assert ledger_snapshot(term_reseller) == before
    assert memo.operation.kind == Operation.Kind.CREDIT_MEMO
    assert memo.operation.actor == staff_user
    with pytest.raises(BillingError) as refused:
        issue("16.00")
    assert refused.value.code == "idempotency_key_reused"
    assert ledger_snapshot(term_reseller) == before
