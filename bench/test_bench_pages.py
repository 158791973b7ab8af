"""How fast the pages open for a small account and a huge one.

The pages paginate on indexed orderings and run a constant number of
queries; an unfiltered document list takes its size from the account's stored
document count and reads its last pages backwards from the end; the figures
of what is owed read only open documents (through a partial index). So a
reseller with 100,000 documents, most of them long paid, should open as fast
as one with 10: compare the rows of each page.
"""

import pytest
from django.test import Client

from billing.models import DocumentKind, Marketplace
from tests import factories

from .test_bench_policy import bulk_documents

pytestmark = pytest.mark.bench


@pytest.fixture(params=[0, 15, 100_000], ids=["10-docs", "25-docs", "100k-docs"])
def account(request, big_term_reseller):
    """A reseller with 10 open invoices and ``param`` paid ones; its user; staff.

    With 25 documents a list page is as full as with 100,000, so any time
    between those two rows is what the size of the ledger costs; between 10
    and 25 it is the cost of drawing 15 more rows.
    """
    bulk_documents(big_term_reseller, DocumentKind.INVOICE, 10, "10.00", "OPEN")
    bulk_documents(
        big_term_reseller, DocumentKind.INVOICE, request.param, "10.00", "P", paid=True
    )
    reseller_user = factories.reseller_user(big_term_reseller)
    agent = factories.UserFactory(is_superuser=True)
    Marketplace.objects.get(pk=big_term_reseller.marketplace_id).staff.add(agent)
    return big_term_reseller, reseller_user, agent


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_bench_reseller_unpaid_documents_page(benchmark, account):
    _reseller, user, _agent = account
    client = signed_in(user)
    response = benchmark(client.get, "/unpaid/")
    assert response.status_code == 200


def test_bench_reseller_documents_page(benchmark, account):
    _reseller, user, _agent = account
    client = signed_in(user)
    response = benchmark(client.get, "/documents/")
    assert response.status_code == 200


def test_bench_reseller_home_page(benchmark, account):
    _reseller, user, _agent = account
    client = signed_in(user)
    response = benchmark(client.get, "/")
    assert response.status_code == 200


def test_bench_classic_reseller_documents_page(benchmark, account):
    reseller, _user, agent = account
    client = signed_in(agent)
    response = benchmark(client.get, f"/classic/resellers/{reseller.pk}/")
    assert response.status_code == 200


def test_bench_classic_documents_last_page(benchmark, account):
    reseller, _user, agent = account
    client = signed_in(agent)
    response = benchmark(
        client.get, f"/classic/resellers/{reseller.pk}/", {"page": "last"}
    )
    assert response.status_code == 200
