"""The open documents of a long-lived account are read through their partial
indexes, also by a prepared statement's generic plan.

The ledger's connections prepare statements they run often, and after a few
runs PostgreSQL may plan one once for any parameters. Such a plan can use an
index ``WHERE open_amount > 0`` only if the query's own condition is that
literal, not ``open_amount > $1``: else the Unpaid list and the summaries of
an account with years of paid documents walk its whole history. On SQLite
(whose planner looks at the bound values) the reads are checked to hold the
literal; on PostgreSQL their generic plans are checked too.
"""

import re
from datetime import date, timedelta

import pytest
from django.db import connection, transaction

from billing.bank_selectors import open_debits_of
from billing.models import Document, DocumentKind, Source
from billing.selectors import open_credits, overdue_condition, unpaid_documents
from tests import factories

OPEN_INDEXES = ("document_open_by_date_idx", "document_reseller_open_idx")


def generic_plan(queryset) -> str:
    """Return EXPLAIN of ``queryset`` as a prepared statement's generic plan."""
    sql, params = queryset.query.sql_with_params()
    numbers = iter(range(1, len(params) + 1))
    prepared = re.sub("%s", lambda _match: f"${next(numbers)}", sql)
    values = connection.ops.compose_sql(", ".join(["%s"] * len(params)), params)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        # A few hundred rows: keep the planner from preferring a plain scan.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"PREPARE open_documents AS {prepared}")
        try:
            cursor.execute(f"EXPLAIN EXECUTE open_documents({values})")
            return "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("DEALLOCATE open_documents")


def history(reseller, count: int) -> None:
    """Add ``count`` paid invoices, one a day, and ANALYZE what is there."""
    start = date(2016, 1, 1)
    Document.objects.bulk_create(
        Document(
            reseller=reseller,
            marketplace=reseller.marketplace,
            kind=DocumentKind.INVOICE,
            number=f"OLD-{reseller.pk}-{n:05d}",
            issue_date=start + timedelta(days=n),
            due_date=start + timedelta(days=n + 30),
            total=10,
            open_amount=0,
            source=Source.IMPORT,
        )
        for n in range(count)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE billing_document")


@pytest.fixture
def long_account(term_reseller):
    other = factories.ResellerFactory(marketplace=term_reseller.marketplace)
    for reseller in (term_reseller, other):
        history(reseller, 1500)
        factories.post(reseller, "invoice", "30.00")
        factories.post(reseller, "credit_memo", "5.00")
    return term_reseller


@pytest.mark.parametrize(
    "reads",
    [
        pytest.param(unpaid_documents, id="unpaid"),
        pytest.param(lambda r: unpaid_documents(r).order_by(), id="unpaid-summary"),
        pytest.param(open_credits, id="open-credits"),
        pytest.param(
            lambda r: Document.objects.filter(
                overdue_condition(date(2030, 1, 1)), reseller=r
            ),
            id="overdue",
        ),
        pytest.param(open_debits_of, id="bank-open-debits"),
    ],
)
def test_open_documents_use_a_partial_index_in_a_generic_plan(long_account, reads):
    sql, _params = reads(long_account).query.sql_with_params()
    assert re.search(r'"open_amount" > \(?0\b', sql), sql
    if connection.vendor != "postgresql":
        return
    plan = generic_plan(reads(long_account))
    assert any(name in plan for name in OPEN_INDEXES), plan
