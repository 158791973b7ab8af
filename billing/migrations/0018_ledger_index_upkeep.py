"""Every index on the ledger's hot tables earns its upkeep.

Indexes that are a prefix of another (a foreign key's own index beside a
(reseller, …) or UNIQUE (marketplace, number) index) go; the indexes of
mostly empty foreign keys (actor, held by, created by, the operation that
created a document, an audit entry's operation and document) become partial,
WHERE the key IS NOT NULL. The reasons are beside each index in
``billing.models``.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def drop_index(model: str, column: str, name: str) -> migrations.RunSQL:
    """Drop a foreign key's own index, leaving its constraint; recreate it
    on the way back."""
    table = f"billing_{model}"
    return migrations.RunSQL(
        f'DROP INDEX IF EXISTS "{name}"',
        reverse_sql=f'CREATE INDEX "{name}" ON "{table}" ("{column}_id")',
    )


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0017_banklineevent_marketplace"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # The foreign keys keep their constraints; only their indexes go.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="allocation",
                    name="created_by",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="auditevent",
                    name="actor",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="auditevent",
                    name="document",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="billing.document",
                    ),
                ),
                migrations.AlterField(
                    model_name="auditevent",
                    name="operation",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="billing.operation",
                    ),
                ),
                migrations.AlterField(
                    model_name="auditevent",
                    name="reseller",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="audit_events",
                        to="billing.reseller",
                    ),
                ),
                migrations.AlterField(
                    model_name="document",
                    name="held_by",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="put on hold by",
                    ),
                ),
                migrations.AlterField(
                    model_name="document",
                    name="marketplace",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="billing.marketplace",
                    ),
                ),
                migrations.AlterField(
                    model_name="document",
                    name="operation",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="created_documents",
                        to="billing.operation",
                    ),
                ),
                migrations.AlterField(
                    model_name="document",
                    name="reseller",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="documents",
                        to="billing.reseller",
                    ),
                ),
                migrations.AlterField(
                    model_name="operation",
                    name="actor",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="operation",
                    name="reseller",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="operations",
                        to="billing.reseller",
                    ),
                ),
                migrations.AlterField(
                    model_name="paymentdocument",
                    name="payment",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="selections",
                        to="billing.payment",
                    ),
                ),
                migrations.AlterField(
                    model_name="reversal",
                    name="actor",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[
                drop_index(
                    "allocation",
                    "created_by",
                    "billing_allocation_created_by_id_5948e861",
                ),
                drop_index(
                    "auditevent", "actor", "billing_auditevent_actor_id_f283dfbb"
                ),
                drop_index(
                    "auditevent", "document", "billing_auditevent_document_id_304dfbd2"
                ),
                drop_index(
                    "auditevent",
                    "operation",
                    "billing_auditevent_operation_id_fd3119ab",
                ),
                drop_index(
                    "auditevent", "reseller", "billing_auditevent_reseller_id_387c6506"
                ),
                drop_index(
                    "document", "held_by", "billing_document_held_by_id_a3397ed1"
                ),
                drop_index(
                    "document",
                    "marketplace",
                    "billing_document_marketplace_id_c6352abf",
                ),
                drop_index(
                    "document", "operation", "billing_document_operation_id_df29821a"
                ),
                drop_index(
                    "document", "reseller", "billing_document_reseller_id_3077fcbd"
                ),
                drop_index("operation", "actor", "billing_operation_actor_id_64921b6c"),
                drop_index(
                    "operation", "reseller", "billing_operation_reseller_id_dd8b16dd"
                ),
                drop_index(
                    "paymentdocument",
                    "payment",
                    "billing_paymentdocument_payment_id_80170b39",
                ),
                drop_index("reversal", "actor", "billing_reversal_actor_id_1cfa0d21"),
            ],
        ),
        migrations.AddIndex(
            model_name="allocation",
            index=models.Index(
                condition=models.Q(("created_by__isnull", False)),
                fields=["created_by"],
                name="allocation_created_by_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                condition=models.Q(("operation__isnull", False)),
                fields=["operation"],
                name="auditevent_operation_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                condition=models.Q(("document__isnull", False)),
                fields=["document"],
                name="auditevent_document_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                condition=models.Q(("actor__isnull", False)),
                fields=["actor"],
                name="auditevent_actor_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="document",
            index=models.Index(
                condition=models.Q(("operation__isnull", False)),
                fields=["operation"],
                name="document_operation_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="document",
            index=models.Index(
                condition=models.Q(("held_by__isnull", False)),
                fields=["held_by"],
                name="document_held_by_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="operation",
            index=models.Index(
                condition=models.Q(("actor__isnull", False)),
                fields=["actor"],
                name="operation_actor_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="reversal",
            index=models.Index(
                condition=models.Q(("actor__isnull", False)),
                fields=["actor"],
                name="reversal_actor_idx",
            ),
        ),
    ]
