"""Audit rows store facts; existing rows get theirs from the ledger they point at.

Where a row's facts cannot be told from the ledger, it keeps its English
summary, which pages show as it is.
"""

from django.db import migrations, models

BATCH = 1000


def _amount(value) -> str | None:
    return None if value is None else str(value)


def _facts(event, Allocation, Reversal) -> dict:
    """Return the facts of an existing row, or {} when they cannot be told."""
    action, document, operation = event.action, event.document, event.operation
    facts: dict = {"currency": event.reseller.currency}
    if action in ("document_posted", "credit_memo_issued") and document:
        return {
            **facts,
            "kind": document.kind,
            "number": document.number,
            "amount": str(document.total),
        }
    if action in ("document_held", "hold_released") and document:
        return {**facts, "number": document.number}
    if operation is None or event.amount is None:
        return {}
    amount = str(event.amount)
    if action == "documents_linked":
        link = Allocation.objects.filter(operation=operation).first()
        if link:
            return {
                **facts,
                "amount": amount,
                "credit": link.credit.number,
                "debit": link.debit.number,
            }
    elif action == "allocation_unlinked":
        reversal = Reversal.objects.filter(operation=operation).first()
        if reversal:
            allocation = reversal.allocation
            return {
                **facts,
                "amount": amount,
                "credit": allocation.credit.number,
                "debit": allocation.debit.number,
            }
    elif action == "credit_applied":
        debits = (
            Allocation.objects.filter(operation=operation)
            .values("debit_id")
            .distinct()
            .count()
        )
        return {**facts, "amount": amount, "count": debits}
    elif action == "operation_reverted" and operation.reverts_id:
        return {
            **facts,
            "operation": f"OP-{operation.reverts_id:08d}",
            "operation_kind": operation.reverts.kind,
            "count": Reversal.objects.filter(operation=operation).count(),
            "amount": amount,
        }
    elif action == "payment_charged" and document:
        return {
            **facts,
            "amount": amount,
            "reference": operation.gateway_reference,
            "number": document.number,
        }
    return {}


def fill_facts(apps, schema_editor):
    AuditEvent = apps.get_model("billing", "AuditEvent")
    Allocation = apps.get_model("billing", "Allocation")
    Reversal = apps.get_model("billing", "Reversal")
    events = (
        AuditEvent.objects.all()
        .select_related("reseller", "document", "operation__reverts")
        .order_by("pk")
    )
    last = 0
    while True:
        batch = list(events.filter(pk__gt=last)[:BATCH])
        if not batch:
            return
        changed = []
        for event in batch:
            facts = _facts(event, Allocation, Reversal)
            if facts:
                event.facts = facts
                changed.append(event)
        AuditEvent.objects.bulk_update(changed, ["facts"])
        last = batch[-1].pk


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0008_dispute_holds"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="facts",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunPython(fill_facts, migrations.RunPython.noop, elidable=True),
    ]
