"""Views of the reseller panel, by purpose.

``browse`` reads: Home, unpaid documents, documents, payments and receipts.
``pay`` is the pay flow: select, preview, confirm.

Each view parses its input with a form, reads through ``billing.selectors`` or
writes through ``billing.services.pay_documents``, and renders. Every view
sees only the signed-in user's reseller account (``request.reseller``).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone


def render_page(
    request: HttpRequest, template: str, context: dict, status: int = 200
) -> HttpResponse:
    reseller = request.reseller
    context = {
        "reseller": reseller,
        "marketplace": reseller.marketplace,
        "today": timezone.localdate(),
        **context,
    }
    return render(request, f"reseller_panel/{template}", context, status=status)
