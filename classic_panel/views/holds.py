"""Dispute holds on a debit document: set and release, from its page.

Each is one POST with a reason (post/redirect/get); the outcome is a message
on the document page. Staff need the link permission; a document of another
marketplace's reseller answers 404.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from billing import services
from billing.exceptions import BillingError
from billing.models import Document, Reseller
from billing.selectors import documents_for_reseller
from classic_panel.access import LINK_PERMISSION, classic_view
from classic_panel.forms import HoldForm


@classic_view(permission=LINK_PERMISSION)
@require_POST
def hold(request: HttpRequest, reseller: Reseller, document_id: int) -> HttpResponse:
    """Put the document on hold: automatic application and payment skip it."""
    return _change_hold(
        request,
        reseller,
        document_id,
        services.hold_document,
        _("%(number)s is on hold: it is not applied automatically or payable."),
    )


@classic_view(permission=LINK_PERMISSION)
@require_POST
def release(request: HttpRequest, reseller: Reseller, document_id: int) -> HttpResponse:
    """Release the hold: the document is payable and applied again."""
    return _change_hold(
        request,
        reseller,
        document_id,
        services.release_hold,
        _("The hold on %(number)s is released."),
    )


def _change_hold(
    request: HttpRequest,
    reseller: Reseller,
    document_id: int,
    service: Callable[..., Document],
    done: str,
) -> HttpResponse:
    document = get_object_or_404(documents_for_reseller(reseller), pk=document_id)
    form = HoldForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
    else:
        try:
            document = service(
                document=document,
                reason=form.cleaned_data["reason"],
                actor=request.user,
            )
        except BillingError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, done % {"number": document.number})
    return redirect("classic:document", reseller.pk, document.pk)
