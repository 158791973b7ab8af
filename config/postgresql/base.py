"""PostgreSQL as Django runs it: a health check that waits on nothing, and
the ledger's writes converted once.

With persistent connections and ``CONN_HEALTH_CHECKS``, Django checks a
connection before a request first uses it by sending ``SELECT 1``: a round
trip, and a statement for the server, on every request. A server that closes
a connection (a restart, an idle timeout, ``pg_terminate_backend``) first
sends its reason and then closes the socket, so a connection that has been
told nothing since its last result is one the server still holds. That is
checked on the socket, without a round trip; only a connection the server
has written to, or one already closed, gets Django's ``SELECT 1`` (and is
replaced if that fails).
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base
from psycopg import _queries

# psycopg turns a statement's ``%s`` placeholders into ``$1`` once and keeps
# the result, but only for statements of at most 50 parameters (longer ones
# are usually an ORM's one-off ``VALUES`` lists). The ledger's one-statement
# writes repeat on every payment, link and posting with 36 to 62 parameters
# (a posting's write has 62): without this, each was parsed again every time.
# The cache holds at most 128 statements, so the limit bounds nothing else.
LEDGER_STATEMENT_PARAMS = 100
if getattr(_queries, "MAX_CACHED_STATEMENT_PARAMS", LEDGER_STATEMENT_PARAMS) < (
    LEDGER_STATEMENT_PARAMS
):
    _queries.MAX_CACHED_STATEMENT_PARAMS = LEDGER_STATEMENT_PARAMS


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_health_check_failed(self) -> None:
        if (
            self.connection is not None
            and self.health_check_enabled
            and not self.health_check_done
            and not self.pool
            and self._told_nothing()
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()

    def _told_nothing(self) -> bool:
        """Return whether the open connection's socket has nothing to read."""
        if self.connection.closed or not hasattr(select, "poll"):
            return False  # Django's check decides (select.poll is not on Windows)
        poll = select.poll()
        poll.register(self.connection.fileno(), select.POLLIN)
        return not poll.poll(0)
