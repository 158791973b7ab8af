"""Import bank statements: ``manage.py import_statement FILE [FILE …]``.

camt.053 / camt.054 (any version), BAI2, MT940 or CSV, recognised by content.
Each statement is imported in one transaction; lines already imported (same
bank entry reference on the same account) are skipped, so importing a file
twice, or overlapping statements, adds nothing the second time.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing.exceptions import BillingError
from billing.models import Source
from billing.services.cash_application import import_statement
from billing.statements import MAX_STATEMENT_BYTES


class Command(BaseCommand):
    help = "Import bank statements (camt.053/054, BAI2, MT940, CSV) and apply cash."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("files", nargs="+", metavar="FILE")

    def handle(self, *args, **options) -> None:
        failed = 0
        for name in options["files"]:
            path = Path(name)
            try:
                if path.stat().st_size > MAX_STATEMENT_BYTES:
                    raise CommandError(
                        f"{name}: larger than {MAX_STATEMENT_BYTES // 2**20} MB; "
                        "nothing imported."
                    )
                data = path.read_bytes()
                result = import_statement(
                    data=data, file_name=path.name, actor=None, source=Source.BANK
                )
            except OSError as exc:
                self.stderr.write(f"{name}: {exc.strerror or exc}")
                failed += 1
                continue
            except BillingError as exc:
                self.stderr.write(f"{name}: {exc.message} Nothing was imported.")
                failed += 1
                continue
            except CommandError as exc:
                self.stderr.write(str(exc))
                failed += 1
                continue
            self.stdout.write(
                self.style.SUCCESS(
                    f"{name}: {result.lines} credit line(s), {result.new} new, "
                    f"{result.applied} applied, {result.queued} to the unmatched "
                    f"queue, {result.known} already imported."
                )
            )
        if failed:
            raise CommandError(f"{failed} file(s) not imported.")
