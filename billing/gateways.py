"""Payment gateways: the interface the ledger charges cards through.

The gateway is chosen by the ``PAYMENT_GATEWAY`` setting (a dotted path). The
sandbox is the default: it never moves money and answers by test card number.
A gateway must be idempotent on ``idempotency_key``: asking twice with the same
key charges once and returns the same result.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from billing.exceptions import GatewayUnavailable
from billing.models import SandboxCharge


@dataclass(frozen=True)
class ChargeResult:
    succeeded: bool
    reference: str
    message: str = ""


class PaymentGateway(Protocol):
    """Charge a card. Raise :class:`GatewayUnavailable` when the outcome is
    unknown (time-out, network): the same key may then be retried safely."""

    def charge(
        self,
        *,
        amount: Decimal,
        currency: str,
        card_token: str,
        idempotency_key: str,
        description: str,
    ) -> ChargeResult: ...

    def find_charge(self, *, idempotency_key: str) -> ChargeResult | None:
        """Return the outcome of the charge made under the key, None if none."""
        ...


class SandboxGateway:
    """A gateway for development and tests; its outcomes follow the card.

    ``4242 4242 4242 4242`` is charged, ``4000 0000 0000 0002`` is declined,
    ``4000 0000 0000 0119`` makes the processor unavailable; any other number
    is declined as invalid. Like a real gateway it remembers each charge by its
    idempotency key (in its own table, outside the ledger): a retry returns
    the first outcome, and :meth:`find_charge` answers for an unknown outcome.
    """

    SUCCESS_CARD = "4242424242424242"
    DECLINED_CARD = "4000000000000002"
    UNAVAILABLE_CARD = "4000000000000119"
    # The same test cards as tokens, the way a real gateway's card form hands
    # them over: the reseller API takes tokens, never card numbers.
    TOKENS = {
        "tok_sandbox_success": SUCCESS_CARD,
        "tok_sandbox_declined": DECLINED_CARD,
        "tok_sandbox_unavailable": UNAVAILABLE_CARD,
    }

    def charge(
        self,
        *,
        amount: Decimal,
        currency: str,
        card_token: str,
        idempotency_key: str,
        description: str,
    ) -> ChargeResult:
        known = self.find_charge(idempotency_key=idempotency_key)
        if known is not None:
            return known
        card = self.TOKENS.get(card_token.strip()) or "".join(card_token.split())
        if card == self.UNAVAILABLE_CARD:
            raise GatewayUnavailable()
        if card == self.SUCCESS_CARD:
            message = ""
        elif card == self.DECLINED_CARD:
            message = str(_("The card was declined."))
        else:
            message = str(_("The card number is not valid."))
        reference = "sbx_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:20]
        try:
            with transaction.atomic():
                SandboxCharge.objects.create(
                    idempotency_key=idempotency_key,
                    amount=amount,
                    currency=currency,
                    succeeded=not message,
                    reference=reference,
                    message=message,
                )
        except IntegrityError:
            pass  # a concurrent retry with the same key was first: use its outcome
        return self.find_charge(idempotency_key=idempotency_key)

    def find_charge(self, *, idempotency_key: str) -> ChargeResult | None:
        charge = SandboxCharge.objects.filter(idempotency_key=idempotency_key).first()
        if charge is None:
            return None
        return ChargeResult(charge.succeeded, charge.reference, charge.message)


def get_gateway() -> PaymentGateway:
    """Return the configured payment gateway."""
    return import_string(settings.PAYMENT_GATEWAY)()
