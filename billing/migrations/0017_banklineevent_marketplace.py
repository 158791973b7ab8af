from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def fill_marketplace(apps, schema_editor):
    """Give every recorded bank-line event its line's marketplace."""
    BankLine = apps.get_model("billing", "BankLine")
    BankLineEvent = apps.get_model("billing", "BankLineEvent")
    BankLineEvent.objects.update(
        marketplace_id=Subquery(
            BankLine.objects.filter(pk=OuterRef("line_id")).values("marketplace_id")
        )
    )
    if schema_editor.connection.vendor == "postgresql":
        # The rows' deferred foreign-key checks run now, so the column can be
        # made NOT NULL in the same transaction.
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0016_payment_transfer_reference_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="banklineevent",
            name="marketplace",
            field=models.ForeignKey(
                null=True,
                on_delete=models.deletion.PROTECT,
                related_name="+",
                to="billing.marketplace",
            ),
        ),
        migrations.RunPython(fill_marketplace, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="banklineevent",
            name="marketplace",
            field=models.ForeignKey(
                on_delete=models.deletion.PROTECT,
                related_name="+",
                to="billing.marketplace",
            ),
        ),
    ]
