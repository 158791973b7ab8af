"""The demo data: the scenario DESIGN.md describes, loaded idempotently."""

from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.test import RequestFactory
from django.utils import timezone

from billing import roles
from billing.models import (
    Allocation,
    AuditEvent,
    CreditPolicy,
    Document,
    Marketplace,
    Operation,
    PaymentModel,
    Reseller,
    ResellerMembership,
    Reversal,
    Source,
)
from billing.selectors import account_summary, reseller_for_user

RESELLERS = {
    "Acme Cloud": ("US", PaymentModel.TERM, "acme"),
    "Bolt IT": ("US", PaymentModel.PREPAID, "bolt"),
    "Cobalt Systems": ("DE", PaymentModel.TERM, "cobalt"),
    "Delta Tech": ("DE", PaymentModel.PREPAID, "delta"),
}


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def snapshot() -> dict:
    """Return every count and amount the demo data consists of."""
    User = get_user_model()
    return {
        "counts": {
            model.__name__: model.objects.count()
            for model in (
                Marketplace,
                Reseller,
                ResellerMembership,
                Document,
                Allocation,
                Reversal,
                Operation,
                AuditEvent,
                User,
                Group,
            )
        },
        "documents": sorted(
            Document.objects.values_list(
                "number", "reseller__name", "total", "open_amount", "issue_date"
            )
        ),
        "users": sorted(User.objects.values_list("username", "password")),
        "staff": sorted(Marketplace.staff.through.objects.values_list("pk", flat=True)),
    }


@pytest.fixture
def seeded(db):
    seed()


def test_seeding_twice_changes_no_count_or_amount(db):
    first_output = seed()
    before = snapshot()

    second_output = seed()

    assert snapshot() == before
    assert "Created 0 marketplace(s), 0 reseller(s), 0 user(s), 0 document(s)" in (
        second_output
    )
    assert "Created 2 marketplace(s), 4 reseller(s), 8 user(s)" in first_output
    assert before["counts"]["Document"] == 28


def test_ledger_is_consistent_after_seeding(seeded):
    out = StringIO()

    call_command("check_ledger", stdout=out)

    assert "Ledger consistent: 28 documents" in out.getvalue()


def test_seeding_keeps_existing_reference_data(db):
    Marketplace.objects.create(
        code="US", name="USA", currency="USD", support_email="ar@example.com"
    )

    seed()

    us = Marketplace.objects.get(code="US")
    assert (us.name, us.support_email) == ("USA", "ar@example.com")
    assert us.resellers.count() == 2


def test_marketplaces_follow_the_design(seeded):
    us = Marketplace.objects.get(code="US")
    de = Marketplace.objects.get(code="DE")

    assert (us.currency, us.term_credit_policy) == (
        "USD",
        CreditPolicy.CONTACT_SUPPORT,
    )
    assert (de.currency, de.term_credit_policy) == ("EUR", CreditPolicy.SELF_SERVICE)
    for marketplace in (us, de):
        assert "@" in marketplace.support_email
        assert marketplace.support_phone


@pytest.mark.parametrize("name", RESELLERS)
def test_every_reseller_has_overdue_unpaid_documents(seeded, name):
    code, payment_model, _username = RESELLERS[name]
    reseller = Reseller.objects.get(name=name)

    summary = account_summary(reseller, today=timezone.localdate())

    assert (reseller.marketplace.code, reseller.payment_model) == (
        code,
        payment_model,
    )
    assert reseller.currency == reseller.marketplace.currency
    assert summary.unpaid_count > 0
    assert summary.overdue_count > 0


@pytest.mark.parametrize("name", ["Acme Cloud", "Cobalt Systems"])
def test_term_accounts_have_credit_to_use(seeded, name):
    summary = account_summary(
        Reseller.objects.get(name=name), today=timezone.localdate()
    )

    assert summary.unapplied_payments > 0
    assert summary.open_credit_memos > 0


