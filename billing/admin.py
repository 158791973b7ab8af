"""Django admin for operators: reference data editable, the ledger read-only.

Ledger rows change only through ``billing.services``; here they can be
searched, filtered and read, never added, edited or deleted.
"""

from collections.abc import Callable
from decimal import Decimal

from django import forms
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from billing.fields import AmountField
from billing.models import (
    Allocation,
    AuditEvent,
    BankLine,
    BankStatement,
    Document,
    Marketplace,
    MarketplaceBankAccount,
    Operation,
    Payment,
    Reseller,
    ResellerBankAccount,
    ResellerMembership,
    Reversal,
    SandboxCharge,
)
from billing.money import format_money, is_supported_currency


def _show_amount(obj, field: str) -> str:
    """``field`` of ``obj`` in the row's currency (its own, or its reseller's)."""
    amount: Decimal | None = getattr(obj, field)
    if amount is None:
        return "-"
    currency = getattr(obj, "currency", None) or obj.reseller.currency
    return format_money(amount, currency)


def money(field: str, description: str) -> Callable[[admin.ModelAdmin, object], str]:
    """Return a list column showing ``field`` in the row's reseller currency."""

    @admin.display(description=description, ordering=field)
    def column(model_admin: admin.ModelAdmin, obj) -> str:
        return _show_amount(obj, field)

    return column


def _amount_detail(field: AmountField) -> Callable[[object], str]:
    @admin.display(description=field.verbose_name)
    def show(obj) -> str:
        return _show_amount(obj, field.name)

    return show


class CurrencyForm(forms.ModelForm):
    """Accept an ISO 4217 code the ledger can store exactly, upper-cased."""

    def clean_currency(self) -> str:
        currency = self.cleaned_data["currency"].strip().upper()
        if not is_supported_currency(currency):
            raise forms.ValidationError(
                _("Enter a supported ISO 4217 currency code, such as USD or EUR."),
                code="unsupported_currency",
            )
        return currency


@admin.register(Marketplace)
class MarketplaceAdmin(admin.ModelAdmin):
    form = CurrencyForm
    list_display = ["code", "name", "currency", "term_credit_policy", "support_email"]
    list_filter = ["term_credit_policy", "currency"]
    search_fields = ["code", "name"]
    filter_horizontal = ["staff"]


class MembershipInline(admin.TabularInline):
    model = ResellerMembership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Reseller)
class ResellerAdmin(admin.ModelAdmin):
    form = CurrencyForm
    list_display = [
        "name",
        "marketplace",
        "currency",
        "payment_model",
        "document_count",
        "created_at",
    ]
    list_filter = ["marketplace", "payment_model", "currency"]
    search_fields = ["name", "id"]
    inlines = [MembershipInline]

    def get_readonly_fields(self, request, obj=None):
        # Documents carry the reseller's marketplace and currency: fixed once set.
        return ["marketplace", "currency", "document_count"] if obj else []

    def save_model(self, request, obj, form, change):
        """Save only the fields the operator changed.

        Postings update the row too (its document count, under the reseller
        lock); saving the whole row as this page loaded it would overwrite a
        count a posting committed meanwhile.
        """
        if not change:
            super().save_model(request, obj, form, change)
            return
        columns = {field.name for field in obj._meta.concrete_fields}
        changed = [name for name in form.changed_data if name in columns]
        if changed:
            obj.save(update_fields=changed)


class ReadOnlyAdmin(admin.ModelAdmin):
    """The ledger is written by services only; admin shows it.

    A row's page shows each amount with its currency (``$25.00``), not as the
    stored thousandths.
    """

    def __init__(self, model, admin_site):
        super().__init__(model, admin_site)
        self._amount_details: dict[str, str] = {}
        for field in model._meta.fields:
            if isinstance(field, AmountField):
                name = self._amount_details[field.name] = f"{field.name}_in_currency"
                setattr(self, name, _amount_detail(field))

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        return [self._amount_details.get(name, name) for name in fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Document)
class DocumentAdmin(ReadOnlyAdmin):
    list_display = [
        "number",
        "kind",
        "reseller",
        "issue_date",
        "due_date",
        "total_display",
        "open_display",
        "source",
    ]
    list_filter = ["kind", "source", "marketplace", "issue_date"]
    search_fields = ["number", "reseller__name", "description"]
    list_select_related = ["reseller"]
    date_hierarchy = "issue_date"
    show_full_result_count = False

    total_display = money("total", _("total"))
    open_display = money("open_amount", _("open amount"))


@admin.register(Allocation)
class AllocationAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "reseller",
        "credit",
        "debit",
        "amount_display",
        "operation",
        "created_at",
    ]
    list_filter = ["operation__kind", "created_at"]
    search_fields = ["credit__number", "debit__number", "reseller__name"]
    list_select_related = ["reseller", "credit", "debit", "operation"]
    show_full_result_count = False

    amount_display = money("amount", _("amount"))


