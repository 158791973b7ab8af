"""Paying documents: credit first where allowed, then card or bank transfer."""

from datetime import date
from decimal import Decimal

import pytest

from billing import services
from billing.exceptions import (
    BillingError,
    CreditNotAllowed,
    GatewayUnavailable,
    StalePreview,
)
from billing.gateways import SandboxGateway
from billing.models import (
    Allocation,
    AuditEvent,
    Document,
    DocumentKind,
    Operation,
)
from billing.references import creditor_reference
from billing.selectors import credit_balance
from tests import factories
from tests.billing.ledger_checks import (
    assert_ledger_consistent,
    ledger_snapshot,
    open_amount,
)
from tests.factories import pay, post

GOOD_CARD = SandboxGateway.SUCCESS_CARD
DECLINED_CARD = SandboxGateway.DECLINED_CARD
UNAVAILABLE_CARD = SandboxGateway.UNAVAILABLE_CARD


def d(value: str) -> Decimal:
    return Decimal(value)


def invoices(reseller, *totals, start_day=1):
    return [
        post(reseller, "invoice", total, issue_date=date(2026, 1, start_day + i))
        for i, total in enumerate(totals)
    ]


def credit(reseller, total, day=1, kind="credit_memo"):
    return post(reseller, kind, total, issue_date=date(2025, 12, day))


# --- idempotency ------------------------------------------------------------


def test_replay_returns_the_first_operation_and_applies_nothing_more(
    term_reseller,
):
    credit(term_reseller, "50.00")
    (invoice,) = invoices(term_reseller, "100.00")
    first = pay(term_reseller, [invoice], idempotency_key="pay-1")
    assert first.payment.credit_applied == d("50.00")
    credit(term_reseller, "30.00", day=2)  # a re-run would now apply more
    before = ledger_snapshot(term_reseller)

    again = pay(term_reseller, [invoice], idempotency_key="pay-1")

    assert again.pk == first.pk
    assert again.payment.credit_applied == d("50.00")
    assert ledger_snapshot(term_reseller) == before
    assert open_amount(invoice) == d("50.00")
    assert_ledger_consistent(term_reseller)


@pytest.mark.parametrize(
    "changes",
    [
        {"documents": "both"},
        {"use_credit": False},
        {"payment_method": "card", "card_token": GOOD_CARD},
    ],
    ids=["other-documents", "other-credit-choice", "other-method"],
)
def test_same_key_with_other_parameters_is_refused(term_reseller, changes):
    credit(term_reseller, "10.00")
    first_invoice, second_invoice = invoices(term_reseller, "100.00", "40.00")
    pay(term_reseller, [first_invoice], idempotency_key="pay-1")
    before = ledger_snapshot(term_reseller)
    kwargs = dict(changes)
    documents = (
        [first_invoice, second_invoice]
        if kwargs.pop("documents", None)
        else [first_invoice]
    )

    with pytest.raises(BillingError) as excinfo:
        pay(term_reseller, documents, idempotency_key="pay-1", **kwargs)

    assert excinfo.value.code == "idempotency_key_reused"
    assert ledger_snapshot(term_reseller) == before


def test_a_callers_request_digest_is_part_of_what_a_replay_repeats(term_reseller):
    credit(term_reseller, "10.00")
    (invoice,) = invoices(term_reseller, "100.00")
    first = pay(term_reseller, [invoice], idempotency_key="pay-1", request_digest="a")
    before = ledger_snapshot(term_reseller)

    with pytest.raises(BillingError) as excinfo:
        pay(term_reseller, [invoice], idempotency_key="pay-1", request_digest="b")
    assert excinfo.value.code == "idempotency_key_reused"
    with pytest.raises(BillingError):
        pay(term_reseller, [invoice], idempotency_key="pay-1")

    again = pay(term_reseller, [invoice], idempotency_key="pay-1", request_digest="a")
    assert again.pk == first.pk
    assert ledger_snapshot(term_reseller) == before


