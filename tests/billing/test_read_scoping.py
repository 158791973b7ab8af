"""The reads of one reseller's pages stay on that reseller's shard.

``test_shard_scoping`` holds the services' transactions to the reseller they
lock. The reads behind the pages of one reseller must stay on it too, or a
database sharded by ``reseller_id`` would have to ask every shard: each ledger
table a statement names is restricted to the reseller, or joined to a table
that is by their ``reseller_id``. The reads that may not be are the ones that
find the reseller: the signed-in user's membership by the user's id, an API
key's by its prefix.

Held here: every page of the reseller panel, the API's reads and the classic
panel's pages of one reseller, each GET once over a ledger with one of each
kind of operation.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from billing import selectors, services
from billing.gateways import SandboxGateway
from billing.models import Allocation, BankLine, Operation
from tests import factories
from tests.api.conftest import api_client, new_key
from tests.billing import bank
from tests.billing.test_shard_scoping import Capture, scope_problems
from tests.classic_panel.conftest import LINK, MEMO, VIEW, client_for, staff
from tests.reseller_panel.conftest import signed_in_client

# The look-ups that find the reseller, before it is known: the signed-in
# user's membership (``reseller_panel.backends``) and an API key's, by its
# prefix (the keys live on the coordinator, BENCHMARKS.md).
FINDS_THE_RESELLER = re.compile(
    r'^SELECT .* FROM "(auth_user|api_apikey)" .*"billing_resellermembership"'
    r'.* WHERE .*"(auth_user"\."id"|api_apikey"\."prefix") = ',
    re.S,
)


@pytest.fixture
def ledger(term_reseller, staff_user):
    """A reseller with one of each kind of operation, and a neighbour."""
    reseller = term_reseller
    neighbour = factories.ResellerFactory(marketplace=reseller.marketplace)
    factories.post(neighbour, "invoice", "10.00")
    memo = factories.post(reseller, "credit_memo", "50.00")
    paid, transfer, card, held, linked = (
        factories.post(reseller, "invoice", total)
        for total in ("30.00", "40.00", "25.00", "15.00", "20.00")
    )
    from_credit = factories.pay(reseller, [paid])
    factories.pay(reseller, [transfer], use_credit=False)
    by_card = factories.pay(
        reseller,
        [card],
        use_credit=False,
        payment_method="card",
        card_token=SandboxGateway.SUCCESS_CARD,
    )
    allocation = services.link_documents(
        credit=memo, debit=linked, amount="5.00", actor=staff_user, reason="agreed"
    )
    services.unlink_allocation(allocation=allocation, actor=staff_user, reason="no")
    services.revert_operation(operation=from_credit, actor=staff_user, reason="undo")
    services.hold_document(document=held, actor=staff_user, reason="disputed")
    return reseller, {"memo": memo, "invoice": transfer, "card": by_card}


def reads_past(reseller, url: str, capture: Capture) -> list[str]:
    """Return the statements of ``capture`` that could leave ``reseller``."""
    return [
        f"{url}: {why}:\n  {statement.sql}"
        for statement in capture.statements
        if not FINDS_THE_RESELLER.search(statement.sql)
        if (why := scope_problems(statement.sql, reseller.pk, reseller.marketplace_id))
    ]


def test_the_reseller_panels_reads_stay_on_its_reseller(ledger):
    reseller, docs = ledger
    client = signed_in_client(reseller)
    receipts = Operation.objects.filter(
        reseller=reseller, kind=Operation.Kind.PAYMENT
    ).values_list("pk", flat=True)
    urls = [
        reverse("home"),
        reverse("unpaid_documents"),
        reverse("pay") + f"?document={docs['invoice'].pk}&use_credit=on",
        reverse("payments"),
        *(reverse("receipt", args=[pk]) for pk in receipts),
        reverse("documents"),
        reverse("document", args=[docs["invoice"].pk]),
        reverse("document", args=[docs["memo"].pk]),
        reverse("api_keys"),
    ]
    assert not reads_past_on(reseller, client, urls)


def test_the_apis_reads_stay_on_its_reseller(ledger):
    reseller, docs = ledger
    client = api_client(new_key(reseller))
    urls = [
        "/api/v1/account",
        "/api/v1/documents",
        f"/api/v1/documents/{docs['invoice'].pk}",
        f"/api/v1/documents/{docs['memo'].pk}",
        "/api/v1/payments",
        f"/api/v1/payments/{docs['card'].pk}",
    ]
    assert not reads_past_on(reseller, client, urls)


def test_the_classic_panels_reads_of_a_reseller_stay_on_it(ledger):
    reseller, docs = ledger
    agent = client_for(staff("agent", [reseller.marketplace], VIEW, LINK, MEMO))
    operations = Operation.objects.filter(reseller=reseller).values_list(
        "pk", flat=True
    )
    allocations = Allocation.objects.filter(reseller=reseller).values_list(
        "pk", flat=True
    )
    pages = [
        ("reseller", []),
        ("documents_csv", []),
        ("document", [docs["invoice"].pk]),
        ("document", [docs["memo"].pk]),
        ("operations", []),
        *(("operation", [pk]) for pk in operations),
        *(("revert", [pk]) for pk in operations),
        *(("unlink", [pk]) for pk in allocations),
        ("activity", []),
        ("link", []),
        ("credit_memo", []),
    ]
    urls = [
        reverse(f"classic:{name}", args=[reseller.pk, *args]) for name, args in pages
    ]
    assert not reads_past_on(reseller, agent, urls)


def test_a_receipt_paid_by_a_bank_line_reads_the_line_on_its_marketplace(db):
    """A bank line belongs to its marketplace, the payment it became to the
    reseller: the receipt reads each on its own owner."""
    marketplace = bank.de_marketplace()
    reseller = bank.reseller(marketplace, "Cobalt Systems GmbH")
    invoice = factories.post(reseller, "invoice", "119.00", number="DE-INV-2026-0001")
    operation = bank.awaiting(reseller, [invoice], 4711)
    bank.import_fixture("camt053_v02.xml")
    line = BankLine.objects.get(operation=operation)
    url = reverse("receipt", args=[operation.pk])
    with Capture() as capture:
        response = signed_in_client(reseller).get(url)
    assert line.payment.number in response.content.decode()
    assert not "\n".join(reads_past(reseller, url, capture))


def test_a_page_joining_a_ledger_row_by_id_is_caught(ledger, monkeypatch):
    """The check itself: a receipt reading its allocations' reversals through
    an outer join by id (as it did before) is caught."""
    reseller, docs = ledger
    monkeypatch.setattr(
        selectors,
        "with_reversals",
        lambda allocations, _reseller_id: allocations.select_related("reversal"),
    )
    client = signed_in_client(reseller)
    problems = reads_past_on(
        reseller, client, [reverse("receipt", args=[docs["card"].pk])]
    )
    assert "not restricted to the reseller: ['billing_reversal']" in problems


def reads_past_on(reseller, client, urls: list[str]) -> str:
    """GET each of ``urls``; return the statements that could leave
    ``reseller``, one per line ("" when none)."""
    problems = []
    for url in urls:
        with Capture() as capture:
            response = client.get(url)
        assert response.status_code == 200, url
        problems += reads_past(reseller, url, capture)
    return "\n".join(problems)