@admin.register(Reversal)
class ReversalAdmin(ReadOnlyAdmin):
    list_display = ["id", "reseller", "allocation", "actor", "reason", "created_at"]
    search_fields = ["reason", "reseller__name"]
    list_select_related = [
        "reseller",
        "actor",
        "allocation__reseller",
        "allocation__credit",
        "allocation__debit",
    ]


class PaymentInline(admin.StackedInline):
    """A payment operation's request and outcome, read-only on its page."""

    model = Payment
    can_delete = False
    extra = 0
    max_num = 0
    fields = readonly_fields = [
        "method",
        "use_credit",
        "credit_applied_in_currency",
        "amount_to_charge_in_currency",
        "amount_charged_in_currency",
        "amount_left_open_in_currency",
        "transfer_reference",
        "gateway_reference",
        "message",
    ]

    def __init__(self, parent_model, admin_site):
        super().__init__(parent_model, admin_site)
        for field in Payment._meta.fields:
            if isinstance(field, AmountField):
                setattr(self, f"{field.name}_in_currency", _amount_detail(field))

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Operation)
class OperationAdmin(ReadOnlyAdmin):
    list_display = [
        "reference",
        "reseller",
        "kind",
        "status",
        "payment_method",
        "credit_display",
        "charged_display",
        "actor",
        "created_at",
    ]
    list_filter = ["kind", "status", "payment__method", "source"]
    search_fields = [
        "idempotency_key",
        "payment__transfer_reference",
        "reseller__name",
        "id",
    ]
    list_select_related = ["reseller", "actor", "payment"]
    show_full_result_count = False
    inlines = [PaymentInline]

    @admin.display(description=_("payment method"), ordering="payment__method")
    def payment_method(self, operation: Operation) -> str:
        payment = getattr(operation, "payment", None)
        return payment.get_method_display() if payment else ""

    @admin.display(description=_("credit applied"), ordering="payment__credit_applied")
    def credit_display(self, operation: Operation) -> str:
        payment = getattr(operation, "payment", None)
        amount = payment.credit_applied if payment else operation.amount
        return format_money(amount, operation.reseller.currency)

    @admin.display(description=_("charged"), ordering="payment__amount_charged")
    def charged_display(self, operation: Operation) -> str:
        payment = getattr(operation, "payment", None)
        amount = payment.amount_charged if payment else Decimal(0)
        return format_money(amount, operation.reseller.currency)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "reseller",
        "action",
        "actor",
        "source",
        "description",
    ]
    list_filter = ["action", "source", "created_at"]
    search_fields = ["summary", "reason", "reseller__name"]
    list_select_related = ["reseller", "actor"]
    show_full_result_count = False

    @admin.display(description=_("what happened"))
    def description(self, event: AuditEvent) -> str:
        """The event's sentence in the operator's language."""
        return event.description


@admin.register(SandboxCharge)
class SandboxChargeAdmin(ReadOnlyAdmin):
    """What the sandbox gateway charged: the stand-in for a gateway's records."""

    list_display = ["created_at", "reference", "amount", "currency", "succeeded"]
    list_filter = ["succeeded", "currency"]
    search_fields = ["reference", "idempotency_key"]


# --- Cash application ------------------------------------------------------


@admin.register(MarketplaceBankAccount)
class MarketplaceBankAccountAdmin(admin.ModelAdmin):
    """The account a marketplace's resellers pay into (shown on instructions).

    Its own page rather than an inline, so the marketplace form is unchanged.
    """

    list_display = ["marketplace", "beneficiary", "iban", "account_number", "bic"]
    search_fields = ["marketplace__code", "iban", "account_number"]


@admin.register(ResellerBankAccount)
class ResellerBankAccountAdmin(admin.ModelAdmin):
    """IBANs a reseller pays from: a transfer from one of them with the exact
    amount of an open document is applied without a reference."""

    list_display = ["iban", "reseller", "created_at"]
    search_fields = ["iban", "reseller__name"]
    autocomplete_fields = ["reseller"]


@admin.register(BankStatement)
class BankStatementAdmin(ReadOnlyAdmin):
    list_display = [
        "imported_at",
        "marketplace",
        "account",
        "format",
        "bank_statement_id",
        "line_count",
        "new_line_count",
    ]
    list_filter = ["marketplace", "format"]
    search_fields = ["account", "bank_statement_id", "file_name"]


@admin.register(BankLine)
class BankLineAdmin(ReadOnlyAdmin):
    list_display = [
        "booking_date",
        "marketplace",
        "amount",
        "currency",
        "payer_name",
        "state",
        "match_method",
        "reseller",
    ]
    list_filter = ["state", "marketplace", "match_method"]
    search_fields = ["entry_reference", "payer_name", "text", "reseller__name"]
