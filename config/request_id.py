"""A request id for every request: in the logs, the response and the 500 page.

The id ties what a person sees ("quote this reference to support") to the log
lines of their request. A well-formed ``X-Request-ID`` from the proxy in front
is kept, so the proxy's logs and ours share one id; anything else is replaced
by a fresh random id.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextvars import ContextVar
from uuid import uuid4

from django.http import HttpRequest, HttpResponse

from config.redaction import PAN

HEADER = "X-Request-ID"
META_KEY = "HTTP_X_REQUEST_ID"
WELL_FORMED = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{7,63}")

_current: ContextVar[str | None] = ContextVar("request_id", default=None)


def current_request_id() -> str | None:
    """Return the id of the request being served, None outside a request."""
    return _current.get()


def request_id_for(request: HttpRequest) -> str:
    """Return the proxy's id for ``request`` when well-formed, else a new one.

    An id that looks like a card number is refused too: the logs would hide it.
    """
    incoming = request.META.get(META_KEY, "")
    if WELL_FORMED.fullmatch(incoming) and not PAN.search(incoming):
        return incoming
    return uuid4().hex


class RequestIdMiddleware:
    """Give each request its id; send it back in the ``X-Request-ID`` header.

    First in ``MIDDLEWARE``, so every response carries the id, and every log
    line written while the request is served (a 500's traceback included)
    has it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.request_id = request_id_for(request)
        token = _current.set(request.request_id)
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        response[HEADER] = request.request_id
        return response
