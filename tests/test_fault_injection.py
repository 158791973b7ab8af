"""The database fails at each write of a staff action or a payment.

Each flow is driven through its panel, from the rendered page. A database
error is raised at the 1st write to the ledger, then the 2nd, and so on,
until the action gets through: every failed attempt answers with a clear
message (never a 500) and leaves the ledger as it was, and the last
attempt, the very same confirmation with the same key, completes it once.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection
from django.test import Client
from django.urls import reverse

from billing import services
from billing.models import (
    Allocation,
    AuditEvent,
    BankLine,
    BankLineEvent,
    BankStatement,
    CreditPolicy,
    Document,
    Operation,
    Payment,
    PaymentModel,
    Reversal,
)
from billing.services.cash_application import import_statement
from tests import factories
from tests.billing import bank
from tests.classic_panel.conftest import LINK, MEMO, VIEW, staff
from tests.html_forms import submit

pytestmark = pytest.mark.django_db

MAX_WRITES = 60


class Fault:
    """Raise a DatabaseError at the ``fail_at``-th write to a ledger table.

    Writes are counted on the SQL sent to the database (a connection's
    ``execute_wrapper``), so the ORM's saves and updates and the services'
    own statements all count, one each. ``parts`` counts the writes those
    statements carry: on PostgreSQL a payment, a link or a posting sends all
    of its writes as one statement (a ``WITH`` of several).
    """

    def __init__(self, fail_at: int):
        self.fail_at = fail_at
        self.writes = 0
        self.parts = 0
        self.raised = False

    def __call__(self, execute, sql, params, many, context):
        if WRITE.match(sql):
            self.writes += 1
            self.parts += len(WRITE_PART.findall(sql))
            if self.writes == self.fail_at:
                self.raised = True
                raise DatabaseError(f"injected fault at write {self.fail_at}")
        return execute(sql, params, many, context)


# A statement that writes to a table of the billing app, optionally behind a
# ``WITH … AS (…)`` of its own values.
WRITE = re.compile(
    r'^\s*(?:WITH\b.*?\)\s*)?(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"billing_',
    re.IGNORECASE | re.DOTALL,
)
# One write of such a statement (a WITH may hold several).
WRITE_PART = re.compile(
    r'\b(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+"billing_', re.IGNORECASE
)


@contextmanager
def failing_write(fault: Fault):
    with connection.execute_wrapper(fault):
        yield fault


def ledger_state() -> tuple:
    return (
        sorted(Document.objects.values_list("pk", "open_amount", "total")),
        sorted(Allocation.objects.values_list("pk", "amount")),
        Reversal.objects.count(),
        sorted(Operation.objects.values_list("pk", "status")),
        AuditEvent.objects.count(),
    )


def drive(send, *, settled=None) -> tuple[int, object]:
    """Send the same confirmation, failing at write 1, 2, ... until it passes.

    ``settled`` says whether a state left by a failed attempt is allowed
    (only a card payment waiting for its charge is); by default, a failed
    attempt must leave the ledger exactly as it was. Returns how many
    writes the completed attempt made (each was in a statement that failed
    in an earlier attempt) and the final response.
    """
    before = ledger_state()
    for fail_at in range(1, MAX_WRITES):
        with failing_write(Fault(fail_at)) as fault:
            response = send()
        if not fault.raised:
            return fault.parts, response
        assert response.status_code in (200, 503), (fail_at, response.status_code)
        html = response.content.decode()
        assert "could not be" in html, fail_at
        assert 'role="alert"' in html, fail_at
        if settled is None:
            assert ledger_state() == before, fail_at
        else:
            assert settled(), fail_at
    raise AssertionError("the action never completed")


@pytest.fixture
def shop(db):
    de = factories.MarketplaceFactory(
        code="DE", currency="EUR", term_credit_policy=CreditPolicy.SELF_SERVICE
    )
    reseller = factories.ResellerFactory(marketplace=de, name="Kunde GmbH")
    agent = staff("support-de", [de], VIEW, LINK, MEMO)
    client = Client()
    client.force_login(agent)
    return reseller, agent, client


def fresh(document) -> Document:
    return Document.objects.get(pk=document.pk)


def test_link_fails_whole_at_each_write_and_the_retry_links_once(shop):
    reseller, _agent, client = shop
    invoice = factories.post(reseller, "invoice", "100.00")
    memo = factories.post(reseller, "credit_memo", "60.00")
    entry = client.get(reverse("classic:link", args=[reseller.pk]))
    review = submit(client, entry, fill={"amount": "25.00", "reason": "x"})
    writes, done = drive(lambda: submit(client, review))
    assert writes >= 4  # operation, allocation, open amounts, audit
    assert done.status_code == 302
    assert Allocation.objects.count() == 1
    assert fresh(invoice).open_amount == Decimal("75.00")
    assert fresh(memo).open_amount == Decimal("35.00")


def test_unlink_and_revert_fail_whole_at_each_write(shop):
    reseller, agent, client = shop
    invoice = factories.post(reseller, "invoice", "100.00")
    memo = factories.post(reseller, "credit_memo", "60.00")
    first = services.link_documents(
        credit=memo, debit=invoice, amount="20.00", actor=agent, reason="a"
    )
    second = services.link_documents(
        credit=memo, debit=invoice, amount="30.00", actor=agent, reason="b"
    )
    page = client.get(reverse("classic:unlink", args=[reseller.pk, first.pk]))
    writes, done = drive(lambda: submit(client, page, fill={"reason": "wrong"}))
    assert writes >= 3 and done.status_code == 302
    assert Reversal.objects.filter(allocation=first).count() == 1
    url = reverse("classic:revert", args=[reseller.pk, second.operation_id])
    page = client.get(url)
    writes, done = drive(lambda: submit(client, page, fill={"reason": "undo"}))
    assert writes >= 3 and done.status_code == 302
    assert Operation.objects.filter(reverts=second.operation).count() == 1
    assert fresh(invoice).open_amount == Decimal("100.00")
    assert fresh(memo).open_amount == Decimal("60.00")


def test_prepaid_credit_memo_fails_whole_at_each_write(shop):
    reseller, _agent, client = shop
    reseller.payment_model = PaymentModel.PREPAID
    reseller.save(update_fields=["payment_model"])
    invoice = factories.post(reseller, "invoice", "40.00")
    entry = client.get(reverse("classic:credit_memo", args=[reseller.pk]))
    review = submit(client, entry, fill={"amount": "50.00", "reason": "goodwill"})
    writes, done = drive(lambda: submit(client, review))
    # the memo, its count, its audit, the automatic application and its audit
    assert writes >= 6 and done.status_code == 302
    assert Document.objects.filter(kind="credit_memo").count() == 1
    assert fresh(invoice).open_amount == 0


def test_pay_with_credit_and_transfer_fails_whole_at_each_write(db):
    reseller = factories.ResellerFactory(
        marketplace=factories.MarketplaceFactory(
            term_credit_policy=CreditPolicy.SELF_SERVICE
        )
    )
    invoice = factories.post(reseller, "invoice", "100.00")
    factories.post(reseller, "credit_memo", "30.00")
    client = Client()
    client.force_login(factories.reseller_user(reseller))
    preview = client.get(reverse("pay"), {"document": invoice.pk, "use_credit": "1"})
    pay = reverse("pay")

    def send():
        return submit(
            client, preview, action=pay, fill={"payment_method": "bank_transfer"}
        )

    writes, done = drive(send)
    assert writes >= 4 and done.status_code == 302, done.content.decode()
    operation = Operation.objects.get(kind="payment")
    assert operation.status == Operation.Status.AWAITING_TRANSFER
    assert fresh(invoice).open_amount == Decimal("70.00")


def test_card_payment_fails_at_each_write_and_the_retry_charges_once(db):
    reseller = factories.ResellerFactory(
        marketplace=factories.MarketplaceFactory(
            term_credit_policy=CreditPolicy.SELF_SERVICE
        )
    )
    invoice = factories.post(reseller, "invoice", "100.00")
    client = Client()
    client.force_login(factories.reseller_user(reseller))
    preview = client.get(reverse("pay"), {"document": invoice.pk})
    pay = reverse("pay")

    def waiting_for_its_charge() -> bool:
        # The first step may be recorded; the charge, then, is not.
        operations = list(Operation.objects.filter(kind="payment"))
        return fresh(invoice).open_amount == Decimal("100.00") and all(
            op.status == Operation.Status.CHARGING for op in operations
        )

    def send():
        return submit(
            client, preview, action=pay, fill={"card_number": "4242424242424242"}
        )

    writes, done = drive(send, settled=waiting_for_its_charge)
    assert writes >= 4 and done.status_code == 302, done.content.decode()
    operation = Operation.objects.get(kind="payment")
    assert operation.status == Operation.Status.COMPLETED
    assert operation.payment.amount_charged == Decimal("100.00")
    assert Document.objects.filter(kind="payment").count() == 1
    assert fresh(invoice).open_amount == 0


def bank_state() -> tuple:
    return (
        ledger_state(),
        sorted(Payment.objects.values_list("pk", "amount_left_open")),
        sorted(BankStatement.objects.values_list("pk", flat=True)),
        sorted(BankLine.objects.values_list("pk", "state", "payment_id")),
        BankLineEvent.objects.count(),
    )


def test_statement_import_fails_whole_at_each_write_and_the_retry_imports_once(db):
    """The upload page has no retry form: the import itself is driven."""
    de = bank.de_marketplace()
    cobalt = bank.reseller(de, "Cobalt Systems GmbH")
    invoice = factories.post(cobalt, "invoice", "119.00", number="DE-INV-2026-0001")
    operation = bank.awaiting(cobalt, [invoice], 4711)
    delta = bank.reseller(de, "Delta Tech AG", prepaid=True)
    bank.awaiting(delta, [factories.post(delta, "invoice", "500.00")], 4712)
    nordlicht = bank.reseller(de, "Nordlicht IT")
    first = factories.post(nordlicht, "invoice", "360.50", number="DE-INV-2026-0107")
    second = factories.post(nordlicht, "invoice", "500.00", number="DE-INV-2026-0108")
    data = (bank.FIXTURES / "camt053_v02.xml").read_bytes()
    before = bank_state()
    for fail_at in range(1, MAX_WRITES):
        with failing_write(Fault(fail_at)) as fault:
            try:
                result = import_statement(
                    data=data, file_name="camt.xml", actor=None, source="bank"
                )
            except DatabaseError:
                assert fault.raised, fail_at
        if not fault.raised:
            break
        assert bank_state() == before, fail_at
    else:
        raise AssertionError("the import never completed")
    # the statement, its lines, the queued line's event, the payment documents
    # and the resellers' counts, each operation's allocations and open
    # amounts, the operations' status, the amounts left open, the applied
    # lines, their events and audit events
    assert fail_at - 1 >= 20
    assert (result.lines, result.new, result.applied, result.queued) == (4, 4, 3, 1)
    assert fresh(invoice).open_amount == 0
    assert Operation.objects.get(pk=operation.pk).status == Operation.Status.COMPLETED
    assert fresh(first).open_amount + fresh(second).open_amount < Decimal("860.50")
    assert BankLine.objects.filter(state=BankLine.State.APPLIED).count() == 3
