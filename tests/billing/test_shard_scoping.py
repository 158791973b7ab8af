"""Every write stays on one reseller's shard: checked on the SQL itself.

The ledger is meant to be distributed by ``reseller_id`` (Citus, co-located
tables; marketplaces and users as reference tables) without changing the
services. That holds when every statement a service's transaction sends to a
ledger table is restricted to the one reseller the transaction locked. These
tests run each service, capture its SQL with ``CaptureQueriesContext`` and
check every statement with :func:`scope_problems`:

- the transaction's first statement locks one reseller row
  (``"billing_reseller"."id" = N``, ``FOR UPDATE`` on PostgreSQL);
- an ``INSERT`` into a ledger table gives ``reseller_id`` = N in every row
  (as ``VALUES``, ``SELECT`` or PostgreSQL's bulk ``UNNEST`` of arrays);
- in any other statement, each ledger table it names is restricted by
  ``<table>."reseller_id" = N`` (the reseller table by ``"id" = N``), or is
  joined to a table so restricted by an equality of their ``reseller_id``
  (the reseller table's ``id``): a sharded database finds the rows it
  joins on the same shard only through that column, not through an id;
- no other reseller id appears, and no ``OR`` can widen a restriction;
- the one allowed exception is the check that a document number is free in
  the marketplace (a constraint across resellers; BENCHMARKS.md says how it
  maps onto a sharded database), and it may only read.

Two writes span several resellers, all or nothing: a document import locks
every account its rows belong to, a bank statement every reseller its lines
pay; each statement then stays on the locked resellers (``IN (…)`` of them
at most). A statement's lines are matched first, by reads restricted to its
marketplace. The bank tables belong to a marketplace: their statements must
be restricted by ``marketplace_id``.

Statements outside the transaction (the import resolving which reseller a
row belongs to) must be reads.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from io import StringIO
from pathlib import Path
from unittest.mock import patch

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from billing import services
from billing.exceptions import GatewayUnavailable
from billing.gateways import SandboxGateway
from billing.locking import lock_reseller
from billing.models import Allocation, Document, Operation
from billing.services.cash_application import assign_bank_line, return_bank_line
from tests import factories
from tests.billing import bank

# Rows of one reseller: distributed by reseller_id, co-located.
LEDGER_TABLES = {
    "billing_document",
    "billing_allocation",
    "billing_reversal",
    "billing_operation",
    "billing_payment",
    "billing_paymentdocument",
    "billing_auditevent",
    "billing_resellermembership",
    "billing_resellerbankaccount",
}
# The distribution root: its own id is the distribution key.
RESELLER_TABLE = "billing_reseller"
# Not distributed by reseller: reference tables copied to every node (the
# marketplaces and the link of each to its staff), and
# the sandbox gateway's stand-in for a payment processor's own records.
NOT_LEDGER_TABLES = {
    "billing_marketplace",
    "billing_marketplace_staff",
    "billing_sandboxcharge",
}
# Numbering shared by the resellers of one marketplace: the constraint across
# resellers (BENCHMARKS.md says how it maps onto shards). A statement on them
# must stay in the locked reseller's marketplace.
# Bank statements and their lines belong to a marketplace until a line is
# matched to a reseller (the unmatched queue spans resellers by nature); a
# line's history carries the line's marketplace.
MARKETPLACE_TABLES = {
    "billing_numbersequence",
    "billing_marketplacebankaccount",
    "billing_bankstatement",
    "billing_bankline",
    "billing_banklineevent",
}

TABLE = re.compile(
    r'\b(?:FROM|JOIN|INTO|UPDATE|COPY)\s+"(billing_\w+)"(?:\s+(?:AS\s+)?("?\w+"?))?',
    re.IGNORECASE,
)
NOT_ALIAS = {
    "ON", "WHERE", "SET", "INNER", "LEFT", "RIGHT", "OUTER", "FULL", "CROSS",
    "JOIN", "LIMIT", "ORDER", "GROUP", "VALUES", "FOR", "RETURNING", "WHEN",
    "HAVING", "UNION", "OFFSET", "USING",
}  # fmt: skip
EQUALS_JOIN = re.compile(r'("?\w+"?)\."(\w+)"\s*=\s*\(?("?\w+"?)\."(\w+)"')
# A reseller id given as ``= 7`` or as a list, ``IN (7, 8)`` (a subquery's
# ``IN (SELECT …`` names no id).
IDS = r"\s*(?:=\s*'?(\d+)|IN\s*\(([\d\s,']+)\))"
RESELLER_VALUE = re.compile(r'"reseller_id"' + IDS)
ROOT_VALUE = re.compile(r'"billing_reseller"\."id"' + IDS)
NUMBER_MATCH = re.compile(r'"billing_document"\."number"(::text)?\s*(=|LIKE)')
SAVEPOINT = re.compile(r"^\s*(SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO)", re.I)


@dataclass
class Statement:
    sql: str
    in_transaction: bool


def scope_problems(
    statement: str, reseller_id: int | Collection[int], marketplace_id: int
) -> str:
    """Return why ``statement`` could reach past reseller ``reseller_id`` ("").

    ``reseller_id`` may be several resellers, all locked by the transaction
    (a bank statement pays several): each statement must then stay on them.
    """
    allowed = _allowed(reseller_id)
    if statement.lstrip().upper().startswith("WITH"):
        # Each part of a WITH (its named queries and the main statement) must
        # be restricted on its own.
        for part in _with_parts(statement):
            problem = scope_problems(part, allowed, marketplace_id)
            if problem:
                return problem
        return ""
    refs = _table_refs(statement)
    ledger = {alias: table for alias, table in refs if table not in NOT_LEDGER_TABLES}
    unknown = set(ledger.values()) - LEDGER_TABLES - {RESELLER_TABLE}
    unknown -= MARKETPLACE_TABLES
    if unknown:
        return f"names tables not classified as ledger or reference: {unknown}"
    if not ledger:
        return ""
    if set(ledger.values()) <= MARKETPLACE_TABLES:
        return _marketplace_problems(statement, marketplace_id)
    mentioned = set()
    for found in (*RESELLER_VALUE.findall(statement), *ROOT_VALUE.findall(statement)):
        mentioned |= _ids(found)
    if mentioned - allowed:
        return f"names other resellers: {sorted(mentioned - allowed)}"
    narrowed = _without_or_groups(statement)
    if narrowed is None:
        return "an OR could widen the restriction"
    statement = narrowed
    if statement.lstrip().upper().startswith("INSERT"):
        source = _inserted_from(statement)
        return _insert_problems(statement, allowed) or (
            source and scope_problems(source, allowed, marketplace_id)
        )
    if _is_number_check(statement, ledger, marketplace_id):
        return ""
    restricted = {
        alias
        for alias, table in ledger.items()
        if _restricts(statement, alias, table, allowed)
    }
    loose = _loose(statement, ledger, restricted)
    return f"not restricted to the reseller: {loose}" if loose else ""


def _loose(statement: str, ledger: dict, restricted: set[str]) -> list[str]:
    """Return the tables neither restricted nor joined to a table that is by
    an equality of the columns both are distributed by (the joins followed
    as far as they go)."""
    restricted = set(restricted)
    joins = [
        (left, right)
        for left, left_column, right, right_column in EQUALS_JOIN.findall(
            _outside_strings(statement)
        )
        if _distribution_column(ledger, left) == left_column
        and _distribution_column(ledger, right) == right_column
    ]
    grew = True
    while grew:
        grew = False
        for left, right in joins:
            for a, b in ((left, right), (right, left)):
                if a in restricted and b in ledger and b not in restricted:
                    restricted.add(b)
                    grew = True
    return sorted(ledger[a] for a in ledger if a not in restricted)


def _distribution_column(ledger: dict, alias: str) -> str | None:
    """Return the column ``alias``'s table is distributed by (None if it is
    no ledger table)."""
    table = ledger.get(alias)
    if table is None:
        return None
    if table == RESELLER_TABLE:
        return "id"
    return "marketplace_id" if table in MARKETPLACE_TABLES else "reseller_id"


# Tables a read across a marketplace's resellers is restricted on directly.
MARKETPLACE_COLUMN = {RESELLER_TABLE, "billing_document"} | MARKETPLACE_TABLES


def marketplace_read_problems(statement: str, marketplace_id: int) -> str:
    """Return why ``statement`` is not a read within one marketplace ("").

    Matching a bank statement's lines reads the marketplace's open payments,
    documents and known payer accounts across its resellers: each table it
    names must be restricted by ``marketplace_id`` = the marketplace, or be
    joined to a table that is by an equality of the columns both are
    distributed by (a read across shards joins co-located rows only so).
    """
    if not statement.lstrip().upper().startswith("SELECT"):
        return "a write before the resellers it pays are locked"
    refs = _table_refs(statement)
    ledger = {alias: table for alias, table in refs if table not in NOT_LEDGER_TABLES}
    unknown = set(ledger.values()) - LEDGER_TABLES - {RESELLER_TABLE}
    unknown -= MARKETPLACE_TABLES
    if unknown:
        return f"names tables not classified as ledger or reference: {unknown}"
    if re.search(r"\sOR\s", _outside_strings(statement)):
        return "an OR could widen the restriction"
    ids = {m for m in re.findall(r'"marketplace_id"\s*=\s*(\d+)', statement)}
    if ids - {str(marketplace_id)}:
        return f"names other marketplaces: {sorted(ids - {str(marketplace_id)})}"
    restricted = {
        alias
        for alias, table in ledger.items()
        if table in MARKETPLACE_COLUMN
        and re.search(
            re.escape(alias) + rf'\."marketplace_id"\s*=\s*{marketplace_id}\b',
            statement,
        )
    }
    loose = _loose(statement, ledger, restricted)
    return f"not restricted to the marketplace: {loose}" if loose else ""


WITH_NAME = re.compile(r'\s*(?:WITH\s+|,\s*)("?\w+"?)\s+AS\s*\(', re.I)


def _characters(text: str):
    """Yield ``(index, char, depth, literal)`` for each character of SQL text:
    the bracket depth after it, and whether it belongs to a quoted literal."""
    depth, quoted = 0, False
    for index, char in enumerate(text):
        literal = quoted or char == "'"
        if quoted:
            quoted = char != "'"
        elif char == "'":
            quoted = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        yield index, char, depth, literal


def _with_parts(statement: str) -> list[str]:
    """Split ``WITH a AS (…), b AS (…) main`` into ``[…, …, main]``."""
    parts, rest = [], statement
    while (match := WITH_NAME.match(rest)) is not None:
        body = rest[match.end() :]
        end = next(
            (i for i, char, depth, literal in _characters(body) if depth < 0),
            len(body),
        )
        parts.append(body[:end])
        rest = body[end + 1 :]
    return [*parts, rest]


def _marketplace_problems(statement: str, marketplace_id: int) -> str:
    if statement.lstrip().upper().startswith("INSERT"):
        return _insert_problems(statement, marketplace_id, key="marketplace_id")
    pattern = rf'"marketplace_id"\s*=\s*{marketplace_id}\b'
    narrowed = _without_or_groups(statement)
    if narrowed is None or re.search(pattern, narrowed) is None:
        return "not restricted to the reseller's marketplace"
    return ""


def _without_or_groups(statement: str) -> str | None:
    """Return ``statement`` with each bracketed group that holds an ``OR`` of
    its own set aside (as ``(TRUE)``), or ``None`` when an ``OR`` stands
    outside every bracket.

    What is left holds for every row the statement reads, so only it may
    restrict: ``a AND (b OR c)`` keeps ``a``; ``(a OR b)`` keeps nothing.
    """
    masked = "".join(
        " " if literal and char != "'" else char
        for _index, char, _depth, literal in _characters(statement)
    )
    ors = {match.start() for match in re.finditer(r"\sOR\s", masked)}
    if not ors:
        return statement
    opened: list[int] = []
    closes: dict[int, int] = {}
    groups: set[int] = set()
    for index, char in enumerate(masked):
        if index in ors:
            if not opened:
                return None
            groups.add(opened[-1])
        if char == "(":
            opened.append(index)
        elif char == ")" and opened:
            closes[opened.pop()] = index
    kept, end = [], 0
    for start in sorted(groups):
        if start < end:
            continue  # within a group set aside already
        kept += [statement[end:start], "(TRUE)"]
        end = closes.get(start, len(statement) - 1) + 1
    return "".join([*kept, statement[end:]])


def _table_refs(statement: str) -> list[tuple[str, str]]:
    refs = []
    for table, alias in TABLE.findall(_outside_strings(statement)):
        if not alias or alias.strip('"').upper() in NOT_ALIAS:
            alias = f'"{table}"'
        refs.append((alias, table))
    return refs


def _allowed(reseller_id: int | Collection[int]) -> set[str]:
    ids = [reseller_id] if isinstance(reseller_id, int) else reseller_id
    return {str(pk) for pk in ids}


def _ids(found: tuple[str, str]) -> set[str]:
    """Return the ids of one ``= N`` or ``IN (…)`` match."""
    single, listed = found
    return {single} if single else {v.strip(" '") for v in listed.split(",")}


def _restricts(statement: str, alias: str, table: str, allowed: set[str]) -> bool:
    column = '"id"' if table == RESELLER_TABLE else '"reseller_id"'
    pattern = re.compile(re.escape(alias) + r"\." + column + IDS)
    return any(_ids(found) <= allowed for found in pattern.findall(statement))


def _is_number_check(statement: str, ledger: dict, marketplace_id: int) -> bool:
    """Is this the read that a document number is free in the marketplace?"""
    return (
        statement.lstrip().upper().startswith("SELECT")
        and set(ledger.values()) == {"billing_document"}
        and re.search(rf'"marketplace_id"\s*=\s*{marketplace_id}\b', statement)
        is not None
        and re.search(NUMBER_MATCH, statement) is not None
    )


INSERT = re.compile(
    r'\s*INSERT (?:OR \w+ )?INTO "(\w+)"\s*\(([^)]*)\)\s*(VALUES|SELECT)\s(.*)',
    re.S,
)


def _insert_problems(
    statement: str, owners: set[str] | int, key: str = "reseller_id"
) -> str:
    match = INSERT.match(statement)
    if match is None:
        return "an INSERT without a column list and VALUES or SELECT"
    table, columns, verb, rest = match.groups()
    names = [name.strip().strip('"') for name in columns.split(",")]
    key = "id" if table == RESELLER_TABLE else key
    if key not in names:
        return f"INSERT INTO {table} without {key}"
    position = names.index(key)
    owners = _allowed(owners)
    columns = _unnested(rest) if verb == "SELECT" else None
    if columns is not None:
        # PostgreSQL's bulk insert: one array per column, unnested.
        readable = len(columns) == len(names)
        array = ARRAY_TEXT.match(columns[position]) if readable else None
        if array is None:
            return "an INSERT whose columns cannot be read"
        found = set(array.group(1).split(","))
        return f"INSERT INTO {table} with {key} in {found}" if found - owners else ""
    rows = _value_rows(rest) if verb == "VALUES" else [_select_list(rest)]
    if not rows:
        return "an INSERT whose rows cannot be read"
    for row in rows:
        value = re.sub(r"::\w+$", "", row[position].strip()).strip("'")
        if value not in owners:
            return f"INSERT INTO {table} with {key} = {row[position]}"
    return ""


UNNEST = re.compile(r"\s*\*\s+FROM\s+UNNEST\s*\(", re.I)
# An array of integers as PostgreSQL's bulk insert writes it: ('{1,2}'::int2[]).
ARRAY_TEXT = re.compile(r"^\(*'\{([\d,]+)\}'")


def _unnested(text: str) -> list[str] | None:
    """Split ``* FROM UNNEST(('{1,2}'::int2[])::bigint[], …)`` into its
    arguments, one array per column; ``None`` when the rows come from
    elsewhere."""
    match = UNNEST.match(text)
    if match is None:
        return None
    arguments, current = [], ""
    for _index, char, depth, literal in _characters(text[match.end() :]):
        if not literal and depth < 0:
            break  # UNNEST's closing bracket
        if not literal and depth == 0 and char == ",":
            arguments.append(current.strip())
            current = ""
            continue
        current += char
    arguments.append(current.strip())
    return arguments


def _inserted_from(statement: str) -> str:
    """Return the query an ``INSERT … SELECT`` inserts from ("" for VALUES)."""
    match = INSERT.match(statement)
    return f"SELECT {match.group(4)}" if match and match.group(3) == "SELECT" else ""


def _select_list(text: str) -> list[str]:
    """Split ``a, f(b, c), 'd, e' FROM …`` into the values it selects."""
    values, current = [], ""
    for index, char, depth, literal in _characters(text):
        if not literal and depth == 0:
            if char == ",":
                values.append(current)
                current = ""
                continue
            if re.match(r"\sFROM\s", text[index:], re.I):
                break
        current += char
    return [value.strip() for value in (*values, current)]


def _value_rows(text: str) -> list[list[str]]:
    """Split ``(a, 'b, c'), (d, e) RETURNING …`` into rows of values."""
    rows: list[list[str]] = []
    current, row = "", []
    for _index, char, depth, literal in _characters(text):
        if literal:
            current += char
        elif char == "(" and depth == 1:
            continue  # a row opens
        elif char == ")" and depth == 0:
            rows.append([*row, current])
            current, row = "", []
        elif char == "," and depth == 1:
            row.append(current)
            current = ""
        elif depth >= 1:
            current += char
        elif char.isalpha():
            break  # RETURNING, ON CONFLICT: past the rows
    return rows


def _names_ledger(statement: str) -> bool:
    return any(table not in NOT_LEDGER_TABLES for _, table in _table_refs(statement))


def _outside_strings(statement: str) -> str:
    return re.sub(r"'(?:[^']|'')*'", "''", statement)


class Capture:
    """Capture a service call's SQL, and which of it ran in its transaction."""

    def __init__(self) -> None:
        self.depths: list[int] = []

    def __call__(self, execute, sql, params, many, context):
        self.depths.append(len(connection.atomic_blocks))
        return execute(sql, params, many, context)

    def __enter__(self) -> Capture:
        self.base = len(connection.atomic_blocks)
        self.queries = CaptureQueriesContext(connection)
        self.queries.__enter__()
        self.wrapper = connection.execute_wrapper(self)
        self.wrapper.__enter__()
        self.copies = self._record_copies()
        self.copies.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.copies.__exit__(*exc)
        self.wrapper.__exit__(*exc)
        self.queries.__exit__(*exc)

    def _record_copies(self):
        """Record COPY statements too: they bypass the execute wrappers."""
        if connection.vendor != "postgresql":
            return nullcontext()
        from django.db.backends.postgresql.base import CursorDebugWrapper

        copy = CursorDebugWrapper.copy

        def recorded(cursor, statement):
            self.depths.append(len(connection.atomic_blocks))
            return copy(cursor, statement)

        return patch.object(CursorDebugWrapper, "copy", recorded)

    @property
    def statements(self) -> list[Statement]:
        sqls = [q["sql"] for q in self.queries.captured_queries]
        assert len(sqls) == len(self.depths)
        return [
            Statement(sql, depth > self.base)
            for sql, depth in zip(sqls, self.depths, strict=True)
            if not SAVEPOINT.match(sql)
        ]

    def transactions(self) -> list[list[str]]:
        """Return the SQL of each transaction that touched the ledger."""
        groups: list[list[str]] = []
        previous = False
        for statement in self.statements:
            if statement.in_transaction and not previous:
                groups.append([])
            if statement.in_transaction:
                groups[-1].append(statement.sql)
            previous = statement.in_transaction
        return [group for group in groups if any(map(_names_ledger, group))]


