"""The ledger check: recompute open amounts from allocations, report drift."""

from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing import services
from billing.fields import SCALE
from billing.models import Allocation, Document, PaymentModel, Reseller
from tests import factories

THOUSANDTHS = 10**SCALE


def check(*args: str) -> tuple[bool, str]:
    """Run check_ledger; return (passed, stdout)."""
    out = StringIO()
    try:
        call_command("check_ledger", *args, stdout=out)
    except CommandError as exc:
        return False, out.getvalue() + str(exc)
    return True, out.getvalue()


def raw_update(model, column: str, value_sql: str, pk: int, params=()) -> None:
    """Change a row behind the services' back, as a bad migration would."""
    table = connection.ops.quote_name(model._meta.db_table)
    column = connection.ops.quote_name(column)
    key = connection.ops.quote_name(model._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {column} = {value_sql} WHERE {key} = %s",  # noqa: S608
            [*params, pk],
        )


@pytest.fixture
def operator(db):
    return get_user_model().objects.create_superuser("op", "op@example.com", "x")


@pytest.fixture
def ledger(reseller, operator):
    """A term reseller with links and an unlink, and a prepaid one auto-applied."""
    invoice = factories.post(reseller, "invoice", "300.00", number="INV-1")
    memo = factories.post(reseller, "debit_memo", "50.00", number="DM-1")
    payment = factories.post(reseller, "payment", "200.00", number="PAY-1")
    credit_memo = factories.post(reseller, "credit_memo", "80.00", number="CN-1")
    services.link_documents(
        credit=payment, debit=invoice, amount="120.00", actor=operator, reason="r"
    )
    link = services.link_documents(
        credit=credit_memo, debit=memo, amount="50.00", actor=operator, reason="r"
    )
    services.unlink_allocation(allocation=link, actor=operator, reason="wrong")
    services.link_documents(
        credit=credit_memo, debit=invoice, amount="30.00", actor=operator, reason="r"
    )
    prepaid = factories.ResellerFactory(
        marketplace=reseller.marketplace, payment_model=PaymentModel.PREPAID
    )
    factories.post(prepaid, "payment", "500.00", number="PAY-2")
    factories.post(prepaid, "invoice", "120.00", number="INV-2")
    factories.post(prepaid, "invoice", "700.00", number="INV-3")
    return reseller


def test_consistent_ledger_passes_and_counts_what_it_checked(ledger):
    passed, out = check()

    assert passed, out
    assert Document.objects.count() == 7
    assert Allocation.objects.count() == 5
    assert "Ledger consistent: 7 documents, 5 allocations checked" in out


def test_empty_ledger_passes(db):
    passed, out = check()

    assert passed
    assert "Ledger consistent: 0 documents, 0 allocations checked" in out


def test_open_amount_changed_behind_the_services_back_is_reported(ledger):
    invoice = Document.objects.get(number="INV-1")
    assert invoice.open_amount == Decimal("150.00")
    # AmountField stores thousandths: +10 is one cent.
    raw_update(Document, "open_amount", "open_amount + 10", invoice.pk)

    passed, out = check()

    assert not passed
    assert (
        f"DRIFT reseller {ledger.name!r} (#{ledger.pk}) document INV-1: "
        "open amount stored 150.010, computed 150.000" in out
    )
    assert "BALANCE" not in out  # an invoice is not credit
    assert "Ledger inconsistent: 1 problem(s)" in out


def test_document_count_changed_behind_the_services_back_is_reported(ledger):
    assert Reseller.objects.get(pk=ledger.pk).document_count == 4
    raw_update(Reseller, "document_count", "document_count + 1", ledger.pk)

    passed, out = check()

    assert not passed
    assert (
        f"COUNT reseller {ledger.name!r} (#{ledger.pk}): document count stored 5, "
        "counted 4" in out
    )
    assert "Ledger inconsistent: 1 problem(s)" in out


def test_document_count_of_an_account_without_documents_is_checked(ledger):
    empty = factories.ResellerFactory(marketplace=ledger.marketplace)
    raw_update(Reseller, "document_count", "%s", empty.pk, [3])

    passed, out = check("--reseller", str(empty.pk))

    assert not passed
    assert f"(#{empty.pk}): document count stored 3, counted 0" in out


def test_drift_makes_manage_py_exit_non_zero(ledger):
    invoice = Document.objects.get(number="INV-1")
    raw_update(Document, "open_amount", "%s", invoice.pk, [149 * THOUSANDTHS])

    with pytest.raises(CommandError) as excinfo:
        call_command("check_ledger", stdout=StringIO())

    assert excinfo.value.returncode == 1


