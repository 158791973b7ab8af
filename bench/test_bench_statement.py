"""Importing a 10,000-line camt.053 statement: lines per second.

200 resellers with 50 open invoices each; a quarter of the invoices await a
bank transfer under an RF reference. The statement pays 2,500 of them by
reference, 6,000 by document number and holds 1,500 lines that prove
nothing (to the unmatched queue). The figure is in the benchmark's
``extra_info`` (``lines_per_second``) and printed.
"""

import time
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection

from billing.models import (
    BankLine,
    Document,
    DocumentKind,
    MarketplaceBankAccount,
    Operation,
    Payment,
    PaymentDocument,
    Reseller,
    Source,
)
from billing.references import creditor_reference, format_reference
from billing.services.cash_application import import_statement
from tests import factories

pytestmark = pytest.mark.bench

RESELLERS = 200
INVOICES = 50
LINES = 10_000
IBAN = "DE89370400440532013000"


def _ledger():
    marketplace = factories.MarketplaceFactory(code="DE", currency="EUR")
    MarketplaceBankAccount.objects.create(
        marketplace=marketplace, beneficiary="Bench GmbH", iban=IBAN
    )
    resellers = Reseller.objects.bulk_create(
        Reseller(
            marketplace=marketplace,
            name=f"Reseller {i:04d}",
            currency="EUR",
            payment_model="term",
            document_count=INVOICES,
        )
        for i in range(RESELLERS)
    )
    invoices = Document.objects.bulk_create(
        (
            Document(
                reseller=reseller,
                marketplace=marketplace,
                kind=DocumentKind.INVOICE,
                number=f"INV-{reseller.pk:04d}-{i:03d}",
                issue_date=date(2026, 1, 1 + i % 28),
                total=Decimal("100.00"),
                open_amount=Decimal("100.00"),
                source=Source.IMPORT,
            )
            for reseller in resellers
            for i in range(INVOICES)
        ),
        batch_size=1000,
    )
    awaiting = invoices[::4]
    operations = Operation.objects.bulk_create(
        (
            Operation(
                reseller_id=invoice.reseller_id,
                kind=Operation.Kind.PAYMENT,
                status=Operation.Status.AWAITING_TRANSFER,
                source=Source.RESELLER_PANEL,
            )
            for invoice in awaiting
        ),
        batch_size=1000,
    )
    payments = Payment.objects.bulk_create(
        (
            Payment(
                operation=operation,
                reseller_id=operation.reseller_id,
                method=Payment.Method.BANK_TRANSFER,
                amount_left_open=Decimal("100.00"),
                transfer_reference=creditor_reference(operation.pk),
            )
            for operation in operations
        ),
        batch_size=1000,
    )
    PaymentDocument.objects.bulk_create(
        (
            PaymentDocument(
                payment=payment,
                reseller_id=payment.reseller_id,
                document=invoice,
                position=1,
            )
            for payment, invoice in zip(payments, awaiting, strict=True)
        ),
        batch_size=1000,
    )
    others = [doc for doc in invoices if doc not in set(awaiting)]
    return payments, others


def _statement(payments, invoices) -> bytes:
    texts = [
        f"Zahlung {format_reference(payment.transfer_reference).lower()}"
        for payment in payments
    ]
    texts += [f"Rechnung {doc.number}" for doc in invoices[:6000]]
    texts += [f"Danke {i}" for i in range(LINES - len(texts))]
    entries = "".join(
        f"""<Ntry><Amt Ccy="EUR">100.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>
<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2026-03-10</Dt></BookgDt>
<AcctSvcrRef>BENCH-{i:06d}</AcctSvcrRef><NtryDtls><TxDtls>
<Amt Ccy="EUR">100.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>
<RltdPties><Dbtr><Pty><Nm>Payer {i}</Nm></Pty></Dbtr></RltdPties>
<RmtInf><Ustrd>{text}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>
"""
        for i, text in enumerate(texts)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">'
        "<BkToCstmrStmt><Stmt><Id>BENCH</Id>"
        f"<Acct><Id><IBAN>{IBAN}</IBAN></Id><Ccy>EUR</Ccy></Acct>"
        f"{entries}</Stmt></BkToCstmrStmt></Document>"
    ).encode()


def test_bench_import_10000_line_statement(benchmark, db):
    payments, invoices = _ledger()
    data = _statement(payments, invoices)
    with connection.cursor() as cursor:
        # A ledger's tables have statistics (autovacuum's ANALYZE): the
        # planner needs them to read a statement's quoted numbers by index.
        cursor.execute("ANALYZE")
    started = time.perf_counter()
    result = benchmark.pedantic(
        import_statement,
        kwargs={
            "data": data,
            "file_name": "bench.xml",
            "actor": None,
            "source": "bank",
        },
        rounds=1,
        iterations=1,
    )
    elapsed = time.perf_counter() - started
    benchmark.extra_info["lines_per_second"] = round(LINES / elapsed)
    benchmark.extra_info["file_mb"] = round(len(data) / 2**20, 1)
    print(f"\n{LINES} lines in {elapsed:.1f} s: {LINES / elapsed:.0f} lines/s")
    assert result.new == LINES
    assert result.applied == 8500
    assert BankLine.objects.filter(state="queued").count() == 1500
