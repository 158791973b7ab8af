"""Staff work in a real Chromium: link, unlink, revert; the reseller sees it."""

import re
from datetime import date
from decimal import Decimal

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from billing.models import Allocation, Document, Operation, Reversal
from tests import factories
from tests.classic_panel.conftest import (
    LINK,
    MEMO,
    VIEW,
    reseller_panel_user,
    staff,
)
from tests.conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

AXE = Axe()
BLOCKING = {"serious", "critical"}


def assert_accessible(page, shot: str | None = None) -> None:
    """Run axe-core on the page: no serious or critical violations.

    ``shot`` also saves a screenshot of the step as a test artifact.
    """
    if shot:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"classic_{shot}.png"), full_page=True)
    violations = [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + ", ".join(str(node["target"]) for node in v["nodes"][:3])
        for v in AXE.run(page).response["violations"]
        if v["impact"] in BLOCKING
    ]
    assert not violations, f"{page.url}: {violations}"


@pytest.fixture
def account(db):
    """A term reseller of a self-service marketplace, with a payment made.

    The reseller paid INV-B using its 30.00 payment as credit (a reseller
    payment operation); a 50.00 credit memo arrived afterwards.
    """
    us = factories.MarketplaceFactory(code="US", name="United States")
    reseller = factories.ResellerFactory(marketplace=us, name="Acme Cloud")
    staff("support-us", [us], VIEW, LINK, MEMO)
    reseller_panel_user(reseller, "acme-user")
    factories.post(
        reseller, "invoice", "100.00", number="INV-A", issue_date=date(2026, 1, 1)
    )
    invoice_b = factories.post(
        reseller, "invoice", "80.00", number="INV-B", issue_date=date(2026, 1, 5)
    )
    factories.post(
        reseller, "payment", "30.00", number="PAY-P", issue_date=date(2026, 1, 3)
    )
    payment = factories.pay(reseller, [invoice_b], use_credit=True)
    assert payment.payment.credit_applied == Decimal("30.00")
    factories.post(
        reseller, "credit_memo", "50.00", number="MEMO-X", issue_date=date(2026, 1, 10)
    )
    return reseller, payment


def open_amounts(reseller) -> dict:
    return dict(
        Document.objects.filter(reseller=reseller).values_list("number", "open_amount")
    )


