"""The lists of both panels in a real Chromium: what a person sees."""

from datetime import date

import pytest
from playwright.sync_api import expect

from tests import factories
from tests.classic_panel.conftest import VIEW, staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def sign_in(page, path: str, username: str) -> None:
    page.goto(path)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def white_space(locator) -> str:
    return locator.evaluate("element => getComputedStyle(element).whiteSpace")


def test_references_never_wrap_and_date_filters_take_iso_dates(page):
    marketplace = factories.MarketplaceFactory()
    reseller = factories.ResellerFactory(marketplace=marketplace, name="Acme")
    invoice = factories.post(
        reseller,
        "invoice",
        "10.00",
        number="INV-2026-000001",
        issue_date=date(2026, 1, 5),
    )
    factories.post(reseller, "invoice", "10.00", issue_date=date(2025, 12, 1))
    payment = factories.pay(reseller, [invoice])
    staff("agent", [marketplace], VIEW)
    page.set_viewport_size({"width": 480, "height": 800})

    sign_in(page, "/classic/login/", "agent")
    page.goto(f"/classic/resellers/{reseller.pk}/operations/")
    reference = page.get_by_role("link", name=payment.reference)
    assert white_space(reference) == "nowrap"

    page.goto(f"/classic/resellers/{reseller.pk}/")
    issued_from = page.get_by_label("Issued from")
    expect(issued_from).to_have_attribute("type", "text")
    expect(issued_from).to_have_attribute("placeholder", "YYYY-MM-DD")
    issued_from.fill("2026-01-01")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_label("Issued from")).to_have_value("2026-01-01")
    expect(page.locator("table.data tbody tr")).to_have_count(1)
    number = page.get_by_role("link", name="INV-2026-000001")
    assert white_space(number) == "nowrap"
    amount = page.locator("table.data tbody td.num").first
    assert white_space(amount) == "nowrap"

    page.context.clear_cookies()
    sign_in(page, "/login/", factories.reseller_user(reseller).username)
    page.goto("/payments/")
    assert white_space(page.get_by_role("link", name=payment.reference)) == "nowrap"
    page.goto("/documents/?issued_from=2026-01-01")
    expect(page.get_by_label("Issued from")).to_have_value("2026-01-01")
    expect(page.get_by_label("Issued from")).to_have_attribute("type", "text")
