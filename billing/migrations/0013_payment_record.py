import django.db.models.deletion
from django.db import migrations, models

import billing.fields


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0012_reseller_api_source"),
    ]

    operations = [
        migrations.CreateModel(
            name="Payment",
            fields=[
                (
                    "operation",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        primary_key=True,
                        related_name="payment",
                        serialize=False,
                        to="billing.operation",
                    ),
                ),
                (
                    "reseller",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="payments",
                        to="billing.reseller",
                    ),
                ),
                (
                    "method",
                    models.CharField(
                        blank=True,
                        choices=[("card", "Card"), ("bank_transfer", "Bank transfer")],
                        max_length=20,
                    ),
                ),
                ("use_credit", models.BooleanField(default=False)),
                ("credit_applied", billing.fields.AmountField(default=0)),
                ("amount_to_charge", billing.fields.AmountField(default=0)),
                ("amount_charged", billing.fields.AmountField(default=0)),
                ("amount_left_open", billing.fields.AmountField(default=0)),
                ("transfer_reference", models.CharField(blank=True, max_length=40)),
                ("gateway_reference", models.CharField(blank=True, max_length=100)),
                ("message", models.TextField(blank=True)),
            ],
            options={
                "constraints": [
                    models.CheckConstraint(
                        condition=models.Q(
                            ("credit_applied__gte", 0),
                            ("amount_to_charge__gte", 0),
                            ("amount_charged__gte", 0),
                            ("amount_left_open__gte", 0),
                        ),
                        name="payment_amounts_not_negative",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("amount_charged__lte", models.F("amount_to_charge"))
                        ),
                        name="payment_charged_at_most_requested",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="PaymentDocument",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True,
                        primary_key=True,
                        serialize=False,
                        verbose_name="ID",
                    ),
                ),
                (
                    "payment",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="selections",
                        to="billing.payment",
                    ),
                ),
                (
                    "reseller",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="billing.reseller",
                    ),
                ),
                (
                    "document",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="payment_selections",
                        to="billing.document",
                    ),
                ),
                ("position", models.PositiveIntegerField()),
            ],
            options={
                "ordering": ["payment", "position"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("payment", "document"), name="payment_document_unique"
                    ),
                ],
            },
        ),
        migrations.AddField(
            model_name="operation",
            name="amount",
            field=billing.fields.AmountField(default=0),
        ),
        migrations.AddConstraint(
            model_name="operation",
            constraint=models.CheckConstraint(
                condition=models.Q(("amount__gte", 0)),
                name="operation_amount_not_negative",
            ),
        ),
    ]
