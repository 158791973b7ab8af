"""Building blocks shared by the services; always called under the lock."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from django.contrib.auth.models import AbstractBaseUser
from django.db import models, transaction
from django.utils import timezone, translation

from billing import rows
from billing.allocation_policy import PlannedAllocation
from billing.audit import describe
from billing.exceptions import (
    IdempotencyKeyReused,
    InvalidIdempotencyKey,
    ReasonRequired,
)
from billing.locking import lock_and_send, lock_reseller
from billing.models import (
    Allocation,
    AuditEvent,
    Document,
    Operation,
    Reseller,
    Reversal,
    Source,
    completed_now,
    same_reseller,
)
from billing.payment_plan import auto_apply_plan
from billing.selectors import without_reversal

# Who acts: a signed-in user (support, a reseller's user) or None for the system.
Actor = AbstractBaseUser
MAX_KEY_LENGTH = 64


def create_document(
    reseller: Reseller, *, writes: Writes | None = None, **fields
) -> Document:
    """Create one of the reseller's documents and count it on the account.

    With ``writes`` (and an id reserved in ``fields``), both are added to
    them; without, they are written at once.
    """
    document = Document(
        reseller=reseller, marketplace_id=reseller.marketplace_id, **fields
    )
    if writes is not None:
        writes.insert(document)
        writes.add(COUNT_DOCUMENT, [reseller.pk], 1)
        return document
    connection = transaction.get_connection()
    rows.insert(document, connection)
    with connection.cursor() as cursor:
        cursor.execute(COUNT_DOCUMENT, [reseller.pk])
    return document


COUNT_DOCUMENT = (
    'UPDATE "billing_reseller" SET "document_count" = "document_count" + 1 '
    'WHERE "billing_reseller"."id" = %s'
)


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
    if key is None:
        return lock_reseller(reseller_id), None
    reseller, read = lock_and_read(
        Reseller(pk=reseller_id), new=[], key=key, kind=kind, digest=digest
    )
    return reseller, read.replay


def _replayed(
    operation: Operation | None, kind: str, digest: str, older: str | None = None
) -> Operation | None:
    """Return the earlier request's operation, refusing a key reused otherwise.

    ``older`` is the request's digest without the caller's own part
    (:func:`billing.services.pay_documents`'s ``request_digest``): what an
    operation recorded before that part was counted carries.
    """
    accepted = (digest,) if older is None else (digest, older)
    if operation is not None and (
        operation.kind != kind or operation.request_hash not in accepted
    ):
        raise IdempotencyKeyReused()
    return operation


class UnderLock(NamedTuple):
    """What :func:`read_under_lock` read, in one round trip."""

    # The operation an earlier request made under the idempotency key.
    replay: Operation | None
    # Whether the document number is taken in the reseller's marketplace.
    number_taken: bool
    # The plan's documents: the reseller's open credits, and the others read.
    credits: list[Document]
    documents: list[Document]
    # Ids reserved for the rows the operation inserts, one per model asked.
    ids: list[int]


def read_under_lock(
    reseller: Reseller,
    *,
    new: Sequence[type[models.Model]],
    key: str | None = None,
    kind: str = "",
    digest: str = "",
    older_digest: str | None = None,
    number: str | None = None,
    plan: tuple[str, Sequence[object]] | None = None,
) -> UnderLock:
    """Read what an operation needs once the reseller is locked, in one statement.

    The operation made under ``key`` (refused when the key was used for
    another request: one whose digest is neither ``digest`` nor
    ``older_digest``), whether ``number`` is taken, the plan's documents
    (``plan``: the SQL and parameters of :func:`billing.payment_plan.plan_read`)
    and an id for each row of ``new`` the operation will insert (reserved
    from the tables' sequences, so that its writes need nothing from each
    other: see :class:`Writes`). Sent after the lock, so a concurrent request
    with the same key that held the lock first is seen.
    """
    read = _Read(reseller, new, key, kind, digest, older_digest, number, plan)
    return read.run(transaction.get_connection())


def lock_and_read(
    reseller: Reseller,
    *,
    new: Sequence[type[models.Model]],
    key: str | None = None,
    kind: str = "",
    digest: str = "",
    older_digest: str | None = None,
    number: str | None = None,
    plan: tuple[str, Sequence[object]] | None = None,
) -> tuple[Reseller, UnderLock]:
    """Lock the reseller, then read as :func:`read_under_lock` does.

    Returns the locked reseller and what was read. The read goes to the
    server with the lock (:func:`billing.locking.lock_and_send`).

    The read is built before the lock, from the caller's copy of the
    reseller: its id and, to check ``number``, its marketplace. Should the
    locked reseller be in another marketplace, the number is read again.
    """
    read = _Read(reseller, new, key, kind, digest, older_digest, number, plan)
    connection = transaction.get_connection()
    locked, found = lock_and_send(reseller.pk, *read.statement(connection))
    if number is not None and locked.marketplace_id != reseller.marketplace_id:
        return locked, replace(read, reseller=locked).run(connection)
    return locked, read.result(found, connection)


@dataclass(frozen=True)
class _Read:
    """The read of :func:`read_under_lock`: its statement, and its rows read."""

    reseller: Reseller
    new: Sequence[type[models.Model]]
    key: str | None
    kind: str
    digest: str
    older_digest: str | None
    number: str | None
    plan: tuple[str, Sequence[object]] | None

    def run(self, connection) -> UnderLock:
        sql, params = self.statement(connection)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return self.result(cursor.fetchall(), connection)

    def statement(self, connection) -> tuple[str, list[object]]:
        new = self.new
        reserved = [
            f'{_reserved_id(connection, model, new[:n].count(model) + 1)} AS "id{n}"'
            for n, model in enumerate(new)
        ]
        parts = [f'"new" AS (SELECT {", ".join(reserved) or "0"})']
        columns, joins, params = ['"new".*'], [], []
        if self.key is not None:
            parts.append(f'"replay" AS ({REPLAY})')
            columns.append('"replay".*')
            joins.append('LEFT JOIN "replay" ON TRUE')
            params += [self.reseller.pk, self.key]
        if self.number is not None:
            parts.append(f'"taken" AS ({NUMBER_TAKEN})')
            columns.append('EXISTS (SELECT 1 FROM "taken")')
            params += [self.reseller.marketplace_id, self.number]
        if self.plan is not None:
            parts.append(f'"plan" AS ({self.plan[0]})')
            columns.append('"plan".*')
            joins.append('LEFT JOIN "plan" ON TRUE')
            params += self.plan[1]
        sql = (
            f"WITH {', '.join(parts)} "  # noqa: S608 - names from _meta, no values
            f'SELECT {", ".join(columns)} FROM "new" {" ".join(joins)}'
        )
        return sql, params

    def result(self, found, connection) -> UnderLock:
        first, at = found[0], max(len(self.new), 1)
        replay, taken, credits, documents = None, False, [], []
        if self.key is not None:
            if first[at] is not None:
                (replay,) = rows.instances(Operation, [first], connection, start=at)
            replay = _replayed(replay, self.kind, self.digest, self.older_digest)
            at += rows.width(Operation)
        if self.number is not None:
            taken, at = bool(first[at]), at + 1
        if self.plan is not None:
            marker = at + rows.width(Document)
            read = [row for row in found if row[marker] is not None]
            for document, row in zip(
                rows.instances(Document, read, connection, start=at), read, strict=True
            ):
                (credits if row[marker] else documents).append(document)
        ids = list(first[: len(self.new)])
        return UnderLock(replay, taken, credits, documents, ids)


def id_sequence(model: type[models.Model]) -> str:
    """Return the name of the sequence of ``model``'s id column on PostgreSQL.

    PostgreSQL names it ``<table>_<column>_seq`` (for Django's identity
    columns as for serial ones); a table renamed later keeps its sequence's
    old name, which ``tests/billing/test_writes.py`` would catch.
    """
    return f'"{model._meta.db_table}_{model._meta.pk.column}_seq"'


def _reserved_id(connection, model: type[models.Model], nth: int) -> str:
    """Return SQL giving a new id of ``model``'s table (the ``nth`` asked).

    PostgreSQL draws it from the id column's sequence, named as PostgreSQL
    names it (:func:`id_sequence`): a name resolved once, when the statement
    is prepared, where ``pg_get_serial_sequence`` looked it up in the catalog
    on every reservation. SQLite has none: its transaction holds the
    database's write lock, and the ids after the table's ``AUTOINCREMENT``
    counter are free until this transaction inserts them.
    """
    table = model._meta.db_table
    if connection.vendor == "postgresql":
        return f"nextval('{id_sequence(model)}'::regclass)"
    return (
        'COALESCE((SELECT "seq" FROM "sqlite_sequence" '  # noqa: S608 - names from _meta
        f"WHERE \"name\" = '{table}'), 0) + {rows.integer(nth)}"
    )


class Writes:
    """The writes of one operation, sent together once it is complete.

    Each write is one statement restricted to the locked reseller, with the
    number of rows it must touch. On PostgreSQL :meth:`send` sends them as
    one statement (a data-modifying ``WITH``, the last write its main
    statement); on SQLite one by one, in order. Every statement's row count
    is checked. Rows inserted here carry ids reserved under the lock
    (:func:`read_under_lock`) or need none, so no write reads another's
    output; the parts of one ``WITH`` see the same snapshot, so an amount
    stored for a row inserted here is written into its insert instead.
    """

    def __init__(self) -> None:
        self.connection = transaction.get_connection()
        self._writes: list[models.Model | tuple[str, list, int]] = []
        self._inserted: dict[tuple[type[models.Model], int], models.Model] = {}
        self._updated: set[tuple[type[models.Model], int]] = set()

    def insert(self, obj: models.Model) -> None:
        """Insert ``obj``, with the values it has when the writes are sent."""
        self._writes.append(obj)
        if obj.pk is not None:
            self._inserted[type(obj), obj.pk] = obj

    def add(self, sql: str, params: Sequence[object], count: int) -> None:
        """Send ``sql``, which must touch ``count`` rows."""
        self._writes.append((sql, list(params), count))

    def updating(self, model: type[models.Model], pks: Iterable[int]) -> None:
        """Note that ``model`` rows ``pks`` are updated here, each only once.

        The parts of one ``WITH`` cannot see each other's changes: a second
        update of the same row would overwrite or lose the first, so it is
        refused rather than sent.
        """
        for pk in pks:
            if (model, pk) in self._updated:
                raise AssertionError(
                    f"{model.__name__} #{pk} updated twice in one write"
                )
            self._updated.add((model, pk))

    def pending(self, model: type[models.Model], pk: int) -> models.Model | None:
        """Return the ``model`` row with id ``pk`` inserted here, if any."""
        return self._inserted.get((model, pk))

    def send(self) -> None:
        """Send the writes and check how many rows each touched."""
        writes, self._writes, self._inserted = self._writes, [], {}
        self._updated = set()
        statements = [self._statement(write) for write in writes]
        if self.connection.vendor == "postgresql" and len(statements) > 1:
            statements = [_one_statement(statements)]
        with self.connection.cursor() as cursor:
            for sql, params, check in statements:
                cursor.execute(sql, params)
                check(cursor)
        for write in writes:
            if isinstance(write, models.Model):
                write._state.adding = False
                write._state.db = self.connection.alias

    def _statement(self, write) -> tuple[str, list, Callable]:
        if isinstance(write, tuple):
            sql, params, count = write
        else:
            (sql, params), count = rows.insert_statement(write, self.connection), 1
        return sql, params, _touches(sql, count)


def _touches(sql: str, count: int) -> Callable:
    def check(cursor) -> None:
        if cursor.rowcount != count:
            raise AssertionError(f"{cursor.rowcount} rows, not {count}: {sql[:200]}")

    return check


def _one_statement(statements: Sequence[tuple[str, list, Callable]]) -> tuple:
    """Join statements into one ``WITH``: each but the last a named part
    returning its rows, the last the main statement returning their counts."""
    *parts, (main, _, check_main) = statements
    named = ", ".join(
        f'"w{n}" AS ({part[0]} RETURNING 1)' for n, part in enumerate(parts)
    )
    counts = ", ".join(
        f'(SELECT count(*) FROM "w{n}")'  # noqa: S608 - no values
        for n in range(len(parts))
    )
    sql = f"WITH {named} {main} RETURNING {counts}"

    def check(cursor) -> None:
        found = cursor.fetchall()
        check_main(cursor)
        for n, (_, _, check_part) in enumerate(parts):
            check_part(_Counted(found[0][n] if found else 0))

    return sql, [value for _, params, _ in statements for value in params], check


class _Counted(NamedTuple):
    """A part's row count, as a cursor would give it."""

    rowcount: int


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
    writes: Writes | None = None,
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
        writes=writes,
    )
    for pk, amount in allocated.open_amounts.items():
        documents[pk].open_amount = amount


