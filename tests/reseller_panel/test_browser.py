"""The reseller panel in real Chromium: what a reseller sees and does.

The live server runs in another thread, hence ``transaction=True``.
"""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from billing import services
from billing.models import Document, Operation, PaymentModel
from billing.money import format_money
from billing.references import format_reference
from billing.selectors import account_summary
from tests import factories
from tests.conftest import ARTIFACTS
from tests.reseller_panel.conftest import days_ago, make_reseller

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SUCCESS_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"


def usd(amount) -> str:
    return format_money(Decimal(amount), "USD")


def sign_in(page, reseller):
    user = factories.reseller_user(reseller)
    page.goto("/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(factories.PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(reseller.name)
    return user


def select_and_open_pay_page(page, documents):
    page.goto("/unpaid/")
    for doc in documents:
        page.get_by_label(f"Select {doc.number}").check()
    page.get_by_role("button", name="Pay selected").click()
    expect(page.get_by_role("heading", name="Pay documents")).to_be_visible()


def open_of(document) -> Decimal:
    return Document.objects.get(pk=document.pk).open_amount


def row(page, document):
    return page.locator(f'tr[data-document="{document.number}"]')


def test_sign_in_and_home_figures_match_the_ledger(page):
    reseller = make_reseller()
    factories.post(reseller, "invoice", "1200.00", issue_date=days_ago(100))
    factories.post(reseller, "invoice", "300.10", issue_date=days_ago(45))
    factories.post(reseller, "debit_memo", "99.90", issue_date=days_ago(2))
    factories.post(reseller, "payment", "50.00")
    factories.post(reseller, "credit_memo", "25.55")
    sign_in(page, reseller)
    summary = account_summary(reseller, today=days_ago(0))
    expect(page.get_by_test_id("total-due")).to_have_text(usd(summary.total_due))
    expect(page.get_by_test_id("overdue-amount")).to_have_text(
        usd(summary.overdue_amount)
    )
    expect(page.get_by_test_id("credit-balance")).to_have_text(
        usd(summary.credit_balance)
    )
    assert summary.total_due == Decimal("1600.00")
    assert summary.credit_balance == Decimal("75.55")
    chart = page.get_by_role("img", name=re.compile("Amounts owed by days past due"))
    expect(chart).to_contain_text(usd("1200.00"))
    expect(page.get_by_role("link", name="Pay unpaid documents")).to_be_visible()


def test_term_account_selects_several_documents_and_pays_with_credit(page):
    reseller = make_reseller()
    invoices = [
        factories.post(reseller, "invoice", "100.00", issue_date=days_ago(30 - i))
        for i in range(3)
    ]
    factories.post(reseller, "credit_memo", "250.00")
    factories.post(reseller, "payment", "60.00")
    sign_in(page, reseller)
    page.goto("/unpaid/")
    page.get_by_label("Select all documents on this page").check()
    expect(page.locator("#selection-total")).to_have_text(f"{usd('300.00')} (3)")
    page.get_by_role("button", name="Pay selected").click()
    expect(page.get_by_test_id("credit-balance")).to_have_text(usd("310.00"))
    page.get_by_label("Use credit balance").click()  # previews again by itself
    expect(page.get_by_test_id("credit-applied")).to_have_text(usd("300.00"))
    expect(page.get_by_test_id("remainder")).to_have_text(usd("0.00"))
    expect(page.get_by_test_id("allocations")).to_be_visible()
    page.get_by_role("button", name="Apply credit").click()
    expect(page.get_by_test_id("receipt-status")).to_contain_text("Completed")
    expect(page.get_by_test_id("receipt-credit")).to_have_text(usd("300.00"))
    assert [open_of(doc) for doc in invoices] == [Decimal("0.00")] * 3
    for doc in invoices:
        expect(row(page, doc)).to_contain_text("Paid")


def test_credit_smaller_than_selection_leaves_last_document_partly_paid(page):
    reseller = make_reseller()
    older = factories.post(reseller, "invoice", "100.00", issue_date=days_ago(20))
    newer = factories.post(reseller, "invoice", "100.00", issue_date=days_ago(10))
    factories.post(reseller, "credit_memo", "150.00")
    sign_in(page, reseller)
    select_and_open_pay_page(page, [newer, older])
    page.get_by_label("Use credit balance").click()
    expect(page.get_by_test_id("remainder")).to_have_text(usd("50.00"))
    expect(row(page, newer)).to_contain_text(usd("50.00"))
    page.get_by_label("Bank transfer").check()
    expect(page.get_by_label("Card number")).to_be_hidden()
    page.get_by_role("button", name="Confirm payment").click()
    expect(page.get_by_test_id("receipt-status")).to_contain_text(
        "Awaiting your bank transfer"
    )
    expect(page.get_by_test_id("transfer-amount")).to_have_text(usd("50.00"))
    expect(row(page, older)).to_contain_text("Paid")
    expect(row(page, newer)).to_contain_text("Partly paid")
    assert (open_of(older), open_of(newer)) == (Decimal("0.00"), Decimal("50.00"))


def test_bank_transfer_gives_instructions_and_a_reference(page):
    reseller = make_reseller()
    invoice = factories.post(reseller, "invoice", "420.00")
    sign_in(page, reseller)
    select_and_open_pay_page(page, [invoice])
    page.get_by_label("Bank transfer").check()
    page.get_by_role("button", name="Confirm payment").click()
    operation = Operation.objects.get(reseller=reseller, kind="payment")
    instructions = page.get_by_test_id("transfer-instructions")
    # The RF reference, printed in groups of four.
    expect(instructions).to_contain_text(
        format_reference(operation.payment.transfer_reference)
    )
    expect(instructions).to_contain_text(usd("420.00"))
    expect(instructions).to_contain_text("Beneficiary")
    assert open_of(invoice) == Decimal("420.00")
    # Printed, the instructions stand alone: no navigation, no buttons.
    page.emulate_media(media="print")
    expect(instructions).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_be_hidden()
    expect(page.get_by_role("button", name="Sign out")).to_be_hidden()
    expect(page.get_by_label("Language")).to_be_hidden()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "reseller_transfer_printed.png"))


