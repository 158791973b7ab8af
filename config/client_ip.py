"""The address a request came from, for sign-in throttling (django-axes).

Behind the documented TLS proxy (``SECURE_PROXY_SSL_HEADER`` set) every
connection comes from the proxy, so the client is the address the proxy
appended to ``X-Forwarded-For`` -- the last entry; entries before it were
sent by the client and prove nothing. Without the proxy setting the header is
ignored, so a forged one cannot dodge or aim a lock-out.
"""

from __future__ import annotations

from ipaddress import ip_address

from django.conf import settings
from django.http import HttpRequest


def client_ip_address(request: HttpRequest) -> str | None:
    """Return the client's IP address as the trusted network saw it."""
    remote = request.META.get("REMOTE_ADDR")
    if not getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        return remote
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    last = forwarded.rsplit(",", 1)[-1].strip()
    try:
        return str(ip_address(last))
    except ValueError:
        return remote
