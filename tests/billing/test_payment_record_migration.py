"""Migrations 0013-0015 move payments out of the operation, data included.

Rows are written in the old shape (migration 0012: payment columns and a
JSON list of documents on the operation), the migrations run forward, and
the payment record, its documents (in the selected order) and a link's
amount are checked; then back, and the old shape is whole again.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection

from tests.billing.migrations import latest, migrate

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("billing", "0012_reseller_api_source")]


def old_rows(apps):
    """A marketplace, a reseller, three invoices, a payment and a link."""
    Marketplace = apps.get_model("billing", "Marketplace")
    Reseller = apps.get_model("billing", "Reseller")
    Document = apps.get_model("billing", "Document")
    Operation = apps.get_model("billing", "Operation")
    market = Marketplace.objects.create(code="MG", name="Migrated", currency="EUR")
    reseller = Reseller.objects.create(
        marketplace=market, name="Old shape", currency="EUR", payment_model="term"
    )
    invoices = [
        Document.objects.create(
            reseller=reseller,
            marketplace=market,
            kind="invoice",
            number=f"MG-{n}",
            issue_date=date(2026, 1, n),
            total=Decimal("50.00"),
            open_amount=Decimal("50.00"),
            source="import",
        )
        for n in (1, 2, 3)
    ]
    payment = Operation.objects.create(
        reseller=reseller,
        kind="payment",
        status="awaiting_transfer",
        source="reseller_panel",
        idempotency_key="old-1",
        request_hash="h",
        # Not in id order: the order the list had is kept.
        document_ids=[invoices[2].pk, invoices[0].pk, invoices[1].pk],
        use_credit=True,
        payment_method="bank_transfer",
        credit_applied=Decimal("20.00"),
        amount_to_charge=Decimal("0"),
        amount_charged=Decimal("0"),
        amount_left_open=Decimal("130.00"),
        transfer_reference="RF18000000000000000000042",
        gateway_reference="",
        message="kept",
    )
    link = Operation.objects.create(
        reseller=reseller,
        kind="link",
        source="classic_panel",
        reason="agreed",
        credit_applied=Decimal("12.50"),
    )
    return reseller, invoices, payment, link


def test_payment_columns_and_documents_move_to_the_payment_record(old_apps):
    reseller, invoices, payment, link = old_rows(old_apps)

    apps = migrate(latest())

    Payment = apps.get_model("billing", "Payment")
    PaymentDocument = apps.get_model("billing", "PaymentDocument")
    Operation = apps.get_model("billing", "Operation")
    record = Payment.objects.get(operation_id=payment.pk)
    assert record.reseller_id == reseller.pk
    assert record.method == "bank_transfer"
    assert record.use_credit is True
    assert record.credit_applied == Decimal("20.00")
    assert record.amount_to_charge == 0
    assert record.amount_charged == 0
    assert record.amount_left_open == Decimal("130.00")
    assert record.transfer_reference == "RF18000000000000000000042"
    assert record.gateway_reference == ""
    assert record.message == "kept"
    selected = list(
        PaymentDocument.objects.filter(payment_id=payment.pk)
        .order_by("position")
        .values_list("document_id", "reseller_id", "position")
    )
    assert selected == [
        (invoices[2].pk, reseller.pk, 1),
        (invoices[0].pk, reseller.pk, 2),
        (invoices[1].pk, reseller.pk, 3),
    ]
    assert Operation.objects.get(pk=link.pk).amount == Decimal("12.50")
    assert Operation.objects.get(pk=payment.pk).amount == 0
    assert not Payment.objects.filter(operation_id=link.pk).exists()
    columns = {
        column.name
        for column in connection.introspection.get_table_description(
            connection.cursor(), "billing_operation"
        )
    }
    assert "document_ids" not in columns and "credit_applied" not in columns

    apps = migrate(BEFORE)

    Operation = apps.get_model("billing", "Operation")
    back = Operation.objects.get(pk=payment.pk)
    assert back.document_ids == [invoices[2].pk, invoices[0].pk, invoices[1].pk]
    assert back.payment_method == "bank_transfer"
    assert back.use_credit is True
    assert back.credit_applied == Decimal("20.00")
    assert back.amount_left_open == Decimal("130.00")
    assert back.transfer_reference == "RF18000000000000000000042"
    assert back.message == "kept"
    assert Operation.objects.get(pk=link.pk).credit_applied == Decimal("12.50")
