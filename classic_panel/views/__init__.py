"""Views of the classic panel, by purpose.

``browse`` reads: Billing > Reseller > Documents, operations, activity, CSV.
``actions`` writes: link, unlink, revert and credit memos, each a review step
and a confirmation carrying an idempotency key.

Each view reads through :mod:`billing.selectors` (scoped to the staff user's
marketplaces by :func:`classic_panel.access.classic_view`) and writes only
through :mod:`billing.services`. Every successful POST redirects (PRG); a
refusal from the ledger is shown and changes nothing.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from billing.models import Reseller


def reseller_page(
    request: HttpRequest, template: str, reseller: Reseller, tab: str, **context
) -> HttpResponse:
    """Render a page of one reseller's tabs (Documents, Operations, ...)."""
    return render(
        request,
        f"classic_panel/{template}",
        {"reseller": reseller, "tab": tab, **context},
    )
