from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0015_drop_operation_payment_columns"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="payment",
            index=models.Index(
                fields=["transfer_reference"], name="payment_transfer_reference"
            ),
        ),
    ]
