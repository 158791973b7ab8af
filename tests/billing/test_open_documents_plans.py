"""The open documents of a long-lived account are read through their partial
indexes, also by a prepared statement's generic plan; and every key read of
the pages and services keeps an index of its own.

The ledger's connections prepare statements they run often, and after a few
runs PostgreSQL may plan one once for any parameters. Such a plan can use an
index ``WHERE is_open`` only if the query's own condition is that column, not
``is_open = $1``: else the Unpaid list and the summaries of an account with
years of paid documents walk its whole history. On SQLite (whose planner
looks at the bound values) the reads are checked to name the bare column; on
PostgreSQL their generic plans are checked too.

The ledger keeps few indexes (each one is paid for by every posted document
and every document a payment opens or closes), so each read below names the index
it relies on: dropping or reshaping one fails here, not in production.
"""

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction

from billing import services
from billing.bank_selectors import open_debits_of
from billing.models import (
    DEBIT_KINDS,
    Allocation,
    AuditEvent,
    Document,
    DocumentKind,
    Operation,
    Payment,
    Reseller,
    ResellerBankAccount,
    Source,
)
from billing.payment_plan import OPEN_CREDITS, OPEN_DEBITS, documents_read
from billing.references import creditor_reference
from billing.selectors import (
    allocations_for_document,
    allocations_of_operation,
    audit_events_for_reseller,
    documents_for_reseller,
    open_credits,
    overdue_condition,
    payments_left_charging,
    unpaid_documents,
)
from billing.services.cash_application import (
    awaiting_transfers,
    older_awaiting_transfers,
    open_debits_numbered,
    open_debits_paid,
    payer_accounts,
)
from billing.services.ledger_steps import REPLAY, amounts_update
from tests import factories

OPEN_INDEXES = (
    "document_open_by_date_idx",
    "document_open_credit_idx",
    "document_open_debit_idx",
)

pytestmark = pytest.mark.django_db


def generic_plan(queryset) -> str:
    """Return EXPLAIN of ``queryset`` as a prepared statement's generic plan."""
    return generic_plan_of(*queryset.query.sql_with_params())


def generic_plan_of(sql: str, params) -> str:
    """Return EXPLAIN of ``sql`` as a prepared statement's generic plan."""
    numbers = iter(range(1, len(params) + 1))
    prepared = re.sub(
        "%%|%s",
        lambda match: "%" if match.group() == "%%" else f"${next(numbers)}",
        sql,
    )
    values = connection.ops.compose_sql(", ".join(["%s"] * len(params)), params)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        # A few hundred rows: keep the planner from preferring a plain scan.
        cursor.execute("SET LOCAL enable_seqscan = off")
        # The driver sends integers typed; a statement of integers only is
        # prepared so (untyped, a VALUES list's parameters would be text).
        types = ""
        if params and all(isinstance(value, int) for value in params):
            types = f"({', '.join(['bigint'] * len(params))})"
        cursor.execute(f"PREPARE open_documents{types} AS {prepared}")
        try:
            cursor.execute(f"EXPLAIN EXECUTE open_documents({values})")
            return "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("DEALLOCATE open_documents")


def sqlite_plan_of(sql: str, params) -> str:
    """Return SQLite's query plan of ``sql`` (it plans for the values given)."""
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}", params)
        return "\n".join(str(row[-1]) for row in cursor.fetchall())


