"""Card payments still charging get an index of their own, for
``settle_payments``; the reason is beside the index in ``billing.models``."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0021_operation_created_when_made"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name="operation",
            index=models.Index(
                condition=models.Q(("status", "charging")),
                fields=["created_at"],
                name="operation_charging_idx",
            ),
        ),
    ]