def assert_on_marketplace(capture: Capture, marketplace) -> None:
    """Assert every transaction stayed on the marketplace's bank tables."""
    transactions = capture.transactions()
    assert transactions, "the service ran no transaction"
    problems = [
        f"{why}:\n  {sql}"
        for statements in transactions
        for sql in statements
        if (why := scope_problems(sql, set(), marketplace.pk))
    ]
    assert not problems, "\n".join(problems)


def assert_scoped_to(capture: Capture, reseller, *others) -> None:
    """Assert every transaction locked ``reseller`` first and stayed on it.

    With ``others`` (resellers of the same marketplace), a transaction locks
    all of them first, in id order, and stays on them.
    """
    ids = sorted(r.pk for r in (reseller, *others))
    transactions = capture.transactions()
    assert transactions, "the service ran no transaction"
    for statements in transactions:
        for lock, pk in zip(statements, ids, strict=False):
            assert re.search(r'FROM "billing_reseller"', lock), lock
            assert re.search(rf'"billing_reseller"\."id" = {pk}\b', lock), lock
            if connection.vendor == "postgresql":
                assert "FOR UPDATE" in lock, lock
        problems = [
            f"{why}:\n  {sql}"
            for sql in statements
            if (why := scope_problems(sql, ids, reseller.marketplace_id))
        ]
        assert not problems, "\n".join(problems)
    outside = [s.sql for s in capture.statements if not s.in_transaction]
    writes = [sql for sql in outside if not sql.lstrip().upper().startswith("SELECT")]
    assert not writes, f"writes outside the reseller's transaction: {writes}"


