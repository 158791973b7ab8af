"""An operation's creation time is taken when it is made, not when its row is
inserted: one completed as it is made carries the same instant in both.

The default is Django's, not the column's, so the table does not change
(SQLite would otherwise copy the whole table to alter nothing). Automatic
application recorded its operations as completed without a completion time;
they were completed when they were made, and now say so.
"""

import django.utils.timezone
from django.db import migrations, models
from django.db.models import F


def complete_automatic_applications(apps, schema_editor):
    Operation = apps.get_model("billing", "Operation")
    Operation.objects.filter(
        kind="auto_apply", status="completed", completed_at__isnull=True
    ).update(completed_at=F("created_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0020_open_credit_and_debit_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="operation",
                    name="created_at",
                    field=models.DateTimeField(
                        db_index=True, default=django.utils.timezone.now, editable=False
                    ),
                ),
            ],
        ),
        migrations.RunPython(
            complete_automatic_applications, migrations.RunPython.noop, elidable=True
        ),
    ]
