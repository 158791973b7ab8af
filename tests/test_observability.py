"""What operators see: request ids, JSON logs without secrets, error pages,
the health check and the optional Sentry reporting."""

import io
import json
import logging
import os
import re
import subprocess
import sys
from collections import defaultdict
from contextlib import contextmanager
from html.parser import HTMLParser
from unittest import mock

import pytest
from django.conf import settings
from django.db import OperationalError, connection
from django.http import HttpResponse
from django.test import Client
from django.urls import reverse

from billing.gateways import SandboxGateway
from config.redaction import PAN, redact, redact_sql
from config.request_id import RequestIdMiddleware
from config.sentry import before_send
from tests import factories

pytestmark = pytest.mark.django_db

HEX_ID = re.compile(r"[0-9a-f]{32}")


# --- helpers --------------------------------------------------------------------


@pytest.fixture
def log_output():
    """Return a function giving what the configured log handler wrote."""
    handler = next(h for h in logging.getLogger().handlers if h.name == "console")
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    yield buffer.getvalue
    handler.setStream(previous)


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]


@contextmanager
def everything_logged_at_debug():
    """Every logger and the handler at DEBUG, SQL statements included."""
    root = logging.getLogger()
    loggers = [root] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    saved = [(logger, logger.level) for logger in loggers]
    saved_handlers = [(handler, handler.level) for handler in root.handlers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    for handler, _level in saved_handlers:
        handler.setLevel(logging.DEBUG)
    connection.force_debug_cursor = True
    try:
        yield
    finally:
        connection.force_debug_cursor = False
        for logger, level in saved:
            logger.setLevel(level)
        for handler, level in saved_handlers:
            handler.setLevel(level)


class FormInputs(HTMLParser):
    """The inputs of one form of a page, as a browser would send them."""

    def __init__(self, form_id: str):
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.fields: dict[str, list[str]] = defaultdict(list)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = attrs.get("id") == self.form_id
        elif tag == "input" and self.inside and attrs.get("name"):
            kind = attrs.get("type", "text")
            if kind in ("radio", "checkbox") and "checked" not in attrs:
                return
            self.fields[attrs["name"]].append(attrs.get("value") or "")

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False


def form_fields(response, form_id: str) -> dict[str, list[str]]:
    parser = FormInputs(form_id)
    parser.feed(response.content.decode())
    assert parser.fields, f"no form #{form_id} on the page"
    return dict(parser.fields)


def csrf_field(response) -> str:
    return re.search(
        r'name="csrfmiddlewaretoken" value="([^"]+)"', response.content.decode()
    )[1]


# --- redaction ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "card 4242424242424242 charged",
        "card 4242 4242 4242 4242 charged",
        "card 4000-0000-0000-0002 declined",
        "number=4000000000000119&x=1",
        "'5555555555554444'",
        "an amex 378282246310005",
    ],
)
def test_card_numbers_are_redacted_in_any_spelling(text):
    redacted = redact(text)
    assert "[REDACTED-PAN]" in redacted
    assert not re.search(r"\d{4}[ -]?\d{4}", redacted)


@pytest.mark.parametrize(
    "text",
    [
        "idempotency key 3f2a41b0c9d84e2f8a1b2c3d4e5f6a7b",
        "request 1234567890 took 12 ms",
        "amount 100000000000000000000.00",
        "2026-11-28T01:09:55.767+00:00",
    ],
)
def test_ordinary_numbers_and_keys_are_kept(text):
    assert redact(text) == text


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("password=hunter2&username=acme", "hunter2"),
        ("{'password': 'hunter2'}", "hunter2"),
        ('{"new_password1": "hunter2"}', "hunter2"),
        ("Authorization: Bearer abc.def.ghi", "abc.def.ghi"),
        ("Cookie: sessionid=s3ss10n; csrftoken=t0k3n", "s3ss10n"),
        ("Cookie: sessionid=s3ss10n; csrftoken=t0k3n", "t0k3n"),
        ("csrfmiddlewaretoken=m4sk3d&document=1", "m4sk3d"),
        ("card_number=4111", "4111"),
    ],
)
def test_values_of_secret_fields_are_redacted(text, secret):
    redacted = redact(text)
    assert secret not in redacted
    assert "[REDACTED]" in redacted


