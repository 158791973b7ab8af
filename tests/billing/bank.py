"""Helpers for the cash-application tests: marketplaces with bank accounts."""

from pathlib import Path

from billing.models import (
    CreditPolicy,
    MarketplaceBankAccount,
    Operation,
    PaymentModel,
    ResellerBankAccount,
    Source,
)
from billing.references import creditor_reference
from billing.services.cash_application import import_statement
from tests import factories

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "statements"
DE_IBAN = "DE89370400440532013000"
US_ACCOUNT = "000123456789"
COBALT_IBAN = "DE02120300000000202051"
DELTA_IBAN = "DE02500105170137075030"


def de_marketplace(code: str = "DE"):
    marketplace = factories.MarketplaceFactory(
        code=code, currency="EUR", term_credit_policy=CreditPolicy.SELF_SERVICE
    )
    MarketplaceBankAccount.objects.create(
        marketplace=marketplace,
        beneficiary="Cloud Distribution Receivables GmbH",
        bank_name="Commerzbank",
        iban=DE_IBAN,
        bic="COBADEFFXXX",
    )
    return marketplace


def us_marketplace():
    marketplace = factories.MarketplaceFactory(code="US", currency="USD")
    MarketplaceBankAccount.objects.create(
        marketplace=marketplace,
        beneficiary="Cloud Distribution Receivables Inc.",
        bank_name="Example National Bank",
        account_number=US_ACCOUNT,
        routing_number="021000021",
    )
    return marketplace


def reseller(marketplace, name, *, prepaid=False, iban=None, currency=None):
    created = factories.ResellerFactory(
        marketplace=marketplace,
        name=name,
        currency=currency or marketplace.currency,
        payment_model=PaymentModel.PREPAID if prepaid else PaymentModel.TERM,
    )
    if iban:
        ResellerBankAccount.objects.create(reseller=created, iban=iban)
    return created


def awaiting(reseller, documents, ref_id: int | None = None) -> Operation:
    """Pay ``documents`` by bank transfer; the reference is the one of ``ref_id``.

    Statement fixtures quote fixed references (RF71 0000 0000 4711 …); the
    operation is given that reference, as if it had that id.
    """
    operation = factories.pay(reseller, documents, use_credit=False)
    assert operation.status == Operation.Status.AWAITING_TRANSFER
    if ref_id is not None:
        operation.payment.transfer_reference = creditor_reference(ref_id)
        operation.payment.save(update_fields=["transfer_reference"])
    return operation


def import_fixture(name: str, **kwargs):
    return import_bytes((FIXTURES / name).read_bytes(), name, **kwargs)


def import_bytes(data: bytes, name: str = "statement", **kwargs):
    return import_statement(
        data=data, file_name=name, actor=None, source=Source.BANK, **kwargs
    )


def queued_line(marketplace, ref: str = "Q-1", **fields):
    """Return a line waiting in ``marketplace``'s unmatched queue."""
    from datetime import date
    from decimal import Decimal

    from billing.models import BankLine, BankStatement

    account = f"ACCOUNT-{marketplace.code}"
    existing = BankLine.objects.filter(account=account, entry_reference=ref).first()
    if existing:
        return existing
    statement = BankStatement.objects.create(
        marketplace=marketplace,
        account=account,
        format="csv",
        bank_statement_id="test",
        file_sha256="0" * 64,
        source=Source.BANK,
    )
    values = {
        "booking_date": date(2026, 3, 6),
        "amount": Decimal("150.00"),
        "currency": marketplace.currency,
        "payer_name": "Payer Ltd",
        "text": "Zahlung",
        "unmatched_reason": "no_reference",
        **fields,
    }
    return BankLine.objects.create(
        statement=statement,
        marketplace=marketplace,
        account=account,
        entry_reference=ref,
        **values,
    )
