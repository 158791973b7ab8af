"""Migration 0021 gives earlier automatic applications their completion time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.billing.migrations import migrate

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("billing", "0020_open_credit_and_debit_indexes")]
AFTER = [("billing", "0021_operation_created_when_made")]


def test_automatic_applications_are_completed_when_they_were_made(old_apps):
    Marketplace = old_apps.get_model("billing", "Marketplace")
    Reseller = old_apps.get_model("billing", "Reseller")
    Operation = old_apps.get_model("billing", "Operation")
    market = Marketplace.objects.create(code="MT", name="Times", currency="EUR")
    reseller = Reseller.objects.create(
        marketplace=market, name="Timed", currency="EUR", payment_model="prepaid"
    )
    done = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

    def operation(kind, status, completed_at=None):
        return Operation.objects.create(
            reseller=reseller,
            kind=kind,
            status=status,
            source="system",
            completed_at=completed_at,
        )

    applied = operation("auto_apply", "completed")
    applied_before = operation("auto_apply", "completed", done)
    waiting = operation("payment", "awaiting_transfer")

    apps = migrate(AFTER)
    times = {
        op.pk: (op.created_at, op.completed_at)
        for op in apps.get_model("billing", "Operation").objects.all()
    }

    assert times[applied.pk][1] == times[applied.pk][0]
    assert times[applied_before.pk][1] == done
    assert times[waiting.pk][1] is None
