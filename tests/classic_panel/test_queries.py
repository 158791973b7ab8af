"""Pages cost the same number of queries for 5 documents as for 60."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing import services
from tests import factories


def build(world, count: int):
    reseller = factories.ResellerFactory(marketplace=world.de, name=f"R{count}")
    payment = factories.post(reseller, "payment", "100000.00", number=f"P{count}")
    invoices = [
        factories.post(reseller, "invoice", "10.00", number=f"I{count}-{n}")
        for n in range(count)
    ]
    for invoice in invoices:
        allocation = services.link_documents(
            credit=payment,
            debit=invoice,
            amount="1.00",
            actor=world.support_de,
            reason="setup",
        )
    services.unlink_allocation(
        allocation=allocation, actor=world.support_de, reason="undo"
    )
    return reseller, payment, invoices


def queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize(
    "page",
    ["reseller", "document", "operations", "activity", "link", "home"],
)
def test_query_count_does_not_grow_with_documents(
    world, agent, django_assert_max_num_queries, page
):
    counts = []
    for size in (5, 60):
        reseller, payment, _invoices = build(world, size)
        args = {
            "reseller": [reseller.pk],
            "document": [reseller.pk, payment.pk],
            "operations": [reseller.pk],
            "activity": [reseller.pk],
            "link": [reseller.pk],
            "home": [],
        }[page]
        counts.append(queries(agent, reverse(f"classic:{page}", args=args)))
    assert counts[0] == counts[1], counts
    with django_assert_max_num_queries(14):
        agent.get(reverse(f"classic:{page}", args=args))
