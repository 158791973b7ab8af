"""How fast ``GET /api/v1/documents`` answers for a small account and a huge one.

The list is read by keyset on (issue date, number, id), which an index
covers, so the first page and a page deep in the cursor cost the same for a
reseller with 100,000 documents as for one with 10: compare the rows.
"""

import pytest
from django.test import Client

from api import cursors
from api.keys import issue_api_key
from billing.models import Document, DocumentKind
from tests import factories

from .test_bench_policy import bulk_documents

pytestmark = pytest.mark.bench
# Pages of the same size for both accounts, so only the ledger's size differs.
PAGE = 5


@pytest.fixture(params=[10, 100_000], ids=["10-docs", "100k-docs"])
def api_account(request, big_term_reseller, settings):
    """A reseller with ``param`` invoices (all but 10 paid) and an API client."""
    settings.API_RATE_LIMIT = 10**9
    bulk_documents(big_term_reseller, DocumentKind.INVOICE, 10, "10.00", "OPEN")
    bulk_documents(
        big_term_reseller,
        DocumentKind.INVOICE,
        request.param - 10,
        "10.00",
        "P",
        paid=True,
    )
    user = factories.reseller_user(big_term_reseller)
    _api_key, key = issue_api_key(user=user, reseller=big_term_reseller, name="b")
    return big_term_reseller, Client(HTTP_AUTHORIZATION=f"Bearer {key}")


def deep_cursor(reseller) -> str:
    """The cursor of a page near the end: about 90% of the way in."""
    documents = Document.objects.filter(reseller=reseller).order_by(
        "issue_date", "number", "id"
    )
    deep = documents[max(0, int(reseller.document_count * 0.9) - PAGE - 1)]
    return cursors.encode("documents", deep.issue_date, deep.number, deep.pk)


def test_bench_api_documents_first_page(benchmark, api_account):
    _reseller, client = api_account
    response = benchmark(client.get, "/api/v1/documents", {"limit": PAGE})
    assert response.status_code == 200
    assert len(response.json()["items"]) == PAGE


def test_bench_api_documents_deep_cursor_page(benchmark, api_account):
    reseller, client = api_account
    cursor = deep_cursor(reseller)
    response = benchmark(
        client.get, "/api/v1/documents", {"cursor": cursor, "limit": PAGE}
    )
    assert response.status_code == 200
    assert len(response.json()["items"]) == PAGE