# --- the checker itself ----------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        ('SELECT * FROM "billing_document" WHERE "billing_document"."id" = 9', "not"),
        (
            'SELECT * FROM "billing_document" WHERE '
            '"billing_document"."reseller_id" = 7',
            "",
        ),
        (
            'SELECT * FROM "billing_document" WHERE '
            '"billing_document"."reseller_id" = 8',
            "other resellers",
        ),
        (
            'SELECT * FROM "billing_document" WHERE ("billing_document"."reseller_id"'
            ' = 7 OR "billing_document"."id" = 3)',
            "not restricted",
        ),
        (
            'SELECT * FROM "billing_document" WHERE "billing_document"."reseller_id"'
            ' = 7 OR "billing_document"."id" = 3',
            "OR",
        ),
        (
            'SELECT * FROM "billing_document" WHERE ("billing_document"."reseller_id"'
            ' = 7 AND ("billing_document"."id" = 3 OR "billing_document"."id" = 4))',
            "",
        ),
        (
            'SELECT * FROM "billing_document" WHERE ("billing_document"."id" = 3 AND'
            ' ("billing_document"."reseller_id" = 7 OR "billing_document"."id" = 4))',
            "not restricted",
        ),
        (
            'SELECT * FROM "billing_document" WHERE ("billing_document"."reseller_id"'
            ' = 7 AND ("billing_document"."number" = \'A OR B\'))',
            "",
        ),
        (
            'SELECT * FROM "billing_document" WHERE '
            '"billing_document"."reseller_id" IN (7)',
            "",
        ),
        (
            'SELECT * FROM "billing_document" WHERE '
            '"billing_document"."reseller_id" IN (7, 8)',
            "other resellers",
        ),
        (
            'SELECT * FROM "billing_document" WHERE "billing_document"."id" = 3 '
            'AND "billing_document"."reseller_id" IN (SELECT 7)',
            "not restricted",
        ),
        (
            'SELECT * FROM "billing_allocation" INNER JOIN "billing_document" ON '
            '("billing_allocation"."credit_id" = "billing_document"."id") WHERE '
            '("billing_allocation"."reseller_id" = 7 AND '
            '"billing_document"."reseller_id" = ("billing_allocation"."reseller_id"))',
            "",
        ),
        (
            # Joined by its id alone: a sharded database could not tell which
            # shard holds the document.
            'SELECT * FROM "billing_allocation" INNER JOIN "billing_document" ON '
            '("billing_allocation"."credit_id" = "billing_document"."id") WHERE '
            '"billing_allocation"."reseller_id" = 7',
            "not restricted",
        ),
        (
            'SELECT * FROM "billing_payment" INNER JOIN "billing_reseller" ON '
            '("billing_payment"."reseller_id" = "billing_reseller"."id") WHERE '
            '"billing_reseller"."id" = 7',
            "",
        ),
        (
            'SELECT * FROM "billing_allocation" LEFT OUTER JOIN "billing_reversal" '
            'live ON ("billing_allocation"."id" = live."allocation_id" AND '
            '(live."reseller_id" = ("billing_allocation"."reseller_id"))) WHERE '
            '("billing_allocation"."reseller_id" = 7 AND live."id" IS NULL)',
            "",
        ),
        (
            'SELECT * FROM "billing_allocation" INNER JOIN "billing_document" T3 ON '
            '("billing_allocation"."credit_id" = T3."id") WHERE T3."id" = 4',
            "not restricted",
        ),
        (
            'UPDATE "billing_document" SET "open_amount" = 1 WHERE '
            '"billing_document"."id" IN (1, 2)',
            "not restricted",
        ),
        (
            'INSERT INTO "billing_auditevent" ("reseller_id", "summary") VALUES '
            "(7, 'a, (b)'), (7, 'c') RETURNING \"billing_auditevent\".\"id\"",
            "",
        ),
        (
            'INSERT INTO "billing_auditevent" ("reseller_id", "summary") VALUES '
            "(7, 'x'), (8, 'y')",
            "reseller_id = 8",
        ),
        (
            'INSERT INTO "billing_auditevent" ("summary", "reseller_id") SELECT * '
            "FROM UNNEST(('{\"a, (b\",c}')::varchar[], ('{7,7}'::int2[])::bigint[])",
            "",
        ),
        (
            'INSERT INTO "billing_auditevent" ("summary", "reseller_id") SELECT * '
            "FROM UNNEST(('{a,c}')::varchar[], ('{7,8}'::int2[])::bigint[])",
            "reseller_id in",
        ),
        (
            'INSERT INTO "billing_auditevent" ("summary", "reseller_id") SELECT * '
            "FROM UNNEST(('{a,c}')::varchar[], (SELECT array_agg(id) FROM x))",
            "cannot be read",
        ),
        (
            'INSERT INTO "billing_document" ("reseller_id", "number") SELECT 7, '
            "s.number FROM import_staging s WHERE s.reseller_id = 7",
            "",
        ),
        (
            'INSERT INTO "billing_document" ("number", "reseller_id") SELECT '
            "concat(s.number, ', x'), 8 FROM import_staging s",
            "reseller_id = 8",
        ),
        (
            'INSERT INTO "billing_auditevent" ("reseller_id", "document_id") SELECT '
            '7, d.id FROM import_staging s JOIN "billing_document" d ON '
            'd."number" = s.number WHERE d."reseller_id" = 7',
            "",
        ),
        (
            'INSERT INTO "billing_auditevent" ("reseller_id", "document_id") SELECT '
            '7, d.id FROM import_staging s JOIN "billing_document" d ON '
            'd."number" = s.number',
            "not restricted",
        ),
        (
            'WITH "op" AS (INSERT INTO "billing_operation" ("reseller_id", "kind") '
            "VALUES (7, 'payment') RETURNING \"id\") INSERT INTO "
            '"billing_paymentdocument" ("payment_id", "reseller_id", "document_id") '
            'VALUES ((SELECT "id" FROM "op"), 7, 3)',
            "",
        ),
        (
            'WITH "op" AS (INSERT INTO "billing_operation" ("reseller_id", "kind") '
            "VALUES (8, 'payment') RETURNING \"id\") INSERT INTO "
            '"billing_paymentdocument" ("payment_id", "reseller_id", "document_id") '
            'VALUES ((SELECT "id" FROM "op"), 7, 3)',
            "reseller_id = 8",
        ),
        (
            'WITH "op" AS (INSERT INTO "billing_operation" ("reseller_id", "kind") '
            'VALUES (7, \'a)\') RETURNING "id"), "sel" AS (SELECT "id" FROM '
            '"billing_document" WHERE "billing_document"."id" = 3) SELECT 1',
            "not restricted",
        ),
        ('COPY "billing_document" ("reseller_id") FROM STDIN', "not restricted"),
        (
            'SELECT 1 AS "a" FROM "billing_document" WHERE '
            '("billing_document"."marketplace_id" = 3 AND '
            '"billing_document"."number" = \'INV-1\') LIMIT 1',
            "",
        ),
        ('SELECT * FROM "billing_marketplace" WHERE "id" = 3', ""),
        ('SELECT * FROM "billing_statementline"', "not classified"),
        (
            'INSERT OR IGNORE INTO "billing_numbersequence" ("marketplace_id", '
            '"series", "last") VALUES (3, \'CM-2026\', 0)',
            "",
        ),
        (
            'UPDATE "billing_numbersequence" SET "last" = 1 WHERE '
            '"billing_numbersequence"."marketplace_id" = 4',
            "marketplace",
        ),
    ],
)
def test_scope_checker_tells_restricted_from_loose_statements(sql, problem):
    found = scope_problems(sql, reseller_id=7, marketplace_id=3)
    assert (problem in found) if problem else found == ""
    assert bool(found) == bool(problem)


