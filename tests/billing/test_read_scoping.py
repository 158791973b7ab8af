"""The busiest reads of one reseller stay on that reseller's shard.

``test_shard_scoping`` holds the services' transactions to the reseller they
lock. The reads behind the pages of one reseller must stay on it too, or a
database sharded by ``reseller_id`` would have to ask every shard: each ledger
table a statement names is restricted to the reseller, or joined to a table
that is by their ``reseller_id``. The reads that may not be are the ones that
find the reseller: the signed-in user's membership by the user's id, an API
key's by its prefix.

Held here: the pages a reseller and support open most (the reseller panel's
Home, Unpaid, Pay preview and Documents; the API's account and document list;
the classic panel's documents of a reseller, their CSV, and the link and
credit-memo forms). Not yet: the pages that show allocations, payment records
or audit entries (a document, a receipt, the payments and operations lists,
Activity) join nullable relations by id; BENCHMARKS.md ("Moving to Citus",
step 4) says what they need.
"""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from billing import services
from billing.gateways import SandboxGateway
from tests import factories
from tests.api.conftest import api_client, new_key
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
# An aggregate's own condition only narrows the rows it counts.
AGGREGATE_FILTER = "FILTER (WHERE "


def without_aggregate_filters(sql: str) -> str:
    """Return ``sql`` with each aggregate's ``FILTER (WHERE …)`` left out."""
    while (start := sql.find(AGGREGATE_FILTER)) >= 0:
        depth, end = 0, start + len("FILTER ")
        for index in range(end, len(sql)):
            depth += {"(": 1, ")": -1}.get(sql[index], 0)
            if depth == 0:
                end = index
                break
        sql = sql[:start] + sql[end + 1 :]
    return sql


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
        if (
            why := scope_problems(
                without_aggregate_filters(statement.sql),
                reseller.pk,
                reseller.marketplace_id,
            )
        )
    ]


def test_the_reseller_panels_reads_stay_on_its_reseller(ledger):
    reseller, docs = ledger
    client = signed_in_client(reseller)
    urls = [
        reverse("home"),
        reverse("unpaid_documents"),
        reverse("pay") + f"?document={docs['invoice'].pk}&use_credit=on",
        reverse("documents"),
        reverse("api_keys"),
    ]
    assert not reads_past_on(reseller, client, urls)


def test_the_apis_reads_stay_on_its_reseller(ledger):
    reseller, _docs = ledger
    client = api_client(new_key(reseller))
    urls = ["/api/v1/account", "/api/v1/documents"]
    assert not reads_past_on(reseller, client, urls)


def test_the_classic_panels_reads_of_a_reseller_stay_on_it(ledger):
    reseller, _docs = ledger
    agent = client_for(staff("agent", [reseller.marketplace], VIEW, LINK, MEMO))
    urls = [
        reverse(f"classic:{name}", args=[reseller.pk])
        for name in ("reseller", "documents_csv", "link", "credit_memo")
    ]
    assert not reads_past_on(reseller, agent, urls)


def test_a_read_joining_a_ledger_row_by_id_is_caught(ledger):
    """The check itself: the payments page reads what support took back of
    each payment through an outer join to the reversals by id (not yet
    held, see above)."""
    reseller, _docs = ledger
    client = signed_in_client(reseller)
    problems = reads_past_on(reseller, client, [reverse("payments")])
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