def test_sql_statements_lose_their_literals():
    sql = (
        'SELECT "django_session"."session_data" FROM "django_session" '
        "WHERE \"django_session\".\"session_key\" = 'k3y' AND expire_date > 'x'"
    )
    redacted = redact_sql(sql)
    assert "k3y" not in redacted
    assert '"django_session"."session_key"' in redacted


# --- request ids ----------------------------------------------------------------


def test_every_response_carries_a_new_request_id(client):
    first = client.get(reverse("login"))["X-Request-ID"]
    second = client.get(reverse("login"))["X-Request-ID"]
    assert HEX_ID.fullmatch(first)
    assert HEX_ID.fullmatch(second)
    assert first != second


def test_a_well_formed_request_id_from_the_proxy_is_kept(client):
    response = client.get(reverse("login"), HTTP_X_REQUEST_ID="lb-7f3a.9c2e_01")
    assert response["X-Request-ID"] == "lb-7f3a.9c2e_01"


@pytest.mark.parametrize(
    "incoming",
    [
        "short",
        "x" * 65,
        "has spaces in it",
        "<script>alert(1)</script>",
        "id\nX-Injected: 1",
        "4242424242424242",
        "-starts-with-a-dash",
    ],
)
def test_a_malformed_request_id_is_replaced(client, incoming):
    response = client.get(reverse("login"), HTTP_X_REQUEST_ID=incoming)
    assert HEX_ID.fullmatch(response["X-Request-ID"])


