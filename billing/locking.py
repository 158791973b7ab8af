"""The one place that takes ledger locks.

Every write for a reseller starts by locking that reseller's row inside the
write's transaction, so all writes of one reseller serialize and each sees
the balances the previous one left. On PostgreSQL this is a row lock
(``SELECT … FOR UPDATE``); on SQLite the transaction itself is ``IMMEDIATE``
and so already holds the database's single write lock. On PostgreSQL the
lock goes to the server with the transaction's ``BEGIN`` in one round trip
(:func:`sent_together`).
"""

from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager

from django.db import transaction

from billing import rows
from billing.models import Marketplace, Reseller

# The reseller with its marketplace. Every write sends it, so it is written
# out rather than built by the ORM each time. It reads nothing else: the row
# lock may have to wait for another transaction, and in READ COMMITTED what
# that transaction wrote is visible only to the statements sent after this
# one (a replay check folded into it would miss a concurrent duplicate).
LOCK = (
    f"SELECT {rows.columns(Reseller)}, {rows.columns(Marketplace)} "  # noqa: S608 - names from _meta
    'FROM "billing_reseller" INNER JOIN "billing_marketplace" '
    'ON "billing_reseller"."marketplace_id" = "billing_marketplace"."id" '
    'WHERE "billing_reseller"."id" = %s'
)


# How many resellers' locks :func:`lock_resellers` sends in one round trip.
LOCKS_SENT_TOGETHER = 100


def lock_reseller(reseller_id: int) -> Reseller:
    """Lock and return the reseller, with its marketplace; call inside atomic."""
    connection = transaction.get_connection()
    with connection.cursor() as cursor:
        with sent_together(connection):
            cursor.execute(_statement(connection), [reseller_id])
        return _locked(cursor.fetchall(), reseller_id)


def lock_and_send(
    reseller_id: int, sql: str, params: Sequence[object]
) -> tuple[Reseller, list[tuple]]:
    """Lock the reseller, then run ``sql`` (a read); return both answers.

    The read goes to the server with the lock (:func:`sent_together`) and
    runs once the lock is granted, as a statement of its own: it sees what
    the lock's previous holder committed, and the lock is held one round
    trip less than with the read sent after the lock's answer.
    """
    connection = transaction.get_connection()
    with connection.cursor() as lock, connection.cursor() as cursor:
        with sent_together(connection):
            lock.execute(_statement(connection), [reseller_id])
            cursor.execute(sql, params)
        return _locked(lock.fetchall(), reseller_id), cursor.fetchall()


@contextmanager
def sent_together(connection) -> Iterator[None]:
    """Send the statements executed inside to the server at once, on leaving.

    On PostgreSQL they are pipelined: the transaction's ``BEGIN`` (sent by
    the driver before a transaction's first statement) and the statements go
    out together and their answers come back together, one round trip in
    all; the server still runs each as a statement of its own, in order.
    Results are read after the block. Elsewhere each runs when executed.
    """
    if connection.vendor != "postgresql":
        yield
        return
    with connection.wrap_database_errors, connection.connection.pipeline():
        yield


def lock_resellers(reseller_ids: Iterable[int]) -> list[Reseller]:
    """Lock several resellers in id order and return them in that order.

    Two writes that lock the same resellers in the same order never
    deadlock. The locks go to the server together (:func:`sent_together`),
    a hundred at a time: the server takes them one after the other, and
    the first is not held a round trip longer for each one that follows.
    """
    connection = transaction.get_connection()
    ids = sorted(set(reseller_ids))
    sql = _statement(connection)
    locked = []
    for start in range(0, len(ids), LOCKS_SENT_TOGETHER):
        chunk = ids[start : start + LOCKS_SENT_TOGETHER]
        with ExitStack() as stack:
            cursors = [stack.enter_context(connection.cursor()) for _ in chunk]
            with sent_together(connection):
                for cursor, pk in zip(cursors, chunk, strict=True):
                    cursor.execute(sql, [pk])
            locked += [
                _locked(cursor.fetchall(), pk)
                for cursor, pk in zip(cursors, chunk, strict=True)
            ]
    return locked


def _statement(connection) -> str:
    """Return the lock's SQL on ``connection``, refusing to run outside atomic."""
    if not connection.in_atomic_block:
        raise RuntimeError("lock_reseller() must run inside transaction.atomic()")
    if connection.features.has_select_for_update_of:
        return LOCK + ' FOR UPDATE OF "billing_reseller"'
    return LOCK


def _locked(found: list, reseller_id: int) -> Reseller:
    """Return the reseller (with its marketplace) the lock's rows hold."""
    connection = transaction.get_connection()
    if not found:
        raise Reseller.DoesNotExist(f"no reseller #{reseller_id}")
    (reseller,) = rows.instances(Reseller, found, connection)
    (reseller.marketplace,) = rows.instances(
        Marketplace, found, connection, start=rows.width(Reseller)
    )
    return reseller
