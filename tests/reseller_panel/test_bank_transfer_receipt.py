"""The reseller's side of a bank transfer: instructions, then what arrived."""

from decimal import Decimal

import pytest
from django.urls import reverse

from billing.models import Operation, Payment
from billing.references import format_reference
from tests import factories
from tests.billing import bank
from tests.reseller_panel.conftest import signed_in_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def cobalt():
    return bank.reseller(bank.de_marketplace(), "Cobalt Systems")


def test_instructions_show_the_rf_reference_in_groups_and_the_marketplace_iban(cobalt):
    invoice = factories.post(cobalt, "invoice", "119.00")
    operation = bank.awaiting(cobalt, [invoice])
    client = signed_in_client(cobalt)
    html = client.get(reverse("receipt", args=[operation.pk])).content.decode()
    grouped = format_reference(operation.payment.transfer_reference)
    assert grouped.startswith("RF") and grouped.count(" ") == 3
    assert grouped in html
    assert "DE89 3704 0044 0532 0130 00" in html
    assert "COBADEFFXXX" in html


def test_us_marketplace_shows_routing_and_account_number():
    acme = bank.reseller(bank.us_marketplace(), "Acme")
    operation = bank.awaiting(acme, [factories.post(acme, "invoice", "50.00")])
    html = signed_in_client(acme).get(reverse("receipt", args=[operation.pk]))
    assert "021000021" in html.content.decode()
    assert bank.US_ACCOUNT in html.content.decode()


@pytest.mark.parametrize(
    ("language", "completed", "received"),
    [
        ("en", "Completed.", "Received by bank transfer"),
        ("de", "Abgeschlossen.", "Per Überweisung eingegangen"),
    ],
)
def test_receipt_updates_when_the_money_arrives(cobalt, language, completed, received):
    invoice = factories.post(cobalt, "invoice", "119.00")
    operation = bank.awaiting(cobalt, [invoice], 4711)
    client = signed_in_client(cobalt, HTTP_ACCEPT_LANGUAGE=language)
    url = reverse("receipt", args=[operation.pk])
    assert 'data-testid="transfer-instructions"' in client.get(url).content.decode()
    bank.import_fixture("camt053_v02.xml")
    html = client.get(url).content.decode()
    assert completed in html
    assert received in html
    assert 'data-testid="transfer-instructions"' not in html
    assert "BANK-" in html
    # Nothing was asked of a card: no "Card charged" figure of 0.00.
    assert 'data-testid="receipt-charged"' not in html


def test_partly_paid_receipt_asks_for_the_rest(cobalt):
    invoice = factories.post(cobalt, "invoice", "200.00")
    operation = bank.awaiting(cobalt, [invoice], 4711)
    bank.import_fixture("camt053_v02.xml")  # 119.00 arrives
    assert Operation.objects.get(pk=operation.pk).status == "partly_paid"
    html = signed_in_client(cobalt).get(reverse("receipt", args=[operation.pk]))
    text = html.content.decode()
    assert "Partly paid by bank transfer." in text
    assert "€81.00" in text
    payments = signed_in_client(cobalt).get(reverse("payments")).content.decode()
    assert "Partly paid" in payments
    assert Decimal("81.00") == Payment.objects.get(pk=operation.pk).amount_left_open