# The reseller API's tables. A key is found by its prefix before the
# caller's reseller is known, so the keys stay in one table of their own on
# the coordinator (BENCHMARKS.md), with the requests counted against each
# key. The body first sent with an Idempotency-Key is part of its payment's
# operation (its request hash): the API keeps no ledger table of its own.
COORDINATOR_TABLES = {"api_apikey", "api_requestcount"}


def test_every_ledger_table_carries_its_reseller():
    models = [
        *apps.get_app_config("billing").get_models(),
        *apps.get_app_config("api").get_models(),
    ]
    tables = {model._meta.db_table: model for model in models}
    ledger = LEDGER_TABLES
    unclassified = set(tables) - ledger - NOT_LEDGER_TABLES - {RESELLER_TABLE}
    unclassified -= MARKETPLACE_TABLES | COORDINATOR_TABLES
    assert not unclassified, (
        f"classify {unclassified} here: a ledger table (with a reseller) or a "
        "reference table"
    )
    for table in ledger:
        field = tables[table]._meta.get_field("reseller")
        assert field.column == "reseller_id" and not field.null, table
    for table in MARKETPLACE_TABLES:
        field = tables[table]._meta.get_field("marketplace")
        assert field.column == "marketplace_id" and not field.null, table


# --- every service -----------------------------------------------------------------


