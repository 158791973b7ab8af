"""Errors as RFC 9457 problem details (``application/problem+json``).

Every refusal carries the ledger's stable error ``code``; ``detail`` is written
for a person, in the request's language (``Accept-Language``). A server error
is logged with a request id, which the answer repeats so support can find it.
"""

from __future__ import annotations

import json
import logging
import re
from http import HTTPStatus
from uuid import uuid4

from django.core.serializers.json import DjangoJSONEncoder
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError

from api.schemas import plan_out, support_of
from billing.exceptions import BillingError, CreditNotAllowed, StalePreview

logger = logging.getLogger("api")

PROBLEM_TYPE = "urn:arledger:problem:{code}"
MEDIA_TYPE = "application/problem+json"

# The ledger's refusals that are not plain bad requests (400).
STATUS_BY_CODE = {
    "document_not_found": 404,
    "credit_not_allowed": 403,
    "document_not_payable": 409,
    "document_on_hold": 409,
    "payment_in_progress": 409,
    "stale_preview": 409,
    "idempotency_key_reused": 422,
    "gateway_unavailable": 503,
}
GATEWAY_RETRY_SECONDS = 30
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def problem(
    status: int, code: str, detail: str, headers: dict | None = None, **extra
) -> HttpResponse:
    body = {
        "type": PROBLEM_TYPE.format(code=code),
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": str(detail),
        "code": code,
        **{key: value for key, value in extra.items() if value is not None},
    }
    response = HttpResponse(
        json.dumps(body, cls=DjangoJSONEncoder), status=status, content_type=MEDIA_TYPE
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def unauthorized() -> HttpResponse:
    return problem(
        401,
        "not_authenticated",
        _("Send a valid API key: Authorization: Bearer <key>."),
        headers={"WWW-Authenticate": 'Bearer realm="api"'},
    )


def billing_problem(request: HttpRequest, exc: BillingError) -> HttpResponse:
    status = STATUS_BY_CODE.get(exc.code, 400)
    extra: dict = {}
    headers = {}
    if isinstance(exc, StalePreview):
        extra["plan"] = plan_out(exc.plan)
    if isinstance(exc, CreditNotAllowed) and getattr(request, "reseller", None):
        extra["support"] = support_of(request.reseller)
    if status == 503:
        headers["Retry-After"] = str(GATEWAY_RETRY_SECONDS)
    return problem(status, exc.code, exc.message, headers=headers, **extra)


def validation_problem(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = [
        {
            "location": [str(part) for part in error.get("loc", ())],
            "message": str(error.get("msg", "")),
        }
        for error in exc.errors
    ]
    if any(
        part.lower().replace("-", "_") == "idempotency_key"
        for error in errors
        for part in error["location"]
    ):
        code, detail = (
            "invalid_idempotency_key",
            _(
                "Send an Idempotency-Key header (1 to 64 visible characters) "
                "with every payment."
            ),
        )
    else:
        code, detail = "invalid_request", _("The request is not valid.")
    return problem(400, code, detail, errors=errors)


def http_problem(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc, AuthenticationError):
        return unauthorized()
    if isinstance(exc, Throttled):
        return problem(
            429,
            "rate_limited",
            _("Too many requests with this API key. Retry after the pause given."),
            headers={"Retry-After": str(max(1, int(exc.wait or 1)))},
        )
    return problem(exc.status_code, "http_error", str(exc))


def not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return problem(404, "not_found", _("Not found."))


def server_error(request: HttpRequest, exc: Exception) -> HttpResponse:
    # The id a request-id middleware gave the request, when one runs.
    request_id = getattr(request, "request_id", None)
    if not request_id:
        sent = request.headers.get("X-Request-ID", "")
        request_id = sent if REQUEST_ID.match(sent) else uuid4().hex
    logger.exception("API error %s on %s %s", request_id, request.method, request.path)
    return problem(
        500,
        "server_error",
        _("Something went wrong on our side. Quote the request id to support."),
        headers={"X-Request-ID": request_id},
        request_id=request_id,
    )


def install(api: NinjaAPI) -> None:
    """Answer every error of ``api`` with problem details."""
    api.add_exception_handler(Exception, server_error)
    api.add_exception_handler(Http404, not_found)
    api.add_exception_handler(HttpError, http_problem)
    api.add_exception_handler(ValidationError, validation_problem)
    api.add_exception_handler(BillingError, billing_problem)


def problem_media_types(schema: dict) -> dict:
    """Declare error responses of an OpenAPI ``schema`` as problem+json."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            for code, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if int(code) >= 400 and "application/json" in content:
                    response["content"] = {MEDIA_TYPE: content["application/json"]}
                if int(code) in (429, 503):
                    response["headers"] = {
                        "Retry-After": {
                            "description": "Seconds to wait before retrying.",
                            "schema": {"type": "integer"},
                        }
                    }
    return schema
