"""A bank line event's marketplace is found through its unique (marketplace,
idempotency key) index; the foreign key's own index went with it."""

import django.db.models.deletion
from django.db import migrations, models

# The name Django gave the foreign key's index (the same on both databases).
INDEX = "billing_banklineevent_marketplace_id_bf0b77df"


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0024_open_debit_number_index"),
    ]

    # Only the index goes: Django's own AlterField would also drop and add
    # the foreign key again, checking every event's marketplace anew.
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="banklineevent",
                    name="marketplace",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="billing.marketplace",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f'DROP INDEX IF EXISTS "{INDEX}"',
                    reverse_sql=(
                        f'CREATE INDEX "{INDEX}" '
                        'ON "billing_banklineevent" ("marketplace_id")'
                    ),
                ),
            ],
        ),
    ]