@pytest.fixture
def term(term_reseller):
    return term_reseller


@pytest.fixture
def other(term):
    """Another reseller of the same marketplace, with documents of its own."""
    other = factories.ResellerFactory(marketplace=term.marketplace)
    factories.post(other, "invoice", "10.00")
    factories.post(other, "credit_memo", "5.00")
    return other


def test_paying_from_credit_stays_on_the_reseller(term, other):
    factories.post(term, "credit_memo", "50.00")
    invoice = factories.post(term, "invoice", "30.00")
    with Capture() as capture:
        factories.pay(term, [invoice], idempotency_key="k1")
    assert_scoped_to(capture, term)
    with Capture() as replay:
        factories.pay(term, [invoice], idempotency_key="k1")
    assert_scoped_to(replay, term)


def test_paying_by_card_stays_on_the_reseller(term, other):
    factories.post(term, "credit_memo", "5.00")
    invoice = factories.post(term, "invoice", "30.00")
    with Capture() as capture:
        factories.pay(
            term,
            [invoice],
            payment_method="card",
            card_token=SandboxGateway.SUCCESS_CARD,
        )
    # Two ledger transactions around the gateway call (the sandbox gateway's
    # own record of the charge is not ledger).
    assert len(capture.transactions()) == 2
    assert_scoped_to(capture, term)