def test_a_payment_recorded_without_a_request_digest_replays_for_one_with_it(
    term_reseller,
):
    """An operation recorded before its caller's digest was counted: its
    retries stay replays, whatever digest they bring."""
    (invoice,) = invoices(term_reseller, "100.00")
    first = pay(term_reseller, [invoice], idempotency_key="pay-1")
    before = ledger_snapshot(term_reseller)

    again = pay(term_reseller, [invoice], idempotency_key="pay-1", request_digest="a")

    assert again.pk == first.pk
    assert ledger_snapshot(term_reseller) == before
    with pytest.raises(BillingError):
        pay(term_reseller, [invoice], idempotency_key="pay-1", use_credit=False)


def test_same_key_is_independent_per_reseller(term_reseller):
    other = factories.ResellerFactory(marketplace=term_reseller.marketplace)
    (mine,) = invoices(term_reseller, "10.00")
    (theirs,) = invoices(other, "10.00")
    first = pay(term_reseller, [mine], idempotency_key="same")
    second = pay(other, [theirs], idempotency_key="same")
    assert first.pk != second.pk
    assert second.reseller_id == other.pk


def test_selection_order_and_duplicates_do_not_change_the_request(term_reseller):
    first_invoice, second_invoice = invoices(term_reseller, "10.00", "20.00")
    operation = pay(term_reseller, [second_invoice, first_invoice], idempotency_key="k")
    replay = pay(
        term_reseller,
        [first_invoice, second_invoice, str(first_invoice.pk)],
        idempotency_key="k",
    )
    assert replay.pk == operation.pk
    assert [row.document_id for row in operation.payment.selections.all()] == sorted(
        [first_invoice.pk, second_invoice.pk]
    )


# --- what you see is what you pay -------------------------------------------


def test_stale_fingerprint_is_refused_with_the_new_plan(term_reseller):
    credit(term_reseller, "50.00")
    (invoice,) = invoices(term_reseller, "100.00")
    seen = services.preview_payment(
        reseller=term_reseller, document_ids=[invoice.pk], use_credit=True
    )
    assert seen.credit_applied == d("50.00")
    credit(term_reseller, "20.00", day=2)  # balances change after the preview
    before = ledger_snapshot(term_reseller)

    with pytest.raises(StalePreview) as excinfo:
        pay(term_reseller, [invoice], fingerprint=seen.fingerprint)

    assert excinfo.value.code == "stale_preview"
    new_plan = excinfo.value.plan
    assert new_plan.credit_applied == d("70.00")
    assert new_plan.remainder == d("30.00")
    assert new_plan.fingerprint != seen.fingerprint
    assert ledger_snapshot(term_reseller) == before

    operation = pay(term_reseller, [invoice], fingerprint=new_plan.fingerprint)
    assert operation.payment.credit_applied == d("70.00")
    assert open_amount(invoice) == d("30.00")
    assert_ledger_consistent(term_reseller)


def test_preview_changes_nothing_and_matches_the_payment(term_reseller):
    credit(term_reseller, "130.00")
    first_invoice, second_invoice = invoices(term_reseller, "100.00", "80.00")
    before = ledger_snapshot(term_reseller)
    plan = services.preview_payment(
        reseller=term_reseller,
        document_ids=[second_invoice.pk, first_invoice.pk],
        use_credit=True,
    )
    assert ledger_snapshot(term_reseller) == before
    assert [line.document.pk for line in plan.lines] == [
        first_invoice.pk,
        second_invoice.pk,
    ]
    assert [(line.credit_applied, line.remainder) for line in plan.lines] == [
        (d("100.00"), d("0.00")),
        (d("30.00"), d("50.00")),
    ]
    assert plan.credit_balance == d("130.00")
    assert plan.total_selected == d("180.00")

    operation = pay(
        term_reseller, [first_invoice, second_invoice], fingerprint=plan.fingerprint
    )
    applied = sorted(
        (a.debit_id, a.amount) for a in Allocation.objects.filter(operation=operation)
    )
    assert applied == sorted((a.debit_id, a.amount) for a in plan.allocations)


# --- refusals that change nothing -------------------------------------------


