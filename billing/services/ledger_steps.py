"""Building blocks shared by the services; always called under the lock."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from django.contrib.auth.models import AbstractBaseUser
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone, translation

from billing import rows
from billing.allocation_policy import PlannedAllocation
from billing.audit import describe
from billing.exceptions import (
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    ReasonRequired,
)
from billing.locking import lock_reseller
from billing.models import (
    Allocation,
    AuditEvent,
    Document,
    Operation,
    Reseller,
    Reversal,
    Source,
)
from billing.payment_plan import auto_apply_plan

# Who acts: a signed-in user (support, a reseller's user) or None for the system.
Actor = AbstractBaseUser
MAX_KEY_LENGTH = 64


def create_document(reseller: Reseller, **fields) -> Document:
    """Create one of the reseller's documents and count it on the account."""
    document = Document(
        reseller=reseller, marketplace_id=reseller.marketplace_id, **fields
    )
    connection = transaction.get_connection()
    rows.insert(document, connection)
    with connection.cursor() as cursor:
        cursor.execute(COUNT_DOCUMENT, [reseller.pk])
    return document


COUNT_DOCUMENT = (
    'UPDATE "billing_reseller" SET "document_count" = "document_count" + 1 '
    'WHERE "billing_reseller"."id" = %s'
)


# Documents of the locked reseller by id, written out like the lock.
DOCUMENTS = (
    f"SELECT {rows.columns(Document)} FROM "  # noqa: S608 - names from _meta
    '"billing_document" WHERE "billing_document"."reseller_id" = %s '
    'AND "billing_document"."id" IN ({ids})'
)


def reseller_documents(reseller: Reseller, ids: Sequence[int]) -> dict[int, Document]:
    """Return the reseller's documents among ``ids``, by id (others are left out)."""
    connection = transaction.get_connection()
    with connection.cursor() as cursor:
        cursor.execute(
            DOCUMENTS.format(ids=", ".join(["%s"] * len(ids))), [reseller.pk, *ids]
        )
        found = rows.instances(Document, cursor.fetchall(), connection)
    return {document.pk: document for document in found}


# Whether a document number is taken in a marketplace (numbers are unique
# per marketplace, across its resellers).
NUMBER_TAKEN = (
    'SELECT 1 FROM "billing_document" WHERE '
    '"billing_document"."marketplace_id" = %s AND "billing_document"."number" = %s '
    "LIMIT 1"
)


def number_taken(reseller: Reseller, number: str) -> bool:
    """Return whether ``number`` is taken in the reseller's marketplace."""
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(NUMBER_TAKEN, [reseller.marketplace_id, number])
        return cursor.fetchone() is not None


def clean_idempotency_key(key: str | None, *, required: bool) -> str | None:
    """Return the request's idempotency key, stripped, or refuse a bad one.

    ``None`` means the caller does not use idempotency (allowed unless
    ``required``); a key that is given must be usable.
    """
    if key is None and not required:
        return None
    key = (key or "").strip()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidIdempotencyKey()
    return key


def request_hash(*parts: object) -> str:
    """Return a digest of a request's parameters, to recognise a true replay."""
    payload = json.dumps([str(part) for part in parts])
    return hashlib.sha256(payload.encode()).hexdigest()


# The operation made under an idempotency key: every payment sends this read,
# so it is written out rather than built by the ORM each time.
REPLAY = (
    f"SELECT {rows.columns(Operation)} FROM "  # noqa: S608 - names from _meta
    '"billing_operation" WHERE "billing_operation"."reseller_id" = %s '
    'AND "billing_operation"."idempotency_key" = %s'
)


def lock_and_replay(
    reseller_id: int, *, key: str | None, kind: str, digest: str
) -> tuple[Reseller, Operation | None]:
    """Lock the reseller; return it and the operation an earlier request made.

    The operation is the one made under the same idempotency ``key``, if any.
    It is read after the lock is held, so a concurrent request with the same
    key that held the lock first is seen. The same key with other parameters
    (or for another action) is refused: it is a mistake, not a replay.
    """
    reseller = lock_reseller(reseller_id)
    if key is None:
        return reseller, None
    connection = transaction.get_connection()
    with connection.cursor() as cursor:
        cursor.execute(REPLAY, [reseller.pk, key])
        found = rows.instances(Operation, cursor.fetchall(), connection)
    operation = found[0] if found else None
    if operation is not None and (
        operation.kind != kind or operation.request_hash != digest
    ):
        raise IdempotencyKeyReused()
    return reseller, operation


def require_reason(reason: str) -> str:
    """Return the stripped reason, or refuse an empty one."""
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired()
    return reason


def user_or_none(actor: Actor | None) -> Actor | None:
    """Return ``actor`` if it is a saved user (anonymous users record as None)."""
    return actor if actor is not None and getattr(actor, "pk", None) else None


