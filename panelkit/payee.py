"""Where resellers send bank transfers, as the panel and the API show it.

The account configured for the reseller's marketplace (in admin) is shown;
without one, the ``RESELLER_BANK_DETAILS`` setting (a mapping of currency code
to details) when it is set, and these placeholders otherwise.
"""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext_lazy as _

LABELS = {
    "beneficiary": _("Beneficiary"),
    "bank": _("Bank"),
    "iban": _("IBAN"),
    "bic": _("BIC / SWIFT"),
    "swift": _("SWIFT"),
    "account": _("Account number"),
    "routing": _("Routing number"),
}

DEFAULT_BANK_DETAILS: dict[str, dict[str, str]] = {
    "*": {
        "beneficiary": "Cloud Distribution Receivables Ltd.",
        "bank": "Example Bank plc",
        "iban": "GB00 EXMP 0000 0000 0000 00",
        "bic": "EXMPGB2L",
    },
    "EUR": {
        "beneficiary": "Cloud Distribution Receivables GmbH",
        "bank": "Beispielbank AG",
        "iban": "DE00 0000 0000 0000 0000 00",
        "bic": "BSPLDEFF",
    },
    "USD": {
        "beneficiary": "Cloud Distribution Receivables Inc.",
        "bank": "Example National Bank",
        "account": "000123456789",
        "routing": "000000000",
        "swift": "EXNBUS33",
    },
}


def bank_details(currency: str) -> list[tuple[str, str]]:
    """Return (label, value) rows of the account a ``currency`` transfer goes to."""
    details = getattr(settings, "RESELLER_BANK_DETAILS", None) or DEFAULT_BANK_DETAILS
    account = details.get(currency.upper()) or details.get("*") or {}
    return [(str(LABELS.get(key, key)), value) for key, value in account.items()]


def payee_rows(reseller) -> list[tuple[str, str]]:
    """Return the rows of the account the reseller's marketplace is paid into.

    The account configured for the marketplace (in admin) wins; without one,
    the details for the reseller's currency are shown.
    """
    from billing.bank_selectors import bank_account_of
    from billing.references import format_iban

    account = bank_account_of(reseller.marketplace)
    if account is None:
        return bank_details(reseller.currency)
    rows = [
        ("beneficiary", account.beneficiary),
        ("bank", account.bank_name),
        ("iban", format_iban(account.iban) if account.iban else ""),
        ("bic", account.bic),
        ("account", account.account_number),
        ("routing", account.routing_number),
    ]
    return [(str(LABELS[key]), value) for key, value in rows if value]
