"""Unlink an allocation, revert an operation, issue a credit memo."""

import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.urls import reverse

from billing import services
from billing.models import AuditEvent, Document, Operation, Reversal
from tests import factories
from tests.classic_panel.conftest import client_for, fresh
from tests.classic_panel.helpers import ledger_state
from tests.html_forms import submit


@pytest.fixture
def linked(world):
    return services.link_documents(
        credit=world.credit_memo,
        debit=world.invoice,
        amount="40.00",
        actor=world.support_de,
        reason="setup",
    )


@pytest.fixture
def payment(world):
    """A term reseller's payment that used credit on two invoices."""
    reseller = factories.ResellerFactory(marketplace=world.us, name="Payer Inc")
    first = factories.post(reseller, "invoice", "30.00", number="PAY-INV-1")
    second = factories.post(reseller, "invoice", "50.00", number="PAY-INV-2")
    factories.post(reseller, "credit_memo", "45.00", number="PAY-CM-1")
    operation = factories.pay(reseller, [first, second], use_credit=True)
    assert operation.payment.credit_applied == Decimal("45.00")
    return operation


def unlink_url(world, allocation):
    return reverse("classic:unlink", args=[world.de_reseller.pk, allocation.pk])


def press(client, url, button, reason, page=None, **extra):
    """Open ``url`` (or use the page already open), type the reason, press."""
    page = page if page is not None else client.get(url)
    return submit(client, page, button=button, fill={"reason": reason}, **extra)


def test_unlink_page_shows_the_allocation_and_asks_for_a_reason(world, agent, linked):
    html = agent.get(unlink_url(world, linked)).content.decode()
    assert "Unlink €40.00 of DE-CM-1 from DE-INV-1" in html
    assert 'name="reason"' in html


def test_unlink_restores_both_open_amounts_and_keeps_history(world, agent, linked):
    response = press(
        agent, unlink_url(world, linked), "Unlink", "Wrong invoice", follow=True
    )
    html = response.content.decode()
    assert "Unlinked €40.00 of DE-CM-1 from DE-INV-1" in html
    assert fresh(world.invoice).open_amount == Decimal("100.00")
    assert fresh(world.credit_memo).open_amount == Decimal("60.00")
    reversal = Reversal.objects.get(allocation=linked)
    assert (reversal.actor, reversal.reason) == (world.support_de, "Wrong invoice")
    # The document detail shows the reversed allocation with who, when and why.
    assert "Reversed" in html and "by support-de on" in html
    assert "“Wrong invoice”" in html


def test_unlink_needs_a_reason(world, agent, linked):
    before = ledger_state()
    response = press(agent, unlink_url(world, linked), "Unlink", "")
    assert "Give a reason: it is kept in the audit trail." in response.content.decode()
    assert ledger_state() == before


def test_unlinking_an_already_reversed_allocation_is_refused(world, agent, linked):
    # Two tabs show the same allocation; the first one unlinks it.
    tabs = [agent.get(unlink_url(world, linked)) for _ in range(2)]
    url = unlink_url(world, linked)
    assert press(agent, url, "Unlink", "once", page=tabs[0]).status_code == 302
    before = ledger_state()
    response = press(agent, url, "Unlink", "twice", page=tabs[1])
    assert response.status_code == 200
    html = response.content.decode()
    assert "This allocation has already been unlinked." in html
    assert "Nothing was changed." in html
    assert ledger_state() == before
    assert fresh(world.invoice).open_amount == Decimal("100.00")