def test_prepaid_account_pays_with_credit_then_card(page):
    reseller = make_reseller(model=PaymentModel.PREPAID)
    factories.post(reseller, "payment", "30.00", issue_date=days_ago(9))
    invoices = [
        factories.post(reseller, "invoice", "80.00", issue_date=days_ago(5 - i))
        for i in range(2)
    ]
    # Support undid the automatic application the reseller did not want, so
    # the credit is back, to be used (without asking) on the next payment.
    services.revert_operation(
        operation=Operation.objects.get(reseller=reseller, kind="auto_apply"),
        actor=factories.UserFactory(),
        reason="Reseller asked to choose the documents itself",
    )
    assert [open_of(doc) for doc in invoices] == [Decimal("80.00")] * 2
    sign_in(page, reseller)
    select_and_open_pay_page(page, invoices)
    expect(page.get_by_test_id("prepaid-note")).to_contain_text("automatically")
    expect(page.get_by_label("Use credit balance")).to_have_count(0)
    expect(page.get_by_test_id("credit-applied")).to_have_text(usd("30.00"))
    page.get_by_label("Card number").fill(SUCCESS_CARD)
    page.get_by_role("button", name="Confirm payment").click()
    expect(page.get_by_test_id("receipt-status")).to_contain_text("Completed")
    expect(page.get_by_test_id("receipt-credit")).to_have_text(usd("30.00"))
    expect(page.get_by_test_id("receipt-charged")).to_have_text(usd("130.00"))
    assert [open_of(doc) for doc in invoices] == [Decimal("0.00")] * 2


def test_declined_card_is_reported_and_can_be_tried_again(page):
    reseller = make_reseller()
    invoice = factories.post(reseller, "invoice", "75.00")
    sign_in(page, reseller)
    select_and_open_pay_page(page, [invoice])
    page.get_by_label("Card number").fill(DECLINED_CARD)
    page.get_by_role("button", name="Confirm payment").click()
    status = page.get_by_test_id("receipt-status")
    expect(status).to_contain_text("Card declined")
    expect(status).to_contain_text("The card was declined.")
    assert open_of(invoice) == Decimal("75.00")
    page.get_by_role("link", name="Try again").click()
    expect(row(page, invoice)).to_contain_text(usd("75.00"))
    page.get_by_label("Card number").fill(SUCCESS_CARD)
    page.get_by_role("button", name="Confirm payment").click()
    expect(page.get_by_test_id("receipt-status")).to_contain_text("Completed")
    assert open_of(invoice) == Decimal("0.00")


