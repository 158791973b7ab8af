"""The panel's API keys page: a reseller user creates and revokes its keys.

A new key is shown once, on the page that created it, and never again: only
its digest is stored. Each user sees and revokes only its own keys.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from api.keys import issue_api_key, keys_of_user, revoke_api_key
from reseller_panel.access import reseller_required


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=100,
        help_text=gettext_lazy("Where the key is used, e.g. “ERP production”."),
        error_messages={"required": gettext_lazy("Give the key a name.")},
    )


@never_cache
@require_http_methods(["GET", "POST"])
@reseller_required
def api_keys(request: HttpRequest) -> HttpResponse:
    """List the user's keys (GET) or create one and show it once (POST)."""
    form = ApiKeyForm(request.POST or None)
    new_key = ""
    status = 200
    if request.method == "POST":
        if form.is_valid():
            _api_key, new_key = issue_api_key(
                user=request.user,
                reseller=request.reseller,
                name=form.cleaned_data["name"],
            )
            form = ApiKeyForm()
        else:
            status = 400
    reseller = request.reseller
    return render(
        request,
        "reseller_panel/api_keys.html",
        {
            "reseller": reseller,
            "marketplace": reseller.marketplace,
            "today": timezone.localdate(),
            "form": form,
            "new_key": new_key,
            "keys": keys_of_user(request.user),
        },
        status=status,
    )


@require_POST
@reseller_required
def revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    api_key = get_object_or_404(keys_of_user(request.user), pk=key_id)
    revoke_api_key(api_key=api_key)
    messages.success(
        request,
        _("The key “%(name)s” is revoked: it no longer works.")
        % {"name": api_key.name},
    )
    return redirect("api_keys")
