"""An operation's writes, sent together (one statement on PostgreSQL).

The parts of one data-modifying ``WITH`` see the same snapshot and not each
other's changes, so the write set refuses what would silently go wrong
there, and checks every part's row count as separate statements would be.
"""

from decimal import Decimal

import pytest
from django.apps import apps
from django.db import connection, models, transaction

from billing import rows
from billing.locking import lock_reseller
from billing.models import Allocation, Document, Operation, PaymentDocument
from billing.services import ledger_steps
from billing.services.ledger_steps import Writes, store_open_amounts
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_row_updated_twice_in_one_write_is_refused_and_nothing_is_sent(
    term_reseller,
):
    invoice = factories.post(term_reseller, "invoice", "100.00")
    with pytest.raises(AssertionError, match="updated twice"):
        with transaction.atomic():
            lock_reseller(term_reseller.pk)
            writes = Writes()
            store_open_amounts(term_reseller, {invoice.pk: Decimal("60.00")}, writes)
            store_open_amounts(term_reseller, {invoice.pk: Decimal("50.00")}, writes)
            writes.send()
    invoice.refresh_from_db()
    assert invoice.open_amount == Decimal("100.00")


def test_writes_store_amounts_of_several_rows_in_one_send(term_reseller):
    first = factories.post(term_reseller, "invoice", "100.00")
    second = factories.post(term_reseller, "invoice", "80.00")
    with transaction.atomic():
        lock_reseller(term_reseller.pk)
        writes = Writes()
        store_open_amounts(term_reseller, {first.pk: Decimal("60.00")}, writes)
        store_open_amounts(term_reseller, {second.pk: Decimal("0.00")}, writes)
        writes.send()
    amounts = dict(
        Document.objects.filter(pk__in=[first.pk, second.pk]).values_list(
            "pk", "open_amount"
        )
    )
    assert amounts == {first.pk: Decimal("60.00"), second.pk: Decimal("0.00")}


def test_an_amount_of_another_resellers_row_is_refused_with_the_rest(term_reseller):
    other = factories.ResellerFactory(marketplace=term_reseller.marketplace)
    mine = factories.post(term_reseller, "invoice", "100.00")
    theirs = factories.post(other, "invoice", "100.00")
    with pytest.raises(AssertionError, match="rows, not"):
        with transaction.atomic():
            lock_reseller(term_reseller.pk)
            writes = Writes()
            store_open_amounts(
                term_reseller,
                {mine.pk: Decimal("1.00"), theirs.pk: Decimal("1.00")},
                writes,
            )
            writes.send()
    assert {
        d.open_amount for d in Document.objects.filter(pk__in=[mine.pk, theirs.pk])
    } == {Decimal("100.00")}


@pytest.mark.parametrize("per_statement", [5000, 10], ids=["one-statement", "chunks"])
def test_many_rows_are_written_whole_and_in_order(
    term_reseller, monkeypatch, per_statement
):
    """Past a few rows SQLite's values become literals and PostgreSQL's stay
    arrays; either way every row arrives, the selection in its order."""
    monkeypatch.setattr(ledger_steps, "ROWS_PER_STATEMENT", per_statement)
    factories.post(term_reseller, "credit_memo", "1000.00")
    invoices = [
        factories.post(term_reseller, "invoice", f"{n}.25") for n in range(1, 26)
    ]
    selected = list(reversed(invoices))

    operation = factories.pay(term_reseller, selected)

    assert list(
        PaymentDocument.objects.filter(payment=operation.payment)
        .order_by("position")
        .values_list("document_id", flat=True)
    ) == sorted(doc.pk for doc in selected)
    assert dict(
        Allocation.objects.filter(operation=operation).values_list("debit_id", "amount")
    ) == {doc.pk: doc.total for doc in invoices}
    assert not Document.objects.filter(
        pk__in=[doc.pk for doc in invoices], open_amount__gt=0
    ).exists()


@pytest.mark.postgresql_only
def test_every_ledger_tables_id_sequence_has_the_name_ids_are_reserved_from():
    """Ids are drawn from each table's sequence by its name (a renamed table
    keeps its sequence's old name: this fails until that is handled)."""
    tables = [
        model
        for model in apps.get_app_config("billing").get_models()
        if isinstance(model._meta.pk, models.AutoField)
    ]
    assert {Document, Operation, Allocation} <= set(tables)
    with connection.cursor() as cursor:
        for model in tables:
            cursor.execute(
                "SELECT pg_get_serial_sequence(%s, %s)",
                [f'"{model._meta.db_table}"', model._meta.pk.column],
            )
            (found,) = cursor.fetchone()
            assert found == "public." + ledger_steps.id_sequence(model).strip('"'), (
                model
            )


@pytest.mark.parametrize(
    "value", ["x'; DROP TABLE billing_document; --", "Payment", "", "ä", 1, None]
)
def test_only_plain_names_become_sql_literals(value):
    with pytest.raises(TypeError):
        rows.names(["invoice", value])


def test_names_become_a_list_of_sql_literals():
    assert rows.names(["payment", "credit_memo"]) == "'payment', 'credit_memo'"
