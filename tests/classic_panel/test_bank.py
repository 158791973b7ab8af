"""The classic panel's bank pages: upload, the unmatched queue, assign, return."""

from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from billing.models import (
    BankLine,
    BankStatement,
    MarketplaceBankAccount,
    Operation,
)
from billing.statements import MAX_STATEMENT_BYTES
from tests.billing import bank
from tests.classic_panel.conftest import LINK, VIEW, client_for, fresh, staff
from tests.classic_panel.helpers import ledger_state


class Forms(HTMLParser):
    """Collect each form's action and the values of its inputs, as rendered."""

    def __init__(self):
        super().__init__()
        self.forms: dict[str, dict[str, str]] = {}
        self._current = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and attrs.get("method") == "post":
            self._current = self.forms.setdefault(attrs.get("action", ""), {})
        elif tag == "input" and self._current is not None:
            if attrs.get("type") != "checkbox":
                self._current[attrs.get("name", "")] = attrs.get("value", "")

    def handle_endtag(self, tag):
        if tag == "form":
            self._current = None


def rendered_form(response, action: str) -> dict[str, str]:
    parser = Forms()
    parser.feed(response.content.decode())
    return parser.forms[action]


@pytest.fixture
def de_account(world):
    return MarketplaceBankAccount.objects.create(
        marketplace=world.de, beneficiary="Receivables GmbH", iban=bank.DE_IBAN
    )


def upload(client, name="camt053_v02.xml", data=None, **headers):
    data = data if data is not None else (bank.FIXTURES / name).read_bytes()
    return client.post(
        reverse("classic:bank_upload"),
        {"statement": SimpleUploadedFile(name, data)},
        **headers,
    )


@pytest.mark.parametrize(
    ("language", "expected"),
    [("en", "4 credit lines, 4 new"), ("de", "4 Gutschriften, 4 neu")],
)
def test_agent_uploads_a_statement(world, agent, de_account, language, expected):
    response = upload(agent, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 302
    assert response["Location"] == reverse("classic:bank_statements")
    page = agent.get(response["Location"], HTTP_ACCEPT_LANGUAGE=language)
    assert expected in page.content.decode()
    assert BankLine.objects.filter(marketplace=world.de).count() == 4


def test_hostile_upload_is_refused_with_a_message(world, agent, de_account):
    before = ledger_state()
    response = upload(agent, data=b"<Document><Stmt>")
    assert response.status_code == 400
    assert "not well-formed XML" in response.content.decode()
    big = upload(agent, data=b"x" * (MAX_STATEMENT_BYTES + 1))
    assert big.status_code == 400
    assert "larger than" in big.content.decode()
    assert BankStatement.objects.count() == 0
    assert ledger_state() == before


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "Line 1, 119.000001 EUR: EUR amounts have at most 2 decimals."),
        ("de", "Zeile 1, 119.000001 EUR: Beträge in EUR haben höchstens 2"),
    ],
)
def test_an_amount_the_ledger_cannot_hold_refuses_the_upload(
    world, agent, de_account, language, message
):
    """It reached the insert and failed there, a server error; now the page
    names the line, in the agent's language, and nothing is written."""
    before = ledger_state()
    data = (bank.FIXTURES / "camt053_v02.xml").read_bytes()
    data = data.replace(b"119.00<", b"119.000001<")

    response = upload(agent, data=data, HTTP_ACCEPT_LANGUAGE=language)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert BankStatement.objects.count() == BankLine.objects.count() == 0
    assert ledger_state() == before


def test_agent_of_another_marketplace_cannot_import_this_account(world, de_account):
    support_us = client_for(staff("support-us", [world.us], VIEW, LINK))
    response = upload(support_us)
    assert response.status_code == 400
    assert "marketplace you do not work on" in response.content.decode()
    assert BankLine.objects.count() == 0


