"""Who is calling: an API key sent as ``Authorization: Bearer <key>``.

A missing, unknown or revoked key is refused with 401, the same answer for
each so a caller learns nothing about keys it does not hold. Each key may make
``API_RATE_LIMIT`` requests per ``API_RATE_WINDOW`` seconds, counted in the
cache; beyond that the answer is 429 with ``Retry-After``.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from ninja.errors import Throttled
from ninja.security import HttpBearer

from api.keys import key_for_token
from api.models import ApiKey


class ApiKeyAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        api_key = key_for_token(token.strip())
        if api_key is None:
            return None
        _count_request(api_key)
        request.reseller = api_key.reseller
        return api_key


def _count_request(api_key: ApiKey) -> None:
    """Count the request in the key's current window; refuse one too many."""
    window = max(1, settings.API_RATE_WINDOW)
    now = time.time()
    slot = int(now // window)
    cache_key = f"api-rate:{api_key.pk}:{slot}"
    cache.add(cache_key, 0, timeout=window + 1)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # the window expired between add and incr
        cache.add(cache_key, 1, timeout=window + 1)
        count = 1
    if count > settings.API_RATE_LIMIT:
        raise Throttled(wait=int((slot + 1) * window - now) + 1)
