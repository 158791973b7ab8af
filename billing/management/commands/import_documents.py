"""Import AR documents from the upstream billing system (CSV or JSON lines).

Each row names a marketplace (code), a reseller (id or exact name within the
marketplace), kind, number, issue and due dates, total, currency and
description. Every good row is posted by ``billing.services.post_document``
in its own transaction; bad rows are reported with their line number and
skipped. Re-running a file is safe: a document already in the ledger with the
same values counts as unchanged, one with other values is a conflict.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing import services
from billing.exceptions import BillingError, ReservedDocumentNumber
from billing.models import (
    CREDIT_KINDS,
    Document,
    DocumentKind,
    Marketplace,
    Reseller,
    Source,
)
from billing.money import parse_amount
from billing.services._numbers import RESERVED_PREFIXES, is_reserved_number
from billing.services.documents import MAX_NUMBER_LENGTH

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
MAX_DESCRIPTION_LENGTH = 500
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


@dataclass
class Counts:
    imported: int = 0
    unchanged: int = 0
    failed: int = 0

    @property
    def rows(self) -> int:
        return self.imported + self.unchanged + self.failed

    def __str__(self) -> str:
        return (
            f"imported {self.imported}, unchanged {self.unchanged}, "
            f"failed {self.failed}"
        )


class Command(BaseCommand):
    help = (
        "Import AR documents from a CSV or JSON-lines file (columns: "
        + ",".join(COLUMNS)
        + "). Idempotent on marketplace + number; exits non-zero if any row "
        "failed."
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
            help="Validate every row and report, writing nothing.",
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
        self.dry_run = options["dry_run"]
        self.progress_every = max(options["progress_every"], 0)
        self.verbosity = options["verbosity"]
        self.marketplaces = {m.code.upper(): m for m in Marketplace.objects.all()}
        self.resellers: dict[int, tuple[dict[str, Reseller], dict[str, list]]] = {}
        # (marketplace id, number) -> (line, row) for numbers seen in this file.
        self.seen: dict[tuple[int, str], tuple[int, Row]] = {}
        counts = Counts()

        if path == "-":
            self._import(sys.stdin, file_format, counts)
        else:
            try:
                with open(path, encoding="utf-8-sig", newline="") as stream:
                    self._import(stream, file_format, counts)
            except OSError as exc:
                raise CommandError(f"Cannot read {path}: {exc.strerror}") from exc
            except UnicodeDecodeError as exc:
                raise CommandError(f"{path} is not UTF-8 text: {exc}") from exc

        note = " (dry run: nothing was written)" if self.dry_run else ""
        style = self.style.ERROR if counts.failed else self.style.SUCCESS
        self.stdout.write(style(f"{counts}{note}"))
        if counts.failed:
            raise CommandError(f"{counts.failed} row(s) failed; see the report above.")

    # --- reading -------------------------------------------------------------

    def _import(self, stream: TextIO, file_format: str, counts: Counts) -> None:
        reader = self._csv_rows if file_format == "csv" else self._jsonl_rows
        for line, record in reader(stream):
            try:
                if isinstance(record, RowError):
                    raise record
                self._import_row(line, record, counts)
            except RowError as exc:
                counts.failed += 1
                self.stderr.write(f"line {line}: {exc}")
            if self.progress_every and counts.rows % self.progress_every == 0:
                self._progress(counts)

    def _csv_rows(self, stream: TextIO) -> Iterator[tuple[int, dict | RowError]]:
        reader = csv.DictReader(stream)
        header = [name.strip() for name in reader.fieldnames or ()]
        missing = [name for name in REQUIRED if name not in header]
        if missing:
            raise CommandError(
                f"line 1: the header lacks column(s) {', '.join(missing)}; "
                f"expected {','.join(COLUMNS)}"
            )
        reader.fieldnames = header
        try:
            for record in reader:
                if None in record:
                    yield reader.line_num, RowError("too many fields")
                elif any(value is None for value in record.values()):
                    yield reader.line_num, RowError("too few fields")
                elif any((value or "").strip() for value in record.values()):
                    yield reader.line_num, record
        except csv.Error as exc:
            raise CommandError(f"line {reader.line_num}: {exc}") from exc

    def _jsonl_rows(self, stream: TextIO) -> Iterator[tuple[int, dict | RowError]]:
        for line, text in enumerate(stream, start=1):
            if not text.strip():
                continue
            try:
                # Decimal, never float: 12.30 must stay exactly 12.30.
                record = json.loads(text, parse_float=Decimal)
            except ValueError as exc:
                yield line, RowError(f"invalid JSON: {exc}")
                continue
            if not isinstance(record, dict):
                yield line, RowError("a JSON object is expected")
                continue
            yield line, record

    def _progress(self, counts: Counts) -> None:
        if self.verbosity >= 1:
            self.stderr.write(f"… {counts.rows} rows: {counts}", ending="\n")

    # --- one row -------------------------------------------------------------

    def _import_row(self, line: int, record: dict, counts: Counts) -> None:
        row = self._validate(record)
        key = (row.reseller.marketplace_id, row.number)
        earlier = self.seen.get(key)
        if earlier is not None:
            earlier_line, earlier_row = earlier
            if earlier_row != row:
                raise RowError(
                    f"{row.number}: conflicts with line {earlier_line} of this "
                    "file (same number, other values)"
                )
            counts.unchanged += 1
            return
        existing = (
            Document.objects.filter(
                marketplace_id=row.reseller.marketplace_id, number=row.number
            )
            .select_related("reseller")
            .first()
        )
        if existing is not None:
            different = row.differences(existing)
            if different:
                raise RowError(
                    f"{row.number}: conflicts with the document already in the "
                    f"ledger (differs in {', '.join(different)})"
                )
            counts.unchanged += 1
            self.seen[key] = (line, row)
            return
        if not self.dry_run:
            try:
                services.post_document(
                    reseller=row.reseller,
                    kind=row.kind,
                    number=row.number,
                    total=row.total,
                    issue_date=row.issue_date,
                    due_date=row.due_date,
                    description=row.description,
                    source=Source.IMPORT,
                )
            except BillingError as exc:
                raise RowError(f"{row.number}: {exc.message}") from exc
        self.seen[key] = (line, row)
        counts.imported += 1

    def _validate(self, record: dict) -> Row:
        """Return the row parsed and checked, or raise :class:`RowError`."""
        values = {name: _text(record.get(name)) for name in COLUMNS}
        missing = [name for name in REQUIRED if not values[name]]
        if missing:
            raise RowError(f"missing {', '.join(missing)}")
        number = values["number"]
        if len(number) > MAX_NUMBER_LENGTH:
            raise RowError(f"number longer than {MAX_NUMBER_LENGTH} characters")
        if is_reserved_number(number):
            raise RowError(
                f"{number}: numbers starting with {', '.join(RESERVED_PREFIXES)} "
                f"are issued by the system [{ReservedDocumentNumber.code}]"
            )
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
            if kind in CREDIT_KINDS:
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
        raw_total = record.get("total")
        try:
            total = parse_amount(
                raw_total if isinstance(raw_total, Decimal | int) else values["total"],
                reseller.currency,
            )
        except BillingError as exc:
            raise RowError(
                f"{prefix}bad amount {values['total']!r}: {exc.message}"
            ) from exc

        description = values["description"]
        if len(description) > MAX_DESCRIPTION_LENGTH:
            raise RowError(
                f"{prefix}description longer than {MAX_DESCRIPTION_LENGTH} characters"
            )
        return Row(
            reseller=reseller,
            kind=kind,
            number=number,
            issue_date=issue_date,
            due_date=due_date,
            total=total,
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


def _text(value: object) -> str:
    """Return a CSV cell or JSON value as stripped text ("" for null)."""
    if value is None:
        return ""
    return str(value).strip()


def _date(value: str, name: str, prefix: str) -> date:
    try:
        if not ISO_DATE.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise RowError(
            f"{prefix}bad {name.replace('_', ' ')} {value!r} (expected YYYY-MM-DD)"
        ) from None
