from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0014_copy_payment_records"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="operation",
            name="operation_amounts_not_negative",
        ),
        migrations.RemoveConstraint(
            model_name="operation",
            name="operation_charged_at_most_requested",
        ),
        migrations.RemoveField(model_name="operation", name="amount_charged"),
        migrations.RemoveField(model_name="operation", name="amount_left_open"),
        migrations.RemoveField(model_name="operation", name="amount_to_charge"),
        migrations.RemoveField(model_name="operation", name="credit_applied"),
        migrations.RemoveField(model_name="operation", name="document_ids"),
        migrations.RemoveField(model_name="operation", name="gateway_reference"),
        migrations.RemoveField(model_name="operation", name="message"),
        migrations.RemoveField(model_name="operation", name="payment_method"),
        migrations.RemoveField(model_name="operation", name="transfer_reference"),
        migrations.RemoveField(model_name="operation", name="use_credit"),
    ]