def test_settling_a_card_payment_stays_on_the_reseller(term, other):
    invoice = factories.post(term, "invoice", "30.00")
    with pytest.raises(GatewayUnavailable):
        factories.pay(
            term,
            [invoice],
            payment_method="card",
            card_token=SandboxGateway.UNAVAILABLE_CARD,
        )
    operation = Operation.objects.get(reseller=term, kind=Operation.Kind.PAYMENT)
    with Capture() as capture:
        services.settle_payment(operation=operation)
    assert_scoped_to(capture, term)


def test_link_unlink_and_revert_stay_on_the_reseller(term, other, staff_user):
    memo = factories.post(term, "credit_memo", "50.00")
    invoice = factories.post(term, "invoice", "30.00")
    with Capture() as capture:
        allocation = services.link_documents(
            credit=memo,
            debit=invoice,
            amount="10.00",
            actor=staff_user,
            reason="agreed",
            idempotency_key="link-1",
        )
    assert_scoped_to(capture, term)
    with Capture() as replay:
        services.link_documents(
            credit=memo,
            debit=invoice,
            amount="10.00",
            actor=staff_user,
            reason="agreed",
            idempotency_key="link-1",
        )
    assert_scoped_to(replay, term)
    with Capture() as capture:
        services.unlink_allocation(
            allocation=allocation, actor=staff_user, reason="wrong"
        )
    assert_scoped_to(capture, term)

    payment = factories.pay(term, [invoice])
    with Capture() as capture:
        services.revert_operation(operation=payment, actor=staff_user, reason="undo")
    assert_scoped_to(capture, term)
    assert not Allocation.objects.filter(operation=payment, reversal__isnull=True)


