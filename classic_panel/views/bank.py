"""Cash application in the classic panel: statements and the unmatched queue.

Staff see the statements and bank lines of their marketplaces; agents (with
the link permission) upload statements, assign a queued line to a reseller
(optionally to documents) or return it to the payer, always with a reason.
Each action is one form post carrying an idempotency key: a replayed post
finds the first result and changes nothing. Every POST redirects (PRG).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from billing.bank_selectors import (
    bank_lines_for_staff,
    open_debits_of,
    resellers_for_line,
    statements_for_staff,
)
from billing.exceptions import BillingError
from billing.matching import Method, Reason
from billing.models import BankLine, BankLineEvent, Source
from billing.selectors import marketplaces_for_staff
from billing.services.cash_application import (
    assign_bank_line,
    import_statement,
    return_bank_line,
)
from classic_panel.access import LINK_PERMISSION, classic_view
from classic_panel.bank_forms import LineActionForm, StatementUploadForm
from panelkit.confirm import new_key, posted_key
from panelkit.fields import parse_id
from panelkit.paging import paginate, query_without_page

REASONS = {
    Reason.NO_REFERENCE: gettext_lazy(
        "No reference, no document number and no known payer account."
    ),
    Reason.BAD_REFERENCE: gettext_lazy(
        "An RF reference whose check digits fail: probably mistyped."
    ),
    Reason.UNKNOWN_REFERENCE: gettext_lazy(
        "A valid reference that no payment of this marketplace carries."
    ),
    Reason.AMBIGUOUS: gettext_lazy("It names more than one reseller."),
    Reason.CURRENCY: gettext_lazy(
        "The line's currency is not the reseller's: never applied."
    ),
    Reason.ACCOUNT_NO_AMOUNT: gettext_lazy(
        "The payer's account is known, but the amount fits no single open "
        "document or payment exactly."
    ),
}
METHODS = {
    Method.REFERENCE: gettext_lazy("Matched by reference %(detail)s."),
    Method.DOCUMENTS: gettext_lazy("Matched by document numbers %(detail)s."),
    Method.ACCOUNT: gettext_lazy(
        "Matched by payer account and exact amount: %(detail)s."
    ),
    Method.AGENT: gettext_lazy("Assigned by support (%(detail)s)."),
}


def explain(line: BankLine) -> str:
    """Return, in the reader's language, how the line was matched or why not."""
    if line.state == BankLine.State.APPLIED:
        template = METHODS.get(line.match_method)
        return str(template) % {"detail": line.match_detail} if template else ""
    return str(REASONS.get(line.unmatched_reason, ""))


def _line_for(user, line_id: int) -> BankLine:
    try:
        return bank_lines_for_staff(user).get(pk=line_id)
    except BankLine.DoesNotExist as exc:
        raise Http404("No such bank line.") from exc


@classic_view()
def statements(request: HttpRequest) -> HttpResponse:
    return _statements_page(request, StatementUploadForm())


def _statements_page(request, form, *, error=None, status=200) -> HttpResponse:
    response = render(
        request,
        "classic_panel/bank/statements.html",
        {
            "form": form,
            "error": error,
            "page": paginate(request, statements_for_staff(request.user)),
            "can_act": request.user.has_perm(LINK_PERMISSION),
        },
    )
    response.status_code = status
    return response


@classic_view(permission=LINK_PERMISSION)
@require_POST
def upload(request: HttpRequest) -> HttpResponse:
    """Import an uploaded statement into the agent's marketplaces."""
    form = StatementUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _statements_page(request, form, status=400)
    upload = form.cleaned_data["statement"]
    try:
        result = import_statement(
            data=upload.read(),
            file_name=upload.name,
            actor=request.user,
            source=Source.CLASSIC_PANEL,
            marketplace_ids=marketplaces_for_staff(request.user).values_list(
                "pk", flat=True
            ),
        )
    except BillingError as exc:
        return _statements_page(request, form, error=exc.message, status=400)
    messages.success(
        request,
        _(
            "%(name)s: %(lines)d credit lines, %(new)d new, %(applied)d applied, "
            "%(queued)d to the unmatched queue, %(known)d already imported."
        )
        % {
            "name": upload.name,
            "lines": result.lines,
            "new": result.new,
            "applied": result.applied,
            "queued": result.queued,
            "known": result.known,
        },
    )
    return redirect("classic:bank_statements")


