"""Load demo data: two marketplaces, four resellers, their ledgers and logins.

Idempotent: marketplaces, resellers, users and documents are found by their
natural keys (marketplace code, reseller name, username, document number) and
only what is missing is created, so running the command twice changes
nothing. Dates are relative to today, so the demo always has documents that
are overdue, due soon and not yet due. Every document goes through
``billing.services.post_document`` and every manual allocation through
``billing.services.link_documents``, so the ledger is consistent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from billing import services
from billing.models import (
    DEBIT_KINDS,
    Allocation,
    AuditEvent,
    CreditPolicy,
    Document,
    DocumentKind,
    Marketplace,
    PaymentModel,
    Reseller,
    ResellerMembership,
    Source,
)
from billing.money import format_money
from billing.roles import ensure_support_groups
from billing.selectors import account_summary

DEMO_PASSWORD = "demo-password"
OPENING_BALANCE = "Opening balance"
PAYMENT_TERMS_DAYS = 30

INVOICE = DocumentKind.INVOICE
DEBIT_MEMO = DocumentKind.DEBIT_MEMO
CREDIT_MEMO = DocumentKind.CREDIT_MEMO
PAYMENT = DocumentKind.PAYMENT


@dataclass(frozen=True)
class MarketplaceSpec:
    code: str
    name: str
    currency: str
    policy: str
    email: str
    phone: str


@dataclass(frozen=True)
class Post:
    """Post a document issued ``days_ago`` days before today (net 30 if debit)."""

    kind: str
    number: str
    days_ago: int
    total: str
    description: str


@dataclass(frozen=True)
class Link:
    """Apply ``amount`` of a credit document to a debit document (support)."""

    credit: str
    debit: str
    amount: str


@dataclass(frozen=True)
class Unlink:
    """Reverse the allocation between two documents, with a reason."""

    credit: str
    debit: str
    reason: str


@dataclass(frozen=True)
class Hold:
    """Put a disputed debit document on hold (support), with a reason."""

    number: str
    reason: str


@dataclass(frozen=True)
class ResellerSpec:
    name: str
    marketplace: str
    payment_model: str
    username: str
    steps: tuple[Post | Link | Unlink | Hold, ...]


MARKETPLACES = (
    MarketplaceSpec(
        code="US",
        name="United States",
        currency="USD",
        policy=CreditPolicy.CONTACT_SUPPORT,
        email="billing-support-us@example.com",
        phone="+1 (800) 555-0142",
    ),
    MarketplaceSpec(
        code="DE",
        name="Deutschland",
        currency="EUR",
        policy=CreditPolicy.SELF_SERVICE,
        email="buchhaltung-support-de@example.com",
        phone="+49 30 5557 0190",
    ),
)

# Numbers grow with the issue date within each marketplace, as an upstream
# billing system would issue them. Prepaid ledgers are posted in date order,
# because each posting applies the open credit automatically.
RESELLERS = (
    ResellerSpec(
        name="Acme Cloud",
        marketplace="US",
        payment_model=PaymentModel.TERM,
        username="acme",
        steps=(
            Post(INVOICE, "INV-US-2026-00011", 95, "4820.00", "Cloud subscriptions"),
            Post(PAYMENT, "PAY-US-2026-00004", 70, "4820.00", "Wire transfer"),
            Link("PAY-US-2026-00004", "INV-US-2026-00011", "4820.00"),
            Post(INVOICE, "INV-US-2026-00017", 64, "3150.75", "Cloud subscriptions"),
            Post(DEBIT_MEMO, "DM-US-2026-0003", 50, "240.00", "Late renewal fee"),
            Post(INVOICE, "INV-US-2026-00023", 33, "5412.30", "Cloud subscriptions"),
            Post(PAYMENT, "PAY-US-2026-00009", 30, "2000.00", "Wire transfer"),
            Link("PAY-US-2026-00009", "INV-US-2026-00017", "1500.00"),
            Post(CREDIT_MEMO, "CN-US-2026-0002", 20, "350.00", "Outage SLA credit"),
            Post(INVOICE, "INV-US-2026-00031", 5, "2980.00", "Cloud subscriptions"),
        ),
    ),
    ResellerSpec(
        name="Bolt IT",
        marketplace="US",
        payment_model=PaymentModel.PREPAID,
        username="bolt",
        steps=(
            Post(PAYMENT, "PAY-US-2026-00002", 80, "1500.00", "Prepayment by ACH"),
            Post(INVOICE, "INV-US-2026-00013", 75, "1200.00", "Cloud subscriptions"),
            Post(INVOICE, "INV-US-2026-00020", 45, "980.40", "Cloud subscriptions"),
            Post(PAYMENT, "PAY-US-2026-00008", 32, "500.00", "Prepayment by ACH"),
            Post(CREDIT_MEMO, "CN-US-2026-0003", 15, "75.00", "Goodwill credit"),
            Post(DEBIT_MEMO, "DM-US-2026-0004", 10, "64.99", "Extra licence seats"),
            Post(INVOICE, "INV-US-2026-00032", 3, "1045.00", "Cloud subscriptions"),
        ),
    ),
    ResellerSpec(
        name="Cobalt Systems",
        marketplace="DE",
        payment_model=PaymentModel.TERM,
        username="cobalt",
        steps=(
            Post(INVOICE, "INV-DE-2026-00008", 100, "12400.00", "Cloud-Abonnements"),
            Post(PAYMENT, "PAY-DE-2026-00003", 72, "12400.00", "SEPA-Überweisung"),
            Link("PAY-DE-2026-00003", "INV-DE-2026-00008", "12400.00"),
            Post(INVOICE, "INV-DE-2026-00015", 60, "8765.43", "Cloud-Abonnements"),
            Post(DEBIT_MEMO, "DM-DE-2026-0003", 40, "310.00", "Nachberechnung Support"),
            Post(PAYMENT, "PAY-DE-2026-00007", 28, "5000.00", "SEPA-Überweisung"),
            Link("PAY-DE-2026-00007", "INV-DE-2026-00015", "4000.00"),
            Post(INVOICE, "INV-DE-2026-00024", 12, "6120.00", "Cloud-Abonnements"),
            Post(CREDIT_MEMO, "CN-DE-2026-0005", 8, "1250.00", "Preiskorrektur"),
        ),
    ),
    ResellerSpec(
        name="Delta Tech",
        marketplace="DE",
        payment_model=PaymentModel.PREPAID,
        username="delta",
        steps=(
            Post(PAYMENT, "PAY-DE-2026-00002", 90, "3000.00", "Vorauszahlung"),
            Post(INVOICE, "INV-DE-2026-00010", 85, "2450.00", "Cloud-Abonnements"),
            Post(DEBIT_MEMO, "DM-DE-2026-0002", 60, "199.00", "Zusatzlizenzen"),
            Post(INVOICE, "INV-DE-2026-00019", 35, "1890.00", "Cloud-Abonnements"),
            Post(CREDIT_MEMO, "CN-DE-2026-0004", 20, "400.00", "Kulanzgutschrift"),
            # More credit than debit at the end: credit is left over.
            Post(PAYMENT, "PAY-DE-2026-00011", 7, "1500.00", "Vorauszahlung"),
            # The reseller disputes the debit memo: support takes the payment
            # off it, so a prepaid account shows both unpaid and credit.
            Unlink(
                "PAY-DE-2026-00002",
                "DM-DE-2026-0002",
                "Debit memo disputed by the reseller; credit held until resolved",
            ),
            # ... and holds the memo, so no credit is applied to it meanwhile.
            Hold("DM-DE-2026-0002", "Disputed by the reseller until resolved"),
        ),
    ),
)

# username: (marketplace codes, role group) for classic-panel staff.
STAFF = {
    "support-us": (("US",), "agents"),
    "support-de": (("DE",), "agents"),
    "viewer-de": (("DE",), "viewers"),
}
OPERATOR = "operator"


@dataclass
class Tally:
    """What this run created (zero everywhere on a second run)."""

    marketplaces: int = 0
    resellers: int = 0
    users: int = 0
    documents: int = 0
    links: int = 0
    unlinks: int = 0

    def __str__(self) -> str:
        return (
            f"{self.marketplaces} marketplace(s), {self.resellers} reseller(s), "
            f"{self.users} user(s), {self.documents} document(s), "
            f"{self.links} link(s), {self.unlinks} unlink(s)"
        )


class Command(BaseCommand):
    help = (
        "Create demo marketplaces, resellers, ledgers and logins "
        f"(password {DEMO_PASSWORD!r}). Safe to run again: creates only "
        "what is missing."
    )

    def handle(self, *args, **options) -> None:
        today = timezone.localdate()
        tally = Tally()
        operator = self._user(
            OPERATOR, tally, is_staff=True, is_superuser=True, email="ops@example.com"
        )
        marketplaces = {
            spec.code: self._marketplace(spec, tally) for spec in MARKETPLACES
        }
        self._staff(marketplaces, tally)
        resellers = []
        for spec in RESELLERS:
            reseller = self._reseller(spec, marketplaces[spec.marketplace], tally)
            user = self._user(
                spec.username, tally, email=f"{spec.username}@example.com"
            )
            ResellerMembership.objects.get_or_create(
                user=user, defaults={"reseller": reseller}
            )
            self._ledger(spec, reseller, operator, today, tally)
            resellers.append(reseller)
        seed_bank(marketplaces, resellers)
        self._print_summary(resellers, today, tally, options["verbosity"])
        # What other apps add to the demo (e.g. the reseller API's demo key),
        # named in settings so the ledger imports none of them.
        for extra in settings.DEMO_EXTRAS:
            import_string(extra)()

    # --- reference data ------------------------------------------------------

    def _marketplace(self, spec: MarketplaceSpec, tally: Tally) -> Marketplace:
        marketplace, created = Marketplace.objects.get_or_create(
            code=spec.code,
            defaults={
                "name": spec.name,
                "currency": spec.currency,
                "term_credit_policy": spec.policy,
                "support_email": spec.email,
                "support_phone": spec.phone,
            },
        )
        tally.marketplaces += created
        return marketplace

    def _reseller(
        self, spec: ResellerSpec, marketplace: Marketplace, tally: Tally
    ) -> Reseller:
        reseller, created = Reseller.objects.get_or_create(
            marketplace=marketplace,
            name=spec.name,
            defaults={
                "currency": marketplace.currency,
                "payment_model": spec.payment_model,
            },
        )
        tally.resellers += created
        return reseller

    def _user(self, username: str, tally: Tally, **fields) -> AbstractUser:
        User = get_user_model()
        user = User.objects.filter(username=username).first()
        if user is None:
            with transaction.atomic():
                user = User(username=username, **fields)
                user.set_password(DEMO_PASSWORD)
                user.save()
            tally.users += 1
        return user

    def _staff(self, marketplaces: dict[str, Marketplace], tally: Tally) -> None:
        agents, viewers = ensure_support_groups()
        groups = {"agents": agents, "viewers": viewers}
        for username, (codes, role) in STAFF.items():
            user = self._user(username, tally, email=f"{username}@example.com")
            user.groups.add(groups[role])
            for code in codes:
                marketplaces[code].staff.add(user)

    # --- ledger --------------------------------------------------------------

    def _ledger(
        self,
        spec: ResellerSpec,
        reseller: Reseller,
        operator: AbstractUser,
        today: date,
        tally: Tally,
    ) -> None:
        for step in spec.steps:
            if isinstance(step, Post):
                tally.documents += self._post(step, reseller, today)
            elif isinstance(step, Link):
                tally.links += self._link(step, reseller, operator)
            elif isinstance(step, Hold):
                self._hold(step, reseller, operator)
            else:
                tally.unlinks += self._unlink(step, reseller, operator)

    def _post(self, step: Post, reseller: Reseller, today: date) -> bool:
        if Document.objects.filter(
            marketplace_id=reseller.marketplace_id, number=step.number
        ).exists():
            return False
        issue_date = today - timedelta(days=step.days_ago)
        is_debit = step.kind in DEBIT_KINDS
        services.post_document(
            reseller=reseller,
            kind=step.kind,
            number=step.number,
            total=Decimal(step.total),
            issue_date=issue_date,
            due_date=issue_date + timedelta(days=PAYMENT_TERMS_DAYS)
            if is_debit
            else None,
            description=f"{step.description}, {issue_date:%B %Y}"
            if is_debit
            else step.description,
            source=Source.IMPORT,
        )
        return True

    def _pair(self, reseller: Reseller, credit: str, debit: str) -> Allocation | None:
        return (
            Allocation.objects.filter(
                reseller=reseller, credit__number=credit, debit__number=debit
            )
            .select_related("reversal")
            .order_by("id")
            .first()
        )

    def _link(self, step: Link, reseller: Reseller, operator: AbstractUser) -> bool:
        if self._pair(reseller, step.credit, step.debit) is not None:
            return False
        documents = {
            document.number: document
            for document in Document.objects.filter(
                reseller=reseller, number__in=[step.credit, step.debit]
            )
        }
        services.link_documents(
            credit=documents[step.credit],
            debit=documents[step.debit],
            amount=Decimal(step.amount),
            actor=operator,
            reason=OPENING_BALANCE,
            source=Source.IMPORT,
        )
        return True

    def _unlink(self, step: Unlink, reseller: Reseller, operator: AbstractUser) -> bool:
        allocation = self._pair(reseller, step.credit, step.debit)
        if allocation is None or hasattr(allocation, "reversal"):
            return False
        services.unlink_allocation(
            allocation=allocation,
            actor=operator,
            reason=step.reason,
            source=Source.IMPORT,
        )
        return True

    def _hold(self, step: Hold, reseller: Reseller, operator: AbstractUser) -> None:
        document = Document.objects.get(reseller=reseller, number=step.number)
        # Once only: a hold support released since stays released.
        if AuditEvent.objects.filter(
            document=document, action=AuditEvent.Action.DOCUMENT_HELD
        ).exists():
            return
        services.hold_document(
            document=document,
            reason=step.reason,
            actor=operator,
            source=Source.IMPORT,
        )

    # --- output --------------------------------------------------------------

    def _print_summary(
        self, resellers: list[Reseller], today: date, tally: Tally, verbosity: int
    ) -> None:
        if verbosity < 1:
            return
        write = self.stdout.write
        write(self.style.SUCCESS(f"Demo data ready. Created {tally}."))
        write("")
        write(
            f"{'Reseller':<16}{'Market':<8}{'Model':<9}{'Unpaid':>6}"
            f"{'Due':>14}{'Overdue':>14}{'Credit':>14}"
        )
        for reseller in resellers:
            summary = account_summary(reseller, today=today)
            write(
                f"{reseller.name:<16}{reseller.marketplace.code:<8}"
                f"{reseller.payment_model:<9}{summary.unpaid_count:>6}"
                f"{format_money(summary.total_due, reseller.currency):>14}"
                f"{format_money(summary.overdue_amount, reseller.currency):>14}"
                f"{format_money(summary.credit_balance, reseller.currency):>14}"
            )
        write("")
        write(f"Logins (password {DEMO_PASSWORD!r}):")
        write("  reseller panel /        acme, bolt (US); cobalt, delta (DE)")
        write("  classic panel /classic/ support-us, support-de (agents), viewer-de")
        write(f"  admin /admin/           {OPERATOR}")


# --- Cash application --------------------------------------------------------

DEMO_STATEMENT = (
    Path(__file__).resolve().parents[2] / "demo" / "statement-de-camt053.xml"
)
DEMO_BANK_ACCOUNTS = {
    "DE": {
        "beneficiary": "Cloud Distribution Receivables GmbH",
        "bank_name": "Commerzbank AG",
        "iban": "DE89370400440532013000",
        "bic": "COBADEFFXXX",
    },
    "US": {
        "beneficiary": "Cloud Distribution Receivables Inc.",
        "bank_name": "Example National Bank",
        "account_number": "000123456789",
        "routing_number": "021000021",
        "bic": "EXNBUS33",
    },
}
DEMO_PAYER_IBANS = {
    "Cobalt Systems": "DE02120300000000202051",
    "Delta Tech": "DE02500105170137075030",
}


def seed_bank(marketplaces: dict[str, Marketplace], resellers: list[Reseller]) -> None:
    """Give the marketplaces bank accounts and the resellers known IBANs, and
    import the demo statement, whose lines wait in the unmatched queue.

    Idempotent: accounts are found by marketplace and IBAN, and a statement's
    lines are stored once (by the bank's entry reference).
    """
    from billing.models import MarketplaceBankAccount, ResellerBankAccount
    from billing.services.cash_application import import_statement

    for code, fields in DEMO_BANK_ACCOUNTS.items():
        MarketplaceBankAccount.objects.get_or_create(
            marketplace=marketplaces[code], defaults=fields
        )
    for reseller in resellers:
        iban = DEMO_PAYER_IBANS.get(reseller.name)
        if iban:
            ResellerBankAccount.objects.get_or_create(reseller=reseller, iban=iban)
    import_statement(
        data=DEMO_STATEMENT.read_bytes(),
        file_name=DEMO_STATEMENT.name,
        actor=None,
        source=Source.BANK,
    )