def history(
    reseller,
    count: int,
    kind: str = DocumentKind.INVOICE,
    *,
    open_: bool = False,
    prefix: str = "OLD",
) -> None:
    """Add ``count`` paid invoices (or used-up credits of ``kind``, or open
    documents), one a day, and ANALYZE what is there."""
    start = date(2016, 1, 1)
    debit = kind in DEBIT_KINDS
    Document.objects.bulk_create(
        Document(
            reseller=reseller,
            marketplace=reseller.marketplace,
            kind=kind,
            number=f"{prefix}-{kind[:2].upper()}-{reseller.pk}-{n:05d}",
            issue_date=start + timedelta(days=n),
            due_date=start + timedelta(days=n + 30) if debit else None,
            total=10,
            open_amount=10 if open_ else 0,
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
        # Years of card payments, each used up by the invoices it paid.
        history(reseller, 500, DocumentKind.PAYMENT)
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
    assert re.search(r'"is_open"(?! *=)', sql), sql
    if connection.vendor != "postgresql":
        return
    plan = generic_plan(reads(long_account))
    assert any(name in plan for name in OPEN_INDEXES), plan


@pytest.mark.parametrize(
    "read",
    [
        pytest.param(lambda r: (OPEN_CREDITS, [r.pk]), id="payment-plan"),
        pytest.param(
            lambda r: open_credits(r).query.sql_with_params(), id="credit-balance"
        ),
    ],
)
def test_open_credits_are_read_by_kind_whatever_else_is_open(long_account, read):
    """Every payment, link and posting reads the account's open credits under
    its lock, and every page its credit balance: an account owing thousands
    of invoices, with years of used-up payments, must not have them walked,
    in a generic plan either."""
    history(long_account, 2000, open_=True, prefix="OWED")
    history(long_account, 2000, DocumentKind.PAYMENT, prefix="USED")
    sql, params = read(long_account)
    if connection.vendor == "postgresql":
        plan = generic_plan_of(sql, params)
        # The kinds are an index condition, not a filter over what is open.
        assert "document_open_credit_idx" in plan, plan
        assert "Filter" not in plan, plan
    else:
        assert "document_open_credit_idx" in sqlite_plan_of(sql, params)
    assert [doc.kind for doc in open_credits(long_account)] == [
        DocumentKind.CREDIT_MEMO
    ]


KEY_READS = {
    # name: (the read as (sql, params), the index it must use)
    "documents-page": (
        lambda r, op: documents_for_reseller(r)[:25].query.sql_with_params(),
        lambda: "document_reseller_date_idx",
    ),
    "documents-page-by-kind": (
        lambda r, op: (
            documents_for_reseller(r)
            .filter(kind=DocumentKind.CREDIT_MEMO)[:25]
            .query.sql_with_params()
        ),
        lambda: "document_reseller_kind_idx",
    ),
    "payment-plan-open-credits": (
        lambda r, op: (OPEN_CREDITS, [r.pk]),
        lambda: "document_open_credit_idx",
    ),
    "auto-apply-open-debits": (
        # Either open index: both hold only what is open.
        lambda r, op: (OPEN_DEBITS, [r.pk]),
        lambda: OPEN_INDEXES,
    ),
    "bank-line-quoted-numbers": (
        lambda r, op: open_debits_numbered(
            r.marketplace_id, [f"OLDIN{r.pk}{n:05d}" for n in range(30)]
        ),
        lambda: "document_open_debit_number_idx",
    ),
    "bank-line-payer-amounts": (
        lambda r, op: open_debits_paid(
            r.marketplace, {r.pk: {Decimal("30.00"), Decimal("10.00")}}
        ).query.sql_with_params(),
        lambda: OPEN_INDEXES,
    ),
    "bank-line-payers-awaiting-transfers": (
        lambda r, op: (
            awaiting_transfers(r.marketplace)
            .filter(reseller_id__in=[r.pk])
            .values_list("pk", "amount_left_open")
            .query.sql_with_params()
        ),
        lambda: "payment_awaiting_transfer_idx",
    ),
    "bank-line-older-transfer-references": (
        lambda r, op: (
            older_awaiting_transfers(r.marketplace)
            .values_list("pk", "amount_left_open")
            .query.sql_with_params()
        ),
        lambda: "payment_awaiting_older_idx",
    ),
    "bank-line-payer-accounts": (
        lambda r, op: payer_accounts(
            r.marketplace, ["DE02120300000000202051"]
        ).query.sql_with_params(),
        lambda: "reseller_bank_account_iban",
    ),
    "number-check": (
        lambda r, op: Document.objects.filter(
            marketplace_id=r.marketplace_id, number="INV-1"
        ).query.sql_with_params(),
        # SQLite keeps the unique constraint as the table's own index.
        lambda: (
            "document_number_unique_per_marketplace",
            "sqlite_autoindex_billing_document_",
        ),
    ),
    "operation-created-documents": (
        lambda r, op: (
            documents_for_reseller(r).filter(operation=op).query.sql_with_params()
        ),
        lambda: "document_operation_idx",
    ),
    "selected-documents": (
        lambda r, op: documents_read(
            r, list(op.allocations.values_list("debit_id", flat=True))
        ),
        lambda: ("billing_document_pkey", "INTEGER PRIMARY KEY"),
    ),
    "open-amounts-update": (
        lambda r, op: amounts_update(
            r,
            Document._meta.get_field("open_amount"),
            [(a.debit_id, a.amount) for a in op.allocations.all()],
        ),
        lambda: ("billing_document_pkey", "INTEGER PRIMARY KEY"),
    ),
    "open-amounts-update-many": (
        lambda r, op: amounts_update(
            r,
            Document._meta.get_field("open_amount"),
            [
                (pk, Decimal(1))
                for pk in Document.objects.filter(reseller=r).values_list(
                    "pk", flat=True
                )[:30]
            ],
        ),
        lambda: ("billing_document_pkey", "INTEGER PRIMARY KEY"),
    ),
    "settle-charging-payments": (
        lambda r, op: payments_left_charging(
            datetime(2030, 1, 1, tzinfo=UTC)
        ).query.sql_with_params(),
        lambda: "operation_charging_idx",
    ),
    "replay-check": (
        lambda r, op: (REPLAY, [r.pk, "key-1"]),
        lambda: "operation_idempotency_key_unique_per_reseller",
    ),
    "audit-trail": (
        lambda r, op: audit_events_for_reseller(r)[:25].query.sql_with_params(),
        lambda: AuditEvent._meta.indexes[0].name,
    ),
    "operation-allocations": (
        lambda r, op: allocations_of_operation(op).query.sql_with_params(),
        lambda: _index_of(Allocation, "operation_id"),
    ),
    "document-allocations-as-credit": (
        lambda r, op: allocations_for_document(
            op.allocations.get().credit
        ).query.sql_with_params(),
        lambda: _index_of(Allocation, "credit_id"),
    ),
    "document-allocations-as-debit": (
        lambda r, op: allocations_for_document(
            op.allocations.get().debit
        ).query.sql_with_params(),
        lambda: _index_of(Allocation, "debit_id"),
    ),
}


def _index_of(model, column: str) -> str:
    """Return the name of the index of ``model`` on ``column`` alone."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, table)
    names = [
        name
        for name, info in found.items()
        if info["index"] and info["columns"] == [column]
    ]
    assert names, f"no index on {table} ({column})"
    return names[0]


def operations_history(reseller, count: int) -> None:
    """Add ``count`` link operations of one allocation each, between the
    reseller's paid documents, as years of support work leave them."""
    documents = list(Document.objects.filter(reseller=reseller).order_by("id"))
    operations = Operation.objects.bulk_create(
        Operation(reseller=reseller, kind=Operation.Kind.LINK, source=Source.SYSTEM)
        for _ in range(count)
    )
    Allocation.objects.bulk_create(
        Allocation(
            reseller=reseller,
            credit=documents[n],
            debit=documents[n + 1],
            amount=1,
            operation=operation,
        )
        for n, operation in enumerate(operations)
    )


def transfers_history(reseller, count: int) -> None:
    """Add ``count`` payments by bank transfer, each paid long ago, but two
    still waiting for their transfers (one of an older ``TR-…`` reference)."""
    operations = Operation.objects.bulk_create(
        Operation(
            reseller=reseller,
            kind=Operation.Kind.PAYMENT,
            status=Operation.Status.COMPLETED
            if n > 1
            else Operation.Status.AWAITING_TRANSFER,
            source=Source.RESELLER_PANEL,
        )
        for n in range(count)
    )
    Payment.objects.bulk_create(
        Payment(
            operation=operation,
            reseller=reseller,
            method=Payment.Method.BANK_TRANSFER,
            amount_left_open=0 if n > 1 else 10,
            transfer_reference=f"TR-DE-{reseller.pk}-{operation.pk:08d}"
            if n == 1
            else creditor_reference(operation.pk),
        )
        for n, operation in enumerate(operations)
    )


def accounts_history(reseller, count: int) -> None:
    """Add ``count`` accounts the reseller was seen paying from."""
    ResellerBankAccount.objects.bulk_create(
        ResellerBankAccount(reseller=reseller, iban=f"DE{reseller.pk:02d}{n:018d}")
        for n in range(count)
    )


@pytest.mark.parametrize("read", list(KEY_READS))
def test_key_reads_use_their_index(long_account, read):
    """On PostgreSQL in a prepared statement's generic plan; SQLite plans
    each statement for its values."""
    for reseller in Reseller.objects.filter(marketplace=long_account.marketplace):
        # Most of the operations are another account's.
        operations_history(reseller, 200 if reseller == long_account else 1400)
        transfers_history(reseller, 500)
        accounts_history(reseller, 500)
        if reseller != long_account:
            # The marketplace's other open invoices, which a statement's
            # read by number must not walk.
            history(reseller, 500, open_=True, prefix="OPEN")
    memo, invoice = Document.objects.filter(
        reseller=long_account, open_amount__gt=0
    ).order_by("kind")  # credit_memo, invoice
    linked = services.link_documents(
        credit=memo, debit=invoice, amount="1.00", actor=None, reason="test"
    )
    operation = linked.operation
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    statement, index = KEY_READS[read]
    if connection.vendor == "postgresql":
        plan = generic_plan_of(*statement(long_account, operation))
    else:
        plan = sqlite_plan_of(*statement(long_account, operation))
    expected = index()
    names = (expected,) if isinstance(expected, str) else expected
    assert any(name in plan for name in names), plan
