"""The audit trail's sentences, rendered in the reader's language.

Audit rows store facts (action, amounts, currency, document numbers, counts)
in ``AuditEvent.facts``; the sentence is written here, with gettext, when a
page is rendered, so an agent reading in German reads German. Rows written
before facts were stored keep their English ``summary``, shown as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from django.utils.translation import get_language, ngettext, to_locale
from django.utils.translation import gettext as _

from billing.models import AuditEvent, DocumentKind, Operation, Payment
from billing.money import format_money

Facts = dict[str, object]
Action = AuditEvent.Action


def describe(event: AuditEvent) -> str:
    """Return the event's sentence in the active language."""
    facts = event.facts or {}
    render = SENTENCES.get(event.action)
    if not facts or render is None:
        return event.summary
    try:
        return render(facts)
    except (KeyError, TypeError, ValueError, ArithmeticError):
        return event.summary


def _money(facts: Facts, key: str = "amount") -> str:
    locale = to_locale(get_language() or "en-us")
    return format_money(Decimal(str(facts[key])), str(facts["currency"]), locale)


def _label(choices, value: object) -> str:
    try:
        return str(choices(value).label)
    except ValueError:
        return str(value)


def _posted(facts: Facts) -> str:
    return _("%(kind)s %(number)s posted for %(amount)s") % {
        "kind": _label(DocumentKind, facts["kind"]),
        "number": facts["number"],
        "amount": _money(facts),
    }


def _applied(facts: Facts) -> str:
    count = int(facts["count"])
    return ngettext(
        "Applied %(amount)s of credit to %(count)d document automatically",
        "Applied %(amount)s of credit to %(count)d documents automatically",
        count,
    ) % {"amount": _money(facts), "count": count}


def _payment_started(facts: Facts) -> str:
    return _(
        "Payment of %(numbers)s: %(credit)s from credit, %(rest)s by %(method)s"
    ) % {
        "numbers": ", ".join(map(str, facts["numbers"])),
        "credit": _money(facts, "credit"),
        "rest": _money(facts, "rest"),
        "method": _label(Payment.Method, facts["method"]).lower(),
    }


def _charged(facts: Facts) -> str:
    return _("Card charged %(amount)s (%(reference)s) as payment %(number)s") % {
        "amount": _money(facts),
        "reference": facts["reference"],
        "number": facts["number"],
    }


def _declined(facts: Facts) -> str:
    return _("Card not charged %(amount)s: %(message)s") % {
        "amount": _money(facts),
        "message": facts["message"],
    }


def _linked(facts: Facts) -> str:
    return _("Linked %(amount)s of %(credit)s to %(debit)s") % {
        "amount": _money(facts),
        "credit": facts["credit"],
        "debit": facts["debit"],
    }


def _unlinked(facts: Facts) -> str:
    return _("Unlinked %(amount)s of %(credit)s from %(debit)s") % {
        "amount": _money(facts),
        "credit": facts["credit"],
        "debit": facts["debit"],
    }


def _reverted(facts: Facts) -> str:
    count = int(facts["count"])
    return ngettext(
        "Reverted %(operation)s (%(kind)s): %(count)d allocation, %(amount)s",
        "Reverted %(operation)s (%(kind)s): %(count)d allocations, %(amount)s",
        count,
    ) % {
        "operation": facts["operation"],
        "kind": _label(Operation.Kind, facts["operation_kind"]),
        "count": count,
        "amount": _money(facts),
    }


def _held(facts: Facts) -> str:
    return _("%(number)s put on hold") % {"number": facts["number"]}


def _released(facts: Facts) -> str:
    return _("Hold on %(number)s released") % {"number": facts["number"]}


def _bank_transfer(facts: Facts) -> str:
    return _(
        "Bank transfer of %(amount)s (%(reference)s) applied as payment %(number)s"
    ) % {
        "amount": _money(facts),
        "reference": facts["reference"],
        "number": facts["number"],
    }


SENTENCES: dict[str, Callable[[Facts], str]] = {
    Action.DOCUMENT_POSTED: _posted,
    Action.CREDIT_MEMO_ISSUED: _posted,
    Action.CREDIT_APPLIED: _applied,
    Action.PAYMENT_STARTED: _payment_started,
    Action.PAYMENT_CHARGED: _charged,
    Action.PAYMENT_DECLINED: _declined,
    Action.DOCUMENTS_LINKED: _linked,
    Action.ALLOCATION_UNLINKED: _unlinked,
    Action.OPERATION_REVERTED: _reverted,
    Action.DOCUMENT_HELD: _held,
    Action.HOLD_RELEASED: _released,
    Action.BANK_TRANSFER_APPLIED: _bank_transfer,
}
