"""Settle card payments left "charging" when the card processor did not answer."""

from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone

from billing.exceptions import GatewayUnavailable
from billing.models import Operation
from billing.services import settle_payment


class Command(BaseCommand):
    help = (
        "Ask the payment gateway about card payments still charging after "
        "--older-than minutes, and record what it answers. Run it from cron."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            type=int,
            default=15,
            metavar="MINUTES",
            help="only payments started at least this long ago (default 15); "
            "keep it above the gateway's time-out",
        )

    def handle(self, *args, older_than: int, **options):
        cutoff = timezone.now() - timedelta(minutes=older_than)
        pending = Operation.objects.filter(
            kind=Operation.Kind.PAYMENT,
            status=Operation.Status.CHARGING,
            created_at__lte=cutoff,
        ).select_related("reseller")
        outcomes: dict[str, int] = {}
        unreachable = 0
        for operation in pending.iterator():
            try:
                settled = settle_payment(operation=operation)
            except GatewayUnavailable:
                unreachable += 1
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
        )