def test_contact_support_account_sees_its_credit_and_whom_to_call(page):
    reseller = make_reseller(policy="contact_support")
    invoice = factories.post(reseller, "invoice", "100.00")
    factories.post(reseller, "credit_memo", "40.00")
    sign_in(page, reseller)
    select_and_open_pay_page(page, [invoice])
    notice = page.get_by_test_id("contact-support")
    expect(notice).to_contain_text(usd("40.00"))
    expect(notice).to_contain_text(reseller.marketplace.support_email)
    expect(notice).to_contain_text(reseller.marketplace.support_phone)
    expect(page.get_by_label("Use credit balance")).to_have_count(0)
    expect(page.get_by_test_id("credit-applied")).to_have_text(usd("0.00"))


def test_double_submit_pays_once(page):
    reseller = make_reseller()
    invoice = factories.post(reseller, "invoice", "55.00")
    sign_in(page, reseller)
    select_and_open_pay_page(page, [invoice])
    page.get_by_label("Card number").fill(SUCCESS_CARD)
    form_data = page.evaluate(
        "() => new URLSearchParams(new FormData("
        "document.getElementById('confirm-form'))).toString()"
    )
    page.get_by_role("button", name="Confirm payment").dblclick()
    expect(page.get_by_test_id("receipt-status")).to_contain_text("Completed")
    receipt_url = page.url
    # A browser retry of the very same form (same key) lands on the same receipt.
    replay = page.request.post(
        "/pay/",
        data=form_data,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        max_redirects=0,
    )
    assert replay.status == 302
    assert receipt_url.endswith(replay.headers["location"])
    assert Operation.objects.filter(reseller=reseller, kind="payment").count() == 1
    assert Document.objects.filter(reseller=reseller, kind="payment").count() == 1
    assert open_of(invoice) == Decimal("0.00")


def test_credit_memo_shows_closed(page):
    reseller = make_reseller()
    memo = factories.post(reseller, "credit_memo", "64.00")
    factories.post(reseller, "invoice", "10.00")  # takes part of the memo
    sign_in(page, reseller)
    page.goto("/documents/")
    expect(row(page, memo).get_by_test_id("status")).to_have_text("Closed")
    row(page, memo).get_by_role("link", name=memo.number).click()
    expect(page.get_by_test_id("status")).to_have_text("Closed")
    expect(page.get_by_test_id("credit-memo-note")).to_contain_text(
        "part of your credit balance"
    )
    expect(page.get_by_test_id("open-amount")).to_have_count(0)


def test_german_reseller_pays_by_card(german_page):
    """The pay flow with the interface in German: German labels and
    German-formatted amounts from the unpaid list to the receipt."""
    page = german_page
    marketplace = factories.MarketplaceFactory(code="DE", currency="EUR")
    reseller = factories.ResellerFactory(marketplace=marketplace, name="Kunde GmbH")
    invoice = factories.post(reseller, "invoice", "1234.50", number="RE-7")
    user = factories.reseller_user(reseller)
    page.goto("/login/")
    page.get_by_label("Benutzername").fill(user.username)
    page.get_by_label("Passwort").fill(factories.PASSWORD)
    page.get_by_role("button", name="Anmelden").click()
    page.goto("/unpaid/")
    page.get_by_label("RE-7 auswählen").check()
    page.get_by_role("button", name="Auswahl bezahlen").click()
    expect(page.get_by_role("heading", name="Belege bezahlen")).to_be_visible()
    expect(page.get_by_test_id("total-selected")).to_have_text(
        re.compile(r"1\.234,50\s€")
    )
    page.get_by_label("Kartennummer").fill(SUCCESS_CARD)
    page.get_by_role("button", name="Zahlung bestätigen").click()
    expect(page.get_by_test_id("receipt-status")).to_contain_text("Abgeschlossen")
    expect(row(page, invoice)).to_contain_text(re.compile(r"1\.234,50\s€"))
    assert open_of(invoice) == Decimal("0.00")
