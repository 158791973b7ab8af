"""Reading the account and its documents: amounts as exact decimal strings,
the reseller's statuses, filters, and cursor pages read by keyset."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing import services
from tests import factories
from tests.api.conftest import API, make_reseller
from tests.factories import pay, post

pytestmark = pytest.mark.django_db


def test_account_shows_what_is_owed_and_the_credit_with_its_parts(
    term_reseller, client_for
):
    today = timezone.localdate()
    post(term_reseller, "invoice", "100.10", issue_date=today - timedelta(days=45))
    post(term_reseller, "debit_memo", "20.00", issue_date=today)
    post(term_reseller, "payment", "5.50", issue_date=today)
    post(term_reseller, "credit_memo", "7.25", issue_date=today)

    body = client_for(term_reseller).get(f"{API}/account").json()

    assert body["currency"] == "USD"
    assert body["payment_model"] == "term"
    assert body["credit_allowed"] is True
    assert body["unpaid_count"] == 2
    assert body["unpaid_total"] == "120.10"
    assert body["overdue_count"] == 1
    assert body["overdue_total"] == "100.10"
    assert body["credit_balance"] == "12.75"
    assert body["unapplied_payments"] == "5.50"
    assert body["open_credit_memos"] == "7.25"
    aging = {bucket["key"]: bucket for bucket in body["aging"]}
    assert aging["1_30"] == {"key": "1_30", "amount": "100.10", "count": 1}
    assert aging["current"]["amount"] == "20.00"


@pytest.mark.parametrize(
    ("currency", "total", "shown"),
    [("USD", "1234.5", "1234.50"), ("JPY", "1234", "1234"), ("KWD", "1.5", "1.500")],
)
def test_amounts_are_decimal_strings_with_the_currencys_minor_units(
    client_for, db, currency, total, shown
):
    reseller = make_reseller(currency=currency)
    post(reseller, "invoice", total)

    item = client_for(reseller).get(f"{API}/documents").json()["items"][0]

    assert item["total"] == shown and item["open_amount"] == shown
    assert isinstance(item["total"], str)
    assert item["currency"] == currency


def test_a_credit_memo_is_closed_and_shows_no_open_amount(term_reseller, client_for):
    memo = post(term_reseller, "credit_memo", "50.00")
    client = client_for(term_reseller)

    listed = client.get(f"{API}/documents").json()["items"][0]
    detail = client.get(f"{API}/documents/{memo.pk}").json()
    closed = client.get(f"{API}/documents", {"status": "closed"}).json()["items"]
    unapplied = client.get(f"{API}/documents", {"status": "unapplied"}).json()

    assert listed["status"] == detail["status"] == "closed"
    assert listed["open_amount"] is None and detail["open_amount"] is None
    assert [d["id"] for d in closed] == [memo.pk]
    assert unapplied["items"] == []


def test_documents_filter_by_kind_status_dates_and_overdue(term_reseller, client_for):
    today = timezone.localdate()
    old = post(term_reseller, "invoice", "10.00", issue_date=today - timedelta(60))
    memo = post(term_reseller, "debit_memo", "5.00", issue_date=today - timedelta(10))
    new = post(term_reseller, "invoice", "7.00", issue_date=today)
    paid = post(term_reseller, "invoice", "3.00", issue_date=today - timedelta(90))
    post(term_reseller, "payment", "3.00", issue_date=today - timedelta(89))
    pay(term_reseller, [paid], use_credit=True)
    client = client_for(term_reseller)

    def ids(**params):
        response = client.get(f"{API}/documents", params)
        assert response.status_code == 200, response.content
        return [item["id"] for item in response.json()["items"]]

    assert ids(kind="debit_memo") == [memo.pk]
    assert ids(kind="invoice", status="open") == [old.pk, new.pk]
    assert ids(kind="invoice", status="paid") == [paid.pk]
    assert ids(overdue="true") == [old.pk]
    assert ids(issued_from=today - timedelta(10), issued_to=today) == [memo.pk, new.pk]
    due = (today - timedelta(10) + timedelta(days=30)).isoformat()
    assert ids(due_from=due, due_to=due) == [memo.pk]
    bad = client.get(f"{API}/documents", {"status": "lost"})
    assert bad.status_code == 400
    assert bad.json()["code"] == "invalid_request"
    assert bad.json()["errors"][0]["location"] == ["query", "status"]


def test_cursor_pages_are_stable_while_documents_are_posted(term_reseller, client_for):
    start = date(2026, 1, 1)
    for day in range(7):
        post(term_reseller, "invoice", "1.00", issue_date=start + timedelta(day))
    client = client_for(term_reseller)
    first = client.get(f"{API}/documents", {"limit": 3}).json()
    # Posted meanwhile: one before the cursor, one after it.
    post(term_reseller, "invoice", "1.00", issue_date=start - timedelta(1))
    late = post(term_reseller, "invoice", "1.00", issue_date=start + timedelta(30))

    seen = [item["id"] for item in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = client.get(f"{API}/documents", {"limit": 3, "cursor": cursor}).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]

    assert len(seen) == len(set(seen)) == 8
    assert seen[-1] == late.pk
    assert seen[:3] == [item["id"] for item in first["items"]]


def test_deep_cursor_pages_read_by_keyset_without_offset(term_reseller, client_for):
    for day in range(5):
        post(term_reseller, "invoice", "1.00", issue_date=date(2026, 2, 1 + day))
    client = client_for(term_reseller)
    cursor = client.get(f"{API}/documents", {"limit": 2}).json()["next_cursor"]

    with CaptureQueriesContext(connection) as queries:
        page = client.get(f"{API}/documents", {"limit": 2, "cursor": cursor}).json()

    assert len(page["items"]) == 2
    selects = [q["sql"] for q in queries if "billing_document" in q["sql"]]
    assert selects and not any("OFFSET" in sql.upper() for sql in selects)


@pytest.mark.parametrize("cursor", ["garbage", "a" * 500])
def test_a_forged_cursor_is_refused(term_reseller, client_for, cursor):
    response = client_for(term_reseller).get(f"{API}/documents", {"cursor": cursor})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_cursor"


def test_a_cursor_of_the_payments_list_is_refused_for_documents(
    term_reseller, client_for
):
    for _ in range(2):
        invoice = post(term_reseller, "invoice", "1.00")
        pay(term_reseller, [invoice], use_credit=False)
    client = client_for(term_reseller)
    cursor = client.get(f"{API}/payments", {"limit": 1}).json()["next_cursor"]

    response = client.get(f"{API}/documents", {"cursor": cursor})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_cursor"


def test_a_document_shows_what_paid_it_and_what_support_reversed(
    term_reseller, client_for
):
    invoice = post(term_reseller, "invoice", "100.00")
    credit = post(term_reseller, "payment", "60.00")
    agent = factories.UserFactory(is_superuser=True)
    allocation = services.link_documents(
        credit=credit, debit=invoice, amount="60.00", actor=agent, reason="test"
    )
    services.unlink_allocation(allocation=allocation, actor=agent, reason="mistake")

    body = client_for(term_reseller).get(f"{API}/documents/{invoice.pk}").json()

    assert body["status"] == "open" and body["open_amount"] == "100.00"
    [line] = body["allocations"]
    assert line["credit"]["number"] == credit.number
    assert line["amount"] == "60.00"
    assert line["reversed_by_support"] is True


@pytest.mark.parametrize("document_id", ["0", "abc", str(2**64)])
def test_an_impossible_document_id_is_a_bad_request(
    term_reseller, client_for, document_id
):
    response = client_for(term_reseller).get(f"{API}/documents/{document_id}")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
