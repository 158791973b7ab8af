"""What the reseller API keeps of its own: API keys and the requests each
key made lately.

Neither table is part of the ledger. A key only says which user of which
reseller is calling; a request count is what the rate limit reads. The body
that first used an ``Idempotency-Key`` is the ledger's to remember: its
digest is recorded with the payment it made (``pay_documents``'s
``request_digest``).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from billing.models import Reseller


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
