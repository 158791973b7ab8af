"""Import AR documents from the upstream billing system (CSV or JSON lines).

Each row names a marketplace (code), a reseller (id or exact name within the
marketplace), kind, number, issue and due dates, total, currency and
description.

An import is all or nothing. The file is read twice, streamed, so its size
does not matter: the first pass checks every row and reports every refusal
with its line number; only when no row is refused does the second pass post
the documents, in batches, inside one transaction (``post_documents``). With
``--partial`` the good rows are posted and the refused ones reported. Either
way the command ends with a summary: written, unchanged and refused rows.

Re-running a file is safe: a document already in the ledger with the same
values counts as unchanged, one with other values is refused as a conflict.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO

from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing.exceptions import BillingError, InvalidAmount
from billing.models import Document, DocumentKind, Marketplace, Reseller, Source
from billing.services.documents import (
    MAX_NUMBER_LENGTH,
    NewDocument,
    clean_document,
    post_documents,
)

COLUMNS = (
    "marketplace",
    "reseller",
    "kind",
    "number",
    "issue_date",
    "due_date",
    "total",
    "currency",
    "description",
)
REQUIRED = ("marketplace", "reseller", "kind", "number", "issue_date", "total")
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
DEFAULT_PROGRESS_EVERY = 1000
BATCH_SIZE = 500
MAX_DESCRIPTION_LENGTH = 500
# Longer cells are refused (the csv module's own limit), so one bad line
# never holds more than this in memory.
MAX_FIELD_LENGTH = 128 * 1024
MAX_LINES_LISTED = 50
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class RowError(Exception):
    """A row that cannot be imported; the message says why."""


@dataclass(frozen=True)
class Row:
    """A validated row, ready to post."""

    reseller: Reseller
    kind: str
    number: str
    issue_date: date
    due_date: date | None
    total: Decimal
    description: str

    def differences(self, document: Document) -> list[str]:
        """Return the fields in which ``document`` differs from this row."""
        different = []
        for name in (f.name for f in fields(self)):
            mine = getattr(self, name)
            theirs = getattr(document, name)
            if name == "reseller":
                mine, theirs = mine.pk, document.reseller_id
            if mine != theirs:
                different.append(name)
        return different

    def digest(self) -> str:
        """Return a short fingerprint of the values, to spot a conflicting copy."""
        values = [
            self.reseller.pk,
            self.kind,
            self.issue_date,
            self.due_date,
            self.total,
            self.description,
        ]
        return hashlib.sha256(repr(values).encode()).hexdigest()[:16]

    def new_document(self) -> NewDocument:
        return NewDocument(
            reseller=self.reseller,
            kind=self.kind,
            number=self.number,
            total=self.total,
            issue_date=self.issue_date,
            due_date=self.due_date,
            description=self.description,
        )


@dataclass
class Report:
    """What the file holds: rows to write, unchanged, refused (by line)."""

    new: int = 0
    unchanged: int = 0
    refused: list[int] = field(default_factory=list)
    written: int = 0

    @property
    def rows(self) -> int:
        return self.new + self.unchanged + len(self.refused)

    def refused_lines(self) -> str:
        shown = ", ".join(map(str, self.refused[:MAX_LINES_LISTED]))
        more = len(self.refused) - MAX_LINES_LISTED
        return shown + (f" and {more} more" if more > 0 else "")


class Command(BaseCommand):
    help = (
        "Import AR documents from a CSV or JSON-lines file (columns: "
        + ",".join(COLUMNS)
        + "). All or nothing unless --partial; idempotent on marketplace + "
        "number; exits non-zero if any row was refused."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="File to import, or - for standard input.")
        parser.add_argument(
            "--format",
            choices=sorted(set(FORMATS.values())),
            help="csv or jsonl (default: from the file extension).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Check every row and report, writing nothing.",
        )
        parser.add_argument(
            "--partial",
            action="store_true",
            help="Write the good rows even if some are refused (default: a file "
            "with a refused row writes nothing).",
        )
        parser.add_argument(
            "--progress-every",
            type=int,
            default=DEFAULT_PROGRESS_EVERY,
            metavar="N",
            help="Print a progress line to stderr every N rows (0: never).",
        )

    def handle(self, *args, **options) -> None:
        path = options["path"]
        file_format = options["format"] or FORMATS.get(Path(path).suffix.lower())
        if file_format is None:
            raise CommandError(
                f"Cannot tell the format of {path!r}: use a .csv, .jsonl or "
                ".ndjson file, or --format."
            )
        self.file_format = file_format
        self.progress_every = max(options["progress_every"], 0)
        self.verbosity = options["verbosity"]
        self.marketplaces = {m.code.upper(): m for m in Marketplace.objects.all()}
        self.resellers: dict[int, tuple[dict[str, Reseller], dict[str, list]]] = {}

        with _opened(path) as reopen:
            report, lines, reseller_ids = self._check_file(reopen)
            refused = bool(report.refused)
            writing = not options["dry_run"] and (options["partial"] or not refused)
            if writing and report.new:
                self._write(reopen, lines, reseller_ids, report)
        self._summarize(report, dry_run=options["dry_run"], writing=writing)

    # --- pass 1: check every row ---------------------------------------------

    def _check_file(
        self, reopen: Callable[[], BinaryIO]
    ) -> tuple[Report, set[int], set[int]]:
        """Check every row; return the report, the lines to write, the accounts."""
        report = Report()
        to_write: set[int] = set()
        reseller_ids: set[int] = set()
        # (marketplace id, number) -> (line, digest) of the rows seen so far.
        seen: dict[tuple[int, str], tuple[int, str]] = {}
        pending: list[tuple[int, Row]] = []

        def settle() -> None:
            """Decide the pending rows against the ledger, one query a batch."""
            existing = self._existing(row for _line, row in pending)
            for line, row in pending:
                document = existing.get((row.reseller.marketplace_id, row.number))
                if document is None:
                    report.new += 1
                    to_write.add(line)
                    reseller_ids.add(row.reseller.pk)
                    continue
                different = row.differences(document)
                if different:
                    self._refuse(
                        report,
                        line,
                        f"{row.number}: conflicts with the document already in "
                        f"the ledger (differs in {', '.join(different)})",
                    )
                else:
                    report.unchanged += 1
            pending.clear()

        for line, record in self._records(reopen()):
            try:
                row = self._validate(record)
            except RowError as exc:
                self._refuse(report, line, str(exc))
            else:
                key = (row.reseller.marketplace_id, row.number)
                earlier = seen.get(key)
                if earlier is None:
                    seen[key] = (line, row.digest())
                    pending.append((line, row))
                elif earlier[1] != row.digest():
                    self._refuse(
                        report,
                        line,
                        f"{row.number}: conflicts with line {earlier[0]} of this "
                        "file (same number, other values)",
                    )
                else:
                    report.unchanged += 1
            if len(pending) >= BATCH_SIZE:
                settle()
            if self.progress_every and line % self.progress_every == 0:
                self._progress(
                    f"… line {line} checked, {len(report.refused)} refused so far"
                )
        settle()
        report.refused.sort()
        return report, to_write, reseller_ids

    def _existing(self, rows) -> dict[tuple[int, str], Document]:
        by_marketplace: dict[int, list[str]] = {}
        for row in rows:
            by_marketplace.setdefault(row.reseller.marketplace_id, []).append(
                row.number
            )
        found = {}
        for marketplace_id, numbers in by_marketplace.items():
            for document in Document.objects.filter(
                marketplace_id=marketplace_id, number__in=numbers
            ):
                found[(marketplace_id, document.number)] = document
        return found

    def _refuse(self, report: Report, line: int, reason: str) -> None:
        report.refused.append(line)
        self.stderr.write(f"line {line}: {reason}")

    # --- pass 2: write -------------------------------------------------------

    def _write(
        self,
        reopen: Callable[[], BinaryIO],
        lines: set[int],
        reseller_ids: set[int],
        report: Report,
    ) -> None:
        """Post the rows to write, in batches, inside one transaction."""

        def batches() -> Iterator[list[NewDocument]]:
            batch: list[NewDocument] = []
            for line, record in self._records(reopen()):
                if line not in lines:
                    continue
                try:
                    batch.append(self._validate(record).new_document())
                except RowError as exc:  # the reference data changed meanwhile
                    raise CommandError(f"line {line}: {exc}") from exc
                if len(batch) >= BATCH_SIZE:
                    yield batch
                    report.written += len(batch)
                    self._progress(f"… {report.written} documents written")
                    batch = []
            if batch:
                yield batch

        try:
            report.written = post_documents(
                reseller_ids=reseller_ids, batches=batches(), source=Source.IMPORT
            )
        except CommandError as exc:
            raise CommandError(f"{exc}; nothing was written.") from exc
        except BillingError as exc:
            raise CommandError(
                f"The import was refused while writing ({exc.message}); "
                "nothing was written. Run it again."
            ) from exc
        except Exception as exc:
            raise CommandError(
                f"The import failed while writing ({type(exc).__name__}: {exc}); "
                "nothing was written. Fix the cause and run it again."
            ) from exc

    # --- the summary ---------------------------------------------------------

    def _summarize(self, report: Report, *, dry_run: bool, writing: bool) -> None:
        if dry_run:
            written, note = (
                f"would write {report.new}",
                " (dry run: nothing was written)",
            )
        elif writing:
            written, note = f"written {report.written}", ""
        else:
            written = "written 0"
            note = (
                f" (nothing written: {len(report.refused)} row(s) refused; fix them "
                "and run the file again, or import the good rows with --partial)"
            )
        refused = f"refused {len(report.refused)}"
        if report.refused:
            refused += f" (line(s) {report.refused_lines()})"
        summary = f"{written}, unchanged {report.unchanged}, {refused}{note}"
        style = self.style.ERROR if report.refused else self.style.SUCCESS
        self.stdout.write(style(summary))
        if report.refused:
            raise CommandError(
                f"{len(report.refused)} row(s) refused; see the report above."
            )

    def _progress(self, text: str) -> None:
        if self.progress_every and self.verbosity >= 1:
            self.stderr.write(text, ending="\n")

    # --- reading -------------------------------------------------------------

    def _records(self, raw: BinaryIO) -> Iterator[tuple[int, dict | RowError]]:
        # Undecodable bytes become lone surrogates, refused row by row below,
        # so one bad byte refuses its line and the rest is still checked.
        stream = io.TextIOWrapper(
            raw, encoding="utf-8-sig", errors="surrogateescape", newline=""
        )
        try:
            if self.file_format == "csv":
                yield from self._csv_rows(stream)
            else:
                yield from self._jsonl_rows(stream)
        finally:
            stream.close()

    def _csv_rows(
        self, stream: io.TextIOWrapper
    ) -> Iterator[tuple[int, dict | RowError]]:
        reader = csv.reader(stream)
        try:
            first = next(reader, [])
        except csv.Error as exc:
            raise CommandError(f"line 1: {exc}") from exc
        header = [name.strip() for name in first]
        missing = [name for name in REQUIRED if name not in header]
        if missing:
            raise CommandError(
                f"line 1: the header lacks column(s) {', '.join(missing)}; "
                f"expected {','.join(COLUMNS)}"
            )
        repeated = sorted({name for name in header if name and header.count(name) > 1})
        if repeated:
            raise CommandError(
                f"line 1: column(s) {', '.join(repeated)} appear more than once "
                "in the header"
            )
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield reader.line_num, RowError(f"unreadable CSV: {exc}")
                continue
            line = reader.line_num
            if len(values) > len(header):
                yield line, RowError("too many fields")
            elif not any(value.strip() for value in values):
                continue
            elif len(values) < len(header):
                yield line, RowError("too few fields")
            else:
                yield line, dict(zip(header, values, strict=True))

    def _jsonl_rows(
        self, stream: io.TextIOWrapper
    ) -> Iterator[tuple[int, dict | RowError]]:
        line = 0
        while True:
            text = stream.readline(MAX_FIELD_LENGTH * 4)
            if not text:
                return
            line += 1
            if not text.endswith("\n") and len(text) >= MAX_FIELD_LENGTH * 4:
                # An overlong line: skip the rest of it without holding it.
                while text and not text.endswith("\n"):
                    text = stream.readline(MAX_FIELD_LENGTH * 4)
                yield (
                    line,
                    RowError(f"line longer than {MAX_FIELD_LENGTH * 4} characters"),
                )
                continue
            if not text.strip():
                continue
            try:
                # Decimal, never float: 12.30 must stay exactly 12.30.
                record = json.loads(text, parse_float=Decimal)
            except RecursionError:
                yield line, RowError("invalid JSON: nested too deeply")
                continue
            except ValueError as exc:
                yield line, RowError(f"invalid JSON: {exc}")
                continue
            if not isinstance(record, dict):
                yield line, RowError("a JSON object is expected")
                continue
            yield line, record

    # --- one row -------------------------------------------------------------

    def _validate(self, record: dict | RowError) -> Row:
        """Return the row parsed and checked, or raise :class:`RowError`."""
        if isinstance(record, RowError):
            raise record
        values = {name: _text(record.get(name), name) for name in COLUMNS}
        missing = [name for name in REQUIRED if not values[name]]
        if missing:
            raise RowError(f"missing {', '.join(missing)}")
        number = values["number"]
        if len(number) > MAX_NUMBER_LENGTH:
            raise RowError(f"number longer than {MAX_NUMBER_LENGTH} characters")
        prefix = f"{number}: "

        marketplace = self.marketplaces.get(values["marketplace"].upper())
        if marketplace is None:
            raise RowError(f"{prefix}unknown marketplace {values['marketplace']!r}")
        reseller = self._reseller(marketplace, values["reseller"], prefix)

        kind = values["kind"].lower().replace(" ", "_").replace("-", "_")
        if kind not in DocumentKind.values:
            raise RowError(
                f"{prefix}bad kind {values['kind']!r} (expected one of "
                f"{', '.join(DocumentKind.values)})"
            )
        issue_date = _date(values["issue_date"], "issue_date", prefix)
        due_date = None
        if values["due_date"]:
            due_date = _date(values["due_date"], "due_date", prefix)
            if kind not in (DocumentKind.INVOICE, DocumentKind.DEBIT_MEMO):
                raise RowError(f"{prefix}a {kind} has no due date")
            if due_date < issue_date:
                raise RowError(
                    f"{prefix}due date {due_date} is before issue date {issue_date}"
                )

        currency = values["currency"].upper()
        if currency and currency != reseller.currency.upper():
            raise RowError(
                f"{prefix}currency {values['currency']!r} is not the reseller's "
                f"({reseller.currency})"
            )
        description = values["description"]
        if len(description) > MAX_DESCRIPTION_LENGTH:
            raise RowError(
                f"{prefix}description longer than {MAX_DESCRIPTION_LENGTH} characters"
            )
        raw_total = record.get("total")
        total = (
            raw_total
            if isinstance(raw_total, Decimal | int) and not isinstance(raw_total, bool)
            else values["total"]
        )
        try:
            new = clean_document(
                reseller=reseller,
                kind=kind,
                number=number,
                total=total,
                issue_date=issue_date,
                due_date=due_date,
                description=description,
            )
        except BillingError as exc:
            if isinstance(exc, InvalidAmount):
                raise RowError(
                    f"{prefix}bad amount {values['total']!r}: {exc.message}"
                ) from exc
            raise RowError(f"{prefix}{exc.message} [{exc.code}]") from exc
        return Row(
            reseller=reseller,
            kind=kind,
            number=new.number,
            issue_date=issue_date,
            due_date=due_date,
            total=new.total,
            description=description,
        )

    def _reseller(self, marketplace: Marketplace, value: str, prefix: str) -> Reseller:
        """Find the reseller by id, else by exact name, within the marketplace."""
        if marketplace.pk not in self.resellers:
            by_id: dict[str, Reseller] = {}
            by_name: dict[str, list[Reseller]] = {}
            for reseller in Reseller.objects.filter(marketplace=marketplace):
                reseller.marketplace = marketplace
                by_id[str(reseller.pk)] = reseller
                by_name.setdefault(reseller.name, []).append(reseller)
            self.resellers[marketplace.pk] = (by_id, by_name)
        by_id, by_name = self.resellers[marketplace.pk]
        if value in by_id:
            return by_id[value]
        matches = by_name.get(value, [])
        if len(matches) > 1:
            raise RowError(
                f"{prefix}reseller name {value!r} is ambiguous in marketplace "
                f"{marketplace.code}; use the reseller id"
            )
        if not matches:
            raise RowError(
                f"{prefix}unknown reseller {value!r} in marketplace {marketplace.code}"
            )
        return matches[0]


@contextmanager
def _opened(path: str) -> Iterator[Callable[[], BinaryIO]]:
    """Yield a function that opens the file afresh for each pass.

    Standard input is copied once to a temporary file, so it can be read
    twice like any file.
    """
    if path == "-":
        with tempfile.NamedTemporaryFile(prefix="import-") as spool:
            source = getattr(sys.stdin, "buffer", None)
            if source is None:  # a text stream standing in for stdin
                spool.write(sys.stdin.read().encode("utf-8", "surrogateescape"))
            else:
                shutil.copyfileobj(source, spool)
            spool.flush()
            yield lambda: open(spool.name, "rb")
        return
    try:
        open(path, "rb").close()
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror}") from exc
    yield lambda: open(path, "rb")


def _text(value: object, name: str) -> str:
    """Return a CSV cell or JSON value as stripped text ("" for null).

    Text the database cannot store is refused here: a NUL character, or
    bytes that are not UTF-8 (lone surrogates, from the file or from JSON).
    """
    if value is None:
        return ""
    if isinstance(value, dict | list):
        raise RowError(f"{name} must be a single value, not a JSON object or array")
    text = str(value)
    if len(text) > MAX_FIELD_LENGTH:
        raise RowError(f"{name} longer than {MAX_FIELD_LENGTH} characters")
    if "\x00" in text:
        raise RowError(f"{name} contains a NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise RowError(f"{name} is not valid UTF-8 text") from None
    return text.strip()


def _date(value: str, name: str, prefix: str) -> date:
    try:
        if not ISO_DATE.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise RowError(
            f"{prefix}bad {name.replace('_', ' ')} {value!r} (expected YYYY-MM-DD)"
        ) from None