@pytest.mark.django_db(transaction=True)
def test_unlinking_twice_concurrently_reverses_once(world, linked):
    """Two agents press Unlink at the same moment: one wins, one is told."""
    clients = [client_for(world.support_de) for _ in range(2)]
    barrier = threading.Barrier(2)
    results = []

    pages = [client.get(unlink_url(world, linked)) for client in clients]

    def press_unlink(client, page):
        try:
            barrier.wait()
            response = press(client, "", "Unlink", "race", page=page)
            results.append((response.status_code, response.content.decode()))
        finally:
            connection.close()

    threads = [
        threading.Thread(target=press_unlink, args=(c, p))
        for c, p in zip(clients, pages, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(code for code, _ in results) == [200, 302]
    refused = next(html for code, html in results if code == 200)
    assert "This allocation has already been unlinked." in refused
    assert Reversal.objects.filter(allocation=linked).count() == 1
    assert fresh(world.invoice).open_amount == Decimal("100.00")
    assert fresh(world.credit_memo).open_amount == Decimal("60.00")
    assert (
        AuditEvent.objects.filter(action=AuditEvent.Action.ALLOCATION_UNLINKED).count()
        == 1
    )


def test_revert_page_lists_what_will_be_reversed(world, payment):
    root = factories.UserFactory(username="root", is_superuser=True)
    client = client_for(root)
    url = reverse("classic:revert", args=[payment.reseller_id, payment.pk])
    html = client.get(url).content.decode()
    assert "These allocations will be unlinked" in html
    assert "PAY-INV-1" in html and "PAY-INV-2" in html
    assert "$30.00" in html and "$15.00" in html


def test_revert_a_payment_restores_every_document(world, payment):
    admin = factories.UserFactory(username="root", is_superuser=True)
    client = client_for(admin)
    url = reverse("classic:revert", args=[payment.reseller_id, payment.pk])
    page = client.get(url)
    response = press(
        client, url, "Revert operation", "Reseller disagrees", page=page, follow=True
    )
    html = response.content.decode()
    assert f"Reverted {payment.reference}" in html
    assert "Reverted by" in html and "“Reseller disagrees”" in html
    numbers = dict(
        Document.objects.filter(reseller_id=payment.reseller_id).values_list(
            "number", "open_amount"
        )
    )
    assert numbers == {
        "PAY-INV-1": Decimal("30.00"),
        "PAY-INV-2": Decimal("50.00"),
        "PAY-CM-1": Decimal("45.00"),
    }
    revert = Operation.objects.get(kind=Operation.Kind.REVERT)
    assert (revert.reverts_id, revert.actor) == (payment.pk, admin)
    # A second revert is refused with the ledger's message; nothing changes.
    before = ledger_state()
    again = press(client, url, "Revert operation", "Reseller disagrees", page=page)
    assert again.status_code == 302  # the same confirmation: the first result
    assert ledger_state() == before
    # The same key with another reason is not a replay: refused, nothing more.
    edited = press(client, url, "Revert operation", "again", page=page)
    assert "already used with other values" in edited.content.decode()
    assert ledger_state() == before
    stale_tab = client.get(url)
    assert "Revert operation" not in stale_tab.content.decode()
    again = client.post(url, {"reason": "again", "idempotency_key": "a" * 32})
    assert "This operation has no applied amounts left to revert." in (
        again.content.decode()
    )
    assert ledger_state() == before


def test_operations_list_offers_revert_only_where_something_is_applied(
    world, agent, linked
):
    url = reverse("classic:operations", args=[world.de_reseller.pk])
    revert = reverse("classic:revert", args=[world.de_reseller.pk, linked.operation_id])
    assert revert in agent.get(url).content.decode()
    press(agent, unlink_url(world, linked), "Unlink", "undo")
    assert revert not in agent.get(url).content.decode()


def test_unlink_operations_cannot_be_reverted(world, agent, linked):
    reversal = services.unlink_allocation(
        allocation=linked, actor=world.support_de, reason="undo"
    )
    url = reverse("classic:revert", args=[world.de_reseller.pk, reversal.operation_id])
    before = ledger_state()
    response = agent.post(url, {"reason": "revert an unlink"})
    assert "Only payments, automatic applications and links can be reverted." in (
        response.content.decode()
    )
    assert ledger_state() == before


def memo_url(reseller, step="credit_memo"):
    return reverse(f"classic:{step}", args=[reseller.pk])


def issue_memo(client, reseller, amount, reason="Goodwill"):
    review = submit(
        client,
        client.get(memo_url(reseller)),
        button="Review",
        fill={"amount": amount, "reason": reason},
    )
    assert review.status_code == 200
    return review, submit(client, review, button="Issue credit memo", follow=True)


def test_issue_a_credit_memo_to_a_term_reseller(world, agent):
    review, done = issue_memo(agent, world.de_reseller, "12.50")
    assert "Issue a credit memo of €12.50 to Kunde GmbH?" in review.content.decode()
    memo = Document.objects.get(kind="credit_memo", number__startswith="CM-")
    assert (memo.total, memo.open_amount) == (Decimal("12.50"), Decimal("12.50"))
    assert f"Credit memo {memo.number} issued for €12.50." in done.content.decode()


def test_a_prepaid_resellers_credit_memo_is_applied_automatically(world, agent):
    prepaid = factories.ResellerFactory(
        marketplace=world.de, name="Prepaid GmbH", payment_model="prepaid"
    )
    invoice = factories.post(prepaid, "invoice", "8.00", number="PRE-INV-1")
    form = agent.get(memo_url(prepaid)).content.decode()
    assert "will be applied automatically" in form
    _review, done = issue_memo(agent, prepaid, "20.00")
    assert "€8.00 of it was applied automatically." in done.content.decode()
    assert fresh(invoice).open_amount == 0


def test_credit_memo_double_submit_issues_one(world, agent):
    review = agent.post(
        memo_url(world.de_reseller), {"amount": "5.00", "reason": "Goodwill"}
    )
    first = submit(agent, review, button="Issue credit memo")
    assert first.status_code == 302
    state = ledger_state()
    again = submit(agent, review, button="Issue credit memo")
    assert again.status_code == 302
    assert again["Location"] == first["Location"]
    assert ledger_state() == state


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("0", "The amount must be greater than zero."),
        ("-1", "The amount must be greater than zero."),
        ("1.001", "EUR amounts have at most 2 decimals."),
        ("", "This field is required."),
    ],
)
def test_bad_credit_memo_amounts_are_refused(world, agent, amount, message):
    before = ledger_state()
    for step in ("credit_memo", "credit_memo_confirm"):
        response = agent.post(
            memo_url(world.de_reseller, step), {"amount": amount, "reason": "x"}
        )
        assert message in response.content.decode()
    assert ledger_state() == before
