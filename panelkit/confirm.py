"""Review → confirm with a one-time key → result: every staff action, once.

A review page shows what an action will do and carries, in hidden fields, the
reviewed values in canonical form (an id, ``1234.50``: never localized, so a
German page confirms what an English one would) and a one-time key. The
confirm step:

1. refuses a missing or malformed key (nothing is looked up with it);
2. looks the key up first: when the action was done already, it shows that
   first result again, whatever today's balances say (a double submit, a
   reload, a back button);
3. only then checks the values against today's data and asks the ledger to
   act with the key, which the ledger checks again under its lock;
4. answers with the result (a message and the page that shows it), or with
   the ledger's refusal (or a failed write, rolled back) on the review page,
   nothing changed.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from uuid import uuid4

from django import forms
from django.contrib import messages
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext_lazy as _

from billing.exceptions import BillingError, IdempotencyKeyReused, InvalidIdempotencyKey
from billing.models import Operation, Reseller
from billing.selectors import operations_for_reseller
from panelkit.fields import canonical_value

logger = logging.getLogger(__name__)

KEY_FIELD = "idempotency_key"
NOT_WRITTEN = _(
    "The ledger could not be written just now. Nothing was changed; "
    "confirm again in a moment."
)
KEY_PATTERN = re.compile(r"[0-9a-f]{32}")
KEY_USED = _(
    "This confirmation was already used with other values; nothing more was "
    "changed. Check the values and confirm again."
)


def new_key() -> str:
    """Return a fresh one-time key for a review page."""
    return uuid4().hex


def posted_key(data) -> str | None:
    """Return the one-time key a confirmation carries, or None if it has none.

    Only the keys review pages hand out are accepted, so a NUL, a huge value
    or any other junk never reaches the database.
    """
    key = data.get(KEY_FIELD, "")
    return key if isinstance(key, str) and KEY_PATTERN.fullmatch(key) else None


def reviewed_fields(form: forms.Form, key: str) -> list[tuple[str, str]]:
    """Return the hidden ``(name, value)`` pairs that confirm a reviewed form."""
    fields = [
        (name, canonical_value(form.cleaned_data.get(name))) for name in form.fields
    ]
    return [*fields, (KEY_FIELD, key)]


@dataclass(frozen=True)
class Outcome:
    """What an action did, said the same way the first time and on a replay."""

    message: str
    url: str


class ConfirmedAction:
    """One staff action's confirm step; subclasses say what the action is.

    ``kind`` is the kind of operation the action records; ``form`` parses the
    confirmed values (canonical, from the review page's hidden fields);
    ``perform`` asks the ledger to act; ``outcome`` describes the operation it
    made; ``page`` renders the action's page: the form to correct for an
    action reviewed on a form of its own, the review page itself for one
    whose review page takes the confirmation (see :meth:`review_or_confirm`).
    """

    kind: str

    def __init__(self, request: HttpRequest, reseller: Reseller):
        self.request = request
        self.reseller = reseller

    def form(self, data) -> forms.Form:
        raise NotImplementedError

    def perform(self, form: forms.Form, key: str) -> Operation:
        raise NotImplementedError

    def outcome(self, operation: Operation) -> Outcome:
        raise NotImplementedError

    def page(self, form: forms.Form, *, key: str, error: str | None) -> HttpResponse:
        raise NotImplementedError

    def review_or_confirm(self) -> HttpResponse:
        """Show the review page with a fresh key (GET), or confirm (POST)."""
        if self.request.method == "POST":
            return self.confirm()
        return self.page(self.form(None), key=new_key(), error=None)

    def confirm(self) -> HttpResponse:
        """Answer a confirmation: replay, refusal or the new result."""
        data = self.request.POST
        key = posted_key(data)
        if key is None:
            form = self.form(data)
            form.is_valid()
            return self.page(
                form, key=new_key(), error=str(InvalidIdempotencyKey.message)
            )
        done = operations_for_reseller(self.reseller).filter(idempotency_key=key)
        first = done.first()
        form = self.form(data)
        valid = form.is_valid()
        if first is not None:
            if first.kind != self.kind:
                return self.page(form, key=new_key(), error=str(KEY_USED))
            if not valid:
                # Today's balances may refuse what was confirmed then (the
                # credit is used up by that very link): the first result
                # stands.
                return self.result(first)
            # Otherwise the ledger itself replays the first result, or
            # refuses the key when the values differ from the first time.
        elif not valid:
            return self.page(form, key=key, error=None)
        try:
            operation = self.perform(form, key)
        except IdempotencyKeyReused:
            return self.page(form, key=new_key(), error=str(KEY_USED))
        except BillingError as exc:
            return self.page(form, key=key, error=str(exc.message))
        except DatabaseError:
            # The action's transaction rolled back whole; the same key is
            # still unused, so confirming again is safe.
            logger.exception("ledger write failed: %s", type(self).__name__)
            return self.page(form, key=key, error=str(NOT_WRITTEN))
        return self.result(operation)

    def result(self, operation: Operation) -> HttpResponse:
        outcome = self.outcome(operation)
        messages.success(self.request, outcome.message)
        return redirect(outcome.url)
