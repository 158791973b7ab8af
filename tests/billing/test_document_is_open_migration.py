"""Migration 0027 keeps whether each document is open as a column of its own,
and the open documents' indexes find the same documents as before."""

from __future__ import annotations

from datetime import date

import pytest

from tests.billing.migrations import migrate

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("billing", "0026_awaiting_transfer_and_payer_indexes")]
AFTER = [("billing", "0027_document_is_open")]


def test_documents_already_in_the_ledger_are_open_as_their_amounts_say(old_apps):
    Marketplace = old_apps.get_model("billing", "Marketplace")
    Reseller = old_apps.get_model("billing", "Reseller")
    Document = old_apps.get_model("billing", "Document")
    market = Marketplace.objects.create(code="MO", name="Open", currency="EUR")
    reseller = Reseller.objects.create(
        marketplace=market, name="Opened", currency="EUR", payment_model="term"
    )

    def document(number, kind, total, open_amount):
        return Document.objects.create(
            reseller=reseller,
            marketplace=market,
            kind=kind,
            number=number,
            issue_date=date(2026, 1, 1),
            total=total,
            open_amount=open_amount,
            source="upstream",
        )

    unpaid = document("INV-1", "invoice", 100_000, 100_000)
    partly = document("INV-2", "invoice", 100_000, 1)
    paid = document("INV-3", "invoice", 100_000, 0)
    credit = document("CM-1", "credit_memo", 50_000, 20_000)
    used = document("CM-2", "credit_memo", 50_000, 0)

    apps = migrate(AFTER)
    documents = apps.get_model("billing", "Document").objects

    assert dict(documents.values_list("pk", "is_open")) == {
        unpaid.pk: True,
        partly.pk: True,
        paid.pk: False,
        credit.pk: True,
        used.pk: False,
    }
    assert set(
        documents.filter(is_open=True, kind="credit_memo").values_list("pk", flat=True)
    ) == {credit.pk}
