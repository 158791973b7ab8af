"""Reads of the ledger: balances, unpaid documents, summary and statuses."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing import selectors, services
from billing.models import Document
from billing.selectors import DocumentStatus
from tests import factories
from tests.factories import pay, post

TODAY = date(2026, 6, 1)


def d(value: str) -> Decimal:
    return Decimal(value)


def due_on(reseller, due: date | None, total: str, kind: str = "invoice"):
    """Post a debit document due on ``due`` (issued the same day)."""
    if due is None:
        return post(reseller, kind, total, issue_date=TODAY, due_in_days=None)
    return post(reseller, kind, total, issue_date=due, due_in_days=0)


# --- balances and lists -------------------------------------------------------


def test_credit_balance_sums_open_payments_and_credit_memos(term_reseller, staff_user):
    other = factories.ResellerFactory(marketplace=term_reseller.marketplace)
    assert selectors.credit_balance(term_reseller) == Decimal(0)
    memo = post(term_reseller, "credit_memo", "100.00")
    post(term_reseller, "payment", "20.50")
    post(term_reseller, "invoice", "999.00")
    post(other, "credit_memo", "1000.00")
    invoice = post(term_reseller, "invoice", "30.00")
    services.link_documents(
        credit=memo, debit=invoice, amount="30.00", actor=staff_user, reason="x"
    )
    balance = selectors.credit_balance(term_reseller)
    assert isinstance(balance, Decimal)
    assert balance == d("90.50")


def test_unpaid_documents_are_open_debits_oldest_first(term_reseller):
    other = factories.ResellerFactory(marketplace=term_reseller.marketplace)
    late = post(term_reseller, "invoice", "10.00", issue_date=date(2026, 3, 1))
    memo_b = post(
        term_reseller, "debit_memo", "10.00", issue_date=date(2026, 1, 1), number="B"
    )
    memo_a = post(
        term_reseller, "invoice", "10.00", issue_date=date(2026, 1, 1), number="A"
    )
    paid = post(term_reseller, "invoice", "10.00", issue_date=date(2025, 1, 1))
    post(term_reseller, "credit_memo", "10.00", issue_date=date(2024, 1, 1))
    pay(term_reseller, [paid])
    post(other, "invoice", "10.00", issue_date=date(2020, 1, 1))

    unpaid = list(selectors.unpaid_documents(term_reseller))

    assert unpaid == [memo_a, memo_b, late]


# --- account summary ------------------------------------------------------------


def test_account_summary_ages_what_is_owed(term_reseller):
    due_on(term_reseller, TODAY + timedelta(days=10), "1.00")  # current
    due_on(term_reseller, TODAY, "2.00")  # due today: current, not overdue
    due_on(term_reseller, None, "4.00", kind="debit_memo")  # no due date: current
    due_on(term_reseller, TODAY - timedelta(days=1), "10.00")  # 1-30
    due_on(term_reseller, TODAY - timedelta(days=30), "20.00")  # 1-30
    due_on(term_reseller, TODAY - timedelta(days=31), "100.00")  # 31-60
    due_on(term_reseller, TODAY - timedelta(days=60), "200.00")  # 31-60
    due_on(term_reseller, TODAY - timedelta(days=61), "1000.00")  # 61-90
    due_on(term_reseller, TODAY - timedelta(days=90), "2000.00")  # 61-90
    due_on(term_reseller, TODAY - timedelta(days=91), "10000.00")  # 90+
    due_on(term_reseller, TODAY - timedelta(days=400), "20000.00")  # 90+
    post(term_reseller, "payment", "0.25")
    post(term_reseller, "credit_memo", "0.50")

    summary = selectors.account_summary(term_reseller, today=TODAY)

    assert summary.currency == "USD"
    assert summary.unpaid_count == 11
    assert summary.total_due == d("33337.00")
    assert summary.overdue_count == 8
    assert summary.overdue_amount == d("33330.00")
    assert summary.next_due_date == TODAY
    assert summary.credit_balance == d("0.75")
    assert summary.unapplied_payments == d("0.25")
    assert summary.open_credit_memos == d("0.50")
    assert [(b.key, b.amount, b.count) for b in summary.aging] == [
        ("current", d("7.00"), 3),
        ("1_30", d("30.00"), 2),
        ("31_60", d("300.00"), 2),
        ("61_90", d("3000.00"), 2),
        ("90_plus", d("30000.00"), 2),
    ]
    assert sum((b.amount for b in summary.aging), Decimal(0)) == summary.total_due


def test_account_summary_counts_open_amounts_not_totals(term_reseller):
    post(term_reseller, "credit_memo", "70.00", issue_date=date(2025, 1, 1))
    invoice = due_on(term_reseller, TODAY - timedelta(days=5), "100.00")
    paid = due_on(term_reseller, TODAY - timedelta(days=200), "10.00")
    pay(term_reseller, [paid, invoice])
    summary = selectors.account_summary(term_reseller, today=TODAY)
    assert summary.unpaid_count == 1
    assert summary.total_due == d("40.00")
    assert summary.overdue_amount == d("40.00")
    assert summary.credit_balance == 0
    assert summary.next_due_date is None
    aging = {b.key: b.amount for b in summary.aging}
    assert aging["1_30"] == d("40.00")
    assert aging["90_plus"] == 0


def test_account_summary_of_an_empty_account_is_all_zero(term_reseller):
    summary = selectors.account_summary(term_reseller, today=TODAY)
    assert (summary.unpaid_count, summary.total_due, summary.credit_balance) == (
        0,
        Decimal(0),
        Decimal(0),
    )
    assert all(b.amount == 0 and b.count == 0 for b in summary.aging)
    assert all(isinstance(b.amount, Decimal) for b in summary.aging)


# --- statuses ---------------------------------------------------------------------


@pytest.fixture
def every_status(term_reseller, staff_user):
    """Documents of each kind: untouched, partly and fully paid or applied."""
    docs = {}
    for kind in ("invoice", "debit_memo", "payment", "credit_memo"):
        for state in ("untouched", "partly", "done"):
            docs[kind, state] = post(term_reseller, kind, "10.00")
    pairs = [
        (("payment", "partly"), ("invoice", "partly"), "4.00"),
        (("payment", "done"), ("invoice", "done"), "10.00"),
        (("credit_memo", "partly"), ("debit_memo", "partly"), "6.00"),
        (("credit_memo", "done"), ("debit_memo", "done"), "10.00"),
    ]
    for credit, debit, amount in pairs:
        services.link_documents(
            credit=docs[credit],
            debit=docs[debit],
            amount=amount,
            actor=staff_user,
            reason="set up",
        )
    return {key: Document.objects.get(pk=doc.pk) for key, doc in docs.items()}


STAFF_STATUS = {
    ("invoice", "untouched"): DocumentStatus.OPEN,
    ("invoice", "partly"): DocumentStatus.PARTLY_PAID,
    ("invoice", "done"): DocumentStatus.PAID,
    ("debit_memo", "untouched"): DocumentStatus.OPEN,
    ("debit_memo", "partly"): DocumentStatus.PARTLY_PAID,
    ("debit_memo", "done"): DocumentStatus.PAID,
    ("payment", "untouched"): DocumentStatus.UNAPPLIED,
    ("payment", "partly"): DocumentStatus.PARTLY_APPLIED,
    ("payment", "done"): DocumentStatus.APPLIED,
    ("credit_memo", "untouched"): DocumentStatus.UNAPPLIED,
    ("credit_memo", "partly"): DocumentStatus.PARTLY_APPLIED,
    ("credit_memo", "done"): DocumentStatus.APPLIED,
}


def test_staff_see_the_real_status_of_every_document(every_status):
    for key, document in every_status.items():
        assert selectors.document_status(document) == STAFF_STATUS[key], key


@pytest.mark.parametrize("state", ["untouched", "partly", "done"])
def test_credit_memo_is_closed_for_reseller_whatever_its_open_amount(
    every_status, state
):
    memo = every_status["credit_memo", state]
    assert selectors.reseller_document_status(memo) == DocumentStatus.CLOSED


def test_reseller_sees_real_status_of_other_documents(every_status):
    for (kind, state), document in every_status.items():
        if kind != "credit_memo":
            assert (
                selectors.reseller_document_status(document)
                == STAFF_STATUS[kind, state]
            )


@pytest.mark.parametrize("for_reseller", [False, True])
@pytest.mark.parametrize(
    "status",
    [
        DocumentStatus.OPEN,
        DocumentStatus.PARTLY_PAID,
        DocumentStatus.PAID,
        DocumentStatus.UNAPPLIED,
        DocumentStatus.PARTLY_APPLIED,
        DocumentStatus.APPLIED,
        DocumentStatus.CLOSED,
        "bogus",
    ],
)
def test_status_filter_selects_exactly_the_documents_showing_that_status(
    term_reseller, every_status, status, for_reseller
):
    shown = (
        selectors.reseller_document_status
        if for_reseller
        else selectors.document_status
    )
    expected = {doc.pk for doc in every_status.values() if shown(doc) == status}
    found = set(
        selectors.documents_for_reseller(term_reseller)
        .filter(selectors.status_filter(status, for_reseller=for_reseller))
        .values_list("pk", flat=True)
    )
    assert found == expected
    if status in (DocumentStatus.CLOSED, "bogus") and not for_reseller:
        assert found == set()


# --- query counts do not grow with the number of documents -------------------------


def count_queries(action) -> int:
    with CaptureQueriesContext(connection) as queries:
        action()
    return len(queries)


def term_account_with(documents: int):
    reseller = factories.ResellerFactory()
    invoices = [
        post(reseller, "invoice", "10.00", issue_date=date(2026, 1, 1), number=None)
        for _ in range(documents)
    ]
    post(reseller, "credit_memo", "3.00", issue_date=date(2025, 1, 1))
    post(reseller, "payment", f"{documents * 5}.00", issue_date=date(2025, 1, 2))
    return reseller, invoices


@pytest.mark.parametrize("method", ["bank_transfer", "card"])
def test_pay_documents_queries_do_not_grow_with_the_selection(
    db, django_assert_num_queries, method
):
    card = {"card_token": "4242424242424242"} if method == "card" else {}
    small, small_docs = term_account_with(3)
    large, large_docs = term_account_with(60)
    expected = count_queries(
        lambda: pay(small, small_docs, payment_method=method, **card)
    )
    with django_assert_num_queries(expected):
        pay(large, large_docs, payment_method=method, **card)
    assert not selectors.unpaid_documents(large).exists() or method != "card"


def test_preview_payment_queries_do_not_grow_with_the_selection(
    db, django_assert_num_queries
):
    small, small_docs = term_account_with(3)
    large, large_docs = term_account_with(60)

    def preview(reseller, docs):
        return lambda: services.preview_payment(
            reseller=reseller, document_ids=[d.pk for d in docs], use_credit=True
        )

    expected = count_queries(preview(small, small_docs))
    with django_assert_num_queries(expected):
        plan = preview(large, large_docs)()
        assert len(plan.allocation_rows) > 30  # rendering needs no more queries
    assert expected <= 3


def prepaid_account_with(documents: int):
    reseller = factories.ResellerFactory(payment_model="prepaid")
    for _ in range(documents):
        post(reseller, "invoice", "10.00", issue_date=date(2026, 1, 1))
    return reseller


def test_prepaid_posting_queries_do_not_grow_with_open_documents(
    db, django_assert_num_queries
):
    small = prepaid_account_with(3)
    large = prepaid_account_with(60)
    expected = count_queries(lambda: post(small, "credit_memo", "1000.00"))
    with django_assert_num_queries(expected):
        memo = post(large, "credit_memo", "1000.00")
    assert memo.open_amount == d("400.00")
    assert not selectors.unpaid_documents(large).exists()


@pytest.mark.parametrize(
    "read",
    [
        lambda r: selectors.credit_balance(r),
        lambda r: selectors.account_summary(r, today=TODAY),
        lambda r: list(selectors.unpaid_documents(r)),
    ],
    ids=["credit_balance", "account_summary", "unpaid_documents"],
)
def test_account_reads_take_the_same_queries_for_3_or_60_documents(
    db, django_assert_num_queries, read
):
    small, _docs = term_account_with(3)
    large, _docs = term_account_with(60)
    expected = count_queries(lambda: read(small))
    with django_assert_num_queries(expected):
        read(large)
    assert expected <= 2


def test_overdue_is_one_definition_for_queries_rows_and_the_summary(term_reseller):
    late = due_on(term_reseller, TODAY - timedelta(days=1), "10.00")
    due_on(term_reseller, TODAY, "20.00")  # due today: not yet overdue
    due_on(term_reseller, None, "30.00")  # no due date: never overdue
    paid = due_on(term_reseller, TODAY - timedelta(days=5), "40.00", "debit_memo")
    post(term_reseller, "payment", "40.00", issue_date=TODAY)
    pay(term_reseller, [paid], use_credit=True)  # paid in full: not overdue
    post(term_reseller, "credit_memo", "5.00", issue_date=date(2026, 1, 1))

    documents = list(Document.objects.filter(reseller=term_reseller))
    queried = Document.objects.filter(
        selectors.overdue_condition(TODAY), reseller=term_reseller
    )
    summary = selectors.account_summary(term_reseller, today=TODAY)

    assert list(queried) == [late]
    assert [doc for doc in documents if selectors.is_overdue(doc, today=TODAY)] == [
        late
    ]
    assert (summary.overdue_count, summary.overdue_amount) == (1, d("10.00"))
