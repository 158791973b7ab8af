"""The system's own document numbers: reserved prefixes, no collisions."""

from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from billing import services
from billing.exceptions import GatewayUnavailable, ReservedDocumentNumber
from billing.gateways import SandboxGateway
from billing.models import Document, DocumentKind, Operation
from tests import factories
from tests.billing.ledger_checks import assert_ledger_consistent, open_amount
from tests.billing.test_settle_payments import age
from tests.factories import pay, post

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "number",
    ["CARD-00000001", "card-00000001", "CM-3-0001", " CM-US-2026-0001", "BANK-7"],
)
def test_posting_a_system_number_is_refused(term_reseller, number):
    with pytest.raises(ReservedDocumentNumber) as refused:
        post(term_reseller, "payment", "10.00", number=number)
    assert refused.value.code == "reserved_number"
    assert "CARD-, CM-, BANK-" in refused.value.message
    assert not Document.objects.exists()


def test_importing_a_system_number_is_refused(tmp_path, term_reseller):
    path = tmp_path / "docs.csv"
    path.write_text(
        "marketplace,reseller,kind,number,issue_date,total\n"
        f"{term_reseller.marketplace.code},{term_reseller.pk},payment,"
        "CARD-00000001,2026-01-01,10.00\n",
        encoding="utf-8",
    )
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("import_documents", str(path), stdout=StringIO(), stderr=err)
    assert "reserved_number" in err.getvalue()
    assert "issued by the system" in err.getvalue()
    assert not Document.objects.exists()


def test_credit_memos_are_numbered_per_marketplace_and_year(staff_user):
    marketplace = factories.MarketplaceFactory(code="US")
    first, second = factories.ResellerFactory.create_batch(2, marketplace=marketplace)
    numbers = [
        services.issue_credit_memo(
            reseller=reseller,
            amount="5.00",
            reason="goodwill",
            actor=staff_user,
            issue_date=date(2026, 3, 1),
        ).number
        for reseller in (first, second, first)
    ]
    assert numbers == ["CM-US-2026-0001", "CM-US-2026-0002", "CM-US-2026-0003"]
    memo = services.issue_credit_memo(
        reseller=second,
        amount="5.00",
        reason="goodwill",
        actor=staff_user,
        issue_date=date(2027, 1, 2),
    )
    assert memo.number == "CM-US-2027-0001"


def test_credit_memo_skips_a_number_taken_before_the_reservation(
    term_reseller, staff_user
):
    # A document posted before ``CM-`` was reserved holds the first number.
    Document.objects.create(
        reseller=term_reseller,
        marketplace=term_reseller.marketplace,
        kind=DocumentKind.CREDIT_MEMO,
        number=f"CM-{term_reseller.marketplace.code}-2026-0001",
        issue_date=date(2026, 1, 1),
        total=Decimal("1.00"),
        open_amount=Decimal("1.00"),
        source="import",
    )
    memo = services.issue_credit_memo(
        reseller=term_reseller,
        amount="5.00",
        reason="goodwill",
        actor=staff_user,
        issue_date=date(2026, 3, 1),
    )
    assert memo.number == f"CM-{term_reseller.marketplace.code}-2026-0002"


def _stuck_card_payment(reseller, key: str) -> Operation:
    invoice = post(reseller, "invoice", "100.00")
    with pytest.raises(GatewayUnavailable):
        pay(
            reseller,
            [invoice],
            payment_method="card",
            card_token=SandboxGateway.UNAVAILABLE_CARD,
            idempotency_key=key,
        )
    return Operation.objects.get(reseller=reseller, idempotency_key=key)


def test_card_charge_is_recorded_when_its_number_was_taken_earlier(term_reseller):
    operation = _stuck_card_payment(term_reseller, "taken")
    Document.objects.create(
        reseller=term_reseller,
        marketplace=term_reseller.marketplace,
        kind=DocumentKind.PAYMENT,
        number=f"CARD-{operation.pk:08d}",
        issue_date=date(2026, 1, 1),
        total=Decimal("1.00"),
        open_amount=Decimal("1.00"),
        source="import",
    )
    term_reseller.__class__.objects.filter(pk=term_reseller.pk).update(
        document_count=term_reseller.documents.count()
    )

    done = pay(
        term_reseller,
        Document.objects.filter(payment_selections__payment=operation.pk),
        payment_method="card",
        card_token=SandboxGateway.SUCCESS_CARD,
        idempotency_key="taken",
    )

    assert done.status == Operation.Status.COMPLETED
    payment = Document.objects.get(operation=done)
    assert payment.number == f"CARD-{operation.pk:08d}-2"
    assert open_amount(payment) == 0
    assert_ledger_consistent(term_reseller)


class BrokenOnceGateway(SandboxGateway):
    """Fails the look-up of one payment with an unexpected error."""

    broken_key = ""

    def find_charge(self, *, idempotency_key: str):
        if idempotency_key.endswith(f":{self.broken_key}"):
            raise RuntimeError("processor answered garbage")
        return super().find_charge(idempotency_key=idempotency_key)


def test_settle_payments_goes_on_past_a_failing_payment(term_reseller, settings):
    broken = _stuck_card_payment(term_reseller, "broken")
    later = _stuck_card_payment(term_reseller, "later")
    age(broken, 30)
    age(later, 20)
    BrokenOnceGateway.broken_key = "broken"
    settings.PAYMENT_GATEWAY = f"{__name__}.BrokenOnceGateway"

    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError) as failed:
        call_command("settle_payments", stdout=out, stderr=err)

    assert broken.reference in str(failed.value)
    assert f"{broken.reference} {term_reseller.name}: not settled" in err.getvalue()
    later.refresh_from_db()
    broken.refresh_from_db()
    assert later.status == Operation.Status.DECLINED
    assert broken.status == Operation.Status.CHARGING
    assert "Settled 1 payment(s) (declined 1); 1 failed" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_concurrent_credit_memos_of_one_marketplace_get_distinct_numbers():
    from tests.billing.test_concurrency import run_together

    marketplace = factories.MarketplaceFactory(code="DE", currency="EUR")
    resellers = factories.ResellerFactory.create_batch(4, marketplace=marketplace)
    agent = factories.UserFactory(username="agent-n", password=None)

    def issue(reseller):
        return lambda: (
            services.issue_credit_memo(
                reseller=reseller,
                amount="1.00",
                reason="goodwill",
                actor=agent,
                issue_date=date(2026, 5, 1),
            ).number
        )

    results = run_together([issue(resellers[i % 4]) for i in range(12)])

    assert sorted(results) == [f"CM-DE-2026-{n:04d}" for n in range(1, 13)]
