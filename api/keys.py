"""API keys: issue one (shown once), revoke it, and find the key a caller sent.

A key reads ``arl_<prefix>_<secret>``: the prefix (12 characters) finds the
row, the secret (at least 32 URL-safe characters, 256 bits when generated)
makes it unguessable, and only the SHA-256 digest of the whole key is stored.
A fast digest is right here because the secret is random, not a password.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.utils import timezone

from api.models import ApiKey
from billing.models import Reseller

KEY_PATTERN = re.compile(r"^arl_([a-z0-9]{12})_([A-Za-z0-9_-]{32,86})$")
# Writing "last used" on every call would turn each read into a write.
LAST_USED_PRECISION = timedelta(minutes=1)


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _new_prefix() -> str:
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(12))


def issue_api_key(
    *, user: AbstractBaseUser, reseller: Reseller, name: str, key: str | None = None
) -> tuple[ApiKey, str]:
    """Create a key for ``user`` of ``reseller``; return it and its secret text.

    ``key`` is for fixed, documented keys such as the demo's; it must have
    the shape of a generated key.
    """
    if key is None:
        key = f"arl_{_new_prefix()}_{secrets.token_urlsafe(32)}"
    match = KEY_PATTERN.match(key)
    if match is None:
        raise ValueError("an API key reads arl_<12 characters>_<secret>")
    api_key = ApiKey.objects.create(
        user=user,
        reseller=reseller,
        name=name.strip(),
        prefix=match.group(1),
        digest=digest(key),
    )
    return api_key, key


def revoke_api_key(*, api_key: ApiKey) -> None:
    """Revoke the key for good; revoking twice keeps the first time."""
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])


def keys_of_user(user: AbstractBaseUser) -> QuerySet[ApiKey]:
    """Return the user's keys, newest first, revoked ones included."""
    return ApiKey.objects.filter(user=user)


def key_for_token(token: str) -> ApiKey | None:
    """Return the active key ``token`` proves, with its reseller, or None.

    A key stops working when it is revoked, when its user is deactivated, and
    when its user no longer belongs to the key's reseller.
    """
    match = KEY_PATTERN.match(token or "")
    if match is None:
        return None
    api_key = (
        ApiKey.objects.select_related("reseller__marketplace", "user__membership")
        .filter(prefix=match.group(1), revoked_at__isnull=True)
        .first()
    )
    if api_key is None or not hmac.compare_digest(api_key.digest, digest(token)):
        return None
    user = api_key.user
    membership = getattr(user, "membership", None)
    if not user.is_active or membership is None:
        return None
    if membership.reseller_id != api_key.reseller_id:
        return None
    _touch(api_key)
    return api_key


def _touch(api_key: ApiKey) -> None:
    now = timezone.now()
    last = api_key.last_used_at
    if last is None or now - last >= LAST_USED_PRECISION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
