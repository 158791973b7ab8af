"""Who may use the classic panel, and on which resellers.

A staff user is an active user with ``billing.view_document`` who works on at
least one marketplace (superusers: all). Anonymous visitors are sent to the
classic sign-in page; anyone else signed in (a reseller-panel user, say) gets
403. A reseller outside the staff user's marketplaces answers 404.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse

from billing.models import Reseller
from billing.selectors import marketplaces_for_staff, reseller_for_staff

VIEW_PERMISSION = "billing.view_document"
LINK_PERMISSION = "billing.link_documents"
CREDIT_MEMO_PERMISSION = "billing.issue_credit_memo"


def is_classic_staff(user) -> bool:
    """Return True if ``user`` may sign in to and use the classic panel."""
    return (
        user.is_authenticated
        and user.is_active
        and user.has_perm(VIEW_PERMISSION)
        and marketplaces_for_staff(user).exists()
    )


def staff_reseller(user, reseller_id: int) -> Reseller:
    """Return the reseller in the user's scope, or raise Http404."""
    try:
        return reseller_for_staff(user, reseller_id)
    except Reseller.DoesNotExist as exc:
        raise Http404("No such reseller.") from exc


def classic_view(*, permission: str | None = None) -> Callable:
    """Guard a classic-panel view; resolve ``reseller_id`` into ``reseller``.

    ``permission`` (for actions) is checked for every method, so a viewer's
    POST is refused with 403 before anything is read or written.
    """

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(
                    request.get_full_path(), reverse("classic:login")
                )
            if not is_classic_staff(user):
                raise PermissionDenied
            if permission and not user.has_perm(permission):
                raise PermissionDenied
            if "reseller_id" in kwargs:
                kwargs["reseller"] = staff_reseller(user, kwargs.pop("reseller_id"))
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
