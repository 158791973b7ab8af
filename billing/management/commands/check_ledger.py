"""Recompute the ledger from its allocations and report every disagreement.

For each document the open amount is recomputed as its total minus the active
(not unlinked) allocations on either side, and compared with the stored one.
Documents are read in id batches with a constant number of aggregate queries
per batch, so the check scales to millions of rows; per-reseller totals are
kept in memory (one entry per reseller, not per document). Each account's
stored document count, which the document lists page by, is checked too, as
are the operations: every payment operation has its payment record (and no
other kind has one), a completed card payment has exactly one payment document
of the amount charged, no payment is left charging past the gateway's
time-out, and everything an operation made or selected belongs to its
reseller. Every amount is within what the ledger holds
(:data:`billing.money.MAX_AMOUNT`).

Everything is read from one snapshot of the database (one REPEATABLE READ,
read-only transaction on PostgreSQL; one read transaction on SQLite), so
payments and links committed while the check runs never show as drift.

Exit status 0 when everything agrees, 1 (``CommandError``) otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from billing.models import (
    CREDIT_KINDS,
    DEBIT_KINDS,
    Allocation,
    Document,
    DocumentKind,
    Operation,
    Payment,
    PaymentDocument,
    Reseller,
    Reversal,
    Source,
)
from billing.models import operation_reference as _reference
from billing.money import MAX_AMOUNT
from billing.services.payments import CHARGING_TIMEOUT

ZERO = Decimal(0)
DEFAULT_BATCH_SIZE = 5000
PAYMENT_AMOUNTS = (
    "credit_applied",
    "amount_to_charge",
    "amount_charged",
    "amount_left_open",
)


@dataclass
class ResellerTotals:
    """Per-reseller sums gathered while the documents stream by."""

    name: str
    documents: int = 0
    credit_stored: Decimal = ZERO
    credit_computed: Decimal = ZERO
    applied_credit: Decimal = ZERO
    paid_debit: Decimal = ZERO


@dataclass
class Findings:
    documents: int = 0
    allocations: int = 0
    problems: list[str] = field(default_factory=list)


class Command(BaseCommand):
    help = (
        "Recompute every document's open amount from active allocations and "
        "check the ledger's invariants; exit non-zero on any drift."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reseller",
            type=int,
            metavar="ID",
            help="Check only this reseller's documents and allocations.",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=f"Documents per batch (default {DEFAULT_BATCH_SIZE}).",
        )
        parser.add_argument(
            "--charging-limit",
            type=int,
            default=int(CHARGING_TIMEOUT.total_seconds() // 60),
            metavar="MINUTES",
            help="Report card payments still charging after this many minutes "
            "(default: the gateway's time-out, "
            f"{int(CHARGING_TIMEOUT.total_seconds() // 60)}).",
        )

    def handle(self, *args, **options) -> None:
        reseller_id = options["reseller"]
        batch_size = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        self.charging_limit = options["charging_limit"]
        with snapshot():
            if (
                reseller_id is not None
                and not Reseller.objects.filter(pk=reseller_id).exists()
            ):
                raise CommandError(f"Reseller {reseller_id} does not exist.")
            findings = self._check(reseller_id, batch_size)

        for problem in findings.problems:
            self.stdout.write(problem)
        if findings.problems:
            raise CommandError(
                f"Ledger inconsistent: {len(findings.problems)} problem(s) in "
                f"{findings.documents} documents, {findings.allocations} "
                "allocations checked."
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"Ledger consistent: {findings.documents} documents, "
                f"{findings.allocations} allocations checked"
            )
        )

    def _check(self, reseller_id: int | None, batch_size: int) -> Findings:
        findings = Findings()
        totals: dict[int, ResellerTotals] = {}
        for batch in self._document_batches(reseller_id, batch_size):
            self._check_documents(batch, totals, findings)
        self._check_resellers(totals, findings)
        self._check_document_counts(reseller_id, totals, findings)
        self._check_allocations(reseller_id, findings)
        self._check_operations(reseller_id, findings)
        check_bank_lines(reseller_id, findings)
        return findings

    # --- documents -----------------------------------------------------------

    def _document_batches(
        self, reseller_id: int | None, batch_size: int
    ) -> Iterator[list[dict]]:
        """Yield documents in id order, ``batch_size`` at a time (keyset paging)."""
        documents = Document.objects.order_by("pk").values(
            "pk",
            "number",
            "kind",
            "total",
            "open_amount",
            "marketplace_id",
            "reseller_id",
            "reseller__name",
            "reseller__marketplace_id",
        )
        if reseller_id is not None:
            documents = documents.filter(reseller_id=reseller_id)
        last = 0
        while True:
            batch = list(documents.filter(pk__gt=last)[:batch_size])
            if not batch:
                return
            yield batch
            last = batch[-1]["pk"]

    def _applied(self, side: str, low: int, high: int) -> dict[int, Decimal]:
        """Return active allocation sums per document id in ``low``..``high``."""
        column = f"{side}_id"
        rows = (
            Allocation.objects.filter(
                reversal__isnull=True,
                **{f"{column}__gte": low, f"{column}__lte": high},
            )
            .order_by()
            .values(column)
            .annotate(applied=Sum("amount"))
        )
        return {row[column]: row["applied"] for row in rows}

    def _check_documents(
        self,
        batch: list[dict],
        totals: dict[int, ResellerTotals],
        findings: Findings,
    ) -> None:
        low, high = batch[0]["pk"], batch[-1]["pk"]
        out = self._applied("credit", low, high)
        into = self._applied("debit", low, high)
        problems = findings.problems
        for doc in batch:
            findings.documents += 1
            total, stored = doc["total"], doc["open_amount"]
            applied_out = out.get(doc["pk"], ZERO)
            applied_in = into.get(doc["pk"], ZERO)
            computed = total - applied_out - applied_in
            if stored != computed:
                problems.append(
                    f"DRIFT {_where(doc)}: open amount stored {stored}, "
                    f"computed {computed} (total {total})"
                )
            if not ZERO <= stored <= total:
                problems.append(
                    f"BOUNDS {_where(doc)}: stored open amount {stored} is "
                    f"outside 0..{total}"
                )
            if computed != stored and not ZERO <= computed <= total:
                problems.append(
                    f"OVERSPENT {_where(doc)}: active allocations {total - computed} "
                    f"exceed the total {total}"
                )
            if total <= 0:
                problems.append(f"TOTAL {_where(doc)}: total {total} is not positive")
            if total > MAX_AMOUNT:
                problems.append(
                    f"TOO LARGE {_where(doc)}: total {total} is above {MAX_AMOUNT}"
                )
            if doc["marketplace_id"] != doc["reseller__marketplace_id"]:
                problems.append(
                    f"MARKETPLACE {_where(doc)}: document marketplace "
                    f"#{doc['marketplace_id']} is not the reseller's "
                    f"#{doc['reseller__marketplace_id']}"
                )
            reseller = totals.get(doc["reseller_id"])
            if reseller is None:
                reseller = totals[doc["reseller_id"]] = ResellerTotals(
                    doc["reseller__name"]
                )
            reseller.documents += 1
            if doc["kind"] in CREDIT_KINDS:
                reseller.credit_stored += stored
                reseller.credit_computed += computed
                reseller.applied_credit += applied_out
            elif doc["kind"] in DEBIT_KINDS:
                reseller.paid_debit += applied_in
            else:
                problems.append(f"KIND {_where(doc)}: unknown kind {doc['kind']!r}")

    def _check_resellers(
        self, totals: dict[int, ResellerTotals], findings: Findings
    ) -> None:
        for reseller_id, reseller in sorted(totals.items()):
            where = f"reseller {reseller.name!r} (#{reseller_id})"
            if reseller.credit_stored != reseller.credit_computed:
                findings.problems.append(
                    f"BALANCE {where}: credit balance stored "
                    f"{reseller.credit_stored}, computed {reseller.credit_computed}"
                )
            if reseller.applied_credit != reseller.paid_debit:
                findings.problems.append(
                    f"UNBALANCED {where}: credit applied "
                    f"{reseller.applied_credit} "
                    f"but debit paid {reseller.paid_debit}"
                )

    def _check_document_counts(
        self,
        reseller_id: int | None,
        totals: dict[int, ResellerTotals],
        findings: Findings,
    ) -> None:
        """Compare each account's stored document count with its documents."""
        resellers = Reseller.objects.order_by("pk").values_list(
            "pk", "name", "document_count"
        )
        if reseller_id is not None:
            resellers = resellers.filter(pk=reseller_id)
        for pk, name, stored in resellers.iterator():
            counted = totals[pk].documents if pk in totals else 0
            if stored != counted:
                findings.problems.append(
                    f"COUNT reseller {name!r} (#{pk}): document count stored "
                    f"{stored}, counted {counted}"
                )

    # --- allocations ---------------------------------------------------------

    def _check_allocations(self, reseller_id: int | None, findings: Findings) -> None:
        allocations = Allocation.objects.all()
        if reseller_id is not None:
            allocations = allocations.filter(
                Q(reseller_id=reseller_id)
                | Q(credit__reseller_id=reseller_id)
                | Q(debit__reseller_id=reseller_id)
            )
        findings.allocations = allocations.count()
        wrong = allocations.filter(
            Q(amount__lte=0)
            | Q(amount__gt=MAX_AMOUNT)
            | ~Q(operation__reseller_id=F("reseller_id"))
            | ~Q(credit__reseller_id=F("reseller_id"))
            | ~Q(debit__reseller_id=F("reseller_id"))
            | ~Q(credit__kind__in=CREDIT_KINDS)
            | ~Q(debit__kind__in=DEBIT_KINDS)
            | Q(reversal__isnull=False) & ~Q(reversal__reseller_id=F("reseller_id"))
        ).values(
            "pk",
            "amount",
            "reseller_id",
            "credit__number",
            "credit__kind",
            "credit__reseller_id",
            "debit__number",
            "debit__kind",
            "debit__reseller_id",
            "reversal__reseller_id",
            "operation__reseller_id",
        )
        for row in wrong.order_by("pk").iterator(chunk_size=DEFAULT_BATCH_SIZE):
            where = (
                f"allocation #{row['pk']} ({row['credit__number']} → "
                f"{row['debit__number']}, reseller #{row['reseller_id']})"
            )
            reasons = []
            if row["amount"] <= 0:
                reasons.append(f"amount {row['amount']} is not positive")
            if row["amount"] > MAX_AMOUNT:
                reasons.append(f"amount {row['amount']} is above {MAX_AMOUNT}")
            if row["operation__reseller_id"] != row["reseller_id"]:
                reasons.append(
                    f"its operation belongs to reseller "
                    f"#{row['operation__reseller_id']}"
                )
            if row["credit__reseller_id"] != row["reseller_id"]:
                reasons.append(
                    f"credit belongs to reseller #{row['credit__reseller_id']}"
                )
            if row["debit__reseller_id"] != row["reseller_id"]:
                reasons.append(
                    f"debit belongs to reseller #{row['debit__reseller_id']}"
                )
            if row["credit__kind"] not in CREDIT_KINDS:
                reasons.append(f"credit side is a {row['credit__kind']}")
            if row["debit__kind"] not in DEBIT_KINDS:
                reasons.append(f"debit side is a {row['debit__kind']}")
            reversal_reseller = row["reversal__reseller_id"]
            if (
                reversal_reseller is not None
                and reversal_reseller != row["reseller_id"]
            ):
                reasons.append(f"reversal belongs to reseller #{reversal_reseller}")
            findings.problems.append(f"ALLOCATION {where}: {'; '.join(reasons)}")

    # --- operations ----------------------------------------------------------

    def _check_operations(self, reseller_id: int | None, findings: Findings) -> None:
        """Check what each operation made against what it says it did."""
        operations = Operation.objects.all()
        reversals = Reversal.objects.all()
        documents = Document.objects.filter(operation__isnull=False)
        if reseller_id is not None:
            operations = operations.filter(reseller_id=reseller_id)
            reversals = reversals.filter(
                Q(reseller_id=reseller_id) | Q(operation__reseller_id=reseller_id)
            )
            documents = documents.filter(
                Q(reseller_id=reseller_id) | Q(operation__reseller_id=reseller_id)
            )
        problems = findings.problems
        amounts = [f"payment__{name}" for name in PAYMENT_AMOUNTS]
        too_large = Q(amount__gt=MAX_AMOUNT)
        for name in amounts:
            too_large |= Q(**{f"{name}__gt": MAX_AMOUNT})
        for ref_id, *values in operations.filter(too_large).values_list(
            "pk", "amount", *amounts
        ):
            values = [value for value in values if value is not None]
            problems.append(
                f"TOO LARGE operation {_reference(ref_id)}: an amount of "
                f"{max(values)} is above {MAX_AMOUNT}"
            )

        # A card charge becomes one payment document from the gateway; money
        # that arrives by bank transfer becomes payment documents of its own.
        card_payments = Q(
            created_documents__kind=DocumentKind.PAYMENT,
            created_documents__source=Source.GATEWAY,
        )
        unrecorded = operations.filter(
            Q(kind=Operation.Kind.PAYMENT, payment__isnull=True)
            | ~Q(kind=Operation.Kind.PAYMENT) & Q(payment__isnull=False)
        ).order_by("pk")
        for pk, kind in unrecorded.values_list("pk", "kind"):
            having = "has no" if kind == Operation.Kind.PAYMENT else "has a"
            problems.append(
                f"PAYMENT RECORD operation {_reference(pk)}: a {kind} operation "
                f"{having} payment record"
            )

        payments = (
            operations.filter(kind=Operation.Kind.PAYMENT, payment__isnull=False)
            .annotate(
                amount_charged=F("payment__amount_charged"),
                amount_to_charge=F("payment__amount_to_charge"),
                payment_documents=Count(
                    "created_documents",
                    filter=card_payments,
                ),
                paid_in=Sum(
                    "created_documents__total",
                    filter=card_payments,
                ),
            )
            .filter(
                Q(amount_charged__gt=0)
                & (~Q(payment_documents=1) | ~Q(paid_in=F("amount_charged")))
                | Q(amount_charged=0) & Q(payment_documents__gt=0)
                | Q(
                    status=Operation.Status.COMPLETED,
                    payment__method=Payment.Method.CARD,
                )
                & ~Q(amount_charged=F("amount_to_charge"))
            )
            .order_by("pk")
        )
        for row in payments.values(
            "pk", "amount_charged", "amount_to_charge", "payment_documents", "paid_in"
        ):
            problems.append(
                f"CHARGE operation {_reference(row['pk'])}: charged "
                f"{row['amount_charged']} of {row['amount_to_charge']} requested, "
                f"recorded as {row['payment_documents']} payment document(s) "
                f"totalling {row['paid_in'] or ZERO}"
            )

        cutoff = timezone.now() - timedelta(minutes=self.charging_limit)
        stuck = operations.filter(
            kind=Operation.Kind.PAYMENT,
            status=Operation.Status.CHARGING,
            created_at__lt=cutoff,
        ).order_by("pk")
        for pk, created_at in stuck.values_list("pk", "created_at"):
            problems.append(
                f"CHARGING operation {_reference(pk)}: charging since "
                f"{created_at:%Y-%m-%d %H:%M} UTC, longer than "
                f"{self.charging_limit} minutes; run settle_payments"
            )

        for pk, own, theirs in (
            reversals.exclude(operation__reseller_id=F("reseller_id"))
            .order_by("pk")
            .values_list("pk", "reseller_id", "operation__reseller_id")
        ):
            problems.append(
                f"RESELLER reversal #{pk} of reseller #{own}: its operation "
                f"belongs to reseller #{theirs}"
            )
        for number, own, theirs in (
            documents.exclude(operation__reseller_id=F("reseller_id"))
            .order_by("pk")
            .values_list("number", "reseller_id", "operation__reseller_id")
        ):
            problems.append(
                f"RESELLER document {number} of reseller #{own}: its operation "
                f"belongs to reseller #{theirs}"
            )
        for pk, own, theirs in (
            Payment.objects.filter(operation__in=operations)
            .exclude(operation__reseller_id=F("reseller_id"))
            .order_by("pk")
            .values_list("pk", "reseller_id", "operation__reseller_id")
        ):
            problems.append(
                f"RESELLER payment record {_reference(pk)} of reseller #{own}: "
                f"its operation belongs to reseller #{theirs}"
            )
        for pk, number, own in (
            PaymentDocument.objects.filter(payment__operation__in=operations)
            .exclude(
                Q(payment__reseller_id=F("reseller_id"))
                & Q(document__reseller_id=F("reseller_id"))
            )
            .order_by("payment_id", "position")
            .values_list("payment_id", "document__number", "reseller_id")
        ):
            problems.append(
                f"RESELLER payment {_reference(pk)} of reseller #{own} selects "
                f"document {number} of another reseller"
            )


