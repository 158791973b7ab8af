"""Migration 0019 gives a payment's earlier audit entries the amount selected."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.billing.migrations import migrate

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("billing", "0018_ledger_index_upkeep")]
AFTER = [("billing", "0019_payment_audit_amount")]


def test_entries_written_with_the_amount_left_open_are_corrected(old_apps):
    Marketplace = old_apps.get_model("billing", "Marketplace")
    Reseller = old_apps.get_model("billing", "Reseller")
    AuditEvent = old_apps.get_model("billing", "AuditEvent")
    market = Marketplace.objects.create(code="MA", name="Audit", currency="EUR")
    reseller = Reseller.objects.create(
        marketplace=market, name="Audited", currency="EUR", payment_model="term"
    )

    def entry(amount, facts, action="payment_started"):
        return AuditEvent.objects.create(
            reseller=reseller,
            action=action,
            source="reseller_panel",
            amount=None if amount is None else Decimal(amount),
            facts=facts,
        ).pk

    all_credit = entry("0.000", {"credit": "70.00", "rest": "0.00"})
    part_credit = entry("40.00", {"credit": "30.00", "rest": "40.00"})
    right = entry("70.00", {"credit": "0.000", "rest": "70.00"})
    no_facts = entry("12.00", {})
    bad_facts = entry("12.00", {"credit": "x", "rest": "1"})
    other = entry("0.00", {"credit": "5.00", "rest": "0.00"}, action="credit_applied")

    apps = migrate(AFTER)
    amounts = dict(
        apps.get_model("billing", "AuditEvent").objects.values_list("pk", "amount")
    )

    assert amounts[all_credit] == Decimal("70.00")
    assert amounts[part_credit] == Decimal("70.00")
    assert amounts[right] == Decimal("70.00")
    assert amounts[no_facts] == Decimal("12.00")
    assert amounts[bad_facts] == Decimal("12.00")
    assert amounts[other] == Decimal("0.00")
