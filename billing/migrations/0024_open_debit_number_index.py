"""Open debits get an index by their number as bank lines are matched.

Cash application read every open invoice of a marketplace before matching a
statement's first line; it now reads those whose numbers the lines quote.
The reason is beside the index in ``billing.models``.
"""

from django.conf import settings
from django.db import migrations, models

import billing.models


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0023_bank_line_event_key_per_marketplace"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name="document",
            index=models.Index(
                models.F("marketplace"),
                billing.models.NumberKey("number"),
                condition=models.Q(
                    ("kind__in", ("invoice", "debit_memo")), ("open_amount__gt", 0)
                ),
                name="document_open_debit_number_idx",
            ),
        ),
    ]
