"""Importing many documents at once, set-wise, through a staging table.

The import streams its checked rows into a temporary table on the import's
own connection (``COPY … FROM STDIN`` on PostgreSQL, batched inserts
elsewhere), so a file of any size is never held in memory. What needs the
whole file is then asked of the database in a few set queries: the numbers a
file repeats, and the numbers the ledger already holds. Posting is one
transaction that locks every reseller of the file (in id order, so two
imports never deadlock) and then, per reseller, inserts its documents with
one ``INSERT … SELECT`` restricted to it, counts them on the account, writes
their audit entries the same way, and applies a prepaid account's credit.
"""

# SQL here is built from constants and model metadata only; values are
# parameters, or ids checked to be integers.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from types import SimpleNamespace

from django.db import IntegrityError, connection, transaction
from django.utils import timezone, translation

from billing.audit import describe
from billing.exceptions import DuplicateDocumentNumber
from billing.locking import lock_resellers
from billing.models import AuditEvent, Document, Reseller, Source
from billing.rows import integer
from billing.services.documents import NewDocument
from billing.services.ledger_steps import Actor, auto_apply, user_or_none

STAGING = "import_staging"
# The schema of the connection's temporary tables: a drop never reaches a
# permanent table of the same name.
TEMPORARY = "pg_temp" if connection.vendor == "postgresql" else "temp"
# Fields compared with a document already in the ledger, in the order a
# conflict names them.
COMPARED = (
    "reseller",
    "kind",
    "number",
    "issue_date",
    "due_date",
    "total",
    "description",
)
INSERT_BATCH = 500
STAGE_BATCH = 5000
FETCH_ROWS = 2000
SUMMARY_LENGTH = 500
# Stands for the document number in a cached sentence; never in a number.
NUMBER_MARK = "\x00"
# Amounts are staged as the ledger stores them (thousandths, an integer).
_TOTAL = Document._meta.get_field("total")

_COLUMNS = (
    "line",
    "reseller_id",
    "marketplace_id",
    "kind",
    "number",
    "issue_date",
    "due_date",
    "total",
    "amount",
    "description",
    "summary",
)


@dataclass(frozen=True)
class FileDuplicate:
    """A row repeating the number of an earlier row of the file."""

    line: int
    reseller_id: int
    number: str
    first_line: int
    same_values: bool


@dataclass(frozen=True)
class LedgerMatch:
    """A row whose number the ledger already holds in its marketplace."""

    line: int
    reseller_id: int
    number: str
    differences: tuple[str, ...]


def posted_summary(new: NewDocument) -> str:
    """Return the English sentence of the document's "posted" audit entry."""
    sentence = _posted_sentence(new.kind, str(new.total), new.reseller.currency)
    return sentence.replace(NUMBER_MARK, new.number)[:SUMMARY_LENGTH]


@lru_cache(maxsize=4096)
def _posted_sentence(kind: str, amount: str, currency: str) -> str:
    # Rendering (translation, currency formatting) costs more than the rest
    # of a row; a file repeats kinds and amounts, so the sentence is made
    # once per kind and amount, with a mark where the number goes.
    event = SimpleNamespace(
        action=AuditEvent.Action.DOCUMENT_POSTED,
        summary="",
        facts={
            "kind": kind,
            "number": NUMBER_MARK,
            "amount": amount,
            "currency": currency,
        },
    )
    with translation.override("en"):
        return describe(event)