def test_viewer_sees_the_queue_but_cannot_act(world, viewer):
    line = bank.queued_line(world.de)
    queue = viewer.get(reverse("classic:bank_queue"))
    assert queue.status_code == 200
    assert "Payer Ltd" in queue.content.decode()
    page = viewer.get(reverse("classic:bank_line", args=[line.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "No reference, no document number" in html
    assert reverse("classic:bank_assign", args=[line.pk]) not in html
    payload = {
        "reason": "x",
        "idempotency_key": "0" * 32,
        "reseller": world.de_reseller.pk,
    }
    for name in ("bank_assign", "bank_return"):
        url = reverse(f"classic:{name}", args=[line.pk])
        assert viewer.post(url, payload).status_code == 403
    assert viewer.post(reverse("classic:bank_upload")).status_code == 403
    assert fresh_line(line).state == BankLine.State.QUEUED


def fresh_line(line):
    return BankLine.objects.get(pk=line.pk)


@pytest.mark.parametrize("language", ["en", "de"])
def test_agent_assigns_a_line_from_the_queue(world, agent, language):
    line = bank.queued_line(world.de, amount=Decimal("100.00"))
    url = reverse("classic:bank_line", args=[line.pk])
    found = agent.get(url, {"q": "Kunde"}, HTTP_ACCEPT_LANGUAGE=language)
    assert "Kunde GmbH" in found.content.decode()
    chosen = agent.get(
        url,
        {"q": "Kunde", "reseller": world.de_reseller.pk},
        HTTP_ACCEPT_LANGUAGE=language,
    )
    action = reverse("classic:bank_assign", args=[line.pk])
    fields = rendered_form(chosen, action)
    assert fields["reseller"] == str(world.de_reseller.pk) and fields["idempotency_key"]
    payload = {**fields, "document": [world.invoice.pk], "reason": "Phoned in"}
    response = agent.post(action, payload, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 302
    assigned = fresh_line(line)
    assert assigned.state == BankLine.State.APPLIED
    assert assigned.reseller == world.de_reseller
    assert fresh(world.invoice).open_amount == 0
    operation = Operation.objects.get(pk=assigned.operation_id)
    assert operation.reason == "Phoned in"
    # Posting the same page again (a double click) changes nothing.
    before = ledger_state()
    again = agent.post(action, payload, HTTP_ACCEPT_LANGUAGE=language)
    assert again.status_code == 302
    assert ledger_state() == before
    detail = agent.get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode()
    assert "support-de" in detail


def test_assign_without_reason_changes_nothing(world, agent):
    line = bank.queued_line(world.de)
    chosen = agent.get(
        reverse("classic:bank_line", args=[line.pk]),
        {"reseller": world.de_reseller.pk},
    )
    action = reverse("classic:bank_assign", args=[line.pk])
    fields = rendered_form(chosen, action)
    before = ledger_state()
    response = agent.post(action, {**fields, "reason": ""})
    assert response.status_code == 400
    assert ledger_state() == before
    assert fresh_line(line).state == BankLine.State.QUEUED


def test_agent_cannot_assign_to_a_reseller_of_another_marketplace(world, agent):
    line = bank.queued_line(world.de)
    action = reverse("classic:bank_assign", args=[line.pk])
    payload = {
        "reseller": world.us_reseller.pk,
        "reason": "x",
        "idempotency_key": "a" * 32,
    }
    response = agent.post(action, payload)
    assert response.status_code == 400
    assert fresh_line(line).state == BankLine.State.QUEUED


def test_agent_returns_a_line_to_the_payer(world, agent):
    line = bank.queued_line(world.de)
    page = agent.get(reverse("classic:bank_line", args=[line.pk]))
    action = reverse("classic:bank_return", args=[line.pk])
    fields = rendered_form(page, action)
    response = agent.post(action, {**fields, "reason": "Unknown payer"})
    assert response.status_code == 302
    returned = fresh_line(line)
    assert returned.state == BankLine.State.RETURNED
    assert returned.handled_by == world.support_de
    queue = agent.get(reverse("classic:bank_queue"), {"state": "returned"})
    assert "Payer Ltd" in queue.content.decode()


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("en", "This form was already used for another bank line."),
        ("de", "Dieses Formular wurde schon für einen anderen Umsatz verwendet."),
    ],
)
def test_a_form_posted_for_another_line_is_refused(world, agent, language, message):
    """One line's form, its key sent again for another line (a copied or
    forged post), is refused with a message; the other line stays queued."""
    line = bank.queued_line(world.de)
    other = bank.queued_line(world.de, ref="Q-2")
    page = agent.get(reverse("classic:bank_line", args=[line.pk]))
    fields = rendered_form(page, reverse("classic:bank_return", args=[line.pk]))
    payload = {**fields, "reason": "Unknown payer"}
    done = agent.post(reverse("classic:bank_return", args=[line.pk]), payload)
    assert done.status_code == 302
    before = ledger_state()
    response = agent.post(
        reverse("classic:bank_return", args=[other.pk]),
        payload,
        HTTP_ACCEPT_LANGUAGE=language,
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    assert fresh_line(other).state == BankLine.State.QUEUED
    assert ledger_state() == before


def test_support_de_does_not_see_us_lines(world, agent):
    us_line = bank.queued_line(world.us, payer_name="Yankee Payer")
    assert (
        "Yankee Payer" not in agent.get(reverse("classic:bank_queue")).content.decode()
    )
    assert agent.get(reverse("classic:bank_line", args=[us_line.pk])).status_code == 404


def test_queue_page_queries_are_bounded(world, agent, django_assert_max_num_queries):
    for index in range(30):
        bank.queued_line(world.de, ref=f"Q-{index}")
    with django_assert_max_num_queries(12):
        agent.get(reverse("classic:bank_queue"))


@pytest.mark.parametrize("query", ["1\x00", "²", "9" * 400, "x" * 10_000])
def test_reseller_search_on_a_line_takes_any_text(world, agent, query):
    line = bank.queued_line(world.de)
    response = agent.get(reverse("classic:bank_line", args=[line.pk]), {"q": query})
    assert response.status_code == 200
