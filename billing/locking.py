"""The one place that takes ledger locks.

Every write for a reseller starts by locking that reseller's row inside the
write's transaction, so all writes of one reseller serialize and each sees
the balances the previous one left. On PostgreSQL this is a row lock
(``SELECT … FOR UPDATE``); on SQLite the transaction itself is ``IMMEDIATE``
and so already holds the database's single write lock.
"""

from django.db import transaction
from django.db.models import OuterRef, Subquery

from billing.models import Operation, Reseller


def lock_reseller(reseller_id: int, *, idempotency_key: str | None = None) -> Reseller:
    """Lock and return the reseller, with its marketplace; call inside atomic.

    With ``idempotency_key``, the same statement looks up the reseller's
    operation made under that key: its id is ``replay_id`` on the returned
    reseller (None when there is none), so a request's replay check costs no
    round trip of its own.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("lock_reseller() must run inside transaction.atomic()")
    resellers = Reseller.objects.select_related("marketplace").select_for_update(
        of=("self",)
    )
    if idempotency_key is not None:
        replay = Operation.objects.filter(
            reseller_id=OuterRef("pk"), idempotency_key=idempotency_key
        ).order_by()
        resellers = resellers.annotate(replay_id=Subquery(replay.values("pk")))
    return resellers.get(pk=reseller_id)
