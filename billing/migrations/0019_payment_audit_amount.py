"""A payment's audit entry holds the amount selected, as its facts say.

Entries written before this fix held what was left open after the credit
applied (0.00 for a payment made wholly from credit). Their facts hold both
parts ("credit" and "rest"), whose sum is the amount selected; only entries
whose amount differs from it are corrected.
"""

from decimal import Decimal, InvalidOperation

from django.db import migrations

BATCH = 1000


def _selected(facts) -> Decimal | None:
    try:
        return Decimal(facts["credit"]) + Decimal(facts["rest"])
    except (KeyError, TypeError, InvalidOperation):
        return None


def correct_amounts(apps, schema_editor):
    AuditEvent = apps.get_model("billing", "AuditEvent")
    events = AuditEvent.objects.filter(action="payment_started").order_by("pk")
    last = 0
    while True:
        batch = list(events.filter(pk__gt=last).only("pk", "amount", "facts")[:BATCH])
        if not batch:
            return
        changed = []
        for event in batch:
            selected = _selected(event.facts or {})
            if selected is not None and event.amount != selected:
                event.amount = selected
                changed.append(event)
        AuditEvent.objects.bulk_update(changed, ["amount"])
        last = batch[-1].pk


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0018_ledger_index_upkeep"),
    ]

    operations = [
        migrations.RunPython(correct_amounts, migrations.RunPython.noop, elidable=True),
    ]
