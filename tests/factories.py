"""Factories for the ledger's reference data and documents.

Documents are posted through ``billing.services.post_document`` (see
:func:`post`), so tests exercise the same path as production; the factories
here only build what services do not own (marketplaces, resellers, users).
"""

from datetime import date, timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from billing import services
from billing.models import (
    CreditPolicy,
    Document,
    Marketplace,
    PaymentModel,
    Reseller,
    ResellerMembership,
)

PASSWORD = "test-password-1"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class MarketplaceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Marketplace

    code = factory.Sequence(lambda n: f"M{n}")
    name = factory.LazyAttribute(lambda m: f"Marketplace {m.code}")
    currency = "USD"
    support_email = factory.LazyAttribute(
        lambda m: f"support-{m.code.lower()}@example.com"
    )
    support_phone = "+1 555 0100"
    term_credit_policy = CreditPolicy.SELF_SERVICE


class ResellerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Reseller

    marketplace = factory.SubFactory(MarketplaceFactory)
    name = factory.Sequence(lambda n: f"Reseller {n}")
    currency = factory.LazyAttribute(lambda r: r.marketplace.currency)
    payment_model = PaymentModel.TERM


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ResellerMembership

    user = factory.SubFactory(UserFactory)
    reseller = factory.SubFactory(ResellerFactory)


def reseller_user(reseller: Reseller, username: str | None = None):
    """Return a new reseller-panel user of ``reseller``."""
    kwargs = {"user__username": username} if username else {}
    return MembershipFactory(reseller=reseller, **kwargs).user


_numbers = iter(range(1, 10**9))


def post(
    reseller: Reseller,
    kind: str = "invoice",
    total: str | Decimal = "100.00",
    *,
    issue_date: date = date(2026, 1, 1),
    due_in_days: int | None = 30,
    number: str | None = None,
    **kwargs,
) -> Document:
    """Post a document through the service; numbers are unique by default."""
    debit = kind in ("invoice", "debit_memo")
    return services.post_document(
        reseller=reseller,
        kind=kind,
        number=number or f"{kind[:3].upper()}-{next(_numbers):06d}",
        total=total,
        issue_date=issue_date,
        due_date=issue_date + timedelta(days=due_in_days)
        if debit and due_in_days is not None
        else None,
        **kwargs,
    )


_keys = iter(range(1, 10**9))


def pay(
    reseller: Reseller,
    documents,
    *,
    use_credit: bool = True,
    payment_method: str = "bank_transfer",
    idempotency_key: str | None = None,
    actor=None,
    **kwargs,
):
    """Pay ``documents`` (documents or ids) through the service; keys are new."""
    return services.pay_documents(
        reseller=reseller,
        document_ids=[getattr(doc, "pk", doc) for doc in documents],
        use_credit=use_credit,
        payment_method=payment_method,
        idempotency_key=idempotency_key or f"key-{next(_keys):09d}",
        actor=actor,
        **kwargs,
    )