class Allocated(NamedTuple):
    """What :func:`allocate` recorded."""

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
    writes: Writes | None = None,
    ids: Sequence[int] = (),
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
        writes=writes,
        ids=ids,
    )


def allocate_operations(
    *,
    reseller: Reseller,
    planned: Sequence[tuple[int, Sequence[PlannedAllocation]]],
    open_amounts: Mapping[int, Decimal],
    actor: Actor | None,
    writes: Writes | None = None,
    ids: Sequence[int] = (),
) -> Allocated:
    """Record planned allocations of the reseller's documents, set-wise.

    ``planned`` pairs each operation's id with its ``(credit_id, debit_id,
    amount)`` rows, in the order they were planned (cash application records
    a whole statement's lines of one reseller at once, one operation each).
    One ``UPDATE`` lowers the open amounts and one ``INSERT`` records the
    allocations (per 5,000 rows), both restricted to the reseller, added to
    ``writes`` (sent at once without it). ``ids``, when given, are reserved
    ids for the allocations, in order. The database's CHECK constraints back
    up the arithmetic here.
    """
    left: dict[int, Decimal] = {}
    allocations: list[tuple[int, int, Decimal, int]] = []
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
            allocations.append((credit_id, debit_id, amount, operation_id))
    now = timezone.now()
    if allocations:
        sent_here = writes is None
        writes = Writes() if writes is None else writes
        store_open_amounts(reseller, left, writes)
        insert_allocations(
            reseller=reseller,
            rows=allocations,
            actor=actor,
            created_at=now,
            writes=writes,
            ids=ids,
        )
        if sent_here:
            writes.send()
    return Allocated(left, now)