class Staging:
    """The checked rows of one file, in a temporary table of this connection."""

    def __init__(self) -> None:
        self.postgres = connection.vendor == "postgresql"

    # --- filling -------------------------------------------------------------

    def create(self) -> None:
        """Create the empty staging table (replacing one left on the connection)."""
        id_type = "bigint" if self.postgres else "integer"
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {TEMPORARY}.{STAGING}")
            document_id = ""
            if self.postgres:
                # Each staged row draws its document's id as it arrives, so
                # the audit entries need not look the documents up again.
                cursor.execute(
                    "SELECT pg_get_serial_sequence(%s, 'id')",
                    [connection.ops.quote_name(Document._meta.db_table)],
                )
                (sequence,) = cursor.fetchone()
                literal = sequence.replace("'", "''")
                document_id = f"document_id bigint DEFAULT nextval('{literal}'), "
            cursor.execute(
                f"CREATE TEMPORARY TABLE {STAGING} ("
                "line integer NOT NULL, "
                f"reseller_id {id_type} NOT NULL, "
                f"marketplace_id {id_type} NOT NULL, "
                "kind text NOT NULL, "
                "number text NOT NULL, "
                "issue_date date NOT NULL, "
                "due_date date, "
                f"total {id_type} NOT NULL, "
                "amount text NOT NULL, "
                "description text NOT NULL, "
                "summary text NOT NULL, "
                f"{document_id}"
                "keep boolean NOT NULL DEFAULT true)"
            )

    def fill(self, rows: Iterable[tuple[int, NewDocument]]) -> None:
        """Stream ``rows`` (line, checked document) into the table.

        Rows are read, and their resellers found, outside any transaction;
        each batch is then written to the staging table in one of its own.
        """
        batch: list[tuple] = []
        for line, new in rows:
            batch.append(self._values(line, new))
            if len(batch) >= STAGE_BATCH:
                self._stage(batch)
                batch = []
        if batch:
            self._stage(batch)
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"CREATE INDEX {STAGING}_number ON {STAGING} "
                "(marketplace_id, number, line)"
            )
            cursor.execute(
                f"CREATE INDEX {STAGING}_reseller ON {STAGING} (reseller_id, line)"
            )
            cursor.execute(f"CREATE UNIQUE INDEX {STAGING}_line ON {STAGING} (line)")
            cursor.execute(f"ANALYZE {STAGING}")

    def _values(self, line: int, new: NewDocument) -> tuple:
        return (
            line,
            new.reseller.pk,
            new.reseller.marketplace_id,
            new.kind,
            new.number,
            new.issue_date.isoformat(),
            new.due_date.isoformat() if new.due_date else None,
            _TOTAL.get_prep_value(new.total),
            str(new.total),
            new.description,
            posted_summary(new),
        )

    def _stage(self, batch: list[tuple]) -> None:
        columns = ", ".join(_COLUMNS)
        with transaction.atomic(), connection.cursor() as cursor:
            if self.postgres:
                sql = f"COPY {STAGING} ({columns}) FROM STDIN"
                with cursor.copy(sql) as copy:
                    for values in batch:
                        copy.write_row(values)
            else:
                cursor.executemany(
                    f"INSERT INTO {STAGING} ({columns}) "
                    f"VALUES ({', '.join(['%s'] * len(_COLUMNS))})",
                    batch,
                )

    def drop(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {TEMPORARY}.{STAGING}")

    # --- asking the whole file -----------------------------------------------

    def file_duplicates(self) -> Iterator[FileDuplicate]:
        """Yield every row repeating a number of an earlier row of the file."""
        same = " AND ".join(
            f"s.{column} {'IS NOT DISTINCT FROM' if self.postgres else 'IS'} f.{column}"
            for column in (
                "reseller_id",
                "kind",
                "issue_date",
                "due_date",
                "total",
                "description",
            )
        )
        # The numbers the file repeats, each with its first line: one pass
        # over the staging table's number index, usually finding none.
        repeated = (
            f"SELECT marketplace_id, number, MIN(line) AS line FROM {STAGING} "
            "GROUP BY marketplace_id, number HAVING COUNT(*) > 1"
        )
        sql = (
            f"SELECT s.line, s.reseller_id, s.number, f.line, {same} "
            f"FROM ({repeated}) r JOIN {STAGING} f ON f.line = r.line "
            f"JOIN {STAGING} s ON s.marketplace_id = r.marketplace_id "
            "AND s.number = r.number AND s.line > r.line "
            "ORDER BY s.line"
        )
        for line, reseller_id, number, first_line, same in self._fetch(sql):
            yield FileDuplicate(line, reseller_id, number, first_line, bool(same))

    def ledger_matches(self) -> Iterator[LedgerMatch]:
        """Yield every kept row whose number the ledger holds, and how it differs.

        A read across the file's marketplaces, outside any lock: posting
        checks again, through the unique number of a marketplace.
        """
        distinct = "IS DISTINCT FROM" if self.postgres else "IS NOT"
        compared = {
            "reseller": "s.reseller_id <> d.reseller_id",
            "kind": "s.kind <> d.kind",
            "number": "s.number <> d.number",
            "issue_date": "s.issue_date <> d.issue_date",
            "due_date": f"s.due_date {distinct} d.due_date",
            "total": "s.total <> d.total",
            "description": "s.description <> d.description",
        }
        flags = ", ".join(f"({compared[name]})" for name in COMPARED)
        table = Document._meta.db_table
        sql = (
            f"SELECT s.line, s.reseller_id, s.number, {flags} "
            f'FROM {STAGING} s JOIN "{table}" d '
            'ON d."marketplace_id" = s.marketplace_id AND d."number" = s.number '
            "WHERE s.keep ORDER BY s.line"
        )
        for line, reseller_id, number, *differ in self._fetch(sql):
            differences = tuple(
                name for name, flag in zip(COMPARED, differ, strict=True) if flag
            )
            yield LedgerMatch(line, reseller_id, number, differences)

    def _fetch(self, sql: str) -> Iterator[tuple]:
        """Yield the rows of ``sql``, a page at a time.

        One statement over the whole file, read through a server-side cursor
        on PostgreSQL: however many rows match (a file run twice matches all
        of them), only a page of them is held here.
        """
        with connection.chunked_cursor() as cursor:
            cursor.execute(sql)
            while page := cursor.fetchmany(FETCH_ROWS):
                yield from page

    def skip(self, lines: Sequence[int]) -> None:
        """Leave the rows on ``lines`` out of posting."""
        with transaction.atomic(), connection.cursor() as cursor:
            for start in range(0, len(lines), INSERT_BATCH):
                part = lines[start : start + INSERT_BATCH]
                cursor.execute(
                    f"UPDATE {STAGING} SET keep = false WHERE line IN "
                    f"({', '.join(['%s'] * len(part))})",
                    list(part),
                )

    # --- posting -------------------------------------------------------------

    def post_reseller(
        self, reseller: Reseller, *, actor: Actor | None, source: str
    ) -> int:
        """Insert the reseller's kept rows as documents with their audit entries.

        Call under the reseller's lock. Returns how many documents were posted.
        """
        now = connection.ops.adapt_datetimefield_value(timezone.now())
        actor_id = actor.pk if actor is not None else None
        with connection.cursor() as cursor:
            cursor.execute(
                self._insert_documents_sql(reseller), [source, now, reseller.pk]
            )
            posted = cursor.rowcount
            if not posted:
                return 0
            cursor.execute(
                f'UPDATE "{Reseller._meta.db_table}" SET "document_count" = '
                f'"document_count" + %s WHERE "{Reseller._meta.db_table}"."id" = %s',
                [posted, reseller.pk],
            )
            cursor.execute(
                self._insert_audit_sql(reseller),
                [actor_id, source, reseller.currency, now, reseller.pk]
                + ([] if self.postgres else [reseller.pk]),
            )
        return posted

    def _insert_documents_sql(self, reseller: Reseller) -> str:
        columns = {
            "reseller_id": integer(reseller.pk),
            "marketplace_id": integer(reseller.marketplace_id),
            "kind": "s.kind",
            "number": "s.number",
            "issue_date": "s.issue_date",
            "due_date": "s.due_date",
            "total": "s.total",
            "open_amount": "s.total",
            "description": "s.description",
            "source": "%s",
            "created_at": "%s",
            "hold_reason": "''",
        }
        if self.postgres:
            columns["id"] = "s.document_id"
        return (
            f'INSERT INTO "{Document._meta.db_table}" '
            f"({_quoted(columns)}) "
            f"SELECT {', '.join(columns.values())} FROM {STAGING} s "
            "WHERE s.reseller_id = %s AND s.keep ORDER BY s.line"
        )

    def _insert_audit_sql(self, reseller: Reseller) -> str:
        if self.postgres:
            facts = (
                "jsonb_build_object('kind', s.kind, 'number', s.number, "
                "'amount', s.amount, 'currency', %s::text)"
            )
        else:
            facts = (
                "json_object('kind', s.kind, 'number', s.number, "
                "'amount', s.amount, 'currency', %s)"
            )
        columns = {
            "reseller_id": integer(reseller.pk),
            "action": f"'{AuditEvent.Action.DOCUMENT_POSTED.value}'",
            "actor_id": "%s",
            "source": "%s",
            "reason": "''",
            "document_id": "s.document_id" if self.postgres else "d.id",
            "amount": "s.total",
            "summary": "s.summary",
            "facts": facts,
            "created_at": "%s",
        }
        source = f"{STAGING} s"
        where = "s.reseller_id = %s AND s.keep"
        if not self.postgres:  # the documents' ids, by their numbers
            source += (
                f' JOIN "{Document._meta.db_table}" d ON d."marketplace_id" = '
                's.marketplace_id AND d."number" = s.number'
            )
            where = f'd."reseller_id" = %s AND {where}'
        return (
            f'INSERT INTO "{AuditEvent._meta.db_table}" ({_quoted(columns)}) '
            f"SELECT {', '.join(columns.values())} FROM {source} "
            f"WHERE {where} ORDER BY s.line"
        )


@contextmanager
def staged_documents(rows: Iterable[tuple[int, NewDocument]]) -> Iterator[Staging]:
    """Stream the checked rows into a staging table; drop it when done."""
    staging = Staging()
    try:
        with transaction.atomic():
            staging.create()
        staging.fill(rows)
        yield staging
    finally:
        with transaction.atomic():
            staging.drop()


def post_staged_documents(
    staging: Staging,
    *,
    reseller_ids: Iterable[int],
    skip: Sequence[int],
    actor: Actor | None = None,
    source: str = Source.IMPORT,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Post the staged rows in one transaction: all of them, or none.

    ``reseller_ids`` names every account the rows belong to: they are locked
    first, in id order, and held until the end. The rows on ``skip`` lines
    are left out. Returns how many documents were posted.
    """
    actor = user_or_none(actor)
    written = 0
    try:
        with transaction.atomic(durable=True):
            locked = lock_resellers(reseller_ids)
            staging.skip(skip)
            for reseller in locked:
                written += staging.post_reseller(reseller, actor=actor, source=source)
                if reseller.is_prepaid:
                    auto_apply(reseller=reseller, actor=actor, source=source)
                if progress is not None:
                    progress(written)
    except IntegrityError as exc:
        # Another poster took one of the numbers since the file was checked.
        raise DuplicateDocumentNumber() from exc
    return written


def _quoted(columns: dict[str, str]) -> str:
    return ", ".join(f'"{name}"' for name in columns)