@classic_view()
def queue(request: HttpRequest) -> HttpResponse:
    """The unmatched queue (and, by filter, applied or returned lines)."""
    state = request.GET.get("state", BankLine.State.QUEUED)
    if state not in BankLine.State.values:
        state = BankLine.State.QUEUED
    lines = bank_lines_for_staff(request.user).filter(state=state)
    page = paginate(request, lines.order_by("-booking_date", "-pk"))
    for line in page.object_list:
        line.explanation = explain(line)
    return render(
        request,
        "classic_panel/bank/queue.html",
        {
            "page": page,
            "state": state,
            "states": BankLine.State.choices,
            "query": query_without_page(request),
        },
    )


@classic_view()
def line_detail(request: HttpRequest, line_id: int) -> HttpResponse:
    line = _line_for(request.user, line_id)
    return _line_page(request, line)


def _line_page(
    request, line, *, form=None, return_form=None, error=None, status=200
) -> HttpResponse:
    can_act = request.user.has_perm(LINK_PERMISSION) and (
        line.state == BankLine.State.QUEUED
    )
    query = request.GET.get("q", "")
    chosen = None
    reseller_id = request.GET.get("reseller") or request.POST.get("reseller")
    reseller_pk = parse_id(reseller_id)
    if can_act and reseller_pk is not None:
        chosen = next(
            (
                r
                for r in resellers_for_line(line, str(reseller_pk))
                if r.pk == reseller_pk
            ),
            None,
        )
    for posted in (form, return_form):
        if posted is not None and posted.errors.get("idempotency_key") and not error:
            error = posted.errors["idempotency_key"][0]
    response = render(
        request,
        "classic_panel/bank/line.html",
        {
            "line": line,
            "explanation": explain(line),
            "events": line.events.select_related("actor"),
            "can_act": can_act,
            "query": query,
            "candidates": resellers_for_line(line, query) if can_act else [],
            "chosen": chosen,
            "documents": list(open_debits_of(chosen)[:200]) if chosen else [],
            "form": form or LineActionForm(initial={"idempotency_key": new_key()}),
            "return_form": return_form
            or LineActionForm(initial={"idempotency_key": new_key()}),
            "error": error,
        },
    )
    response.status_code = status
    return response


def _replayed(request, key: str | None, line: BankLine) -> HttpResponse | None:
    """Return the redirect of an action already done with ``key``, if any."""
    if key and BankLineEvent.objects.filter(idempotency_key=key, line=line).exists():
        return redirect("classic:bank_line", line.pk)
    return None


@classic_view(permission=LINK_PERMISSION)
def line_assign(request: HttpRequest, line_id: int) -> HttpResponse:
    line = _line_for(request.user, line_id)
    if request.method != "POST":
        return redirect("classic:bank_line", line.pk)
    done = _replayed(request, posted_key(request.POST), line)
    if done is not None:
        return done
    form = LineActionForm(request.POST)
    reseller_id = request.POST.get("reseller", "")
    reseller = next(
        (r for r in resellers_for_line(line, reseller_id) if str(r.pk) == reseller_id),
        None,
    )
    if reseller is None:
        return _line_page(
            request, line, form=form, error=_("Choose a reseller."), status=400
        )
    if not form.is_valid():
        return _line_page(request, line, form=form, status=400)
    try:
        assign_bank_line(
            line=line,
            reseller=reseller,
            document_ids=request.POST.getlist("document"),
            reason=form.cleaned_data["reason"],
            actor=request.user,
            idempotency_key=form.cleaned_data["idempotency_key"],
        )
    except BillingError as exc:
        return _line_page(request, line, form=form, error=exc.message, status=400)
    messages.success(
        request, _("The line was applied to %(name)s.") % {"name": reseller.name}
    )
    return redirect(reverse("classic:bank_line", args=[line.pk]))


@classic_view(permission=LINK_PERMISSION)
def line_return(request: HttpRequest, line_id: int) -> HttpResponse:
    line = _line_for(request.user, line_id)
    if request.method != "POST":
        return redirect("classic:bank_line", line.pk)
    done = _replayed(request, posted_key(request.POST), line)
    if done is not None:
        return done
    form = LineActionForm(request.POST)
    if not form.is_valid():
        return _line_page(request, line, return_form=form, status=400)
    try:
        return_bank_line(
            line=line,
            reason=form.cleaned_data["reason"],
            actor=request.user,
            idempotency_key=form.cleaned_data["idempotency_key"],
        )
    except BillingError as exc:
        return _line_page(
            request, line, return_form=form, error=exc.message, status=400
        )
    messages.success(request, _("The line is marked as returned to the payer."))
    return redirect("classic:bank_line", line.pk)