# --- server errors --------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "heading", "reference"),
    [
        ("en", "Something went wrong", "quote this reference"),
        ("de", "Etwas ist schiefgegangen", "geben Sie diese Referenz an"),
    ],
)
def test_a_server_error_shows_and_logs_its_request_id_and_traceback(
    settings, log_output, language, heading, reference
):
    settings.DEBUG = False
    reseller = factories.ResellerFactory()
    client = Client(raise_request_exception=False, HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(factories.reseller_user(reseller))
    failure = RuntimeError("ledger unreachable while paying 4242 4242 4242 4242")

    with mock.patch("billing.selectors.account_summary", side_effect=failure):
        response = client.get(reverse("home"))

    assert response.status_code == 500
    request_id = response["X-Request-ID"]
    page = response.content.decode()
    assert heading in page
    assert reference in page
    assert f'<code class="request-id">{request_id}</code>' in page
    assert 'href="/static/css/app.css"' in page  # the panel's styling

    errors = [
        line
        for line in json_lines(log_output())
        if line["logger"] == "django.request" and line["level"] == "ERROR"
    ]
    assert len(errors) == 1
    logged = errors[0]
    assert logged["request_id"] == request_id
    assert logged["status_code"] == 500
    assert logged["path"] == "/"
    assert "Traceback (most recent call last)" in logged["exception"]
    assert "RuntimeError: ledger unreachable while paying" in logged["exception"]
    assert "4242" not in logged["exception"]


def test_the_500_page_renders_while_the_database_is_down(settings):
    settings.DEBUG = False
    client = Client(raise_request_exception=False)
    client.force_login(factories.reseller_user(factories.ResellerFactory()))
    with mock.patch.object(
        connection, "cursor", side_effect=OperationalError("database gone")
    ):
        response = client.get(reverse("home"))
    page = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong" in page
    assert f'<code class="request-id">{response["X-Request-ID"]}</code>' in page


# --- styled error pages, both panels, both languages ---------------------------

PAGES = {
    "en": {
        404: "Page not found",
        403: "Access denied",
        400: "Bad request",
        "csrf": "This form has expired",
        "start": "Go to the start page",
    },
    "de": {
        404: "Seite nicht gefunden",
        403: "Zugriff verweigert",
        400: "Ungültige Anfrage",
        "csrf": "Dieses Formular ist abgelaufen",
        "start": "Zur Startseite",
    },
}


@pytest.fixture
def production_errors(settings):
    settings.DEBUG = False


def assert_error_page(response, status, language, key, *, classic=False):
    page = response.content.decode()
    texts = PAGES[language]
    assert response.status_code == status
    assert f"<h1>{texts[key]}</h1>" in page
    assert texts["start"] in page
    assert f'<html lang="{language}">' in page
    assert f'<code class="request-id">{response["X-Request-ID"]}</code>' in page
    brand = "/classic/" if classic else "/"
    assert f'<a class="brand" href="{brand}">' in page


@pytest.mark.parametrize("language", ["en", "de"])
def test_404_pages_are_styled_in_both_panels(production_errors, language):
    reseller = factories.ResellerFactory()
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(factories.reseller_user(reseller))

    reseller_page = client.get(reverse("document", kwargs={"document_id": 999999}))
    assert_error_page(reseller_page, 404, language, 404)
    classic_page = client.get("/classic/no-such-page/")
    assert_error_page(classic_page, 404, language, 404, classic=True)


@pytest.mark.parametrize("language", ["en", "de"])
def test_403_page_is_styled(production_errors, language):
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(factories.reseller_user(factories.ResellerFactory()))
    response = client.get(reverse("classic:home"))  # not support staff
    assert_error_page(response, 403, language, 403, classic=True)


@pytest.mark.parametrize("language", ["en", "de"])
def test_400_page_is_styled(production_errors, language):
    response = Client(HTTP_ACCEPT_LANGUAGE=language).get(
        reverse("login"), HTTP_HOST="attacker.example"
    )
    assert_error_page(response, 400, language, 400)


@pytest.mark.parametrize("language", ["en", "de"])
def test_a_refused_form_gets_a_styled_page(production_errors, language):
    client = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE=language)
    response = client.post(reverse("classic:login"), {"username": "x", "password": "y"})
    assert_error_page(response, 403, language, "csrf", classic=True)


# --- no secrets in the logs of a card payment -----------------------------------


CARDS = {
    "4242 4242 4242 4242": 302,  # charged
    "4000-0000-0000-0002": 400,  # declined
    "4000 0000 0000 0119": 503,  # processor outage
}


def sign_in_and_pay(client, invoices) -> list[str]:
    """Sign in through the form, pay each invoice with one sandbox card from
    the rendered review page; return the CSRF tokens the forms held."""

    sign_in = client.get(reverse("login"))
    submitted_tokens = [csrf_field(sign_in)]
    signed_in = client.post(
        reverse("login"),
        {
            "username": "card-payer",
            "password": factories.PASSWORD,
            "csrfmiddlewaretoken": submitted_tokens[0],
        },
    )
    assert signed_in.status_code == 302

    for invoice, (card, status) in zip(invoices, CARDS.items(), strict=True):
        review = client.get(reverse("pay"), {"document": invoice.pk})
        fields = form_fields(review, "confirm-form")
        fields["payment_method"] = ["card"]
        fields["card_number"] = [card]
        submitted_tokens += fields["csrfmiddlewaretoken"]
        response = client.post(reverse("pay"), fields)
        assert response.status_code == status, card
        if status == 302:
            assert client.get(response["Location"]).status_code == 200

    return submitted_tokens


