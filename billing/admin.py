"""Django admin for operators: reference data editable, the ledger read-only.

Ledger rows change only through ``billing.services``; here they can be
searched, filtered and read, never added, edited or deleted.
"""

from django.contrib import admin

from billing.models import (
    Allocation,
    AuditEvent,
    Document,
    Marketplace,
    Operation,
    Reseller,
    ResellerMembership,
    Reversal,
)


@admin.register(Marketplace)
class MarketplaceAdmin(admin.ModelAdmin):
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
    list_display = ["name", "marketplace", "currency", "payment_model", "created_at"]
    list_filter = ["marketplace", "payment_model", "currency"]
    search_fields = ["name", "id"]
    inlines = [MembershipInline]

    def get_readonly_fields(self, request, obj=None):
        # Documents carry the reseller's marketplace and currency: fixed once set.
        return ["marketplace", "currency"] if obj else []


class ReadOnlyAdmin(admin.ModelAdmin):
    """The ledger is written by services only; admin shows it."""

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
        "total",
        "open_amount",
        "source",
    ]
    list_filter = ["kind", "source", "marketplace", "issue_date"]
    search_fields = ["number", "reseller__name", "description"]
    list_select_related = ["reseller"]
    date_hierarchy = "issue_date"
    show_full_result_count = False


@admin.register(Allocation)
class AllocationAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "reseller",
        "credit",
        "debit",
        "amount",
        "operation",
        "created_at",
    ]
    list_filter = ["operation__kind", "created_at"]
    search_fields = ["credit__number", "debit__number", "reseller__name"]
    list_select_related = ["reseller", "credit", "debit", "operation"]
    show_full_result_count = False


@admin.register(Reversal)
class ReversalAdmin(ReadOnlyAdmin):
    list_display = ["id", "reseller", "allocation", "actor", "reason", "created_at"]
    search_fields = ["reason", "reseller__name"]
    list_select_related = [
        "reseller",
        "actor",
        "allocation__credit",
        "allocation__debit",
    ]


@admin.register(Operation)
class OperationAdmin(ReadOnlyAdmin):
    list_display = [
        "reference",
        "reseller",
        "kind",
        "status",
        "payment_method",
        "credit_applied",
        "amount_charged",
        "actor",
        "created_at",
    ]
    list_filter = ["kind", "status", "payment_method", "source"]
    search_fields = ["idempotency_key", "transfer_reference", "reseller__name", "id"]
    list_select_related = ["reseller", "actor"]
    show_full_result_count = False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "reseller", "action", "actor", "source", "summary"]
    list_filter = ["action", "source", "created_at"]
    search_fields = ["summary", "reason", "reseller__name"]
    list_select_related = ["reseller", "actor"]
    show_full_result_count = False