def test_posting_with_automatic_application_stays_on_the_reseller(
    prepaid_reseller, staff_user
):
    factories.ResellerFactory(marketplace=prepaid_reseller.marketplace)
    factories.post(prepaid_reseller, "credit_memo", "50.00")
    with Capture() as capture:
        invoice = factories.post(prepaid_reseller, "invoice", "30.00")
    assert invoice.open_amount == 0  # the credit was applied automatically
    assert_scoped_to(capture, prepaid_reseller)
    with Capture() as capture:
        services.issue_credit_memo(
            reseller=prepaid_reseller,
            amount="5.00",
            reason="goodwill",
            actor=staff_user,
            idempotency_key="cm-1",
        )
    assert_scoped_to(capture, prepaid_reseller)
    with Capture() as replay:
        services.issue_credit_memo(
            reseller=prepaid_reseller,
            amount="5.00",
            reason="goodwill",
            actor=staff_user,
            idempotency_key="cm-1",
        )
    assert_scoped_to(replay, prepaid_reseller)


def test_importing_a_document_stays_on_its_reseller(term, other, tmp_path: Path):
    path = tmp_path / "documents.csv"
    path.write_text(
        "marketplace,reseller,kind,number,issue_date,due_date,total,currency,"
        "description\n"
        f"{term.marketplace.code},{term.pk},invoice,UP-1,2026-01-01,2026-01-31,"
        f"12.50,{term.currency},upstream\n"
    )
    with Capture() as capture:
        call_command(
            "import_documents", str(path), stdout=StringIO(), stderr=StringIO()
        )
    assert_scoped_to(capture, term)
    assert term.documents.get(number="UP-1").total == Decimal("12.50")


def test_importing_beside_repeats_and_the_ledger_stays_on_its_reseller(
    term, other, tmp_path: Path
):
    factories.post(
        term,
        "invoice",
        "12.50",
        number="UP-0",
        issue_date=date(2026, 1, 1),
        description="upstream",
    )
    row = (
        f"{term.marketplace.code},{term.pk},invoice,UP-{{n}},2026-01-01,2026-01-31,"
        f"12.50,{term.currency},upstream\n"
    )
    path = tmp_path / "documents.csv"
    path.write_text(
        "marketplace,reseller,kind,number,issue_date,due_date,total,currency,"
        "description\n" + "".join(row.format(n=n) for n in (0, 1, 1, 2))
    )
    out = StringIO()
    with Capture() as capture:
        call_command("import_documents", str(path), stdout=out, stderr=StringIO())
    assert "written 2, unchanged 2, refused 0" in out.getvalue()
    assert_scoped_to(capture, term)


def test_importing_documents_of_two_resellers_stays_on_them(
    term, other, tmp_path: Path
):
    """An import posts every row or none: one transaction locks all the
    accounts its rows belong to, and each statement stays on them."""
    bystander = factories.ResellerFactory(marketplace=term.marketplace)
    row = (
        "{market},{reseller},invoice,{number},2026-01-01,2026-01-31,12.50,"
        "{currency},upstream\n"
    )
    path = tmp_path / "documents.csv"
    path.write_text(
        "marketplace,reseller,kind,number,issue_date,due_date,total,currency,"
        "description\n"
        + "".join(
            row.format(
                market=term.marketplace.code,
                reseller=reseller.pk,
                number=f"UP-{n}",
                currency=reseller.currency,
            )
            for n, reseller in enumerate((term, other, term))
        )
    )
    with Capture() as capture:
        call_command(
            "import_documents", str(path), stdout=StringIO(), stderr=StringIO()
        )
    assert_scoped_to(capture, term, other)
    assert term.documents.filter(number__startswith="UP-").count() == 2
    # Held to the wrong pair, the same import is caught.
    with pytest.raises(AssertionError):
        assert_scoped_to(capture, term, bystander)


