"""Audit entries store facts; each reader gets the sentence in their language."""

import re

import pytest
from django.urls import reverse
from django.utils import translation

from billing import services
from billing.models import AuditEvent
from tests import factories
from tests.factories import post

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


@pytest.fixture
def activity(db):
    from tests.classic_panel.conftest import LINK, VIEW, client_for, staff

    de = factories.MarketplaceFactory(code="DE", currency="EUR")
    reseller = factories.ResellerFactory(marketplace=de, name="Kunde GmbH")
    agent = staff("agent-de", [de], VIEW, LINK)
    invoice = post(reseller, "invoice", "100.00", number="DE-INV-1")
    memo = post(reseller, "credit_memo", "1234.50", number="DE-GS-1")
    link = services.link_documents(
        credit=memo, debit=invoice, amount="25.00", actor=agent, reason="r"
    )
    services.unlink_allocation(allocation=link, actor=agent, reason="wrong")
    url = reverse("classic:activity", kwargs={"reseller_id": reseller.pk})
    return agent, url, client_for


def test_classic_activity_in_german_shows_german_sentences(activity):
    agent, url, client_for = activity

    german = text(client_for(agent, HTTP_ACCEPT_LANGUAGE="de").get(url))
    english = text(client_for(agent, HTTP_ACCEPT_LANGUAGE="en").get(url))

    assert "Gutschrift DE-GS-1 über 1.234,50 € gebucht" in german
    assert "25,00 € von DE-GS-1 mit DE-INV-1 verknüpft" in german
    assert "Verknüpfung von 25,00 € aus DE-GS-1 mit DE-INV-1 gelöst" in german
    assert "Linked" not in german and "posted for" not in german
    assert "Credit memo DE-GS-1 posted for €1,234.50" in english
    assert "Linked €25.00 of DE-GS-1 to DE-INV-1" in english


def test_facts_are_stored_and_the_english_summary_kept_for_search(activity):
    event = AuditEvent.objects.get(action=AuditEvent.Action.DOCUMENTS_LINKED)
    assert event.facts == {
        "amount": "25.00",
        "credit": "DE-GS-1",
        "debit": "DE-INV-1",
        "currency": "EUR",
    }
    assert event.summary == "Linked €25.00 of DE-GS-1 to DE-INV-1"


def test_a_row_without_facts_shows_its_old_summary(activity):
    event = AuditEvent.objects.get(action=AuditEvent.Action.DOCUMENTS_LINKED)
    AuditEvent.objects.filter(pk=event.pk).update(facts={}, summary="Old sentence")
    event.refresh_from_db()
    with translation.override("de"):
        assert event.description == "Old sentence"


def test_migration_gives_existing_rows_their_facts(activity):
    from django.apps import apps

    from billing.models import Allocation, Reversal

    migration = __import__(
        "billing.migrations.0008_audit_facts", fromlist=["fill_facts"]
    )
    AuditEvent.objects.update(facts={})
    migration.fill_facts(apps, None)

    with translation.override("de"):
        sentences = [
            event.description.replace("\xa0", " ") for event in AuditEvent.objects.all()
        ]
    assert "Verknüpfung von 25,00 € aus DE-GS-1 mit DE-INV-1 gelöst" in sentences
    assert "Rechnung DE-INV-1 über 100,00 € gebucht" in sentences
    assert Allocation.objects.exists() and Reversal.objects.exists()