def test_the_logs_of_card_payments_hold_no_card_number_session_or_password(
    log_output,
):
    reseller = factories.ResellerFactory()
    factories.reseller_user(reseller, "card-payer")
    invoices = [factories.post(reseller, "invoice", "100.00") for _ in range(3)]
    client = Client(enforce_csrf_checks=True)
    with everything_logged_at_debug():
        submitted_tokens = sign_in_and_pay(client, invoices)

    text = log_output()
    lines = json_lines(text)
    # The capture saw the whole story: the SQL that reads the session, and the
    # refused and unavailable payments as logged responses.
    assert any("django_session" in line["message"] for line in lines)
    refused = [line for line in lines if line["logger"] == "django.request"]
    assert {line["status_code"] for line in refused} == {400, 503}
    assert all(HEX_ID.fullmatch(line["request_id"]) for line in refused)

    secrets = [
        factories.PASSWORD,
        client.cookies[settings.SESSION_COOKIE_NAME].value,
        client.cookies[settings.CSRF_COOKIE_NAME].value,
        *submitted_tokens,
    ]
    for card in CARDS:
        digits = "".join(filter(str.isdigit, card))
        secrets += [digits, card, f"{digits[:4]} {digits[4:8]}", digits[-12:]]
    assert SandboxGateway.SUCCESS_CARD in secrets
    for secret in secrets:
        assert secret not in text
    assert not PAN.search(text)


# --- health check ---------------------------------------------------------------


def test_health_answers_ok_when_the_database_answers(client):
    response = client.get("/health/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_health_answers_503_when_the_database_fails(client, log_output):
    with mock.patch.object(
        connection, "cursor", side_effect=OperationalError("connection refused")
    ):
        response = client.get("/health/")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unavailable"}
    failure = next(
        line for line in json_lines(log_output()) if line["logger"] == "config.health"
    )
    assert failure["request_id"] == response["X-Request-ID"]
    assert "OperationalError: connection refused" in failure["exception"]


def test_health_is_served_over_plain_http_when_https_is_enforced(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/health/").status_code == 200
    assert client.get(reverse("login")).status_code == 301


# --- Sentry ---------------------------------------------------------------------

SENTRY_PROBE = """
import json
import django, sentry_sdk
django.setup()
client = sentry_sdk.get_client()
options = client.options if client.is_active() else {}
print(json.dumps({
    "active": client.is_active(),
    "send_default_pii": options.get("send_default_pii"),
    "include_local_variables": options.get("include_local_variables"),
    "max_request_body_size": options.get("max_request_body_size"),
    "before_send": getattr(options.get("before_send"), "__module__", None),
}))
client.close(timeout=0)
"""


def sentry_probe(**environment: str) -> dict:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("SENTRY_")
    }
    result = subprocess.run(
        [sys.executable, "-c", SENTRY_PROBE],
        cwd=settings.BASE_DIR,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings", **environment},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(result.stdout)


def test_sentry_is_off_without_a_dsn():
    assert sentry_probe()["active"] is False


def test_sentry_reports_without_personal_data_when_a_dsn_is_set():
    probe = sentry_probe(SENTRY_DSN="https://public@sentry.invalid/1")
    assert probe == {
        "active": True,
        "send_default_pii": False,
        "include_local_variables": False,
        "max_request_body_size": "never",
        "before_send": "config.sentry",
    }


def test_sentry_events_are_tagged_with_the_request_id_and_redacted(rf):
    event = {
        "message": "charging 4242 4242 4242 4242 failed",
        "request": {"headers": {"Cookie": "sessionid=abc", "Accept": "text/html"}},
        "extra": {"password": "hunter2", "empty_password": ""},
    }
    sent = {}

    def view(request):
        sent.update(before_send(event, {}))
        return HttpResponse()

    response = RequestIdMiddleware(view)(rf.get("/"))

    assert sent["tags"] == {"request_id": response["X-Request-ID"]}
    assert sent["message"] == "charging [REDACTED-PAN] failed"
    assert sent["request"]["headers"] == {"Cookie": "[REDACTED]", "Accept": "text/html"}
    assert sent["extra"] == {"password": "[REDACTED]", "empty_password": ""}
