"""Document lists page the same rows however they are read, and a long
unfiltered list is neither counted nor skipped through row by row."""

from datetime import date

import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing.models import Reseller
from billing.selectors import documents_for_reseller
from panelkit.filters import ORDERINGS, DocumentFilter
from panelkit.paging import PAGE_SIZE, paginate
from tests import factories

SIZE = 2 * PAGE_SIZE + 7  # three pages, the last one short


@pytest.fixture
def long_account(reseller):
    """An account whose documents tie on date and on total, so only the id
    decides their order."""
    for n in range(SIZE):
        factories.post(
            reseller,
            "invoice" if n % 3 else "payment",
            "10.00" if n % 2 else "20.00",
            issue_date=date(2026, 1, 1 + n % 4),
            number=f"D-{n % 5}-{n:03d}",
        )
    return reseller


def every_page(queryset, **kwargs):
    rows, number = [], 1
    while True:
        request = RequestFactory().get("/", {"page": number})
        page = paginate(request, queryset, **kwargs)
        rows += list(page.object_list)
        if not page.has_next():
            return rows, page.paginator.num_pages
        number += 1


SORTS = [*ORDERINGS, *(f"-{key}" for key in ORDERINGS)]


@pytest.mark.parametrize("sort", [None, *SORTS])
@pytest.mark.parametrize("told_count", [False, True])
def test_pages_hold_every_document_once_in_order(long_account, sort, told_count):
    queryset = DocumentFilter(
        {"sort": sort} if sort else None,
        queryset=documents_for_reseller(long_account),
    ).qs
    if sort:
        ordering = queryset.query.order_by
        assert (ordering[0], ordering[-1]) == (sort, "-id" if "-" in sort else "id")
    count = SIZE if told_count else None

    rows, pages = every_page(queryset, count=count)

    assert rows == list(queryset)
    assert pages == 3


def test_a_late_page_is_read_backwards_from_the_end(long_account):
    request = RequestFactory().get("/", {"page": "3"})

    with CaptureQueriesContext(connection) as captured:
        page = paginate(request, documents_for_reseller(long_account), count=SIZE)
        rows = list(page.object_list)

    assert rows == list(documents_for_reseller(long_account))[2 * PAGE_SIZE :]
    (query,) = captured.captured_queries
    assert "DESC" in query["sql"]
    assert "OFFSET" not in query["sql"]


def test_a_list_not_ordered_down_to_the_id_is_read_forwards(long_account):
    for _ in range(SIZE):
        factories.ResellerFactory(marketplace=long_account.marketplace, name="Same")
    resellers = Reseller.objects.filter(name="Same")  # ordered by name only
    request = RequestFactory().get("/", {"page": "3"})

    with CaptureQueriesContext(connection) as captured:
        page = paginate(request, resellers)
        list(page.object_list)

    assert len(page.object_list) == SIZE - 2 * PAGE_SIZE
    assert "DESC" not in captured.captured_queries[-1]["sql"]


@pytest.mark.parametrize(
    ("asked", "shown"), [("last", 3), ("1", 1), ("99", 3), ("0", 3), ("x", 1)]
)
def test_page_numbers_clamp_and_last_means_the_last_page(long_account, asked, shown):
    request = RequestFactory().get("/", {"page": asked})

    page = paginate(request, documents_for_reseller(long_account))

    assert page.number == shown


def page_queries(client, url, params=None):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params or {})
    assert response.status_code == 200
    return response, [query["sql"] for query in captured.captured_queries]


def counts_documents(sql: str) -> bool:
    return sql.startswith("SELECT COUNT(*)") and "billing_document" in sql


@pytest.mark.parametrize("panel", ["classic", "reseller"])
def test_unfiltered_document_list_uses_the_stored_count(client, long_account, panel):
    if panel == "classic":
        client.force_login(factories.UserFactory(is_superuser=True))
        url = reverse("classic:reseller", args=[long_account.pk])
    else:
        client.force_login(factories.reseller_user(long_account))
        url = reverse("documents")

    response, queries = page_queries(client, url, {"sort": "-total", "page": "last"})

    page = response.context["page"]
    assert (page.number, page.paginator.num_pages) == (3, 3)
    assert not any(counts_documents(sql) for sql in queries)

    response, queries = page_queries(client, url, {"kind": "payment"})

    page = response.context["page"]
    assert page.paginator.count == len(range(0, SIZE, 3))
    assert {doc.kind for doc in page.object_list} == {"payment"}
    assert any(counts_documents(sql) for sql in queries)
