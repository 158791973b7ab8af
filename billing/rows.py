"""Model instances from the ledger's few hand-written reads.

The reads every write sends under the reseller lock (the lock itself, the
plan's documents) have one shape each and run many times; building their SQL
through the ORM costs several times what running them does. Their SQL is
written out once, and this module turns its rows into model instances exactly
as the ORM would: every concrete field in order, through the same database
converters (amounts become ``Decimal``, dates become ``date`` on SQLite).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models.sql import Query


def columns(model: type[models.Model]) -> str:
    """Return the model's concrete columns, table-qualified, in field order."""
    table = model._meta.db_table
    return ", ".join(f'"{table}"."{f.column}"' for f in model._meta.concrete_fields)


def width(model: type[models.Model]) -> int:
    """Return how many columns :func:`columns` names."""
    return len(model._meta.concrete_fields)


def instances(
    model: type[models.Model],
    rows: Iterable[Sequence],
    connection: BaseDatabaseWrapper,
    *,
    start: int = 0,
) -> list[models.Model]:
    """Return one instance per row, from the columns at ``start`` onwards."""
    converters = _converters(model, connection)
    end = start + len(model._meta.concrete_fields)
    found = []
    for row in rows:
        values = list(row[start:end])
        for position, (functions, expression) in converters:
            value = values[position]
            for function in functions:
                value = function(value, expression, connection)
            values[position] = value
        found.append(model.from_db(connection.alias, None, values))
    return found


def _converters(model: type[models.Model], connection: BaseDatabaseWrapper) -> list:
    """Return the ORM's converters of the model's columns on ``connection``,
    looked up once per connection (they are the connection's own)."""
    cache = connection.__dict__.setdefault("_ledger_converters", {})
    converters = cache.get(model)
    if converters is None:
        fields = model._meta.concrete_fields
        compiler = Query(model).get_compiler(connection=connection)
        table = model._meta.db_table
        found = compiler.get_converters([f.get_col(table) for f in fields])
        converters = cache[model] = list(found.items())
    return converters


def insert_values(
    obj: models.Model, fields: Sequence[models.Field], connection: BaseDatabaseWrapper
) -> list:
    """Return ``obj``'s values of ``fields`` as an ``INSERT`` stores them.

    As the ORM's insert does: each field's ``pre_save`` runs first (a creation
    time is stamped on ``obj``), then its conversion for the database.
    """
    return [
        field.get_db_prep_save(field.pre_save(obj, True), connection)
        for field in fields
    ]


def insert_columns(fields: Sequence[models.Field]) -> str:
    """Return the columns of ``fields``, quoted, for an ``INSERT``'s column list."""
    return ", ".join(f'"{field.column}"' for field in fields)


def insert_sql(model: type[models.Model]) -> str:
    """Return the model's ``INSERT`` of every column but its id, returning the id."""
    fields = _inserted(model)
    return (
        f'INSERT INTO "{model._meta.db_table}" ({insert_columns(fields)}) '  # noqa: S608 - names from _meta
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f'RETURNING "{model._meta.pk.column}"'
    )


def _inserted(model: type[models.Model]) -> list[models.Field]:
    return [f for f in _stored(model) if not f.primary_key]


def _stored(model: type[models.Model]) -> list[models.Field]:
    """Return the columns an ``INSERT`` names: all but those the database
    computes itself (a document's ``is_open``)."""
    return [f for f in model._meta.concrete_fields if not f.generated]


_INSERTS: dict[type[models.Model], str] = {}


def insert(obj: models.Model, connection: BaseDatabaseWrapper) -> None:
    """Insert ``obj`` (one with a database-generated id) and set its id.

    The same row as ``obj.save()``, without building the statement each time
    (the statement is built once per model) and without model signals (the
    ledger's models have none).
    """
    model = type(obj)
    sql = _INSERTS.get(model)
    if sql is None:
        sql = _INSERTS[model] = insert_sql(model)
    with connection.cursor() as cursor:
        cursor.execute(sql, insert_values(obj, _inserted(model), connection))
        obj.pk = cursor.fetchone()[0]
    obj._state.adding = False
    obj._state.db = connection.alias


def integer(value: int) -> str:
    """Return an id as an SQL literal, refusing anything but an integer."""
    if type(value) is not int:
        raise TypeError(f"not an integer: {value!r}")
    return str(value)


# A code that may be written into SQL as a literal: lowercase words.
NAME = re.compile(r"[a-z]+(_[a-z]+)*")


def names(values: Iterable[str]) -> str:
    """Return codes (document kinds and the like) as a list of SQL literals,
    ``'payment', 'credit_memo'``, refusing anything but lowercase names."""
    listed = list(values)
    for value in listed:
        if not (isinstance(value, str) and NAME.fullmatch(value)):
            raise TypeError(f"not a name: {value!r}")
    return ", ".join(f"'{value}'" for value in listed)


# Up to this many rows (or ids), a statement's values are parameters: its
# text is the same for every statement of that shape, so the driver converts
# it once and the server prepares it once. Beyond, PostgreSQL gets one array
# per column (:func:`integer_array`) and SQLite the integers as literals (it
# allows at most 32,766 parameters in a statement).
FEW_ROWS = 20


def integer_array(values: Iterable[int]) -> str:
    """Return integers as the text of a PostgreSQL array: ``{1,2,3}``.

    Anything but an integer is refused, so the text holds numbers only.
    """
    return "{" + ",".join(map(_array_element, values)) + "}"


def _array_element(value: int) -> str:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"not an integer: {value!r}")
    return str(int(value))


_ROW_INSERTS: dict[tuple[type[models.Model], bool], str] = {}


def insert_statement(obj: models.Model, connection: BaseDatabaseWrapper) -> tuple:
    """Return ``obj``'s ``INSERT`` (no ``RETURNING``) and its parameters.

    An id already set on ``obj`` (one reserved from the table's sequence) is
    inserted with the row; without one, the database gives it.
    """
    model, with_id = type(obj), obj.pk is not None
    fields = _stored(model) if with_id else _inserted(model)
    sql = _ROW_INSERTS.get((model, with_id))
    if sql is None:
        sql = _ROW_INSERTS[model, with_id] = (
            f'INSERT INTO "{model._meta.db_table}" ({insert_columns(fields)}) '  # noqa: S608 - names from _meta
            f"VALUES ({', '.join(['%s'] * len(fields))})"
        )
    return sql, insert_values(obj, fields, connection)
