"""Open credits and open debits each get a partial index of their own.

The one open-documents index by kind gave way to the index in date order in
prepared statements' generic plans, which read an account's open credits by
filtering out every open invoice. Each open document is in one of the two new
indexes, as it was in the one they replace. The reason is beside the indexes
in ``billing.models``.
"""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0019_payment_audit_amount"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="document",
            name="document_reseller_open_idx",
        ),
        migrations.AddIndex(
            model_name="document",
            index=models.Index(
                condition=models.Q(
                    ("kind__in", ("payment", "credit_memo")), ("open_amount__gt", 0)
                ),
                fields=["reseller", "kind", "issue_date", "number"],
                name="document_open_credit_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="document",
            index=models.Index(
                condition=models.Q(
                    ("kind__in", ("invoice", "debit_memo")), ("open_amount__gt", 0)
                ),
                fields=["reseller", "kind", "issue_date", "number"],
                name="document_open_debit_idx",
            ),
        ),
    ]
