"""A deployment check: the API's rate limit needs a cache the processes share."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Tags, Warning, register

PROCESS_LOCAL = (
    "django.core.cache.backends.locmem.LocMemCache",
    "django.core.cache.backends.dummy.DummyCache",
)


@register(Tags.caches, deploy=True)
def check_rate_limit_cache(app_configs, **kwargs) -> list[Warning]:
    """Warn when each server process would count API requests on its own."""
    backend = settings.CACHES.get("default", {}).get("BACKEND", "")
    if backend not in PROCESS_LOCAL:
        return []
    return [
        Warning(
            "The default cache is local to each process, so every server "
            "process counts API requests on its own and a key may make "
            "API_RATE_LIMIT requests to each of them.",
            hint=(
                "Set CACHE_URL to a cache the processes share: "
                "dbcache://api_cache (then run manage.py createcachetable), "
                "or a Redis or Memcached server with its client library."
            ),
            id="api.W001",
        )
    ]