def test_another_resellers_document_is_not_found(term_reseller):
    other = factories.ResellerFactory(marketplace=term_reseller.marketplace)
    credit(term_reseller, "500.00")
    (mine,) = invoices(term_reseller, "10.00")
    (theirs,) = invoices(other, "10.00")
    before_mine = ledger_snapshot(term_reseller)
    before_theirs = ledger_snapshot(other)

    with pytest.raises(BillingError) as excinfo:
        pay(term_reseller, [mine, theirs])

    assert excinfo.value.code == "document_not_found"
    assert ledger_snapshot(term_reseller) == before_mine
    assert ledger_snapshot(other) == before_theirs
    with pytest.raises(BillingError) as excinfo:
        services.preview_payment(
            reseller=term_reseller, document_ids=[theirs.pk], use_credit=True
        )
    assert excinfo.value.code == "document_not_found"


@pytest.mark.parametrize("bad_id", [999_999_999, "abc", 0, -3, "1.5"])
def test_unknown_document_ids_are_not_found(term_reseller, bad_id):
    (invoice,) = invoices(term_reseller, "10.00")
    before = ledger_snapshot(term_reseller)
    with pytest.raises(BillingError) as excinfo:
        pay(term_reseller, [invoice, bad_id])
    assert excinfo.value.code == "document_not_found"
    assert ledger_snapshot(term_reseller) == before


@pytest.mark.parametrize("kind", ["credit_memo", "payment"])
def test_paying_a_credit_document_is_refused(term_reseller, kind):
    (invoice,) = invoices(term_reseller, "10.00")
    credit_document = credit(term_reseller, "5.00", kind=kind)
    before = ledger_snapshot(term_reseller)
    with pytest.raises(BillingError) as excinfo:
        pay(term_reseller, [invoice, credit_document])
    assert excinfo.value.code == "document_not_payable"
    assert ledger_snapshot(term_reseller) == before


def test_paying_a_fully_paid_document_is_refused(term_reseller):
    credit(term_reseller, "100.00")
    paid, unpaid = invoices(term_reseller, "60.00", "90.00")
    pay(term_reseller, [paid])
    assert open_amount(paid) == 0
    before = ledger_snapshot(term_reseller)
    with pytest.raises(BillingError) as excinfo:
        pay(term_reseller, [paid, unpaid])
    assert excinfo.value.code == "document_not_payable"
    assert ledger_snapshot(term_reseller) == before


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"payment_method": "cash"}, "invalid_payment_method"),
        ({"payment_method": ""}, "invalid_payment_method"),
        ({"idempotency_key": "   "}, "invalid_idempotency_key"),
        ({"idempotency_key": "k" * 65}, "invalid_idempotency_key"),
        ({"payment_method": "card"}, "card_required"),
        ({"payment_method": "card", "card_token": "  "}, "card_required"),
    ],
)
def test_invalid_payment_requests_are_refused(term_reseller, kwargs, code):
    credit(term_reseller, "10.00")
    (invoice,) = invoices(term_reseller, "100.00")
    before = ledger_snapshot(term_reseller)
    with pytest.raises(BillingError) as excinfo:
        pay(term_reseller, [invoice], **kwargs)
    assert excinfo.value.code == code
    assert ledger_snapshot(term_reseller) == before


def test_empty_selection_is_refused(term_reseller):
    with pytest.raises(BillingError) as excinfo:
        pay(term_reseller, [])
    assert excinfo.value.code == "nothing_selected"


# --- credit policy by account kind ------------------------------------------


def test_contact_support_term_account_preview_says_credit_not_allowed(
    support_reseller,
):
    credit(support_reseller, "70.00")
    (invoice,) = invoices(support_reseller, "100.00")
    plan = services.preview_payment(
        reseller=support_reseller, document_ids=[invoice.pk], use_credit=True
    )
    assert plan.credit_allowed is False
    with pytest.raises(CreditNotAllowed):
        pay(support_reseller, [invoice], fingerprint=plan.fingerprint)
    assert plan.use_credit is False
    assert plan.credit_balance == d("70.00")
    assert plan.credit_applied == 0
    assert plan.remainder == d("100.00")
    assert plan.allocations == ()
    assert services.credit_allowed(support_reseller) is False


def test_contact_support_term_account_cannot_pay_with_credit(support_reseller):
    credit(support_reseller, "70.00")
    (invoice,) = invoices(support_reseller, "100.00")
    before = ledger_snapshot(support_reseller)
    with pytest.raises(BillingError) as excinfo:
        pay(support_reseller, [invoice], use_credit=True)
    assert excinfo.value.code == "credit_not_allowed"
    assert ledger_snapshot(support_reseller) == before