def apply_allocations(
    *,
    reseller: Reseller,
    operation: Operation,
    planned: Sequence[PlannedAllocation],
    documents: dict[int, Document],
    actor: Actor | None,
) -> None:
    """Record the planned allocations and lower both open amounts.

    ``documents`` holds every document the plan names, as loaded under the
    lock; their ``open_amount`` is lowered in place. See :func:`allocate`.
    """
    if not planned:
        return
    allocated = allocate(
        reseller=reseller,
        operation=operation,
        planned=planned,
        open_amounts={pk: doc.open_amount for pk, doc in documents.items()},
        actor=actor,
    )
    for pk, amount in allocated.open_amounts.items():
        documents[pk].open_amount = amount


class Allocated(NamedTuple):
    """What :func:`allocate` recorded."""

    # The new allocations' ids, in the plan's order.
    allocation_ids: list[int]
    # The new open amount of each document the plan touched, by id.
    open_amounts: dict[int, Decimal]
    # When the allocations were recorded.
    created_at: datetime


def allocate(
    *,
    reseller: Reseller,
    operation: Operation,
    planned: Sequence[PlannedAllocation],
    open_amounts: Mapping[int, Decimal],
    actor: Actor | None,
) -> Allocated:
    """Record one operation's planned allocations of the reseller's documents.

    ``planned`` holds plain ``(credit_id, debit_id, amount)`` rows and
    ``open_amounts`` each named document's open amount as read under the
    lock. See :func:`allocate_operations`.
    """
    return allocate_operations(
        reseller=reseller,
        planned=[(operation.pk, planned)],
        open_amounts=open_amounts,
        actor=actor,
    )


def allocate_operations(
    *,
    reseller: Reseller,
    planned: Sequence[tuple[int, Sequence[PlannedAllocation]]],
    open_amounts: Mapping[int, Decimal],
    actor: Actor | None,
) -> Allocated:
    """Record planned allocations of the reseller's documents, set-wise.

    ``planned`` pairs each operation's id with its ``(credit_id, debit_id,
    amount)`` rows, in the order they were planned (cash application records
    a whole statement's lines of one reseller at once, one operation each).
    One ``UPDATE`` lowers the open amounts and one ``INSERT`` records the
    allocations (per 5,000 rows), both restricted to the reseller. The
    database's CHECK constraints back up the arithmetic here.
    """
    left: dict[int, Decimal] = {}
    rows: list[tuple[int, int, Decimal, int]] = []
    for operation_id, items in planned:
        for credit_id, debit_id, amount in items:
            credit = left.get(credit_id, open_amounts[credit_id])
            debit = left.get(debit_id, open_amounts[debit_id])
            if amount <= 0 or amount > credit or amount > debit:
                raise AssertionError(
                    f"plan overspends: {(credit_id, debit_id, amount)}"
                )
            left[credit_id] = credit - amount
            left[debit_id] = debit - amount
            rows.append((credit_id, debit_id, amount, operation_id))
    now = timezone.now()
    ids: list[int] = []
    if rows:
        store_open_amounts(reseller, left)
        ids = insert_allocations(
            reseller=reseller, rows=rows, actor=actor, created_at=now
        )
    return Allocated(ids, left, now)


# Rows per statement. The integers of a row (ids, stored amounts) are written
# into the statement as literals: a parameter each would cost more to parse,
# in the driver and on the server, than the rows cost to write.
ROWS_PER_STATEMENT = 5000


def insert_allocations(
    *,
    reseller: Reseller,
    rows: Sequence[tuple[int, int, Decimal, int]],
    actor: Actor | None,
    created_at: datetime,
) -> list[int]:
    """Insert ``(credit_id, debit_id, amount, operation_id)`` rows as
    allocations, one statement per 5,000; return their ids, in order."""
    connection = transaction.get_connection()
    stamp = connection.ops.adapt_datetimefield_value(created_at)
    actor_id = "NULL" if actor is None else _integer(actor.pk)
    ids: list[int] = []
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[start : start + ROWS_PER_STATEMENT]
        values = ", ".join(
            f"({_integer(reseller.pk)}, {_integer(credit_id)}, {_integer(debit_id)}, "
            f"{_stored(amount)}, {_integer(operation_id)}, {actor_id}, %s)"
            for credit_id, debit_id, amount, operation_id in chunk
        )
        columns = (
            '"reseller_id", "credit_id", "debit_id", "amount", "operation_id", '
            '"created_by_id", "created_at"'
        )
        sql = (
            f'INSERT INTO "billing_allocation" ({columns}) '  # noqa: S608 - integers only
            f'VALUES {values} RETURNING "id"'
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [stamp] * len(chunk))
            ids += [row[0] for row in cursor.fetchall()]
    return ids


def store_open_amounts(reseller: Reseller, open_amounts: Mapping[int, Decimal]) -> None:
    """Store new open amounts by document id, restricted to the reseller."""
    store_amounts(reseller, Document, "open_amount", open_amounts)


