"""Real races: threads on a real database, each with its own connection.

All writes of one reseller serialize on its lock (a row lock on PostgreSQL, the
IMMEDIATE write lock on SQLite), so concurrent requests never spend the same
credit twice and every request ends in a result or a clear refusal.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum

from billing import services
from billing.exceptions import BillingError, StalePreview
from billing.models import Allocation, Document, Operation, Reversal
from tests import factories
from tests.billing.ledger_checks import assert_ledger_consistent
from tests.factories import pay, post

THREADS = 16
pytestmark = pytest.mark.django_db(transaction=True)


def run_together(tasks: list[Callable[[], object]]) -> list[object]:
    """Run ``tasks`` in threads released at once; return results or errors."""
    barrier = threading.Barrier(len(tasks))
    results: list[object] = [None] * len(tasks)

    def run(index: int, task: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = task()
        except Exception as exc:  # every outcome is checked by the caller
            results[index] = exc
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(i, task)) for i, task in enumerate(tasks)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return results


def test_concurrent_payments_never_spend_credit_twice(term_reseller):
    credits = [
        post(term_reseller, "credit_memo", "100.00", issue_date=date(2025, 12, day))
        for day in (1, 2, 3)
    ]
    invoices = [
        post(
            term_reseller,
            "invoice",
            "45.00",
            issue_date=date(2026, 1, 1) + timedelta(days=i),
        )
        for i in range(10)
    ]
    shared = invoices[2:6]
    preview = services.preview_payment(
        reseller=term_reseller,
        document_ids=[doc.pk for doc in shared],
        use_credit=True,
    )
    fingerprinted = set(range(0, THREADS, 4))

    def task(index: int) -> Callable[[], object]:
        if index in fingerprinted:
            return lambda: pay(term_reseller, shared, fingerprint=preview.fingerprint)
        start = index % 7
        return lambda: pay(term_reseller, invoices[start : start + 4])

    results = run_together([task(i) for i in range(THREADS)])

    unexpected = [r for r in results if not isinstance(r, Operation | BillingError)]
    assert unexpected == []
    refusals = [r for r in results if isinstance(r, BillingError)]
    assert {r.code for r in refusals} <= {"stale_preview", "document_not_payable"}
    for refusal in refusals:
        if isinstance(refusal, StalePreview):
            assert refusal.plan.fingerprint != preview.fingerprint
    operations = [r for r in results if isinstance(r, Operation)]
    assert operations, "no payment went through"
    assert sum(isinstance(results[i], Operation) for i in fingerprinted) <= 1

    for credit in credits:
        given = Allocation.objects.filter(
            credit=credit, reversal__isnull=True
        ).aggregate(s=Sum("amount"))["s"] or Decimal(0)
        credit.refresh_from_db()
        assert given <= credit.total
        assert credit.open_amount == credit.total - given >= 0
    applied = sum((op.payment.credit_applied for op in operations), Decimal(0))
    assert applied == Allocation.objects.aggregate(s=Sum("amount"))["s"]
    assert applied <= Decimal("300.00")
    assert Operation.objects.filter(reseller=term_reseller).count() == len(operations)
    assert_ledger_consistent(term_reseller)


def test_concurrent_unlinks_of_one_allocation_reverse_it_once(
    term_reseller, staff_user
):
    memo = post(term_reseller, "credit_memo", "100.00")
    invoice = post(term_reseller, "invoice", "80.00")
    allocation = services.link_documents(
        credit=memo, debit=invoice, amount="70.00", actor=staff_user, reason="x"
    )

    def unlink() -> object:
        return services.unlink_allocation(
            allocation=allocation, actor=staff_user, reason="race"
        )

    results = run_together([unlink for _ in range(8)])

    reversals = [r for r in results if isinstance(r, Reversal)]
    refusals = [r for r in results if isinstance(r, BillingError)]
    assert len(reversals) == 1
    assert len(refusals) == 7
    assert {r.code for r in refusals} == {"already_reversed"}
    assert Reversal.objects.filter(allocation=allocation).count() == 1
    memo.refresh_from_db()
    invoice.refresh_from_db()
    assert (memo.open_amount, invoice.open_amount) == (
        Decimal("100.00"),
        Decimal("80.00"),
    )
    assert_ledger_consistent(term_reseller)


@pytest.mark.parametrize(
    ("method", "card"), [("bank_transfer", None), ("card", "4242424242424242")]
)
def test_concurrent_requests_with_one_key_make_one_operation(
    term_reseller, method, card
):
    post(term_reseller, "credit_memo", "30.00", issue_date=date(2025, 12, 1))
    invoices = [post(term_reseller, "invoice", "50.00") for _ in range(2)]

    def request() -> object:
        return pay(
            term_reseller,
            invoices,
            payment_method=method,
            card_token=card,
            idempotency_key="double-click",
        )

    results = run_together([request for _ in range(8)])

    assert all(isinstance(r, Operation) for r in results), results
    assert len({r.pk for r in results}) == 1
    operation = Operation.objects.get(reseller=term_reseller)
    assert operation.payment.credit_applied == Decimal("30.00")
    if card:
        assert operation.status == Operation.Status.COMPLETED
        assert Document.objects.filter(operation=operation).count() == 1
    assert_ledger_consistent(term_reseller)


def test_concurrent_postings_to_a_prepaid_account_apply_credit_once(
    prepaid_reseller,
):
    def posting(index: int) -> Callable[[], object]:
        kind = "credit_memo" if index % 2 else "invoice"
        total = "35.00" if index % 2 else "50.00"
        return lambda: post(prepaid_reseller, kind, total, number=f"RACE-{index}")

    results = run_together([posting(i) for i in range(THREADS)])

    assert all(isinstance(r, Document) for r in results), results
    assert_ledger_consistent(prepaid_reseller)
    # 8 credits of 35 against 8 invoices of 50: all credit is used.
    assert not Document.objects.filter(
        reseller=prepaid_reseller, kind="credit_memo", open_amount__gt=0
    ).exists()
    due = Document.objects.filter(reseller=prepaid_reseller, kind="invoice").aggregate(
        s=Sum("open_amount")
    )["s"]
    assert due == Decimal("120.00")


def test_payments_of_different_resellers_do_not_interfere(db):
    marketplace = factories.MarketplaceFactory()
    resellers = [factories.ResellerFactory(marketplace=marketplace) for _ in range(4)]
    for reseller in resellers:
        post(reseller, "credit_memo", "60.00", issue_date=date(2025, 12, 1))
        post(reseller, "invoice", "40.00")
        post(reseller, "invoice", "40.00", issue_date=date(2026, 1, 2))

    def paying(reseller) -> Callable[[], object]:
        ids = list(
            Document.objects.filter(reseller=reseller, kind="invoice").values_list(
                "pk", flat=True
            )
        )
        return lambda: pay(reseller, ids)

    results = run_together([paying(r) for r in resellers for _ in range(2)])

    assert all(isinstance(r, Operation | BillingError) for r in results), results
    refusals = {r.code for r in results if isinstance(r, BillingError)}
    assert refusals <= {"document_not_payable"}
    for reseller in resellers:
        assert_ledger_consistent(reseller)
        used = Allocation.objects.filter(reseller=reseller).aggregate(s=Sum("amount"))[
            "s"
        ]
        assert used == Decimal("60.00")


def test_concurrent_confirms_of_one_link_link_once(term_reseller):
    memo = post(term_reseller, "credit_memo", "100.00", issue_date=date(2025, 12, 1))
    invoice = post(term_reseller, "invoice", "60.00")
    staff = factories.UserFactory(password=None)

    def confirm() -> object:
        return services.link_documents(
            credit=memo,
            debit=invoice,
            amount="25.00",
            actor=staff,
            reason="reseller asked",
            idempotency_key="review-1",
        )

    results = run_together([confirm for _ in range(8)])

    assert all(isinstance(r, Allocation) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert Document.objects.get(pk=memo.pk).open_amount == Decimal("75.00")
    assert_ledger_consistent(term_reseller)


def test_concurrent_confirms_of_one_credit_memo_issue_one(term_reseller):
    staff = factories.UserFactory(password=None)

    def confirm() -> object:
        return services.issue_credit_memo(
            reseller=term_reseller,
            amount="40.00",
            reason="goodwill",
            actor=staff,
            idempotency_key="review-2",
        )

    results = run_together([confirm for _ in range(8)])

    assert all(isinstance(r, Document) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert Document.objects.filter(reseller=term_reseller).count() == 1
    assert_ledger_consistent(term_reseller)
