"""Dispute holds: a held debit document is neither applied nor payable."""

from datetime import date
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse

from billing import services
from billing.exceptions import DocumentOnHold, NotHoldable, ReasonRequired
from billing.models import AuditEvent, Document, Reseller
from tests import factories
from tests.billing.ledger_checks import assert_ledger_consistent, open_amount
from tests.factories import pay, post

pytestmark = pytest.mark.django_db


def test_demo_credit_memo_to_delta_leaves_the_disputed_memo_alone():
    call_command("seed_demo", verbosity=0)
    delta = Reseller.objects.get(name="Delta Tech")
    disputed = Document.objects.get(reseller=delta, number="DM-DE-2026-0002")
    assert disputed.is_held and disputed.open_amount == Decimal("199.00")
    agent = factories.UserFactory(username="agent-x", password=None)

    services.issue_credit_memo(
        reseller=delta, amount="25.00", reason="goodwill", actor=agent
    )

    assert open_amount(disputed) == Decimal("199.00")
    assert_ledger_consistent(delta)
    # Running the demo again does not hold it twice.
    call_command("seed_demo", verbosity=0)
    assert (
        AuditEvent.objects.filter(
            document=disputed, action=AuditEvent.Action.DOCUMENT_HELD
        ).count()
        == 1
    )


def test_automatic_application_skips_a_held_document_until_released(
    prepaid_reseller, staff_user
):
    held = post(prepaid_reseller, "invoice", "40.00", issue_date=date(2026, 1, 1))
    later = post(prepaid_reseller, "invoice", "30.00", issue_date=date(2026, 1, 5))
    services.hold_document(document=held, reason="disputed", actor=staff_user)

    post(prepaid_reseller, "payment", "50.00", issue_date=date(2026, 2, 1))

    assert open_amount(held) == Decimal("40.00")
    assert open_amount(later) == 0
    released = services.release_hold(document=held, reason="resolved", actor=staff_user)
    assert not released.is_held
    assert open_amount(held) == Decimal("20.00")  # the credit left applies now
    assert_ledger_consistent(prepaid_reseller)


def test_a_held_document_cannot_be_paid(term_reseller, staff_user):
    invoice = post(term_reseller, "invoice", "40.00")
    services.hold_document(document=invoice, reason="disputed", actor=staff_user)

    with pytest.raises(DocumentOnHold) as refused:
        pay(term_reseller, [invoice])
    assert refused.value.code == "document_on_hold"
    assert invoice.number in refused.value.message
    with pytest.raises(DocumentOnHold):
        services.preview_payment(
            reseller=term_reseller, document_ids=[invoice.pk], use_credit=False
        )
    assert open_amount(invoice) == Decimal("40.00")


def test_hold_needs_a_reason_a_debit_and_is_recorded_once(term_reseller, staff_user):
    invoice = post(term_reseller, "invoice", "40.00")
    payment = post(term_reseller, "payment", "10.00")
    with pytest.raises(ReasonRequired):
        services.hold_document(document=invoice, reason="  ", actor=staff_user)
    with pytest.raises(NotHoldable):
        services.hold_document(document=payment, reason="x", actor=staff_user)

    for _ in range(2):
        services.hold_document(document=invoice, reason="disputed", actor=staff_user)
    for _ in range(2):
        services.release_hold(document=invoice, reason="resolved", actor=staff_user)

    actions = list(
        AuditEvent.objects.filter(document=invoice)
        .order_by("id")
        .values_list("action", "reason", "actor")
    )
    assert actions[1:] == [
        (AuditEvent.Action.DOCUMENT_HELD, "disputed", staff_user.pk),
        (AuditEvent.Action.HOLD_RELEASED, "resolved", staff_user.pk),
    ]


# --- classic panel -----------------------------------------------------------


@pytest.fixture
def classic(db):
    from tests.classic_panel.conftest import LINK, VIEW, client_for, staff

    de = factories.MarketplaceFactory(code="DE", currency="EUR")
    us = factories.MarketplaceFactory(code="US")
    reseller = factories.ResellerFactory(marketplace=de, name="Kunde GmbH")
    invoice = post(reseller, "invoice", "100.00", number="DE-INV-1")
    return {
        "reseller": reseller,
        "invoice": invoice,
        "agent": client_for(staff("agent-de", [de], VIEW, LINK)),
        "viewer": client_for(staff("viewer-de", [de], VIEW)),
        "foreign": client_for(staff("agent-us", [us], VIEW, LINK)),
    }


def hold_url(world, name="hold"):
    return reverse(
        f"classic:{name}",
        kwargs={
            "reseller_id": world["reseller"].pk,
            "document_id": world["invoice"].pk,
        },
    )


def test_agent_puts_a_document_on_hold_and_releases_it(classic):
    agent = classic["agent"]
    page = agent.get(
        reverse(
            "classic:document",
            args=[classic["reseller"].pk, classic["invoice"].pk],
        )
    ).content.decode()
    assert hold_url(classic) in page and "Put on hold" in page

    done = agent.post(hold_url(classic), {"reason": "disputed"}, follow=True)

    assert done.redirect_chain[-1][1] == 302
    html = done.content.decode()
    assert "DE-INV-1 is on hold" in html
    assert "Release the hold" in html and "“disputed”" in html
    assert Document.objects.get(pk=classic["invoice"].pk).is_held

    agent.post(hold_url(classic, "release_hold"), {"reason": "settled"})
    assert not Document.objects.get(pk=classic["invoice"].pk).is_held


def test_hold_without_a_reason_changes_nothing(classic):
    done = classic["agent"].post(hold_url(classic), {"reason": ""}, follow=True)
    assert "Give a reason" in done.content.decode()
    assert not Document.objects.get(pk=classic["invoice"].pk).is_held


@pytest.mark.parametrize(("who", "status"), [("viewer", 403), ("foreign", 404)])
def test_hold_is_refused_to_viewers_and_other_marketplaces(classic, who, status):
    response = classic[who].post(hold_url(classic), {"reason": "x"})
    assert response.status_code == status
    assert not Document.objects.get(pk=classic["invoice"].pk).is_held


# --- reseller panel ----------------------------------------------------------


def test_reseller_sees_a_held_document_as_on_hold_without_a_checkbox(
    term_reseller, staff_user
):
    from django.test import Client

    held = post(term_reseller, "invoice", "40.00", number="INV-HELD")
    other = post(term_reseller, "invoice", "30.00", number="INV-OPEN")
    services.hold_document(document=held, reason="disputed", actor=staff_user)
    client = Client()
    client.force_login(factories.reseller_user(term_reseller))

    unpaid = client.get(reverse("unpaid_documents")).content.decode()
    assert "On hold — contact support" in unpaid
    assert f'value="{held.pk}"' not in unpaid
    assert f'value="{other.pk}"' in unpaid
    page = client.get(reverse("document", args=[held.pk])).content.decode()
    assert "On hold — contact support" in page
    assert f"?document={held.pk}" not in page


def test_pay_page_for_a_held_document_says_to_contact_support(
    term_reseller, staff_user
):
    from django.test import Client

    held = post(term_reseller, "invoice", "40.00", number="INV-HELD")
    services.hold_document(document=held, reason="disputed", actor=staff_user)
    client = Client(HTTP_ACCEPT_LANGUAGE="de")
    client.force_login(factories.reseller_user(term_reseller))

    response = client.get(reverse("pay"), {"document": held.pk})

    assert response.status_code == 400
    assert "INV-HELD ist gesperrt" in response.content.decode()
    assert open_amount(held) == Decimal("40.00")
