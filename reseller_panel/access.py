"""Who may use the reseller panel: signed-in users of one reseller account."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render

from billing.selectors import marketplaces_for_staff, reseller_for_user

# The classic panel's root; a literal so this app does not depend on its URLs.
CLASSIC_PANEL_URL = "/classic/"

View = Callable[..., HttpResponse]


def reseller_required(view: View) -> View:
    """Run ``view`` with ``request.reseller`` set to the user's reseller account.

    Anonymous users are sent to sign in; support staff without a reseller
    account go to the classic panel; anyone else gets a 403 page.
    """

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        reseller = reseller_for_user(request.user)
        if reseller is None:
            if marketplaces_for_staff(request.user).exists():
                return HttpResponseRedirect(CLASSIC_PANEL_URL)
            return render(request, "reseller_panel/no_account.html", status=403)
        request.reseller = reseller
        return view(request, *args, **kwargs)

    return wrapper