def test_contact_support_term_account_pays_by_bank_transfer(support_reseller):
    memo = credit(support_reseller, "70.00")
    first_invoice, second_invoice = invoices(support_reseller, "100.00", "25.50")
    operation = pay(support_reseller, [first_invoice, second_invoice], use_credit=False)
    assert operation.status == Operation.Status.AWAITING_TRANSFER
    # An ISO 11649 creditor reference derived from the operation.
    assert operation.payment.transfer_reference == creditor_reference(operation.pk)
    assert operation.payment.credit_applied == 0
    assert operation.payment.amount_left_open == d("125.50")
    assert operation.payment.amount_charged == 0
    assert open_amount(first_invoice) == d("100.00")
    assert open_amount(second_invoice) == d("25.50")
    assert open_amount(memo) == d("70.00")
    assert not Allocation.objects.filter(operation=operation).exists()


def test_self_service_term_account_uses_credit_then_bank_transfer(term_reseller):
    credit(term_reseller, "30.00")
    first_invoice, second_invoice = invoices(term_reseller, "20.00", "50.00")
    operation = pay(term_reseller, [first_invoice, second_invoice])
    assert operation.status == Operation.Status.AWAITING_TRANSFER
    assert operation.payment.transfer_reference.startswith("RF")
    assert operation.payment.credit_applied == d("30.00")
    assert operation.payment.amount_left_open == d("40.00")
    assert open_amount(first_invoice) == 0
    assert open_amount(second_invoice) == d("40.00")
    assert_ledger_consistent(term_reseller)


@pytest.mark.parametrize(
    ("credit_total", "credit_part", "rest"),
    [("500.00", "70.00", "0.00"), ("30.00", "30.00", "40.00"), (None, "0.00", "70.00")],
    ids=["all-from-credit", "part-from-credit", "no-credit"],
)
def test_the_payments_audit_entry_holds_the_amount_selected(
    term_reseller, credit_total, credit_part, rest
):
    """The entry's amount is what the reseller chose to pay, however much of
    it the credit covered (the classic panel's Activity shows it)."""
    if credit_total:
        credit(term_reseller, credit_total)
    selected = invoices(term_reseller, "20.00", "50.00")
    operation = pay(term_reseller, selected)
    event = AuditEvent.objects.get(
        operation=operation, action=AuditEvent.Action.PAYMENT_STARTED
    )
    assert event.amount == d("70.00")
    assert d(event.facts["credit"]) == d(credit_part)
    assert d(event.facts["rest"]) == d(rest)


def test_credit_covering_the_selection_completes_without_a_charge(term_reseller):
    credit(term_reseller, "500.00")
    selected = invoices(term_reseller, "20.00", "50.00")
    operation = pay(
        term_reseller, selected, payment_method="card", card_token=DECLINED_CARD
    )
    assert operation.status == Operation.Status.COMPLETED
    assert operation.payment.amount_to_charge == 0
    assert operation.completed_at is not None
    assert not operation.payment.transfer_reference
    assert all(open_amount(doc) == 0 for doc in selected)
    assert not Document.objects.filter(kind=DocumentKind.PAYMENT).exists()


def test_credit_smaller_than_selection_pays_oldest_fully_and_next_partly(
    term_reseller,
):
    credit(term_reseller, "150.00")
    oldest, middle, newest = invoices(term_reseller, "100.00", "100.00", "100.00")
    operation = pay(term_reseller, [newest, oldest, middle])
    assert operation.payment.credit_applied == d("150.00")
    assert open_amount(oldest) == 0
    assert open_amount(middle) == d("50.00")
    assert open_amount(newest) == d("100.00")
    assert_ledger_consistent(term_reseller)


def test_credit_pays_only_the_selected_documents(term_reseller):
    credit(term_reseller, "150.00")
    older, newer = invoices(term_reseller, "100.00", "100.00")
    pay(term_reseller, [newer])
    assert open_amount(older) == d("100.00")
    assert open_amount(newer) == 0


# --- prepaid accounts --------------------------------------------------------


