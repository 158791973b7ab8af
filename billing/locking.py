"""The one place that takes ledger locks.

Every write for a reseller starts by locking that reseller's row inside the
write's transaction, so all writes of one reseller serialize and each sees
the balances the previous one left. On PostgreSQL this is a row lock
(``SELECT … FOR UPDATE``); on SQLite the transaction itself is ``IMMEDIATE``
and so already holds the database's single write lock.
"""

from django.db import transaction

from billing.models import Reseller


def lock_reseller(reseller_id: int) -> Reseller:
    """Lock and return the reseller, with its marketplace; call inside atomic."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("lock_reseller() must run inside transaction.atomic()")
    return (
        Reseller.objects.select_related("marketplace")
        .select_for_update(of=("self",))
        .get(pk=reseller_id)
    )