# Rows per statement.
ROWS_PER_STATEMENT = 5000


def rows_from(items: Sequence[Sequence[int]]) -> tuple[str, list[object]]:
    """Return a ``FROM`` item ``new`` holding the integer rows ``items`` (its
    columns ``column1``, ``column2``, …), and its parameters.

    A few rows are a ``VALUES`` list. More are, on PostgreSQL, one array per
    column, unnested together: the statement's text is the same for 21 rows
    or thousands, so it is converted and planned once per connection and no
    row is parsed as SQL; each array is sent as its text (``{1,2,3}``), one
    string for the driver instead of an adapter per element.
    """
    if (
        len(items) > rows.FEW_ROWS
        and transaction.get_connection().vendor == "postgresql"
    ):
        columns = [rows.integer_array(column) for column in zip(*items, strict=True)]
        arrays = ", ".join(["%s::bigint[]"] * len(columns))
        names = ", ".join(f"column{n}" for n in range(1, len(columns) + 1))
        return f"unnest({arrays}) AS new({names})", columns
    values, params = values_rows(items)
    return f"(VALUES {values}) AS new", params


def values_rows(items: Sequence[Sequence[object]]) -> tuple[str, list[object]]:
    """Return ``(…), (…)`` holding the rows ``items`` for a ``VALUES`` list,
    and its parameters: integers are literals when there are many rows, any
    other value is always a parameter (``None`` is ``NULL``)."""
    few = len(items) <= rows.FEW_ROWS
    params: list[object] = []

    def value(item: object) -> str:
        if item is None:
            return "NULL"
        if few or type(item) is not int:
            params.append(item)
            return "%s"
        return _integer(item)

    sql = ", ".join(f"({', '.join(value(item) for item in row)})" for row in items)
    return sql, params