def test_staff_links_unlinks_and_reverts_then_the_reseller_sees_it(
    page, account, live_server, chromium_browser
):
    reseller, payment = account

    # Sign in.
    page.goto("/classic/")
    expect(page).to_have_url("/classic/login/?next=/classic/")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Classic panel — staff sign in"
    )
    assert_accessible(page)
    page.get_by_label("Username").fill("support-us")
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Billing")
    assert_accessible(page)

    # Find the reseller, open its documents.
    page.get_by_label("Name or id").fill("acme")
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Acme Cloud").click()
    expect(page.get_by_test_id("credit-balance")).to_have_text("$50.00")
    expect(page.get_by_test_id("total-owed")).to_have_text("$150.00")
    assert_accessible(page, "1_documents")

    # Link 20.00 of the 50.00 credit memo to the 100.00 invoice.
    page.get_by_role("link", name="MEMO-X").click()
    assert_accessible(page)
    page.get_by_role("link", name="Apply to a debit document…").click()
    expect(page.get_by_label("Amount")).to_have_value("50.00")
    page.get_by_label("Debit document").select_option(
        label="INV-A · Invoice · $100.00 open of $100.00"
    )
    page.get_by_label("Amount").fill("20.00")
    page.get_by_label("Reason").fill("Reseller asked to apply 20 to INV-A")
    assert_accessible(page, "2_link_form")
    page.get_by_role("button", name="Review").click()
    expect(page.get_by_role("heading", level=2)).to_have_text(
        "Link $20.00 of MEMO-X to INV-A?"
    )
    review = page.get_by_role("table")
    expect(review.get_by_role("row", name="MEMO-X")).to_contain_text("$30.00")
    expect(review.get_by_role("row", name="INV-A")).to_contain_text("$80.00")
    assert_accessible(page, "3_link_review")
    assert open_amounts(reseller)["INV-A"] == Decimal("100.00")  # not yet
    page.get_by_role("button", name="Confirm link").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Linked $20.00 of MEMO-X to INV-A."
    )
    expect(page.get_by_test_id("open-amount")).to_have_text("$80.00")
    assert open_amounts(reseller)["MEMO-X"] == Decimal("30.00")
    assert_accessible(page, "4_linked")

    # Unlink it again.
    page.get_by_role("link", name="Unlink").click()
    assert_accessible(page, "5_unlink")
    page.get_by_label("Reason").fill("Linked to the wrong invoice")
    page.get_by_role("button", name="Unlink").click()
    expect(page.get_by_role("status")).to_contain_text("both open amounts are restored")
    expect(page.get_by_test_id("open-amount")).to_have_text("$100.00")
    expect(page.get_by_role("row", name="MEMO-X")).to_contain_text(
        "Linked to the wrong invoice"
    )
    assert Reversal.objects.count() == 1

    # Revert the reseller's payment operation.
    page.get_by_role("navigation", name="Reseller").get_by_role(
        "link", name="Operations"
    ).click()
    assert_accessible(page)
    page.get_by_role("link", name=f"Revert {payment.reference}").click()
    expect(page.get_by_role("table")).to_contain_text("PAY-P")
    assert_accessible(page, "6_revert")
    page.get_by_label("Reason").fill("Reseller does not like how credit was applied")
    page.get_by_role("button", name="Revert operation").click()
    expect(page.get_by_role("status")).to_contain_text(f"Reverted {payment.reference}")
    expect(page.get_by_text("Reverted by")).to_be_visible()
    assert_accessible(page, "7_reverted")
    assert not Allocation.objects.filter(
        operation=payment, reversal__isnull=True
    ).exists()
    assert Operation.objects.get(reverts=payment).actor.username == "support-us"

    # Back on the documents: everything is open again.
    page.get_by_role("navigation", name="Breadcrumbs").get_by_role(
        "link", name="Acme Cloud"
    ).click()
    expect(page.get_by_test_id("credit-balance")).to_have_text("$80.00")
    expect(page.get_by_test_id("total-owed")).to_have_text("$180.00")
    assert open_amounts(reseller) == {
        "INV-A": Decimal("100.00"),
        "INV-B": Decimal("80.00"),
        "PAY-P": Decimal("30.00"),
        "MEMO-X": Decimal("50.00"),
    }
    for tab in ("Activity", "Issue credit memo"):
        page.get_by_role("navigation", name="Reseller").get_by_role(
            "link", name=tab
        ).click()
        assert_accessible(page)
    page.get_by_role("navigation", name="Reseller").get_by_role(
        "link", name="Activity"
    ).click()
    expect(page.get_by_role("table")).to_contain_text("Operation reverted")

    # The reseller panel shows the restored unpaid documents and credit balance.
    context = chromium_browser.new_context(
        base_url=live_server.url,
        locale="en-US",
        viewport={"width": 1280, "height": 900},
    )
    try:
        reseller_page = context.new_page()
        reseller_page.set_default_timeout(10_000)
        reseller_page.goto("/login/")
        reseller_page.get_by_label("Username").fill("acme-user")
        reseller_page.get_by_label("Password").fill(factories.PASSWORD)
        reseller_page.get_by_role("button", name="Sign in").click()
        expect(reseller_page.get_by_test_id("credit-balance")).to_have_text("$80.00")
        expect(reseller_page.get_by_test_id("total-due")).to_have_text("$180.00")
        reseller_page.goto("/unpaid/")
        for number, amount in (("INV-A", "$100.00"), ("INV-B", "$80.00")):
            expect(reseller_page.get_by_role("row", name=number)).to_contain_text(
                amount
            )
        ARTIFACTS.mkdir(exist_ok=True)
        reseller_page.screenshot(
            path=str(ARTIFACTS / "classic_panel_reseller_after_revert.png"),
            full_page=True,
        )
    finally:
        context.close()


