"""Opaque cursors: a signed position in a list, so nobody crafts one."""

from __future__ import annotations

from datetime import date, datetime

from django.core import signing
from django.utils.translation import gettext_lazy as _

from billing.exceptions import BillingError

SALT = "api.cursor"


class InvalidCursor(BillingError):
    code = "invalid_cursor"
    message = _("The cursor is not valid: pass the next_cursor of a previous page.")


def encode(kind: str, *values: object) -> str:
    return signing.dumps(
        [kind, *[v.isoformat() if isinstance(v, date) else v for v in values]],
        salt=SALT,
    )


def decode_document(cursor: str) -> tuple[date, str, int]:
    kind, issued, number, pk = _load(cursor, "documents", 4)
    try:
        return date.fromisoformat(issued), str(number), int(pk)
    except (TypeError, ValueError) as exc:
        raise InvalidCursor() from exc


def decode_payment(cursor: str) -> tuple[datetime, int]:
    kind, created, pk = _load(cursor, "payments", 3)
    try:
        return datetime.fromisoformat(created), int(pk)
    except (TypeError, ValueError) as exc:
        raise InvalidCursor() from exc


def _load(cursor: str, kind: str, length: int) -> list:
    try:
        values = signing.loads(cursor, salt=SALT)
    except signing.BadSignature as exc:
        raise InvalidCursor() from exc
    if not isinstance(values, list) or len(values) != length or values[0] != kind:
        raise InvalidCursor()
    return values