def test_changed_credit_shows_in_the_reseller_credit_balance(ledger):
    payment = Document.objects.get(number="PAY-1")
    raw_update(Document, "open_amount", "open_amount - %s", payment.pk, [THOUSANDTHS])

    passed, out = check()

    assert not passed
    assert "document PAY-1: open amount stored 79.000, computed 80.000" in out
    assert (
        f"BALANCE reseller {ledger.name!r} (#{ledger.pk}): credit balance "
        "stored 129.000, computed 130.000" in out
    )


def test_changed_allocation_amount_is_reported_on_both_documents(ledger):
    allocation = Allocation.objects.get(credit__number="PAY-1")
    raw_update(Allocation, "amount", "amount + %s", allocation.pk, [THOUSANDTHS])

    passed, out = check()

    assert not passed
    assert "document INV-1: open amount stored 150.000, computed 149.000" in out
    assert "document PAY-1: open amount stored 80.000, computed 79.000" in out


def test_allocation_between_resellers_is_reported(ledger):
    other = factories.ResellerFactory(marketplace=ledger.marketplace)
    allocation = Allocation.objects.get(credit__number="PAY-1")
    raw_update(Allocation, "reseller_id", "%s", allocation.pk, [other.pk])

    passed, out = check()

    assert not passed
    assert (
        f"ALLOCATION allocation #{allocation.pk} (PAY-1 → INV-1, reseller "
        f"#{other.pk}): its operation belongs to reseller #{ledger.pk}; "
        f"credit belongs to reseller #{ledger.pk}; debit belongs "
        f"to reseller #{ledger.pk}" in out
    )


def test_allocation_with_wrong_document_kinds_is_reported(ledger):
    allocation = Allocation.objects.get(credit__number="PAY-1")
    payment = Document.objects.get(number="PAY-1")
    raw_update(Document, "kind", "%s", payment.pk, ["invoice"])

    passed, out = check()

    assert not passed
    assert f"ALLOCATION allocation #{allocation.pk}" in out
    assert "credit side is a invoice" in out


def test_document_in_another_marketplace_than_its_reseller_is_reported(ledger):
    other = factories.MarketplaceFactory()
    invoice = Document.objects.get(number="INV-1")
    raw_update(Document, "marketplace_id", "%s", invoice.pk, [other.pk])

    passed, out = check()

    assert not passed
    assert (
        f"MARKETPLACE reseller {ledger.name!r} (#{ledger.pk}) document INV-1: "
        f"document marketplace #{other.pk} is not the reseller's "
        f"#{ledger.marketplace_id}" in out
    )


def test_reseller_option_limits_the_check(ledger):
    prepaid_invoice = Document.objects.get(number="INV-3")
    raw_update(Document, "open_amount", "open_amount + 10", prepaid_invoice.pk)

    passed_term, out_term = check("--reseller", str(ledger.pk))
    passed_prepaid, out_prepaid = check("--reseller", str(prepaid_invoice.reseller_id))

    assert passed_term, out_term
    assert "Ledger consistent: 4 documents, 3 allocations checked" in out_term
    assert not passed_prepaid
    assert "document INV-3" in out_prepaid


def test_unknown_reseller_is_an_error(db):
    with pytest.raises(CommandError, match="Reseller 999 does not exist"):
        call_command("check_ledger", "--reseller", "999", stdout=StringIO())


def test_batches_find_drift_on_every_page(ledger):
    numbers = ["INV-1", "CN-1", "INV-3"]  # batches 1, 2 and 4
    for document in Document.objects.filter(number__in=numbers):
        raw_update(Document, "open_amount", "open_amount - 10", document.pk)

    passed, out = check("--batch-size", "2")

    assert not passed
    for number in numbers:
        assert f"document {number}: open amount stored" in out