@contextmanager
def snapshot() -> Iterator[None]:
    """Read everything inside one transaction that sees one state of the ledger.

    On PostgreSQL the transaction is REPEATABLE READ and read-only, which must
    be its first statement; on SQLite one transaction reads one state. Inside
    an outer transaction (tests) the outer one's view is used as it is.
    """
    outer = connection.in_atomic_block
    with transaction.atomic():
        if not outer and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"
                )
        yield


def _where(doc: dict) -> str:
    """Name a document in a finding (built only when there is one to report)."""
    return (
        f"reseller {doc['reseller__name']!r} (#{doc['reseller_id']}) "
        f"document {doc['number']}"
    )


def check_bank_lines(reseller_id: int | None, findings: Findings) -> None:
    """Check that every bank line is applied, queued or returned, consistently.

    An applied line has exactly its amount as a payment document of its own
    reseller, in its currency; a queued or returned line has no payment; a
    returned line has the agent's reason.
    """
    from billing.models import BankLine

    lines = BankLine.objects.all()
    if reseller_id is not None:
        lines = lines.filter(reseller_id=reseller_id)
    applied = BankLine.State.APPLIED
    wrong = lines.filter(
        ~Q(state__in=BankLine.State.values)
        | Q(state=applied)
        & (
            Q(payment__isnull=True)
            | ~Q(payment__total=F("amount"))
            | ~Q(payment__reseller_id=F("reseller_id"))
            | ~Q(payment__kind="payment")
            | ~Q(reseller__currency=F("currency"))
        )
        | ~Q(state=applied) & Q(payment__isnull=False)
        | Q(state=BankLine.State.RETURNED, handled_reason="")
    ).values("pk", "entry_reference", "state", "amount", "currency")
    for row in wrong.order_by("pk").iterator(chunk_size=DEFAULT_BATCH_SIZE):
        findings.problems.append(
            f"BANK LINE #{row['pk']} ({row['entry_reference']}, {row['amount']} "
            f"{row['currency']}): state {row['state']!r} does not agree with its "
            "payment"
        )