def insert_allocations(
    *,
    reseller: Reseller,
    rows: Sequence[tuple[int, int, Decimal, int]],
    actor: Actor | None,
    created_at: datetime,
    writes: Writes,
    ids: Sequence[int] = (),
) -> None:
    """Insert ``(credit_id, debit_id, amount, operation_id)`` rows as
    allocations, one statement per 5,000, with the reserved ``ids`` if any."""
    stamp = writes.connection.ops.adapt_datetimefield_value(created_at)
    actor_id = None if actor is None else actor.pk
    columns = (
        '"reseller_id", "credit_id", "debit_id", "amount", "operation_id", '
        '"created_by_id", "created_at"'
    )
    given = "%s, new.column1, new.column2, new.column3, new.column4, %s, %s"
    if ids:
        columns = f'"id", {columns}'
        given = "new.column5, " + given
    numbered = [(pk,) for pk in ids] or [()] * len(rows)
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[start : start + ROWS_PER_STATEMENT]
        source, params = rows_from(
            [
                (credit_id, debit_id, _AMOUNT.get_prep_value(amount), operation_id)
                + number
                for number, (credit_id, debit_id, amount, operation_id) in zip(
                    numbered[start:], chunk, strict=False
                )
            ]
        )
        sql = (
            f'INSERT INTO "billing_allocation" ({columns}) '  # noqa: S608 - names only
            f"SELECT {given} FROM {source}"
        )
        writes.add(sql, [reseller.pk, actor_id, stamp, *params], len(chunk))


