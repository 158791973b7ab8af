"""The database itself refuses an overspent ledger, whatever code runs.

AmountField stores thousandths of a unit as integers, so raw SQL below writes
``amount * 1000``.
"""

from datetime import date
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction

from billing import services
from billing.exceptions import BillingError
from billing.models import Allocation, Document, Operation, Payment
from tests import factories
from tests.billing.ledger_checks import open_amount
from tests.factories import post


def raw_update(sql: str, params: list) -> None:
    """Run an UPDATE on billing_document inside its own savepoint."""
    table = connection.ops.quote_name(Document._meta.db_table)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {sql} WHERE id = %s", params)  # noqa: S608


@pytest.mark.parametrize(
    ("assignment", "params"),
    [
        ("open_amount = total + 1", []),
        ("open_amount = %s", [100_001]),
        ("open_amount = -1", []),
        ("open_amount = %s", [-100_000]),
        ("total = 0, open_amount = 0", []),
        ("total = -5000, open_amount = -5000", []),
        ("kind = 'gift'", []),
        ("due_date = '2025-12-31'", []),
    ],
)
def test_database_rejects_an_impossible_document(term_reseller, assignment, params):
    invoice = post(term_reseller, "invoice", "100.00", issue_date=date(2026, 1, 1))
    with pytest.raises(IntegrityError):
        raw_update(assignment, [*params, invoice.pk])
    assert open_amount(invoice) == Decimal("100.00")


@pytest.mark.parametrize(
    ("assignment", "expected"),
    [
        ("open_amount = 0", Decimal("0")),
        ("open_amount = total", Decimal("100.00")),
        ("open_amount = 1", Decimal("0.001")),
    ],
)
def test_database_accepts_open_amounts_within_bounds(
    term_reseller, assignment, expected
):
    invoice = post(term_reseller, "invoice", "100.00")
    raw_update(assignment, [invoice.pk])
    assert open_amount(invoice) == expected


@pytest.mark.parametrize("amount", [Decimal("0"), Decimal("-0.01")])
def test_database_rejects_a_non_positive_allocation(term_reseller, amount):
    memo = post(term_reseller, "credit_memo", "10.00")
    invoice = post(term_reseller, "invoice", "10.00")
    operation = Operation.objects.create(
        reseller=term_reseller, kind=Operation.Kind.LINK, source="system"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Allocation.objects.create(
            reseller=term_reseller,
            credit=memo,
            debit=invoice,
            amount=amount,
            operation=operation,
        )
    assert not Allocation.objects.exists()


def test_database_rejects_an_allocation_of_a_document_to_itself(term_reseller):
    memo = post(term_reseller, "credit_memo", "10.00")
    operation = Operation.objects.create(
        reseller=term_reseller, kind=Operation.Kind.LINK, source="system"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Allocation.objects.create(
            reseller=term_reseller,
            credit=memo,
            debit=memo,
            amount=Decimal("1.00"),
            operation=operation,
        )


@pytest.mark.parametrize(
    "amounts",
    [
        {"amount_to_charge": Decimal("10"), "amount_charged": Decimal("10.01")},
        {"credit_applied": Decimal("-1")},
        {"amount_left_open": Decimal("-0.01")},
    ],
)
def test_database_rejects_impossible_payment_amounts(term_reseller, amounts):
    operation = Operation.objects.create(
        reseller=term_reseller, kind=Operation.Kind.PAYMENT, source="system"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.create(operation=operation, reseller=term_reseller, **amounts)


def test_database_rejects_a_negative_operation_amount(term_reseller):
    with pytest.raises(IntegrityError), transaction.atomic():
        Operation.objects.create(
            reseller=term_reseller,
            kind=Operation.Kind.LINK,
            source="system",
            amount=Decimal("-0.01"),
        )


def test_database_rejects_a_reused_idempotency_key_of_one_reseller(term_reseller):
    other = factories.ResellerFactory(marketplace=term_reseller.marketplace)
    fields = {"kind": Operation.Kind.PAYMENT, "source": "system"}
    Operation.objects.create(reseller=term_reseller, idempotency_key="k", **fields)
    Operation.objects.create(reseller=other, idempotency_key="k", **fields)
    Operation.objects.create(reseller=term_reseller, idempotency_key=None, **fields)
    Operation.objects.create(reseller=term_reseller, idempotency_key=None, **fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        Operation.objects.create(reseller=term_reseller, idempotency_key="k", **fields)


def test_duplicate_number_in_one_marketplace_is_rejected(term_reseller):
    neighbour = factories.ResellerFactory(marketplace=term_reseller.marketplace)
    post(term_reseller, "invoice", "10.00", number="INV-1")
    with pytest.raises(BillingError) as excinfo:
        post(neighbour, "invoice", "10.00", number="INV-1")
    assert excinfo.value.code == "duplicate_number"
    assert Document.objects.filter(number="INV-1").count() == 1
    with pytest.raises(IntegrityError), transaction.atomic():
        Document.objects.create(
            reseller=neighbour,
            marketplace=neighbour.marketplace,
            kind="invoice",
            number="INV-1",
            issue_date=date(2026, 1, 1),
            total=Decimal("1"),
            open_amount=Decimal("1"),
            source="system",
        )


def test_same_number_in_another_marketplace_is_allowed(term_reseller):
    abroad = factories.ResellerFactory()
    assert abroad.marketplace_id != term_reseller.marketplace_id
    post(term_reseller, "invoice", "10.00", number="INV-1")
    post(abroad, "invoice", "10.00", number="INV-1")
    assert Document.objects.filter(number="INV-1").count() == 2


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"kind": "gift"}, "invalid_kind"),
        ({"number": "  "}, "invalid_number"),
        ({"number": "N" * 65}, "invalid_number"),
        ({"total": "0"}, "amount_not_positive"),
        ({"total": "-10.00"}, "amount_not_positive"),
        ({"total": "10.001"}, "too_many_decimals"),
        ({"total": 10.5}, "invalid_amount"),
        ({"issue_date": "2026-01-01"}, "invalid_issue_date"),
        ({"due_date": date(2025, 12, 31)}, "invalid_due_date"),
        ({"kind": "credit_memo", "due_date": date(2026, 2, 1)}, "invalid_due_date"),
    ],
)
def test_post_document_refuses_invalid_documents(term_reseller, kwargs, code):
    arguments = {
        "reseller": term_reseller,
        "kind": "invoice",
        "number": "INV-9",
        "total": "10.00",
        "issue_date": date(2026, 1, 1),
        **kwargs,
    }
    with pytest.raises(BillingError) as excinfo:
        services.post_document(**arguments)
    assert excinfo.value.code == code
    assert not Document.objects.exists()
