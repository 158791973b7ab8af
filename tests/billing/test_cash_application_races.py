"""Real races with cash application: threads, each with its own connection.

Run on SQLite and on PostgreSQL (CI runs both). A statement imported while
the reseller pays the same documents with its credit never over-applies:
whichever comes second finds the documents paid and the bank money stays as
credit. Two imports of one statement at once store its lines once.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.core.management import call_command

from billing.exceptions import BillingError
from billing.models import BankLine, Document, Payment
from tests import factories
from tests.billing import bank
from tests.billing.ledger_checks import assert_ledger_consistent
from tests.billing.test_concurrency import run_together

pytestmark = pytest.mark.django_db(transaction=True)
CAMT = (bank.FIXTURES / "camt053_v02.xml").read_bytes()


def csv_statement(rounds: int) -> bytes:
    rows = "".join(
        f"2026-03-06,119.00,EUR,Cobalt,RF71 0000 0000 4711 part {i},R{i}\n"
        for i in range(rounds)
    )
    return (
        f"# account: {bank.DE_IBAN}\n"
        "date,amount,currency,counterparty,remittance,reference\n" + rows
    ).encode()


@pytest.mark.parametrize("attempt", range(3))
def test_statement_import_while_the_reseller_pays_with_credit(attempt):
    de = bank.de_marketplace()
    cobalt = bank.reseller(de, "Cobalt")
    factories.post(cobalt, "credit_memo", "200.00", issue_date=date(2025, 12, 1))
    first = factories.post(cobalt, "invoice", "70.00", issue_date=date(2026, 1, 1))
    second = factories.post(cobalt, "invoice", "49.00", issue_date=date(2026, 1, 2))
    operation = bank.awaiting(cobalt, [first, second], 4711)

    def import_statement():
        return bank.import_bytes(csv_statement(2))

    def pay_with_credit():
        return factories.pay(
            cobalt, [first, second], use_credit=True, payment_method="card"
        )

    tasks = [import_statement, pay_with_credit]
    if attempt % 2:
        tasks.reverse()
    results = run_together(tasks)
    for result in results:
        assert not isinstance(result, Exception) or isinstance(result, BillingError), (
            result
        )

    for document in (first, second):
        document = Document.objects.get(pk=document.pk)
        assert document.open_amount == 0
    assert_ledger_consistent(cobalt)
    lines = BankLine.objects.filter(state=BankLine.State.APPLIED)
    assert lines.count() == 2
    received = sum((line.amount for line in lines), Decimal(0))
    # Everything the bank brought is either on the invoices or still credit.
    unused = sum((line.payment.open_amount for line in lines), Decimal(0))
    assert Decimal("119.00") <= received
    assert received - unused <= Decimal("119.00")
    assert Payment.objects.get(pk=operation.pk).amount_left_open == 0
    call_command("check_ledger", stdout=None)


def test_two_imports_of_one_statement_at_once_store_its_lines_once():
    de = bank.de_marketplace()
    cobalt = bank.reseller(de, "Cobalt")
    bank.awaiting(cobalt, [factories.post(cobalt, "invoice", "119.00")], 4711)
    results = run_together([lambda: bank.import_bytes(CAMT)] * 4)
    assert not [r for r in results if isinstance(r, Exception)], results
    assert sorted(r.new for r in results) == [0, 0, 0, 4]
    assert BankLine.objects.count() == 4
    assert BankLine.objects.filter(state=BankLine.State.APPLIED).count() == 1
    assert_ledger_consistent(cobalt)
    call_command("check_ledger", stdout=None)
