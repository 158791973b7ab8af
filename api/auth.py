"""Who is calling: an API key sent as ``Authorization: Bearer <key>``.

A missing, unknown or revoked key is refused with 401, the same answer for
each so a caller learns nothing about keys it does not hold. Each key may make
``API_RATE_LIMIT`` requests per ``API_RATE_WINDOW`` seconds, counted in the
database (:class:`api.models.RequestCount`) so that every server process
counts against the same limit; beyond that the answer is 429 with
``Retry-After``.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db import connection, transaction
from django.http import HttpRequest
from ninja.errors import Throttled
from ninja.security import HttpBearer

from api.keys import key_for_token
from api.models import ApiKey, RequestCount


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
    count = count_request(api_key.pk, slot)
    if count > settings.API_RATE_LIMIT:
        raise Throttled(wait=int((slot + 1) * window - now) + 1)


TABLE = RequestCount._meta.db_table
# One statement: two requests of the same key at once are both counted (a
# read, then a write of the read count plus one, would count them once).
COUNT = (
    f'INSERT INTO "{TABLE}" ("api_key_id", "slot", "count") '  # noqa: S608 - names only
    "VALUES (%s, %s, 1) "
    'ON CONFLICT ("api_key_id", "slot") '
    f'DO UPDATE SET "count" = "{TABLE}"."count" + 1 '
    'RETURNING "count"'
)
FORGET = f'DELETE FROM "{TABLE}" WHERE "api_key_id" = %s AND "slot" < %s'  # noqa: S608


def count_request(api_key_id: int, slot: int) -> int:
    """Count one request of the key in window ``slot``; return the count.

    The first request of a window forgets the key's earlier windows. On
    PostgreSQL the count is committed without waiting for the disk: a count
    lost in a crash lets a key make a few requests more, and every API
    request would otherwise wait for a flush of the database's log.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        cursor.execute(COUNT, [api_key_id, slot])
        (count,) = cursor.fetchone()
        if count == 1:
            cursor.execute(FORGET, [api_key_id, slot])
    return count
