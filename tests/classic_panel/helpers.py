"""Helpers shared by the classic-panel tests."""

from django.urls import URLPattern, reverse

from billing.models import Allocation, AuditEvent, Document, Operation, Reversal
from classic_panel import urls as classic_urls

PUBLIC = {"login", "logout"}
ACTIONS = {
    "link",
    "link_confirm",
    "unlink",
    "revert",
    "credit_memo",
    "credit_memo_confirm",
}


def ledger_state() -> tuple:
    """Return everything a refused request must leave unchanged."""
    return (
        sorted(Document.objects.values_list("pk", "open_amount")),
        Allocation.objects.count(),
        Reversal.objects.count(),
        Operation.objects.count(),
        AuditEvent.objects.count(),
    )


def classic_urls_for(ids: dict[str, int], *, names=None) -> list[tuple[str, str]]:
    """Return ``(name, url)`` for every classic pattern, ids filled from ``ids``."""
    found = []
    for pattern in classic_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        if names is not None and pattern.name not in names:
            continue
        kwargs = {key: ids[key] for key in pattern.pattern.converters}
        found.append((pattern.name, reverse(f"classic:{pattern.name}", kwargs=kwargs)))
    return found
