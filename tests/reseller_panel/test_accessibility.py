"""axe-core on every page of the reseller panel: no serious or critical issue."""

import pytest
from axe_playwright_python.sync_playwright import Axe

from billing.models import Payment
from tests import factories
from tests.reseller_panel.conftest import days_ago, make_reseller
from tests.reseller_panel.test_browser import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BLOCKING = {"serious", "critical"}


def blocking_violations(page) -> list[str]:
    results = Axe().run(page)
    assert results.response["passes"], "axe did not run"
    return [
        f"{page.url}: {v['id']} ({v['impact']}): {v['help']} "
        f"{[node['target'] for node in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v.get("impact") in BLOCKING
    ]


def test_every_page_has_no_serious_accessibility_violation(page):
    reseller = make_reseller()
    invoice = factories.post(reseller, "invoice", "100.00", issue_date=days_ago(70))
    factories.post(reseller, "debit_memo", "40.00", issue_date=days_ago(3))
    memo = factories.post(reseller, "credit_memo", "30.00")
    transfer = factories.pay(reseller, [invoice])
    declined = factories.post(reseller, "invoice", "9.00")
    declined_payment = factories.pay(
        reseller,
        [declined],
        use_credit=False,
        payment_method=Payment.Method.CARD,
        card_token="4000000000000002",
    )
    violations = []
    page.goto("/login/")
    violations += blocking_violations(page)
    sign_in(page, reseller)
    paths = [
        "/",
        "/unpaid/",
        "/unpaid/?overdue=on&sort=-due_date",
        f"/pay/?document={invoice.pk}&document={declined.pk}&use_credit=1",
        "/documents/",
        f"/documents/{invoice.pk}/",
        f"/documents/{memo.pk}/",
        "/payments/",
        f"/payments/{transfer.pk}/",
        f"/payments/{declined_payment.pk}/",
        "/help/paying-unpaid-invoices/",
    ]
    for path in paths:
        response = page.goto(path)
        assert response.status == 200, path
        violations += blocking_violations(page)
    assert violations == []


def test_pay_page_of_a_contact_support_account_has_no_serious_violation(page):
    reseller = make_reseller(policy="contact_support")
    invoice = factories.post(reseller, "invoice", "100.00")
    factories.post(reseller, "credit_memo", "30.00")
    sign_in(page, reseller)
    page.goto(f"/pay/?document={invoice.pk}")
    page.get_by_label("Bank transfer").check()
    assert blocking_violations(page) == []