def test_viewer_sees_no_action_buttons_in_the_browser(page, account):
    reseller, payment = account
    us = reseller.marketplace
    staff("viewer-us", [us], VIEW)
    page.goto("/classic/login/")
    page.get_by_label("Username").fill("viewer-us")
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto(f"/classic/resellers/{reseller.pk}/operations/")
    expect(page.get_by_role("link", name=payment.reference)).to_be_visible()
    expect(page.get_by_role("link", name="Revert")).to_have_count(0)
    expect(page.get_by_role("link", name="Link documents")).to_have_count(0)
    page.goto(f"/classic/resellers/{reseller.pk}/operations/{payment.pk}/")
    expect(page.get_by_role("link", name="Unlink")).to_have_count(0)
    assert_accessible(page)


def test_german_staff_link_issue_a_credit_memo_and_revert(german_page):
    """The same staff work with the interface in German: German labels,
    amounts typed and shown the German way (``1.234,50 €``)."""
    page = german_page
    de = factories.MarketplaceFactory(code="DE", name="Deutschland", currency="EUR")
    reseller = factories.ResellerFactory(marketplace=de, name="Kunde GmbH")
    staff("support-de", [de], VIEW, LINK, MEMO)
    invoice = factories.post(
        reseller, "invoice", "2000.00", number="RE-1", issue_date=date(2026, 1, 1)
    )
    memo = factories.post(
        reseller, "credit_memo", "1500.00", number="GS-1", issue_date=date(2026, 1, 2)
    )

    page.goto("/classic/login/")
    page.get_by_label("Benutzername").fill("support-de")
    page.get_by_label("Passwort").fill(factories.PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Abrechnung")

    # Link, typing the amount the German way.
    page.goto(
        f"/classic/resellers/{reseller.pk}/link/?credit={memo.pk}&debit={invoice.pk}"
    )
    expect(page.get_by_label("Betrag")).to_have_value("1.500,00")
    page.get_by_label("Betrag").fill("1.234,50")
    page.get_by_label("Grund").fill("Teilweise verrechnen")
    page.get_by_role("button", name="Prüfen").click()
    expect(page.get_by_role("heading", level=2)).to_contain_text(
        re.compile(r"1\.234,50\s€")
    )
    assert Allocation.objects.count() == 0  # not yet
    page.get_by_role("button", name="Verknüpfung bestätigen").click()
    expect(page.get_by_role("status")).to_contain_text(
        re.compile(r"1\.234,50\s€ von GS-1 mit RE-1 verknüpft\.")
    )
    expect(page.get_by_test_id("open-amount")).to_have_text(re.compile(r"765,50\s€"))
    link = Allocation.objects.get()
    assert link.amount == Decimal("1234.50")

    # A credit memo of 25,5.
    page.goto(f"/classic/resellers/{reseller.pk}/credit-memo/")
    page.get_by_label("Betrag").fill("25,5")
    page.get_by_label("Grund").fill("Kulanz")
    page.get_by_role("button", name="Prüfen").click()
    expect(page.get_by_role("heading", level=2)).to_contain_text(
        re.compile(r"25,50\s€")
    )
    page.get_by_role("button", name="Gutschrift ausstellen").click()
    expect(page.get_by_role("status")).to_contain_text(re.compile(r"über 25,50\s€"))
    assert Document.objects.get(kind="credit_memo", total=Decimal("25.50"))

    # Revert the link.
    page.goto(
        f"/classic/resellers/{reseller.pk}/operations/{link.operation_id}/revert/"
    )
    expect(page.get_by_role("table")).to_contain_text(re.compile(r"1\.234,50\s€"))
    page.get_by_label("Grund").fill("Falsch verrechnet")
    page.get_by_role("button", name="Vorgang rückgängig machen").click()
    expect(page.get_by_role("status")).to_be_visible()
    assert Operation.objects.filter(reverts_id=link.operation_id).exists()
    assert Document.objects.get(pk=invoice.pk).open_amount == Decimal("2000.00")
