"""Error reports to Sentry, when ``SENTRY_DSN`` is set (off otherwise).

Reports carry no personal data, no request bodies and no local variables
(a card number may sit in one), are scrubbed of card numbers and secrets, and
are tagged with the request id shown to the user.
"""

from __future__ import annotations

from config.redaction import redact_data
from config.request_id import current_request_id


def before_send(event: dict, hint: dict) -> dict:
    """Tag the event with the request id; redact secrets and card numbers."""
    event = redact_data(event)
    request_id = current_request_id()
    if request_id:
        event.setdefault("tags", {})["request_id"] = request_id
    return event


def init_sentry(dsn: str, *, environment: str | None = None) -> None:
    """Start reporting errors to the Sentry project of ``dsn``."""
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        integrations=[DjangoIntegration()],
        send_default_pii=False,
        include_local_variables=False,
        max_request_body_size="never",
        before_send=before_send,
    )
