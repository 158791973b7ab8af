"""Structured logs: one JSON object a line, with the request id, no secrets.

``RequestIdFilter`` stamps each record with the id of the request being
served; ``RedactSecrets`` takes card numbers and secret values out of the
message, the traceback and the extra fields; ``JsonFormatter`` writes the
record as one line of JSON. ``settings.LOGGING`` puts all three on the one
handler every logger writes through.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from config.redaction import REDACTED, is_sensitive_key, redact, redact_sql
from config.request_id import current_request_id

# Attributes every LogRecord has; anything else on a record came from
# ``extra=`` and is written as a field of its own.
STANDARD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__
) | {"message", "asctime", "request_id"}
SQL_LOGGERS = "django.db.backends"


class RequestIdFilter(logging.Filter):
    """Add ``request_id`` to every record (None outside a request).

    Django logs a 4xx or 5xx response after the middleware has returned it,
    with the request attached: its id is taken from there.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            request = getattr(record, "request", None)
            record.request_id = getattr(request, "request_id", None) or (
                current_request_id()
            )
        return True


class RedactSecrets(logging.Filter):
    """Replace card numbers and secret values in a record before it is written.

    The record's message is formatted here and redacted once, so every
    handler after this filter sees only the redacted text. SQL statements
    (``django.db.backends`` at DEBUG) lose their string literals and
    parameters: they hold session keys and personal data.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            self._redact(record)
        except Exception:  # a log call must never break the request
            record.msg, record.args = "[unloggable message]", None
            record.exc_info = record.exc_text = record.stack_info = None
        return True

    def _redact(self, record: logging.LogRecord) -> None:
        is_sql = record.name.startswith(SQL_LOGGERS)
        if is_sql and isinstance(record.args, tuple) and len(record.args) >= 3:
            duration, sql, _params, *rest = record.args
            record.args = (duration, redact_sql(str(sql)), REDACTED, *rest)
        message = record.getMessage()
        record.msg = redact_sql(message) if is_sql else redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name, value in list(record.__dict__.items()):
            if name in STANDARD_ATTRIBUTES:
                continue
            if is_sensitive_key(name) or (is_sql and name == "params"):
                setattr(record, name, REDACTED)
            elif isinstance(value, str):
                setattr(record, name, redact_sql(value) if is_sql else redact(value))


class JsonFormatter(logging.Formatter):
    """Write a record as one line of JSON.

    Fields: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
    ``request_id``, the request's ``method`` and ``path`` (never its query
    string, headers or body), ``exception`` (the traceback) and any scalar
    ``extra=`` fields.
    """

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for name, value in record.__dict__.items():
            if name in STANDARD_ATTRIBUTES:
                continue
            if name == "request":
                entry["method"] = getattr(value, "method", None)
                entry["path"] = redact(str(getattr(value, "path", "")))
            elif isinstance(value, float):
                entry.setdefault(name, round(value, 6))  # durations, in seconds
            elif value is None or isinstance(value, str | int | bool):
                entry.setdefault(name, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(self.formatException(record.exc_info))
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, default=str, ensure_ascii=False)
