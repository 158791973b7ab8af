"""Every form and query parameter of both panels, driven with junk.

The forms are found, not listed: every URL pattern of the URLconf is opened
as the user it is for, every form of every page is parsed (and every review
page such a form leads to), so a new form is covered without editing this
test. Hypothesis then sends each form junk — huge, negative, NaN, Infinity,
``1e9999``, too many decimals, unicode digits, NUL, 10k characters,
duplicated and missing fields, other resellers' ids — and checks: never a
500, a clear message for a refused POST, and the ledger unchanged.
"""

from __future__ import annotations

from datetime import date
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.keys import issue_api_key
from billing import services
from billing.models import (
    Allocation,
    AuditEvent,
    BankLine,
    Document,
    Operation,
    Reversal,
)
from tests import factories
from tests.billing import bank
from tests.classic_panel.conftest import LINK, MEMO, VIEW, staff
from tests.html_forms import Form, forms_of

pytestmark = pytest.mark.django_db

# Sign-in, sign-out and the language switch are Django's own views (and
# sign-in is rate limited); admin is the operators' tool; the reseller API
# has no forms and is driven by schemathesis (tests/api).
SKIPPED_NAMES = {"login", "logout", "set_language"}
SKIPPED_PREFIXES = ("admin/", "i18n/", "api/")
KEY_NAMES = {"idempotency_key"}
# CSRF is checked by its own tests; these clients do not enforce it.
NOT_FIELDS = {"csrfmiddlewaretoken"}
BOOLEAN_TYPES = {"checkbox", "radio", "submit"}

# Junk that no field of any form accepts (a reason or a search may well be
# "²"; nothing takes a NUL or ten thousand characters).
NEVER_VALID = ["1\x00", "\x00", "a\x00b", "9" * 10_000, "x" * 10_000]
JUNK = NEVER_VALID + [
    "²",
    "③",
    "٣",
    "12³",
    "100000000000000000000",
    "9" * 25,
    "-1",
    "-0.01",
    "0",
    "NaN",
    "nan",
    "Infinity",
    "-Infinity",
    "1e9999",
    "1E5",
    "10.001",
    "0.0000001",
    "1,2,3",
    "1.234.567,891",
    " ",
    "",
    "<script>",
    "' OR 1=1 --",
    "\ud7ff",
    "🙂",
    "0x1F",
    "1_000",
    "1/2",
]


def ledger_state() -> tuple:
    return (
        sorted(
            Document.objects.values_list(
                "pk", "open_amount", "total", "number", "held_at"
            )
        ),
        sorted(Allocation.objects.values_list("pk", "amount")),
        Reversal.objects.count(),
        Operation.objects.count(),
        AuditEvent.objects.count(),
        sorted(BankLine.objects.values_list("pk", "state", "payment_id")),
    )


def url_patterns():
    """Yield ``(namespace, pattern)`` for every panel URL of the URLconf."""

    def walk(patterns, namespace, prefix):
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if route.startswith(SKIPPED_PREFIXES):
                continue
            if isinstance(entry, URLResolver):
                yield from walk(entry.url_patterns, entry.namespace or namespace, route)
            elif isinstance(entry, URLPattern) and entry.name not in SKIPPED_NAMES:
                yield namespace, entry

    yield from walk(get_resolver().url_patterns, None, "")


@pytest.fixture
def dataset(db):
    """Two resellers of one marketplace, one of another; staff; some history."""
    de = factories.MarketplaceFactory(code="DE", currency="EUR")
    us = factories.MarketplaceFactory(code="US", currency="USD")
    mine = factories.ResellerFactory(marketplace=de, name="Kunde GmbH")
    neighbour = factories.ResellerFactory(marketplace=de, name="Nachbar GmbH")
    foreign = factories.ResellerFactory(marketplace=us, name="Foreign Inc")
    agent = staff("support-de", [de], VIEW, LINK, MEMO)
    ids = {}
    for reseller in (mine, neighbour, foreign):
        invoice = factories.post(
            reseller, "invoice", "100.00", issue_date=date(2026, 1, 2)
        )
        factories.post(reseller, "invoice", "40.00", issue_date=date(2026, 1, 3))
        memo = factories.post(
            reseller, "credit_memo", "60.00", issue_date=date(2026, 1, 1)
        )
        allocation = services.link_documents(
            credit=memo, debit=invoice, amount="10.00", actor=agent, reason="setup"
        )
        ids[reseller.pk] = {
            "reseller_id": reseller.pk,
            "document_id": invoice.pk,
            "operation_id": allocation.operation_id,
            "allocation_id": allocation.pk,
        }
    ids[mine.pk]["line_id"] = bank.queued_line(de).pk
    user = factories.reseller_user(mine, "kunde")
    api_key, _secret = issue_api_key(user=user, reseller=mine, name="ERP")
    ids[mine.pk]["key_id"] = api_key.pk
    foreign_ids = [
        str(pk)
        for pk in Document.objects.exclude(reseller=mine).values_list("pk", flat=True)
    ] + [str(ids[neighbour.pk]["allocation_id"]), str(ids[foreign.pk]["operation_id"])]
    return {
        "staff": agent,
        "user": user,
        "ids": ids[mine.pk],
        "foreign_ids": foreign_ids,
    }