def store_open_amounts(
    reseller: Reseller,
    open_amounts: Mapping[int, Decimal],
    writes: Writes | None = None,
) -> None:
    """Store new open amounts by document id, restricted to the reseller."""
    store_amounts(reseller, Document, "open_amount", open_amounts, writes)


def store_amounts(
    reseller: Reseller,
    model: type[models.Model],
    field_name: str,
    amounts: Mapping[int, Decimal],
    writes: Writes | None = None,
) -> None:
    """Store new values of one amount column of the reseller's rows, by key.

    One ``UPDATE … FROM`` the new values (:func:`rows_from`) joined on the
    key (per 5,000 rows), added to ``writes`` (sent at once without it):
    cheaper to build and to run than ``bulk_update``'s ``CASE`` per row, and
    the reseller's filter keeps it on the reseller's shard. Each must update
    as many rows as it names (a key of another reseller's row is refused). A
    row ``writes`` inserts gets its amount in its insert.
    """
    field = model._meta.get_field(field_name)
    sent_here = writes is None
    writes = Writes() if writes is None else writes
    items = []
    for pk, amount in amounts.items():
        pending = writes.pending(model, pk)
        if pending is None:
            items.append((pk, amount))
        else:
            setattr(pending, field.attname, amount)
    writes.updating(model, (pk for pk, _amount in items))
    for start in range(0, len(items), ROWS_PER_STATEMENT):
        chunk = items[start : start + ROWS_PER_STATEMENT]
        writes.add(*amounts_update(reseller, field, chunk), len(chunk))
    if sent_here:
        writes.send()


def amounts_update(
    reseller: Reseller, field: models.Field, items: Sequence[tuple[int, Decimal]]
) -> tuple[str, list[object]]:
    """Return the ``UPDATE`` storing ``(key, amount)`` items in ``field``'s
    column of the reseller's rows, and its parameters."""
    table, key = field.model._meta.db_table, field.model._meta.pk.column
    source, params = rows_from(
        [(pk, field.get_prep_value(amount)) for pk, amount in items]
    )
    sql = (
        f'UPDATE "{table}" SET "{field.column}" = new.column2 '  # noqa: S608 - names from _meta, no values
        f"FROM {source} "
        f'WHERE "{table}"."{key}" = new.column1 '
        f'AND "{table}"."reseller_id" = %s'
    )
    return sql, [*params, reseller.pk]


_integer = rows.integer


_AMOUNT = Document._meta.get_field("open_amount")


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
        without_reversal(
            Allocation.objects.filter(same_reseller("credit", "debit"), **filters)
        )
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

    Used for prepaid accounts each time credit or a debit arrives. Returns the
    automatic-application operation, or None when there was nothing to apply.
    ``documents`` the caller holds get their new open amounts.
    """
    credits, debits, planned = auto_apply_plan(reseller)
    return apply_credit(
        reseller=reseller,
        credits=credits,
        debits=debits,
        planned=planned,
        actor=actor,
        source=source,
        documents=documents,
    )


def apply_credit(
    *,
    reseller: Reseller,
    credits: Sequence[Document],
    debits: Sequence[Document],
    planned: Sequence[PlannedAllocation],
    actor: Actor | None,
    source: str,
    documents: Iterable[Document] = (),
    writes: Writes | None = None,
    operation_id: int | None = None,
) -> Operation | None:
    """Record automatic application's plan (see :func:`auto_apply`).

    With ``writes`` and a reserved ``operation_id`` the operation is added to
    the caller's writes; without, it is written at once.
    """
    if not planned:
        return None
    applied = sum((item.amount for item in planned), Decimal(0))
    operation = Operation(
        pk=operation_id,
        reseller=reseller,
        kind=Operation.Kind.AUTO_APPLY,
        actor=actor,
        source=source,
        amount=applied,
        **completed_now(),
    )
    sent_here = writes is None
    if writes is None:
        rows.insert(operation, transaction.get_connection())
        writes = Writes()
    else:
        writes.insert(operation)
    allocated = allocate(
        reseller=reseller,
        operation=operation,
        planned=planned,
        open_amounts={doc.pk: doc.open_amount for doc in (*credits, *debits)},
        actor=actor,
        writes=writes,
    )
    for document in (*credits, *debits, *documents):
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
        writes=writes,
    )
    if sent_here:
        writes.send()
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
    writes: Writes | None = None,
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
    if writes is not None:
        writes.insert(event)
    else:
        rows.insert(event, transaction.get_connection())
    return event
