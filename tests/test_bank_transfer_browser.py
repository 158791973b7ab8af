"""Cash application in real Chromium, from the reseller's transfer to support.

Cobalt pays by bank transfer and reads its RF reference; support-de uploads
the bank's camt.053 that carries it; Cobalt's receipt shows the money
arrived. A line the matcher could not place is assigned from the queue.
"""

from decimal import Decimal

import pytest
from playwright.sync_api import expect

from billing.models import BankLine, Document, MarketplaceBankAccount, Operation
from billing.references import format_reference
from tests import factories
from tests.billing import bank
from tests.classic_panel.conftest import LINK, VIEW, staff
from tests.conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def camt_with(reference: str) -> bytes:
    """The bank's camt.053 fixture, its first line quoting ``reference``.

    Written as payers do: lower case, in groups, broken over two lines.
    """
    grouped = format_reference(reference).lower()
    head, tail = grouped[:14], grouped[15:]
    data = (bank.FIXTURES / "camt053_v02.xml").read_bytes()
    data = data.replace(b"Zahlung rf71 0000 0000", b"Zahlung " + head.encode())
    return data.replace(b"4711 Danke", tail.encode() + b" Danke")


def test_bank_transfer_is_applied_when_the_statement_arrives(
    chromium_browser, live_server, tmp_path
):
    de = factories.MarketplaceFactory(code="DE", currency="EUR")
    MarketplaceBankAccount.objects.create(
        marketplace=de,
        beneficiary="Cloud Distribution Receivables GmbH",
        iban=bank.DE_IBAN,
        bic="COBADEFFXXX",
    )
    cobalt = factories.ResellerFactory(marketplace=de, name="Cobalt Systems")
    user = factories.reseller_user(cobalt, "cobalt")
    invoice = factories.post(cobalt, "invoice", "119.00", number="INV-DE-0001")
    other = factories.post(cobalt, "invoice", "100.00", number="INV-DE-0002")
    staff("support-de", [de], VIEW, LINK)

    def new_page():
        context = chromium_browser.new_context(base_url=live_server.url, locale="en-US")
        page = context.new_page()
        page.set_default_timeout(10_000)
        return page

    # Cobalt pays by bank transfer and gets the reference.
    reseller = new_page()
    reseller.goto("/login/")
    reseller.get_by_label("Username").fill(user.username)
    reseller.get_by_label("Password").fill(factories.PASSWORD)
    reseller.get_by_role("button", name="Sign in").click()
    reseller.goto("/unpaid/")
    reseller.get_by_label("Select INV-DE-0001").check()
    reseller.get_by_role("button", name="Pay selected").click()
    reseller.get_by_label("Bank transfer").check()
    reseller.get_by_role("button", name="Confirm payment").click()
    instructions = reseller.get_by_test_id("transfer-instructions")
    expect(instructions).to_contain_text("DE89 3704 0044 0532 0130 00")
    printed = reseller.get_by_test_id("transfer-reference").inner_text()
    operation = Operation.objects.get(reseller=cobalt, kind="payment")
    assert printed == format_reference(operation.payment.transfer_reference)
    receipt_url = reseller.url

    # support-de uploads the bank's statement.
    statement = tmp_path / "camt053.xml"
    statement.write_bytes(camt_with(operation.payment.transfer_reference))
    agent = new_page()
    agent.goto("/classic/login/")
    agent.get_by_label("Username").fill("support-de")
    agent.get_by_label("Password").fill(factories.PASSWORD)
    agent.get_by_role("button", name="Sign in").click()
    agent.get_by_role("link", name="Bank", exact=True).first.click()
    agent.get_by_role("link", name="Statements").click()
    agent.get_by_label("Statement file").set_input_files(str(statement))
    agent.get_by_role("button", name="Import").click()
    expect(agent.get_by_role("status")).to_contain_text(
        "4 credit lines, 4 new, 1 applied, 3 to the unmatched queue"
    )

    # Cobalt's receipt now shows the money arrived.
    reseller.goto(receipt_url)
    expect(reseller.get_by_test_id("receipt-status")).to_contain_text("Completed.")
    expect(reseller.get_by_test_id("bank-received")).to_contain_text("€119.00")
    assert Document.objects.get(pk=invoice.pk).open_amount == 0

    # support-de assigns the unmatched 100.00 line to Cobalt's other invoice.
    agent.get_by_role("link", name="Unmatched queue").click()
    donation = agent.locator('tr[data-line="2026030200001235-3"]')
    expect(donation).to_contain_text("No reference")
    donation.get_by_role("link").click()
    agent.get_by_label("Name, id, transfer reference or document number").fill(
        "INV-DE-0002"
    )
    agent.get_by_role("button", name="Find").click()
    agent.get_by_role("link", name="Cobalt Systems").click()
    agent.get_by_label("INV-DE-0002").check()
    agent.get_by_label("Reason").first.fill("Payer confirmed by phone")
    agent.get_by_role("button", name="Apply to this reseller").click()
    expect(agent.get_by_test_id("line-state")).to_have_text("Applied")
    expect(agent.get_by_test_id("line-explanation")).to_contain_text(
        "Assigned by support"
    )
    ARTIFACTS.mkdir(exist_ok=True)
    agent.screenshot(path=str(ARTIFACTS / "bank_line_assigned.png"), full_page=True)
    line = BankLine.objects.get(entry_reference="2026030200001235-3")
    assert line.state == BankLine.State.APPLIED and line.reseller == cobalt
    assert Document.objects.get(pk=other.pk).open_amount == Decimal("0.00")
    reseller.context.close()
    agent.context.close()
