"""Settle card payments left "charging" when the card processor did not answer."""

import logging
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from billing.exceptions import GatewayUnavailable
from billing.selectors import payments_left_charging
from billing.services import settle_payment
from billing.services.payments import CHARGING_TIMEOUT

logger = logging.getLogger("billing")


class Command(BaseCommand):
    help = (
        "Ask the payment gateway about card payments still charging after "
        "--older-than minutes, and record what it answers. Run it from cron. "
        "A payment that cannot be settled is reported and the others are "
        "still settled; the exit status is then non-zero."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            type=int,
            default=int(CHARGING_TIMEOUT.total_seconds() // 60),
            metavar="MINUTES",
            help="only payments started at least this long ago (default "
            f"{int(CHARGING_TIMEOUT.total_seconds() // 60)}); "
            "keep it above the gateway's time-out",
        )

    def handle(self, *args, older_than: int, **options):
        cutoff = timezone.now() - timedelta(minutes=older_than)
        pending = payments_left_charging(cutoff)
        outcomes: dict[str, int] = {}
        unreachable = 0
        failed: list[str] = []
        # The ids first: each settlement is its own transaction, and one that
        # fails must not stop the payments after it.
        for operation in list(pending):
            try:
                settled = settle_payment(operation=operation)
            except GatewayUnavailable:
                unreachable += 1
                continue
            except Exception as exc:  # reported below; the next one still runs
                logger.exception("settling %s failed", operation.reference)
                failed.append(operation.reference)
                self.stderr.write(
                    f"{operation.reference} {operation.reseller.name}: not settled "
                    f"({type(exc).__name__}: {exc})"
                )
                continue
            outcomes[settled.status] = outcomes.get(settled.status, 0) + 1
            self.stdout.write(
                f"{settled.reference} {settled.reseller.name}: "
                f"{settled.get_status_display()}"
            )
        summary = ", ".join(f"{status} {n}" for status, n in sorted(outcomes.items()))
        self.stdout.write(
            f"Settled {sum(outcomes.values())} payment(s)"
            + (f" ({summary})" if summary else "")
            + (f"; gateway unreachable for {unreachable}" if unreachable else "")
            + (f"; {len(failed)} failed" if failed else "")
        )
        if failed:
            raise CommandError(
                f"{len(failed)} payment(s) could not be settled: {', '.join(failed)}"
            )
