"""Copy each payment's columns to its Payment record and its documents to rows.

The selected documents were a JSON list of ids on the operation; they become
PaymentDocument rows in the same order. A link's or automatic application's
amount moves from ``credit_applied`` to ``Operation.amount``. Ids of documents
that no longer exist (none should) are left out, as the services ignored them.
"""

from django.db import migrations
from django.db.models import F

BATCH = 1000
PAYMENT = "payment"
MOVED = ("link", "auto_apply")
COLUMNS = (
    "use_credit",
    "credit_applied",
    "amount_to_charge",
    "amount_charged",
    "amount_left_open",
    "transfer_reference",
    "gateway_reference",
    "message",
)


def forward(apps, schema_editor):
    Operation = apps.get_model("billing", "Operation")
    Payment = apps.get_model("billing", "Payment")
    PaymentDocument = apps.get_model("billing", "PaymentDocument")
    Document = apps.get_model("billing", "Document")
    Operation.objects.filter(kind__in=MOVED).update(amount=F("credit_applied"))
    rows = (
        Operation.objects.filter(kind=PAYMENT)
        .order_by("pk")
        .values("pk", "reseller_id", "payment_method", "document_ids", *COLUMNS)
    )
    payments, selections = [], []
    for row in rows.iterator(chunk_size=BATCH):
        payments.append(
            Payment(
                operation_id=row["pk"],
                reseller_id=row["reseller_id"],
                method=row["payment_method"],
                **{name: row[name] for name in COLUMNS},
            )
        )
        seen = set()
        for value in row["document_ids"] or ():
            document_id = int(value)
            if document_id in seen:
                continue
            seen.add(document_id)
            selections.append((row["pk"], row["reseller_id"], document_id, len(seen)))
        if len(payments) >= BATCH:
            _write(Payment, PaymentDocument, Document, payments, selections)
            payments, selections = [], []
    _write(Payment, PaymentDocument, Document, payments, selections)


def _write(Payment, PaymentDocument, Document, payments, selections):
    Payment.objects.bulk_create(payments)
    existing = set(
        Document.objects.filter(
            pk__in={document_id for _p, _r, document_id, _n in selections}
        ).values_list("pk", flat=True)
    )
    PaymentDocument.objects.bulk_create(
        PaymentDocument(
            payment_id=payment_id,
            reseller_id=reseller_id,
            document_id=document_id,
            position=position,
        )
        for payment_id, reseller_id, document_id, position in selections
        if document_id in existing
    )


def backward(apps, schema_editor):
    Operation = apps.get_model("billing", "Operation")
    Payment = apps.get_model("billing", "Payment")
    PaymentDocument = apps.get_model("billing", "PaymentDocument")
    Operation.objects.filter(kind__in=MOVED).update(credit_applied=F("amount"))
    selected: dict[int, list[int]] = {}
    for payment_id, document_id in (
        PaymentDocument.objects.order_by("payment_id", "position")
        .values_list("payment_id", "document_id")
        .iterator(chunk_size=BATCH)
    ):
        selected.setdefault(payment_id, []).append(document_id)
    operations = []
    for payment in Payment.objects.order_by("pk").iterator(chunk_size=BATCH):
        operation = Operation(pk=payment.pk, payment_method=payment.method)
        operation.document_ids = selected.get(payment.pk, [])
        for name in COLUMNS:
            setattr(operation, name, getattr(payment, name))
        operations.append(operation)
    Operation.objects.bulk_update(
        operations, ["payment_method", "document_ids", *COLUMNS], batch_size=BATCH
    )
    PaymentDocument.objects.all().delete()
    Payment.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0013_payment_record"),
    ]

    operations = [migrations.RunPython(forward, backward)]
