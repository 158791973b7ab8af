"""Django's database sessions, read by one written-out statement.

Every signed-in request reads its session first. Building that read through
the ORM cost several times what running it does; this store sends the same
statement, written out once: the session's data, if its key exists and it
has not expired. Writing, expiring and flushing sessions are Django's own.

A key is only ever one Django made (its alphabet, at most the column's 40
characters): a cookie holding anything else starts an empty session without
reading the database, so a junk cookie (a NUL byte, which PostgreSQL refuses
in a parameter) cannot turn a request into a server error.
"""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.backends import db
from django.contrib.sessions.backends.base import VALID_KEY_CHARS
from django.db import connections, router
from django.utils import timezone

READ = (
    'SELECT "session_data" FROM "django_session" '
    'WHERE "session_key" = %s AND "expire_date" > %s'
)


KEY_LENGTH = 40  # django_session.session_key


class SessionStore(db.SessionStore):
    def _validate_session_key(self, key: object) -> bool:
        return (
            isinstance(key, str)
            and 8 <= len(key) <= KEY_LENGTH
            and all(char in VALID_KEY_CHARS for char in key)
        )

    def load(self) -> dict[str, Any]:
        """Return the session's data, or start an empty one under a new key."""
        connection = connections[router.db_for_read(self.model)]
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        with connection.cursor() as cursor:
            cursor.execute(READ, [self.session_key, now])
            row = cursor.fetchone()
        if row is None:
            # As Django's store does: a missing or expired key is not reused.
            self._session_key = None
            return {}
        return self.decode(row[0])