def client_for(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def discover_forms(dataset) -> list[tuple[Client, str, Form]]:
    """Return ``(client, page, form)`` for every form of every panel page."""
    clients = {
        "classic": client_for(dataset["staff"]),
        None: client_for(dataset["user"]),
    }
    found: dict[tuple, tuple[Client, str, Form]] = {}
    pages: list[tuple[Client, str]] = []
    for namespace, pattern in url_patterns():
        name = f"{namespace}:{pattern.name}" if namespace else pattern.name
        kwargs = {key: dataset["ids"][key] for key in pattern.pattern.converters}
        pages.append((clients[namespace], reverse(name, kwargs=kwargs)))
    downloads = []
    responses = []
    for client, url in pages:
        response = client.get(url)
        assert response.status_code < 500, url
        if response.status_code == 200 and "html" not in response["Content-Type"]:
            downloads.append((client, url))
        responses.append((client, url, response, 0))
    while responses:
        client, url, response, depth = responses.pop()
        for form in forms_of(response):
            action = urlsplit(form.action or url).path
            if action.endswith(("/logout/", "/i18n/setlang/")):
                continue
            key = (form.method.lower(), action, tuple(sorted(form.names())))
            if key in found:
                continue
            found[key] = (client, action, form)
            follow_up = explore(client, action, form)
            if follow_up is not None and depth < 3:
                responses.append((client, action, follow_up, depth + 1))
    # A download (CSV) takes the query parameters of its panel's list filters.
    for client, url in downloads:
        for (method, _action, names), (owner, _a, form) in list(found.items()):
            if method == "get" and owner is client:
                found[("get", url, names)] = (client, url, form)
    return list(found.values())


def plausible(form: Form) -> dict[str, list[str]]:
    """Return the form as a person fills it: boxes ticked, texts filled."""
    data: dict[str, list[str]] = {}
    for name, value in form.fields:
        data.setdefault(name, []).append(value)
    for name, kind, value in form.controls:
        if kind == "checkbox" and value and value not in data.get(name, []):
            data.setdefault(name, []).append(value)
        elif kind in ("text", "textarea") and not any(data.get(name, [])):
            data[name] = ["1"]
    return data


def explore(client, action, form: Form):
    """Submit a form plausibly, without its one-time key (so nothing is ever
    written), and return the page it leads to (a review page, a preview)."""
    data = {k: v for k, v in plausible(form).items() if k not in KEY_NAMES}
    if form.method.lower() == "get":
        response = client.get(action, data)
    else:
        response = client.post(action, data)
    assert response.status_code < 500, action
    return response if response.status_code == 200 else None


def junk_payloads(form: Form):
    """A strategy of junk submissions of ``form``: at least one field holds a
    value no field accepts; others hold junk, are missing or duplicated."""
    base = {k: v for k, v in plausible(form).items() if k not in NOT_FIELDS}
    names = sorted((form.names() | set(base)) - NOT_FIELDS)
    typed = sorted(
        name
        for name, kind, _value in form.controls
        if kind not in BOOLEAN_TYPES and name not in NOT_FIELDS
    )

    @st.composite
    def payload(draw):
        data = {name: list(values) for name, values in base.items()}
        for name in names:
            how = draw(st.sampled_from(["keep", "keep", "junk", "missing", "twice"]))
            if how == "junk":
                data[name] = [draw(st.sampled_from(JUNK + FOREIGN))]
            elif how == "missing":
                data.pop(name, None)
            elif how == "twice":
                data[name] = [*data.get(name, []), draw(st.sampled_from(JUNK))]
        if typed:
            target = draw(st.sampled_from(typed))
            data[target] = [draw(st.sampled_from(NEVER_VALID))]
        return data

    return payload()


FOREIGN: list[str] = []


def test_every_form_and_query_parameter_survives_junk(dataset):
    FOREIGN[:] = dataset["foreign_ids"]
    forms = discover_forms(dataset)
    methods = {(form.method.lower(), action) for _c, action, form in forms}
    # The discovery reaches the forms that matter, review pages included.
    for expected in (
        ("post", reverse("classic:link_confirm", args=[dataset["ids"]["reseller_id"]])),
        (
            "post",
            reverse(
                "classic:credit_memo_confirm", args=[dataset["ids"]["reseller_id"]]
            ),
        ),
        ("get", reverse("classic:home")),
        ("get", reverse("pay")),
        ("post", reverse("pay")),
    ):
        assert expected in methods, (expected, sorted(methods))
    before = ledger_state()

    for client, action, form in forms:
        if not any(
            kind not in BOOLEAN_TYPES and name not in NOT_FIELDS
            for name, kind, _value in form.controls
        ):
            continue  # a button alone (e.g. "Revoke") has no input to spoil
        junk_check(client, action, form, before)()


def junk_check(client, action: str, form: Form, before: tuple):
    """Return a Hypothesis test of one form: junk in, a clear refusal out."""
    post = form.method.lower() == "post"

    @settings(
        max_examples=25,
        deadline=None,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
        ],
    )
    @given(data=junk_payloads(form))
    def survives(data):
        if post:
            response = client.post(action, data)
        else:
            response = client.get(action, data)
        assert response.status_code < 500, (action, data)
        if post:
            # Junk is never accepted: the answer is the form with its errors,
            # or the page saying why nothing happened — there, or on the page
            # a one-step action (post, then redirect) goes back to.
            if response.status_code == 302:
                response = client.get(response["Location"])
                html = response.content.decode()
                assert 'class="message message-error' in html, (action, data)
                assert ledger_state() == before, (action, data)
                return
            html = response.content.decode()
            assert 'role="alert"' in html or 'class="errorlist' in html, (
                action,
                data,
            )
        assert ledger_state() == before, (action, data)

    return survives


