"""Import AR documents from the upstream billing system (CSV or JSON lines).

Each row names a marketplace (code), a reseller (id or exact name within the
marketplace), kind, number, issue and due dates, total, currency and
description.

An import is all or nothing. The file is read once, streamed, so its size
does not matter: each row is checked as it is read (every refusal is
reported with its line number) and the good rows go to a staging table in
the database (:mod:`billing.services.imports`), which then answers for the
whole file which numbers repeat within it and which the ledger already
holds. Only when no row is refused are the documents posted, in one
transaction. With ``--partial`` the good rows are posted and the refused ones
reported. Either way the command ends with a summary: written, unchanged and
refused rows.

Re-running a file is safe: a document already in the ledger with the same
values counts as unchanged, one with other values is refused as a conflict.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from array import array
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing.exceptions import BillingError, InvalidAmount
from billing.models import DocumentKind, Marketplace, Reseller, Source
from billing.money import parse_amount
from billing.services.documents import (
    MAX_NUMBER_LENGTH,
    NewDocument,
    clean_document,
)
from billing.services.imports import (
    Staging,
    post_staged_documents,
    staged_documents,
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
MAX_DESCRIPTION_LENGTH = 500
# Longer cells are refused (the csv module's own limit), so one bad line
# never holds more than this in memory.
MAX_FIELD_LENGTH = 128 * 1024
MAX_LINES_LISTED = 50
KINDS = frozenset(DocumentKind.values)
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class RowError(Exception):
    """A row that cannot be imported; the message says why."""


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

        report = Report()
        # Rows still to write, per reseller id.
        self.to_write: Counter[int] = Counter()
        with _opened(path) as raw, self._staged(raw, report) as staging:
            skip = self._check_file(staging, report)
            refused = bool(report.refused)
            writing = not options["dry_run"] and (options["partial"] or not refused)
            if writing and report.new:
                self._write(staging, skip, report)
        self._summarize(report, dry_run=options["dry_run"], writing=writing)

    # --- check every row, staging the good ones ------------------------------

    @contextmanager
    def _staged(self, raw: BinaryIO, report: Report) -> Iterator[Staging]:
        """Check every row as it is read; stage the good ones in the database."""
        try:
            with staged_documents(self._checked_rows(raw, report)) as staging:
                yield staging
        except (CommandError, BillingError):
            raise
        except Exception as exc:
            raise CommandError(
                f"The import failed while checking the file "
                f"({type(exc).__name__}: {exc}); nothing was written. "
                "Fix the cause and run it again."
            ) from exc

    def _checked_rows(
        self, raw: BinaryIO, report: Report
    ) -> Iterator[tuple[int, NewDocument]]:
        for line, record in self._records(raw):
            try:
                new = self._validate(record)
            except RowError as exc:
                self._refuse(report, line, str(exc))
            else:
                self.to_write[new.reseller.pk] += 1
                yield line, new
            if self.progress_every and line % self.progress_every == 0:
                self._progress(
                    f"… line {line} checked, {len(report.refused)} refused so far"
                )

    def _check_file(self, staging: Staging, report: Report) -> array[int]:
        """Decide the staged rows against the file and the ledger.

        Return the lines of the staged rows not to write: a repeat of an
        earlier row, or a number the ledger already holds.
        """
        repeats = array("q")
        for row in staging.file_duplicates():
            repeats.append(row.line)
            self.to_write[row.reseller_id] -= 1
            if row.same_values:
                report.unchanged += 1
            else:
                self._refuse(
                    report,
                    row.line,
                    f"{row.number}: conflicts with line {row.first_line} of this "
                    "file (same number, other values)",
                )
        if repeats:
            staging.skip(repeats)
        in_ledger = array("q")
        for row in staging.ledger_matches():
            in_ledger.append(row.line)
            self.to_write[row.reseller_id] -= 1
            if row.differences:
                self._refuse(
                    report,
                    row.line,
                    f"{row.number}: conflicts with the document already in "
                    f"the ledger (differs in {', '.join(row.differences)})",
                )
            else:
                report.unchanged += 1
        report.new = sum(self.to_write.values())
        report.refused.sort()
        return in_ledger

    def _refuse(self, report: Report, line: int, reason: str) -> None:
        report.refused.append(line)
        self.stderr.write(f"line {line}: {reason}")

    # --- write ---------------------------------------------------------------

    def _write(self, staging: Staging, skip: array[int], report: Report) -> None:
        """Post the staged rows to write, inside one transaction."""
        reseller_ids = [pk for pk, count in self.to_write.items() if count > 0]

        def progress(written: int) -> None:
            self._progress(f"… {written} documents written")

        try:
            report.written = post_staged_documents(
                staging,
                reseller_ids=reseller_ids,
                skip=skip,
                source=Source.IMPORT,
                progress=progress,
            )
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
            elif not "".join(values).strip():  # a blank line
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

    def _validate(self, record: dict | RowError) -> NewDocument:
        """Return the row parsed and checked, or raise :class:`RowError`."""
        if isinstance(record, RowError):
            raise record
        values = _texts(record)
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
        if kind not in KINDS:
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
            return clean_document(
                reseller=reseller,
                kind=kind,
                number=number,
                total=_amount(total, reseller.currency),
                issue_date=issue_date,
                due_date=due_date,
                description=description,
            )
        except InvalidAmount as exc:
            raise RowError(
                f"{prefix}bad amount {values['total']!r}: {exc.message}"
            ) from exc
        except BillingError as exc:
            raise RowError(f"{prefix}{exc.message} [{exc.code}]") from exc

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
def _opened(path: str) -> Iterator[BinaryIO]:
    """Yield the file (or standard input, for ``-``) to read, as bytes."""
    if path == "-":
        source = getattr(sys.stdin, "buffer", None)
        if source is None:  # a text stream standing in for stdin
            source = io.BytesIO(sys.stdin.read().encode("utf-8", "surrogateescape"))
        yield source
        return
    try:
        stream = open(path, "rb")  # noqa: SIM115 -- closed below
    except OSError as exc:
        raise CommandError(f"Cannot read {path}: {exc.strerror}") from exc
    with stream:
        yield stream


def _texts(record: dict) -> dict[str, str]:
    """Return the row's columns as stripped text, each checked by :func:`_text`.

    A row of ASCII text holds no NUL and no undecodable byte, and no cell of
    it is longer than the whole row: for the common row one look at all its
    cells together answers what :func:`_text` asks of each.
    """
    cells = [record.get(name) for name in COLUMNS]
    try:
        joined = "".join(cells)  # TypeError unless every cell is text
    except TypeError:
        pass
    else:
        if (
            len(joined) <= MAX_FIELD_LENGTH
            and joined.isascii()
            and "\x00" not in joined
        ):
            return {
                name: cell.strip() for name, cell in zip(COLUMNS, cells, strict=True)
            }
    return {
        name: _text(value, name) for name, value in zip(COLUMNS, cells, strict=True)
    }


def _text(value: object, name: str) -> str:
    """Return a CSV cell or JSON value as stripped text ("" for null).

    Text the database cannot store is refused here: a NUL character, or
    bytes that are not UTF-8 (lone surrogates, from the file or from JSON).
    """
    if value is None:
        return ""
    if isinstance(value, dict | list):
        raise RowError(f"{name} must be a single value, not a JSON object or array")
    text = value if type(value) is str else str(value)
    if len(text) > MAX_FIELD_LENGTH:
        raise RowError(f"{name} longer than {MAX_FIELD_LENGTH} characters")
    if "\x00" in text:
        raise RowError(f"{name} contains a NUL character")
    if not text.isascii():  # ASCII is valid UTF-8; only the rest is encoded
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise RowError(f"{name} is not valid UTF-8 text") from None
    return text.strip()


def _date(value: str, name: str, prefix: str) -> date:
    try:
        return _iso_date(value)
    except ValueError:
        raise RowError(
            f"{prefix}bad {name.replace('_', ' ')} {value!r} (expected YYYY-MM-DD)"
        ) from None


@lru_cache(maxsize=4096)
def _iso_date(value: str) -> date:
    # A file repeats its dates; a refused one raises and is not kept.
    if not ISO_DATE.fullmatch(value):
        raise ValueError(value)
    return date.fromisoformat(value)


def _amount(value: Decimal | int | str, currency: str) -> Decimal:
    """Return ``value`` parsed exactly in ``currency`` (:func:`parse_amount`)."""
    if type(value) is str:
        return _amount_text(value, currency)
    return parse_amount(value, currency)


@lru_cache(maxsize=4096)
def _amount_text(value: str, currency: str) -> Decimal:
    # A file repeats its prices; the same text always parses to the same
    # exact amount, and a refused one raises and is not kept.
    return parse_amount(value, currency)
