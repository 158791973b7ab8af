"""How fast the policy plans, and how fast a big account previews and pays."""

import itertools
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db.models import F

from billing import services
from billing.allocation_policy import OpenItem, plan_allocations
from billing.models import Document, DocumentKind, Reseller, Source

pytestmark = pytest.mark.bench

DEBITS = 100_000
CREDITS = 3_000
START = date(2020, 1, 1)


def open_items(count: int, *, first_id: int, prefix: str, cents) -> list[OpenItem]:
    """Return ``count`` documents spread over ~3 years, newest first."""
    return [
        OpenItem(
            id=first_id + i,
            number=f"{prefix}-{i:07d}",
            issue_date=START + timedelta(days=(count - i) % 1100),
            open_amount=Decimal(cents(i)).scaleb(-2),
        )
        for i in range(count)
    ]


@pytest.fixture(scope="module")
def debits():
    return open_items(
        DEBITS, first_id=1_000_000, prefix="INV", cents=lambda i: 1_000 + i % 97_000
    )


@pytest.mark.parametrize(
    "credit_cents",
    [lambda i: 50_000 + i % 7_919, lambda i: 20_000_000],
    ids=["credit-covers-part", "credit-covers-all"],
)
def test_bench_plan_allocations_100k_debits(benchmark, debits, credit_cents):
    credits = open_items(CREDITS, first_id=1, prefix="CM", cents=credit_cents)
    plan = benchmark(plan_allocations, credits, debits)
    assert plan  # the benchmark measured real work


def bulk_documents(
    reseller, kind: str, count: int, total: str, prefix: str, *, paid: bool = False
):
    """Insert documents directly (open, or paid off): setting up, not measured."""
    documents = [
        Document(
            reseller=reseller,
            marketplace_id=reseller.marketplace_id,
            kind=kind,
            number=f"{prefix}-{reseller.pk}-{i:06d}",
            issue_date=START + timedelta(days=i % 900),
            due_date=START + timedelta(days=i % 900 + 30)
            if kind in (DocumentKind.INVOICE, DocumentKind.DEBIT_MEMO)
            else None,
            total=Decimal(total),
            open_amount=Decimal(0) if paid else Decimal(total),
            source=Source.IMPORT,
        )
        for i in range(count)
    ]
    Reseller.objects.filter(pk=reseller.pk).update(
        document_count=F("document_count") + count
    )
    reseller.refresh_from_db(fields=["document_count"])
    return Document.objects.bulk_create(documents, batch_size=500)


@pytest.fixture
def big_account(big_term_reseller):
    """3,000 open invoices, and 600 credit memos enough to pay them all."""
    bulk_documents(big_term_reseller, DocumentKind.CREDIT_MEMO, 600, "60.00", "CM")
    invoices = bulk_documents(
        big_term_reseller, DocumentKind.INVOICE, 3_000, "10.00", "INV"
    )
    return big_term_reseller, [doc.pk for doc in invoices]


def test_bench_preview_payment_1000_of_3000_documents(benchmark, big_account):
    reseller, invoice_ids = big_account
    plan = benchmark(
        services.preview_payment,
        reseller=reseller,
        document_ids=invoice_ids[:1000],
        use_credit=True,
    )
    assert len(plan.lines) == 1000


def test_bench_pay_documents_1000_of_3000_documents(benchmark, big_account):
    reseller, invoice_ids = big_account
    batches = iter(invoice_ids[i : i + 1000] for i in range(0, 3000, 1000))
    keys = (f"bench-{n}" for n in itertools.count())

    def arguments():
        kwargs = {
            "reseller": reseller,
            "document_ids": next(batches),
            "use_credit": True,
            "payment_method": "bank_transfer",
            "idempotency_key": next(keys),
            "actor": None,
        }
        return (), kwargs

    operation = benchmark.pedantic(
        services.pay_documents, setup=arguments, rounds=3, iterations=1
    )
    assert operation.pk
