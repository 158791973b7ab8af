"""Migration 0017 gives every recorded bank-line event its line's marketplace."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from tests.billing.migrations import latest, migrate

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("billing", "0016_payment_transfer_reference_index")]


def line_with_events(apps, code: str):
    Marketplace = apps.get_model("billing", "Marketplace")
    BankStatement = apps.get_model("billing", "BankStatement")
    BankLine = apps.get_model("billing", "BankLine")
    BankLineEvent = apps.get_model("billing", "BankLineEvent")
    market = Marketplace.objects.create(code=code, name=code, currency="EUR")
    statement = BankStatement.objects.create(
        marketplace=market,
        account="DE89370400440532013000",
        format="camt.053",
        bank_statement_id=f"S-{code}",
        file_sha256="0" * 64,
        source="bank",
    )
    line = BankLine.objects.create(
        statement=statement,
        marketplace=market,
        account=statement.account,
        entry_reference=f"E-{code}",
        booking_date=date(2026, 3, 2),
        amount=Decimal("10.00"),
        currency="EUR",
        state="queued",
    )
    events = [
        BankLineEvent.objects.create(line=line, action=action, source="bank")
        for action in ("queued", "returned")
    ]
    return market, events


def test_existing_events_get_their_lines_marketplace(old_apps):
    de, de_events = line_with_events(old_apps, "DE")
    at, at_events = line_with_events(old_apps, "AT")

    apps = migrate(latest())

    BankLineEvent = apps.get_model("billing", "BankLineEvent")
    stored = dict(BankLineEvent.objects.values_list("pk", "marketplace_id"))
    assert stored == {
        **{event.pk: de.pk for event in de_events},
        **{event.pk: at.pk for event in at_events},
    }
    field = BankLineEvent._meta.get_field("marketplace")
    assert not field.null
