"""Each account counts its documents, so its document list need not."""

import importlib

import pytest
from django.apps import apps

from billing.exceptions import DuplicateDocumentNumber
from billing.gateways import SandboxGateway
from billing.models import Document, Reseller
from tests import factories


def stored_count(reseller) -> int:
    return Reseller.objects.values_list("document_count", flat=True).get(pk=reseller.pk)


def test_posting_counts_each_document_on_its_own_account(term_reseller):
    other = factories.ResellerFactory(marketplace=term_reseller.marketplace)
    for kind in ("invoice", "debit_memo", "payment", "credit_memo"):
        factories.post(term_reseller, kind, "10.00")
    factories.post(other, "invoice", "10.00")

    assert stored_count(term_reseller) == 4
    assert stored_count(other) == 1


def test_a_refused_document_is_not_counted(term_reseller):
    factories.post(term_reseller, "invoice", "10.00", number="INV-1")

    with pytest.raises(DuplicateDocumentNumber):
        factories.post(term_reseller, "invoice", "10.00", number="INV-1")

    assert stored_count(term_reseller) == 1


def test_a_card_payment_counts_the_payment_document(term_reseller):
    invoice = factories.post(term_reseller, "invoice", "10.00")

    factories.pay(
        term_reseller,
        [invoice],
        use_credit=False,
        payment_method="card",
        card_token=SandboxGateway.SUCCESS_CARD,
    )

    assert Document.objects.filter(reseller=term_reseller).count() == 2
    assert stored_count(term_reseller) == 2


def test_the_migration_counts_the_documents_already_there(term_reseller):
    other = factories.ResellerFactory(marketplace=term_reseller.marketplace)
    factories.post(term_reseller, "invoice", "10.00")
    factories.post(term_reseller, "payment", "10.00")
    Reseller.objects.update(document_count=0)
    migration = importlib.import_module(
        "billing.migrations.0006_reseller_document_count"
    )

    migration.count_documents(apps, None)

    assert stored_count(term_reseller) == 2
    assert stored_count(other) == 0