# --- the requests that answered 500 before, one by one -------------------------


@pytest.mark.parametrize("junk", ["²", "③", "1\x00", "9" * 10_000])
def test_classic_search_takes_any_text(dataset, junk):
    client = client_for(dataset["staff"])
    response = client.get(reverse("classic:home"), {"q": junk})
    assert response.status_code == 200


@pytest.mark.parametrize("junk", ["²", "③", "٣", "1\x00", "9" * 10_000])
def test_link_form_refuses_junk_ids_at_every_step(dataset, junk):
    client = client_for(dataset["staff"])
    reseller_id = dataset["ids"]["reseller_id"]
    before = ledger_state()
    page = client.get(reverse("classic:link", args=[reseller_id]), {"credit": junk})
    assert page.status_code == 200
    for step in ("link", "link_confirm"):
        for side in ("credit", "debit"):
            response = client.post(
                reverse(f"classic:{step}", args=[reseller_id]),
                {
                    "credit": "1",
                    "debit": "1",
                    side: junk,
                    "amount": "1.00",
                    "reason": "x",
                    "idempotency_key": "a" * 32,
                },
            )
            assert response.status_code == 200, (step, side)
            assert "Select a valid choice" in response.content.decode()
    assert ledger_state() == before


@pytest.mark.parametrize("key", ["\x00", "a" * 31 + "\x00", "x" * 10_000, "²" * 32])
def test_a_junk_confirmation_key_is_refused_clearly(dataset, key):
    client = client_for(dataset["staff"])
    reseller_id = dataset["ids"]["reseller_id"]
    before = ledger_state()
    response = client.post(
        reverse("classic:credit_memo_confirm", args=[reseller_id]),
        {"amount": "5.00", "reason": "x", "idempotency_key": key},
    )
    assert response.status_code == 200
    assert "missing its one-time key" in response.content.decode()
    assert ledger_state() == before


@pytest.mark.parametrize(
    "amount", ["100000000000000000000", "9e15", "1e9999", "100000000000.01"]
)
def test_huge_credit_memo_amounts_are_refused_at_review_and_confirm(dataset, amount):
    client = client_for(dataset["staff"])
    reseller_id = dataset["ids"]["reseller_id"]
    before = ledger_state()
    for step in ("credit_memo", "credit_memo_confirm"):
        response = client.post(
            reverse(f"classic:{step}", args=[reseller_id]),
            {"amount": amount, "reason": "x", "idempotency_key": "b" * 32},
        )
        assert response.status_code == 200
        html = response.content.decode()
        assert "Amounts are at most" in html or "Enter a valid amount." in html
    assert ledger_state() == before


def test_the_outage_retry_form_survives_junk(dataset):
    """The retry page (the card processor did not answer) is reached only by
    a payment cut short, so discovery cannot open it: open it here, then send
    its form junk. The waiting payment is neither finished nor changed."""
    from billing.gateways import SandboxGateway
    from tests.html_forms import find_form, submit

    client = client_for(dataset["user"])
    pay = reverse("pay")
    page = client.get(pay, {"document": dataset["ids"]["document_id"]})
    outage = submit(
        client,
        page,
        action=pay,
        fill={
            "payment_method": "card",
            "card_number": SandboxGateway.UNAVAILABLE_CARD,
        },
    )
    assert outage.status_code == 503
    waiting = Operation.objects.get(kind=Operation.Kind.PAYMENT)
    assert waiting.status == Operation.Status.CHARGING
    retry = find_form(outage, pay)
    assert {"card_number", "idempotency_key"} <= retry.names()
    FOREIGN[:] = dataset["foreign_ids"]
    junk_check(client, pay, retry, ledger_state())()
    waiting.refresh_from_db()
    assert waiting.status == Operation.Status.CHARGING
