"""Error pages of both panels: 400, 403 (and a refused form), 404 and 500.

Each page is styled like the panel it was asked from and shows the request
id to quote to support. The 500 page is rendered with no context processors
and no database access: whatever broke the request must not break the page.
"""

from __future__ import annotations

import logging

from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseServerError,
)
from django.shortcuts import render
from django.template import loader
from django.utils.html import escape

from config.request_id import current_request_id

logger = logging.getLogger(__name__)

CLASSIC_PANEL_PREFIX = "/classic/"
FALLBACK_500 = (
    "<!doctype html><title>Server error</title><h1>Server error</h1>"
    "<p>Please try again later. Reference: <code>%s</code></p>"
)


def _render_error(
    request: HttpRequest, template: str, status: int, context: dict | None = None
) -> HttpResponse:
    classic = request.path.startswith(CLASSIC_PANEL_PREFIX)
    return render(
        request,
        template,
        {
            "classic": classic,
            "home_url": CLASSIC_PANEL_PREFIX if classic else "/",
            "request_id": getattr(request, "request_id", None),
            **(context or {}),
        },
        status=status,
    )


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _render_error(request, "400.html", 400)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _render_error(request, "403.html", 403)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _render_error(request, "404.html", 404)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form refused by the CSRF check: usually an old page or no cookies."""
    return _render_error(request, "403_csrf.html", 403)


def server_error(request: HttpRequest) -> HttpResponse:
    """The 500 page, with the request id, from a template with no dependencies."""
    request_id = getattr(request, "request_id", None) or current_request_id() or ""
    try:
        body = loader.get_template("500.html").render({"request_id": request_id})
    except Exception:  # the last resort must answer whatever is broken
        logger.exception("The error page could not be rendered.")
        body = FALLBACK_500 % escape(request_id)
    return HttpResponseServerError(body)
