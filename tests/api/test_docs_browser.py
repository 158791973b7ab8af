"""The API's interactive documentation, in real Chromium: served from the
app with its own assets (no CDN, so it works offline), under the site's
strict content security policy, listing every operation."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests.api.conftest import make_reseller, new_key
from tests.factories import post

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PATHS = [
    "/api/v1/account",
    "/api/v1/documents",
    "/api/v1/documents/{document_id}",
    "/api/v1/payments/preview",
    "/api/v1/payments",
    "/api/v1/payments/{payment_id}",
]


def test_docs_page_lists_every_operation_offline_and_under_csp(page, live_server):
    own_host = urlsplit(live_server.url).netloc
    elsewhere: list[str] = []

    def offline(route):
        if urlsplit(route.request.url).netloc == own_host:
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", offline)
    response = page.goto("/api/v1/docs")

    assert response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    operations = page.locator(".opblock-summary-path")
    expect(operations.first).to_be_visible()
    expect(operations).to_have_count(7)
    assert set(operations.all_inner_texts()) == set(PATHS)
    expect(page.get_by_role("heading", name="AR ledger reseller API")).to_be_visible()
    assert elsewhere == []


def test_docs_page_tries_an_operation_with_an_api_key(page, live_server):
    reseller = make_reseller()
    post(reseller, "invoice", "12.30")
    key = new_key(reseller)
    page.goto("/api/v1/docs")

    page.get_by_role("button", name="Authorize").click()
    page.locator(
        ".modal-ux input[type=text], .modal-ux input[type=password]"
    ).first.fill(key)
    page.locator(".modal-ux button.authorize").click()
    page.locator(".modal-ux button.btn-done").click()
    account = page.locator("#operations-default-getAccount")
    account.locator(".opblock-summary").click()
    account.get_by_role("button", name="Try it out").click()
    account.get_by_role("button", name="Execute").click()

    expect(account.locator(".live-responses-table")).to_contain_text(reseller.name)
