"""A bank-line action's idempotency key is unique in its marketplace, where
its replay is looked up (the bank tables are distributed by marketplace)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0022_charging_payments_index"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="banklineevent",
            constraint=models.UniqueConstraint(
                fields=["marketplace", "idempotency_key"],
                name="bank_line_event_key_per_marketplace",
            ),
        ),
        migrations.AlterField(
            model_name="banklineevent",
            name="idempotency_key",
            field=models.CharField(blank=True, max_length=64, null=True),
        ),
    ]