def test_a_statement_past_the_reseller_is_caught(term, other):
    """The checker is not blind: reading another reseller's row is reported."""
    with Capture() as capture:
        with transaction.atomic():
            lock_reseller(term.pk)
            list(Document.objects.filter(reseller=other))
    with pytest.raises(AssertionError, match="other resellers"):
        assert_scoped_to(capture, term)


def test_holding_and_releasing_a_document_stay_on_the_reseller(
    prepaid_reseller, staff_user
):
    factories.ResellerFactory(marketplace=prepaid_reseller.marketplace)
    invoice = factories.post(prepaid_reseller, "invoice", "30.00")
    factories.post(prepaid_reseller, "credit_memo", "10.00")
    with Capture() as capture:
        services.hold_document(document=invoice, reason="disputed", actor=staff_user)
    assert_scoped_to(capture, prepaid_reseller)
    with Capture() as capture:
        services.release_hold(document=invoice, reason="settled", actor=staff_user)
    # Released, the prepaid account's credit applies to it at once.
    assert_scoped_to(capture, prepaid_reseller)
    assert Document.objects.get(pk=invoice.pk).open_amount == Decimal("20.00")


def test_assigning_a_bank_line_stays_on_the_reseller(term, other, staff_user):
    invoice = factories.post(term, "invoice", "150.00")
    queued = bank.queued_line(term.marketplace)
    with Capture() as capture:
        assign_bank_line(
            line=queued,
            reseller=term,
            document_ids=[invoice.pk],
            reason="payer's remittance advice",
            actor=staff_user,
            idempotency_key="assign-1",
        )
    assert_scoped_to(capture, term)
    assert Document.objects.get(pk=invoice.pk).open_amount == 0


def test_returning_a_bank_line_stays_on_its_marketplace(term, staff_user):
    queued = bank.queued_line(term.marketplace)
    with Capture() as capture:
        return_bank_line(
            line=queued,
            reason="not our customer",
            actor=staff_user,
            idempotency_key="return-1",
        )
    assert_on_marketplace(capture, term.marketplace)
    with Capture() as replay:
        return_bank_line(
            line=queued,
            reason="not our customer",
            actor=staff_user,
            idempotency_key="return-1",
        )
    assert_on_marketplace(replay, term.marketplace)


# The reseller lock (billing.locking.LOCK), with the reseller it locks.
RESELLER_LOCK = re.compile(
    r'^SELECT .* FROM "billing_reseller" INNER JOIN "billing_marketplace" .*'
    r'WHERE "billing_reseller"\."id" = (\d+)',
    re.S,
)


def test_importing_a_bank_statement_stays_on_the_resellers_it_pays(db):
    """The one write spanning resellers: a statement pays several at once.

    Its transaction locks the marketplace's bank account, matches the lines
    by reads within the marketplace, locks the resellers it pays (in id
    order), and from then on every statement stays on those resellers; on a
    sharded database a transaction across their shards.
    """
    de = bank.de_marketplace()
    cobalt = bank.reseller(de, "Cobalt Systems GmbH")
    invoice = factories.post(cobalt, "invoice", "119.00", number="DE-INV-2026-0001")
    bank.awaiting(cobalt, [invoice], 4711)
    delta = bank.reseller(de, "Delta Tech AG")
    bank.awaiting(delta, [factories.post(delta, "invoice", "500.00")], 4712)
    nordlicht = bank.reseller(de, "Nordlicht IT")
    factories.post(nordlicht, "invoice", "360.50", number="DE-INV-2026-0107")
    factories.post(nordlicht, "invoice", "500.00", number="DE-INV-2026-0108")
    bystander = bank.reseller(de, "Bystander")
    factories.post(bystander, "invoice", "20.00")
    paid = sorted(r.pk for r in (cobalt, delta, nordlicht))

    with Capture() as capture:
        result = bank.import_fixture("camt053_v02.xml")
    assert result.applied == 3

    (statements,) = capture.transactions()  # all or nothing: one transaction
    locks = [
        (n, int(match.group(1)))
        for n, sql in enumerate(statements)
        if (match := RESELLER_LOCK.match(sql))
    ]
    assert [pk for _n, pk in locks] == paid
    first, last = locks[0][0], locks[-1][0]
    assert last - first == len(paid) - 1, "the locks are taken together"
    assert "billing_marketplacebankaccount" in statements[0]
    problems = [
        f"{why}:\n  {sql}"
        for sql in statements[:first]
        if (why := marketplace_read_problems(sql, de.pk))
    ]
    problems += [
        f"{why}:\n  {sql}"
        for sql in statements[last + 1 :]
        if (why := scope_problems(sql, paid, de.pk))
    ]
    assert not problems, "\n".join(problems)
    outside = [s.sql for s in capture.statements if not s.in_transaction]
    assert all(sql.lstrip().upper().startswith("SELECT") for sql in outside)