def queries_of_check(*args: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        passed, out = check(*args)
    assert passed, out
    return len(queries)


def test_queries_do_not_grow_with_documents(reseller, operator):
    for _ in range(3):
        payment = factories.post(reseller, "payment", "10.00")
        invoice = factories.post(reseller, "invoice", "10.00")
        services.link_documents(
            credit=payment, debit=invoice, amount="5.00", actor=operator, reason="r"
        )
    few = queries_of_check()
    for _ in range(30):
        payment = factories.post(reseller, "payment", "10.00")
        invoice = factories.post(reseller, "invoice", "10.00")
        services.link_documents(
            credit=payment, debit=invoice, amount="5.00", actor=operator, reason="r"
        )
    many = queries_of_check()
    paged = queries_of_check("--batch-size", "11")  # 66 documents: 6 batches

    assert few == many
    assert paged == many + 5 * 3  # three aggregate queries per extra batch


# --- operations, bounds and one snapshot -------------------------------------


@pytest.fixture
def card_payment(db):
    from billing.gateways import SandboxGateway

    reseller = factories.ResellerFactory()
    invoice = factories.post(reseller, "invoice", "70.00", number="INV-C")
    operation = factories.pay(
        reseller,
        [invoice],
        payment_method="card",
        card_token=SandboxGateway.SUCCESS_CARD,
    )
    assert operation.status == "completed"
    return operation


def test_card_payment_without_its_payment_document_is_reported(card_payment):
    payment = Document.objects.get(operation=card_payment)
    raw_update(Document, "operation_id", "NULL", payment.pk)

    passed, out = check()

    assert not passed
    assert (
        f"CHARGE operation {card_payment.reference}: charged 70.000 of 70.000 "
        "requested, recorded as 0 payment document(s) totalling 0" in out
    )


def test_card_payment_document_of_another_amount_is_reported(card_payment):
    from billing.models import Payment

    raw_update(
        Payment, "amount_charged", "amount_charged - %s", card_payment.pk, [1000]
    )

    passed, out = check()

    assert not passed
    assert f"CHARGE operation {card_payment.reference}: charged 69.000" in out


def test_payment_without_its_payment_record_is_reported(term_reseller):
    from billing.models import Operation, Payment, PaymentDocument

    invoice = factories.post(term_reseller, "invoice", "30.00")
    operation = factories.pay(term_reseller, [invoice], use_credit=False)
    link = Operation.objects.create(
        reseller=term_reseller, kind=Operation.Kind.LINK, source="system"
    )
    assert check()[0]
    PaymentDocument.objects.filter(payment_id=operation.pk).delete()
    Payment.objects.filter(pk=operation.pk).delete()
    Payment.objects.create(operation=link, reseller=term_reseller)

    passed, out = check()

    assert not passed
    assert (
        f"PAYMENT RECORD operation {operation.reference}: a payment operation "
        "has no payment record" in out
    )
    assert (
        f"PAYMENT RECORD operation {link.reference}: a link operation has a "
        "payment record" in out
    )


def test_payment_selecting_another_resellers_document_is_reported(term_reseller):
    from billing.models import PaymentDocument

    invoice = factories.post(term_reseller, "invoice", "30.00")
    operation = factories.pay(term_reseller, [invoice], use_credit=False)
    other = factories.ResellerFactory(marketplace=term_reseller.marketplace)
    theirs = factories.post(other, "invoice", "10.00")
    assert check()[0]
    PaymentDocument.objects.filter(payment_id=operation.pk).update(document=theirs)

    passed, out = check()

    assert not passed
    assert (
        f"RESELLER payment {operation.reference} of reseller #{term_reseller.pk} "
        f"selects document {theirs.number} of another reseller" in out
    )


def test_payment_left_charging_past_the_time_out_is_reported(db):
    from datetime import timedelta

    from django.utils import timezone

    from billing.exceptions import GatewayUnavailable
    from billing.gateways import SandboxGateway
    from billing.models import Operation

    reseller = factories.ResellerFactory()
    invoice = factories.post(reseller, "invoice", "70.00")
    with pytest.raises(GatewayUnavailable):
        factories.pay(
            reseller,
            [invoice],
            payment_method="card",
            card_token=SandboxGateway.UNAVAILABLE_CARD,
        )
    operation = Operation.objects.get(status="charging")
    assert check()[0]  # charging for a moment is normal

    Operation.objects.filter(pk=operation.pk).update(
        created_at=timezone.now() - timedelta(minutes=16)
    )
    passed, out = check()

    assert not passed
    assert f"CHARGING operation {operation.reference}: charging since" in out
    assert check("--charging-limit", "30")[0]


def test_operation_rows_of_another_reseller_are_reported(ledger, card_payment):
    from billing.models import Reversal

    reversal = Reversal.objects.get(reseller=ledger)
    payment = Document.objects.get(operation=card_payment)
    raw_update(Reversal, "operation_id", "%s", reversal.pk, [card_payment.pk])
    raw_update(Document, "operation_id", "%s", payment.pk, [reversal.operation_id])

    passed, out = check()

    assert not passed
    assert (
        f"RESELLER reversal #{reversal.pk} of reseller #{ledger.pk}: its "
        f"operation belongs to reseller #{card_payment.reseller_id}" in out
    )
    assert (
        f"RESELLER document {payment.number} of reseller "
        f"#{card_payment.reseller_id}: its operation belongs to reseller "
        f"#{ledger.pk}" in out
    )


def test_amount_above_the_ledger_bound_is_reported(ledger):
    from billing.money import MAX_AMOUNT

    invoice = Document.objects.get(number="INV-3")
    huge = int(MAX_AMOUNT * THOUSANDTHS) + THOUSANDTHS
    raw_update(Document, "total", "total + %s", invoice.pk, [huge])
    raw_update(Document, "open_amount", "open_amount + %s", invoice.pk, [huge])

    passed, out = check()

    assert not passed
    assert "TOO LARGE reseller" in out and "document INV-3: total" in out
