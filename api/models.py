"""What the reseller API keeps of its own: API keys, payment requests and
the requests each key made lately.

None of these tables is part of the ledger. A key only says which user of
which reseller is calling; a payment request remembers the body that first
used an ``Idempotency-Key``, so the same key with another body is refused; a
request count is what the rate limit reads.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from billing.models import Operation, Reseller


class ApiKey(models.Model):
    """A reseller user's key to the API, stored as a SHA-256 digest.

    The key itself is shown once, when it is created; ``prefix`` (part of the
    key, not secret) finds the row, and the digest of the whole key proves it.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    reseller = models.ForeignKey(
        Reseller, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("API key")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class PaymentRequest(models.Model):
    """The first body sent with a reseller's ``Idempotency-Key``."""

    reseller = models.ForeignKey(Reseller, on_delete=models.CASCADE, related_name="+")
    idempotency_key = models.CharField(max_length=64)
    body_digest = models.CharField(max_length=64)
    operation = models.ForeignKey(Operation, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["reseller", "idempotency_key"],
                name="api_payment_request_key_unique_per_reseller",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.idempotency_key} → {self.operation_id}"


class RequestCount(models.Model):
    """How many requests a key made in one window of the rate limit.

    Counted by one atomic statement per request (``api.auth``), so every
    server process sees the same count and concurrent requests are each
    counted. A key keeps the row of its current window only.
    """

    api_key = models.ForeignKey(
        ApiKey,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,  # UNIQUE (api_key, slot) below serves it
    )
    # Which window: seconds since the epoch divided by API_RATE_WINDOW.
    slot = models.BigIntegerField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["api_key", "slot"], name="api_request_count_per_window"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.api_key_id}@{self.slot}: {self.count}"
