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
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from billing.exceptions import GatewayUnavailable


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


class SandboxGateway:
    """A gateway for development and tests; its outcomes follow the card.

    ``4242 4242 4242 4242`` is charged, ``4000 0000 0000 0002`` is declined,
    ``4000 0000 0000 0119`` makes the processor unavailable; any other number
    is declined as invalid. References derive from the idempotency key, so a
    retried charge gets the same reference, as with a real gateway.
    """

    SUCCESS_CARD = "4242424242424242"
    DECLINED_CARD = "4000000000000002"
    UNAVAILABLE_CARD = "4000000000000119"

    def charge(
        self,
        *,
        amount: Decimal,
        currency: str,
        card_token: str,
        idempotency_key: str,
        description: str,
    ) -> ChargeResult:
        card = "".join(card_token.split())
        reference = "sbx_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:20]
        if card == self.SUCCESS_CARD:
            return ChargeResult(True, reference)
        if card == self.UNAVAILABLE_CARD:
            raise GatewayUnavailable()
        if card == self.DECLINED_CARD:
            return ChargeResult(False, reference, str(_("The card was declined.")))
        return ChargeResult(False, reference, str(_("The card number is not valid.")))


def get_gateway() -> PaymentGateway:
    """Return the configured payment gateway."""
    return import_string(settings.PAYMENT_GATEWAY)()