def test_prepaid_credit_posted_after_debits_is_applied_oldest_first(
    prepaid_reseller,
):
    first_invoice, second_invoice = invoices(prepaid_reseller, "40.00", "80.00")
    memo = credit(prepaid_reseller, "100.00", day=20)
    assert memo.open_amount == 0
    assert open_amount(first_invoice) == 0
    assert open_amount(second_invoice) == d("20.00")
    operation = Operation.objects.get(
        reseller=prepaid_reseller, kind=Operation.Kind.AUTO_APPLY
    )
    assert operation.amount == d("100.00")
    assert_ledger_consistent(prepaid_reseller)


def test_prepaid_debit_posted_after_credit_is_paid_at_once(prepaid_reseller):
    memo = credit(prepaid_reseller, "100.00")
    invoice = post(prepaid_reseller, "invoice", "30.00")
    debit_memo = post(prepaid_reseller, "debit_memo", "90.00")
    assert invoice.open_amount == 0
    assert debit_memo.open_amount == d("20.00")
    assert open_amount(memo) == 0
    assert (
        Operation.objects.filter(
            reseller=prepaid_reseller, kind=Operation.Kind.AUTO_APPLY
        ).count()
        == 2
    )
    assert_ledger_consistent(prepaid_reseller)


def test_term_account_credit_is_not_applied_automatically(term_reseller):
    (invoice,) = invoices(term_reseller, "40.00")
    memo = credit(term_reseller, "100.00")
    assert memo.open_amount == d("100.00")
    assert open_amount(invoice) == d("40.00")
    assert not Operation.objects.filter(kind=Operation.Kind.AUTO_APPLY).exists()


# --- cards ------------------------------------------------------------------


def test_card_payment_becomes_a_payment_document_allocated_to_the_selection(
    term_reseller,
):
    credit(term_reseller, "30.00")
    first_invoice, second_invoice = invoices(term_reseller, "100.00", "50.00")
    operation = pay(
        term_reseller,
        [first_invoice, second_invoice],
        payment_method="card",
        card_token="4242 4242 4242 4242",
    )
    assert operation.status == Operation.Status.COMPLETED
    assert operation.payment.credit_applied == d("30.00")
    assert operation.payment.amount_to_charge == d("120.00")
    assert operation.payment.amount_charged == d("120.00")
    assert operation.payment.amount_left_open == 0
    assert operation.payment.gateway_reference.startswith("sbx_")
    payment = Document.objects.get(operation=operation)
    assert payment.kind == DocumentKind.PAYMENT
    assert payment.number == f"CARD-{operation.pk:08d}"
    assert (payment.total, payment.open_amount) == (d("120.00"), 0)
    card_part = sorted(
        (a.debit_id, a.amount) for a in Allocation.objects.filter(credit=payment)
    )
    assert card_part == sorted(
        [(first_invoice.pk, d("70.00")), (second_invoice.pk, d("50.00"))]
    )
    assert open_amount(first_invoice) == open_amount(second_invoice) == 0
    assert_ledger_consistent(term_reseller)


def test_replaying_a_completed_card_payment_charges_nothing_more(term_reseller):
    (invoice,) = invoices(term_reseller, "100.00")
    operation = pay(
        term_reseller,
        [invoice],
        payment_method="card",
        card_token=GOOD_CARD,
        idempotency_key="card-1",
    )
    before = ledger_snapshot(term_reseller)
    again = pay(
        term_reseller,
        [invoice],
        payment_method="card",
        card_token=GOOD_CARD,
        idempotency_key="card-1",
    )
    assert again.pk == operation.pk
    assert ledger_snapshot(term_reseller) == before
    assert Document.objects.filter(kind=DocumentKind.PAYMENT).count() == 1


def test_declined_card_keeps_the_credit_part_and_leaves_the_rest_open(
    term_reseller,
):
    memo = credit(term_reseller, "30.00")
    first_invoice, second_invoice = invoices(term_reseller, "100.00", "50.00")
    operation = pay(
        term_reseller,
        [first_invoice, second_invoice],
        payment_method="card",
        card_token=DECLINED_CARD,
    )
    assert operation.status == Operation.Status.DECLINED
    assert operation.payment.message == "The card was declined."
    assert operation.payment.credit_applied == d("30.00")
    assert operation.payment.amount_charged == 0
    assert operation.payment.amount_left_open == d("120.00")
    assert open_amount(memo) == 0
    assert open_amount(first_invoice) == d("70.00")
    assert open_amount(second_invoice) == d("50.00")
    assert not Document.objects.filter(kind=DocumentKind.PAYMENT).exists()
    assert_ledger_consistent(term_reseller)


