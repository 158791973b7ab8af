"""Receipts and the Payments list say what is true after support changed it."""

import re
from datetime import date

import pytest
from django.urls import reverse

from billing import services
from billing.exceptions import GatewayUnavailable
from billing.gateways import SandboxGateway
from billing.models import Operation
from billing.services.ledger_steps import active_allocations
from tests import factories
from tests.factories import pay, post

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_user(db):
    return factories.UserFactory(is_staff=True, password=None)


def text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


@pytest.fixture
def paid_by_credit(term_reseller):
    post(term_reseller, "credit_memo", "80.00", issue_date=date(2025, 12, 1))
    first = post(term_reseller, "invoice", "50.00", issue_date=date(2026, 1, 1))
    second = post(term_reseller, "invoice", "30.00", issue_date=date(2026, 1, 2))
    operation = pay(term_reseller, [first, second], use_credit=True)
    assert operation.status == Operation.Status.COMPLETED
    return operation


def receipt_of(client, operation):
    return client.get(reverse("receipt", kwargs={"operation_id": operation.pk}))


def test_receipt_of_a_reverted_payment_says_it_was_reverted(
    client_of, term_reseller, paid_by_credit, staff_user
):
    client = client_of(term_reseller)
    assert "The documents below are paid." in text(receipt_of(client, paid_by_credit))

    revert = services.revert_operation(
        operation=paid_by_credit, actor=staff_user, reason="applied by mistake"
    )

    page = receipt_of(client, paid_by_credit)
    html = page.content.decode()
    status = re.search(r'data-testid="receipt-status".*?</div>', html, re.S).group(0)
    assert "Reverted by support on" in status
    assert f"{revert.created_at:%b}" in status  # the date of the revert
    assert "$80.00" in status
    assert "The documents below are paid." not in status
    # The original outcome stays, as history.
    history = re.search(r'data-testid="receipt-history".*?</section>', html, re.S)
    assert "Original outcome" in history.group(0)
    assert "Completed." in history.group(0)

    listing = client.get(reverse("payments")).content.decode()
    assert "Reverted by support on" in listing
    assert "Originally: Completed" in listing


def test_receipt_of_a_partly_unlinked_payment_says_so(
    client_of, term_reseller, paid_by_credit, staff_user
):
    first = active_allocations(operation=paid_by_credit)[0]
    services.unlink_allocation(allocation=first, actor=staff_user, reason="dispute")

    client = client_of(term_reseller)
    page = text(receipt_of(client, paid_by_credit))
    assert "Partly reverted by support on" in page
    assert "$50.00 of what was applied here was taken back" in page
    listing = text(client.get(reverse("payments")))
    assert "Partly reverted by support on" in listing


def test_receipt_in_german_says_reverted(
    client_of, term_reseller, paid_by_credit, staff_user
):
    services.revert_operation(operation=paid_by_credit, actor=staff_user, reason="x")
    client = client_of(term_reseller, HTTP_ACCEPT_LANGUAGE="de")
    page = text(receipt_of(client, paid_by_credit))
    assert "Vom Support rückgängig gemacht am" in page
    assert "Ursprüngliches Ergebnis" in page


def test_a_declined_card_is_not_shown_as_a_receipt_and_says_nothing_charged_once(
    client_of, term_reseller
):
    invoice = post(term_reseller, "invoice", "40.00")
    with pytest.raises(GatewayUnavailable):
        pay(
            term_reseller,
            [invoice],
            payment_method="card",
            card_token=SandboxGateway.UNAVAILABLE_CARD,
            idempotency_key="stuck",
        )
    operation = services.settle_payment(
        operation=Operation.objects.get(idempotency_key="stuck")
    )
    assert operation.status == Operation.Status.DECLINED

    page = text(receipt_of(client_of(term_reseller), operation))

    assert "Payment receipt" not in page
    assert "Payment not completed" in page
    assert page.count("Nothing was charged.") == 1


def test_classic_operation_page_of_a_credit_only_payment_shows_no_card_charge(
    term_reseller, paid_by_credit
):
    from tests.classic_panel.conftest import LINK, VIEW, client_for, staff

    agent = staff("agent-x", [term_reseller.marketplace], VIEW, LINK)
    url = reverse(
        "classic:operation",
        kwargs={"reseller_id": term_reseller.pk, "operation_id": paid_by_credit.pk},
    )
    page = text(client_for(agent).get(url))
    assert "None: paid with credit only" in page
    assert "Charged" not in page
