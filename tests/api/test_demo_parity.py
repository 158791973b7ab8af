"""The demo resellers' figures read the same through the API and the panel.

The demo is loaded as ``make run`` loads it; the panel's Home page and
document list are read as rendered, the API as a client reads it.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from api.demo import DEMO_API_KEY
from api.keys import issue_api_key
from billing.management.commands.seed_demo import RESELLERS
from billing.money import format_money
from tests.api.conftest import API, api_client

pytestmark = pytest.mark.django_db

TESTID = r'data-testid="{}">([^<]+)<'


def panel_figure(html: str, testid: str) -> str:
    match = re.search(TESTID.format(testid), html)
    assert match, testid
    return match.group(1).strip()


def all_documents(client: Client) -> list[dict]:
    items, cursor = [], None
    while True:
        params = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"{API}/documents", params).json()
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


def test_api_and_panel_show_the_same_amounts_for_every_demo_reseller():
    call_command("seed_demo", verbosity=0)
    for spec in RESELLERS:
        assert_same_amounts(spec.username)


def assert_same_amounts(username: str) -> None:
    user = get_user_model().objects.get(username=username)
    reseller = user.membership.reseller
    panel = Client(HTTP_ACCEPT_LANGUAGE="en")
    panel.force_login(user)
    api = api_client(DEMO_API_KEY if username == "cobalt" else _key_for(user, reseller))

    account = api.get(f"{API}/account").json()
    home = panel.get("/").content.decode()
    listing = panel.get("/documents/", {"page": 1}).content.decode()

    def shown(amount: str) -> str:
        return format_money(Decimal(amount), reseller.currency)

    assert account["name"] == reseller.name
    assert shown(account["unpaid_total"]) == panel_figure(home, "total-due")
    assert shown(account["overdue_total"]) == panel_figure(home, "overdue-amount")
    assert shown(account["credit_balance"]) == panel_figure(home, "credit-balance")
    documents = all_documents(api)
    assert len(documents) == reseller.document_count
    for document in documents:
        row = re.search(
            rf"<tr[^>]*>(?:(?!</tr>).)*{document['number']}.*?</tr>", listing, re.S
        )
        assert row, document["number"]
        assert shown(document["total"]) in row.group(0)
        if document["open_amount"] is not None:
            assert shown(document["open_amount"]) in row.group(0)


def _key_for(user, reseller) -> str:
    return issue_api_key(user=user, reseller=reseller, name="parity")[1]
