"""Django's database sessions, read by one written-out statement.

Every signed-in request reads its session first. Building that read through
the ORM cost several times what running it does; this store sends the same
statement, written out once: the session's data, if its key exists and it
has not expired. Writing, expiring and flushing sessions are Django's own.
"""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone

READ = (
    'SELECT "session_data" FROM "django_session" '
    'WHERE "session_key" = %s AND "expire_date" > %s'
)


class SessionStore(db.SessionStore):
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