def store_amounts(
    reseller: Reseller,
    model: type[models.Model],
    field_name: str,
    amounts: Mapping[int, Decimal],
) -> None:
    """Store new values of one amount column of the reseller's rows, by key.

    One ``UPDATE … FROM (VALUES …)`` joined on the key (per 5,000 rows):
    cheaper to build and to run than ``bulk_update``'s ``CASE`` per row, and
    the reseller's filter keeps it on the reseller's shard.
    """
    field = model._meta.get_field(field_name)
    table, key = model._meta.db_table, model._meta.pk.column
    items = list(amounts.items())
    connection = transaction.get_connection()
    for start in range(0, len(items), ROWS_PER_STATEMENT):
        chunk = items[start : start + ROWS_PER_STATEMENT]
        values = ", ".join(
            f"({_integer(pk)}, {_integer(field.get_prep_value(amount))})"
            for pk, amount in chunk
        )
        # VALUES names its columns column1, column2 on both databases.
        sql = (
            f'UPDATE "{table}" SET "{field.column}" = new.column2 '  # noqa: S608 - names from _meta, integers only
            f"FROM (VALUES {values}) AS new "
            f'WHERE "{table}"."{key}" = new.column1 '
            f'AND "{table}"."reseller_id" = %s'
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [reseller.pk])
            if cursor.rowcount != len(chunk):
                raise AssertionError(f"an amount names another reseller's {table} row")


_integer = rows.integer


_AMOUNT = Document._meta.get_field("open_amount")


def _stored(amount: Decimal) -> str:
    """Return ``amount`` as its column stores it (see :class:`AmountField`)."""
    return _integer(_AMOUNT.get_prep_value(amount))


def reverse_allocations(
    *,
    reseller: Reseller,
    operation: Operation,
    allocations: Sequence[Allocation],
    actor: Actor | None,
    reason: str,
) -> list[Reversal]:
    """Unlink ``allocations`` (loaded with their documents under the lock)."""
    touched: dict[int, Document] = {}
    for allocation in allocations:
        credit = touched.setdefault(allocation.credit_id, allocation.credit)
        debit = touched.setdefault(allocation.debit_id, allocation.debit)
        credit.open_amount += allocation.amount
        debit.open_amount += allocation.amount
    store_open_amounts(reseller, {pk: doc.open_amount for pk, doc in touched.items()})
    return Reversal.objects.bulk_create(
        Reversal(
            reseller=reseller,
            allocation=allocation,
            operation=operation,
            actor=actor,
            reason=reason,
        )
        for allocation in allocations
    )


def active_allocations(**filters) -> list[Allocation]:
    """Return allocations not yet unlinked, with their documents."""
    return list(
        Allocation.objects.filter(Q(reversal__isnull=True), **filters)
        .select_related("credit", "debit")
        .order_by("id")
    )


def auto_apply(
    *,
    reseller: Reseller,
    actor: Actor | None,
    source: str,
    documents: Iterable[Document] = (),
) -> Operation | None:
    """Apply the reseller's open credit to its open debits, by the policy.

    Used for prepaid accounts each time a document is posted. Returns the
    automatic-application operation, or None when there was nothing to apply.
    ``documents`` the caller holds get their new open amounts.
    """
    credits, debits, planned = auto_apply_plan(reseller)
    if not planned:
        return None
    applied = sum((item.amount for item in planned), Decimal(0))
    operation = Operation(
        reseller=reseller,
        kind=Operation.Kind.AUTO_APPLY,
        actor=actor,
        source=source,
        amount=applied,
    )
    rows.insert(operation, transaction.get_connection())
    allocated = allocate(
        reseller=reseller,
        operation=operation,
        planned=planned,
        open_amounts={doc.pk: doc.open_amount for doc in (*credits, *debits)},
        actor=actor,
    )
    for document in documents:
        document.open_amount = allocated.open_amounts.get(
            document.pk, document.open_amount
        )
    record_audit_event(
        reseller=reseller,
        action=AuditEvent.Action.CREDIT_APPLIED,
        actor=actor,
        source=source,
        operation=operation,
        amount=applied,
        facts={
            "amount": str(applied),
            "count": len({p.debit_id for p in planned}),
        },
    )
    return operation


def record_audit_event(
    *,
    reseller: Reseller,
    action: str,
    actor: Actor | None,
    source: str,
    facts: dict[str, object] | None = None,
    summary: str = "",
    reason: str = "",
    operation: Operation | None = None,
    document: Document | None = None,
    amount: Decimal | None = None,
) -> AuditEvent:
    """Write one audit-trail entry, in the caller's transaction.

    ``facts`` (amounts as strings, document numbers, counts, codes) are what
    the entry's sentence is rendered from, in each reader's language; the
    reseller's currency is added to them. An action without a sentence in
    :mod:`billing.audit` gives its English ``summary`` instead.
    """
    facts = {**facts, "currency": reseller.currency} if facts else {}
    event = AuditEvent(
        reseller=reseller,
        action=action,
        actor=actor,
        source=source or Source.SYSTEM,
        reason=reason,
        operation=operation,
        document=document,
        amount=amount,
        facts=facts,
    )
    event.summary = summary
    if facts:
        with translation.override("en"):
            event.summary = describe(event)
    event.summary = event.summary[:500]
    rows.insert(event, transaction.get_connection())
    return event