def test_unavailable_gateway_leaves_the_payment_charging_until_retried(
    term_reseller,
):
    credit(term_reseller, "30.00")
    (invoice,) = invoices(term_reseller, "100.00")
    with pytest.raises(GatewayUnavailable) as excinfo:
        pay(
            term_reseller,
            [invoice],
            payment_method="card",
            card_token=UNAVAILABLE_CARD,
            idempotency_key="card-1",
        )
    assert excinfo.value.code == "gateway_unavailable"
    operation = Operation.objects.get(reseller=term_reseller, idempotency_key="card-1")
    assert operation.status == Operation.Status.CHARGING
    assert operation.payment.credit_applied == d("30.00")
    assert open_amount(invoice) == d("70.00")
    assert_ledger_consistent(term_reseller)

    # A replay without a card only reports the pending charge.
    pending = pay(
        term_reseller, [invoice], payment_method="card", idempotency_key="card-1"
    )
    assert pending.pk == operation.pk
    assert pending.status == Operation.Status.CHARGING

    finished = pay(
        term_reseller,
        [invoice],
        payment_method="card",
        card_token=GOOD_CARD,
        idempotency_key="card-1",
    )
    assert finished.pk == operation.pk
    assert finished.status == Operation.Status.COMPLETED
    assert finished.payment.amount_charged == d("70.00")
    assert open_amount(invoice) == 0
    assert Operation.objects.filter(reseller=term_reseller).count() == 1
    assert_ledger_consistent(term_reseller)


def test_second_card_payment_for_a_document_being_charged_is_refused(
    term_reseller,
):
    (invoice,) = invoices(term_reseller, "100.00")
    with pytest.raises(GatewayUnavailable):
        pay(
            term_reseller, [invoice], payment_method="card", card_token=UNAVAILABLE_CARD
        )
    before = ledger_snapshot(term_reseller)
    with pytest.raises(BillingError) as excinfo:
        pay(term_reseller, [invoice], payment_method="card", card_token=GOOD_CARD)
    assert excinfo.value.code == "payment_in_progress"
    assert ledger_snapshot(term_reseller) == before


def test_charge_finished_after_documents_were_paid_leaves_unused_credit(
    term_reseller, staff_user
):
    (invoice,) = invoices(term_reseller, "100.00")
    with pytest.raises(GatewayUnavailable):
        pay(
            term_reseller,
            [invoice],
            payment_method="card",
            card_token=UNAVAILABLE_CARD,
            idempotency_key="card-1",
        )
    memo = credit(term_reseller, "60.00")
    services.link_documents(
        credit=memo, debit=invoice, amount="60.00", actor=staff_user, reason="call"
    )
    finished = pay(
        term_reseller,
        [invoice],
        payment_method="card",
        card_token=GOOD_CARD,
        idempotency_key="card-1",
    )
    assert finished.status == Operation.Status.COMPLETED
    assert finished.payment.amount_charged == d("100.00")
    payment = Document.objects.get(operation=finished)
    assert payment.open_amount == d("60.00")
    assert open_amount(invoice) == 0
    assert_ledger_consistent(term_reseller)


def test_prepaid_card_payment_applies_an_unused_charge_to_other_debts(
    prepaid_reseller, staff_user
):
    first_invoice, second_invoice = invoices(prepaid_reseller, "100.00", "30.00")
    with pytest.raises(GatewayUnavailable):
        pay(
            prepaid_reseller,
            [first_invoice],
            payment_method="card",
            card_token=UNAVAILABLE_CARD,
            idempotency_key="card-1",
        )
    credit(prepaid_reseller, "100.00", day=5)  # pays the first invoice at once
    assert open_amount(first_invoice) == 0
    assert open_amount(second_invoice) == d("30.00")
    pay(
        prepaid_reseller,
        [first_invoice],
        payment_method="card",
        card_token=GOOD_CARD,
        idempotency_key="card-1",
    )
    assert open_amount(second_invoice) == 0
    assert credit_balance(prepaid_reseller) == d("70.00")
    assert_ledger_consistent(prepaid_reseller)