def test_balances_are_the_documented_ones(seeded):
    today = timezone.localdate()
    figures = {
        reseller.name: (
            account_summary(reseller, today=today).total_due,
            account_summary(reseller, today=today).credit_balance,
        )
        for reseller in Reseller.objects.all()
    }

    assert figures == {
        "Acme Cloud": (Decimal("10283.05"), Decimal("850.00")),
        "Bolt IT": (Decimal("1215.39"), Decimal(0)),
        "Cobalt Systems": (Decimal("11195.43"), Decimal("2250.00")),
        "Delta Tech": (Decimal("199.00"), Decimal("560.00")),
    }


def test_a_prepaid_account_has_credit_left_over(seeded):
    credit = {
        reseller.name: account_summary(
            reseller, today=timezone.localdate()
        ).credit_balance
        for reseller in Reseller.objects.filter(payment_model=PaymentModel.PREPAID)
    }

    assert credit["Delta Tech"] > 0


def test_ledger_shows_partial_payments_and_not_yet_due_documents(seeded):
    today = timezone.localdate()
    documents = list(Document.objects.all())

    assert any(0 < doc.open_amount < doc.total for doc in documents if doc.is_debit)
    assert any(doc.due_date and doc.due_date > today for doc in documents)
    assert Allocation.objects.filter(
        operation__kind=Operation.Kind.LINK, operation__reason="Opening balance"
    ).exists()


def sign_in(*, username: str, password: str):
    """Authenticate as the sign-in pages do: with a request (for throttling)."""
    request = RequestFactory().post("/login/")
    return authenticate(request, username=username, password=password)


@pytest.mark.parametrize("name", RESELLERS)
def test_reseller_users_log_in_to_their_account(seeded, name):
    username = RESELLERS[name][2]

    user = sign_in(username=username, password="demo-password")

    assert user is not None
    assert reseller_for_user(user).name == name
    assert not user.is_staff


@pytest.mark.parametrize(
    ("username", "codes", "can_link"),
    [
        ("support-us", ["US"], True),
        ("support-de", ["DE"], True),
        ("viewer-de", ["DE"], False),
    ],
)
def test_support_staff_roles(seeded, username, codes, can_link):
    user = sign_in(username=username, password="demo-password")

    assert user is not None
    assert sorted(user.staff_marketplaces.values_list("code", flat=True)) == codes
    assert user.has_perm("billing.view_document")
    assert user.has_perm("billing.link_documents") is can_link
    assert user.has_perm("billing.issue_credit_memo") is can_link
    assert not user.is_superuser


def test_operator_is_a_superuser(seeded):
    user = sign_in(username="operator", password="demo-password")

    assert user is not None
    assert user.is_staff and user.is_superuser


def test_support_groups_have_exactly_their_permissions(db):
    agents, viewers = roles.ensure_support_groups()
    agents.permissions.clear()

    agents, viewers = roles.ensure_support_groups()

    assert sorted(agents.permissions.values_list("codename", flat=True)) == [
        "issue_credit_memo",
        "link_documents",
        "view_document",
    ]
    assert list(viewers.permissions.values_list("codename", flat=True)) == [
        "view_document"
    ]
    assert Group.objects.count() == 2


def test_summary_lists_the_demo_logins(db):
    out = seed()

    for username in ("acme", "bolt", "cobalt", "delta", "support-us", "operator"):
        assert username in out
    assert "demo-password" in out


def test_the_demo_statement_to_upload_pays_cobalts_debit_memo(seeded):
    """The README's statement to upload by hand is matched by document number."""
    from pathlib import Path

    from billing.services.cash_application import import_statement

    statement = (
        Path(__file__).resolve().parents[2]
        / "billing"
        / "demo"
        / "statement-de-to-upload.xml"
    )
    memo = Document.objects.get(number="DM-DE-2026-0003")
    assert memo.open_amount == Decimal("310.00")

    import_statement(
        data=statement.read_bytes(),
        file_name=statement.name,
        actor=None,
        source=Source.BANK,
    )

    memo.refresh_from_db()
    assert memo.open_amount == 0
    assert memo.reseller.name == "Cobalt Systems"
