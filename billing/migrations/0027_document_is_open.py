"""The open documents' indexes conditioned on ``is_open``, a column the
database keeps from ``open_amount``, instead of on ``open_amount`` itself.

PostgreSQL can update a row in place, without new index entries (a HOT
update), only if no indexed column changes; a column in an index's
condition or its ``INCLUDE`` list counts. With ``open_amount`` in four of
the table's ten indexes, every payment gave the credit it drew from a new
entry in each index that holds it (six for a credit memo), however little
it took. Now only opening or closing a document changes an indexed column.
Adding the column rewrites the table once.
"""

import billing.models
import django.db.models.lookups
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0026_awaiting_transfer_and_payer_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="document",
            name="document_open_by_date_idx",
        ),
        migrations.RemoveIndex(
            model_name="document",
            name="document_open_credit_idx",
        ),
        migrations.RemoveIndex(
            model_name="document",
            name="document_open_debit_idx",
        ),
        migrations.RemoveIndex(
            model_name="document",
            name="document_open_debit_number_idx",
        ),
        migrations.AddField(
            model_name="document",
            name="is_open",
            field=models.GeneratedField(
                db_persist=True,
                expression=django.db.models.lookups.GreaterThan(
                    models.F("open_amount"), 0
                ),
                output_field=models.BooleanField(),
            ),
        ),
        migrations.AddIndex(
            model_name="document",
            index=models.Index(
                condition=models.Q(
                    ("is_open", True), ("kind__in", ("payment", "credit_memo"))
                ),
                fields=["reseller", "kind", "issue_date", "number"],
                name="document_open_credit_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="document",
            index=models.Index(
                condition=models.Q(
                    ("is_open", True), ("kind__in", ("invoice", "debit_memo"))
                ),
                fields=["reseller", "kind", "issue_date", "number"],
                name="document_open_debit_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="document",
            index=models.Index(
                condition=models.Q(("is_open", True)),
                fields=["reseller", "issue_date", "number", "id"],
                include=("kind", "due_date"),
                name="document_open_by_date_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="document",
            index=models.Index(
                models.F("marketplace"),
                billing.models.NumberKey("number"),
                condition=models.Q(
                    ("is_open", True), ("kind__in", ("invoice", "debit_memo"))
                ),
                name="document_open_debit_number_idx",
            ),
        ),
    ]
