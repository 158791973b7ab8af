"""Every confirm step, submitted as a browser does: the rendered page's form.

Each flow is driven in English and in German. Amounts are typed as a person
of that language types them; the confirm step sends exactly the hidden
fields of the review page, so a review page that localizes what it carries
would be caught here.
"""

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from billing import services
from billing.models import (
    Allocation,
    CreditPolicy,
    Document,
    Operation,
    PaymentModel,
    Reversal,
)
from tests import factories
from tests.classic_panel.conftest import LINK, MEMO, VIEW, staff
from tests.html_forms import find_form, submit

pytestmark = pytest.mark.django_db

LANGUAGES = {
    # language: (typed 25, shown 25, typed 1234.50, shown 1234.50)
    "en": ("25.00", "€25.00", "1,234.50", "€1,234.50"),
    "de": ("25,00", "25,00\xa0€", "1.234,50", "1.234,50\xa0€"),
}


def client_in(language: str, user) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    return client


@pytest.fixture
def desk(db):
    """A German marketplace's term reseller, a prepaid one, and an agent."""
    de = factories.MarketplaceFactory(
        code="DE", currency="EUR", term_credit_policy=CreditPolicy.SELF_SERVICE
    )
    reseller = factories.ResellerFactory(marketplace=de, name="Kunde GmbH")
    prepaid = factories.ResellerFactory(
        marketplace=de, name="Vorkasse GmbH", payment_model=PaymentModel.PREPAID
    )
    agent = staff("support-de", [de], VIEW, LINK, MEMO)
    return reseller, prepaid, agent


def fresh(document) -> Document:
    return Document.objects.get(pk=document.pk)


@pytest.mark.parametrize("language", LANGUAGES)
def test_link_confirms_from_the_rendered_review_page(desk, language):
    reseller, _prepaid, agent = desk
    typed, shown, _, _ = LANGUAGES[language]
    invoice = factories.post(reseller, "invoice", "100.00", number="INV-1")
    memo = factories.post(reseller, "credit_memo", "60.00", number="CN-1")
    client = client_in(language, agent)
    form_page = client.get(reverse("classic:link", args=[reseller.pk]))
    review = submit(client, form_page, fill={"amount": typed, "reason": "Bitte"})
    assert review.status_code == 200
    assert shown in review.content.decode()
    assert Allocation.objects.count() == 0
    done = submit(client, review, follow=True)
    assert done.redirect_chain, done.content.decode()
    assert shown in done.content.decode()
    assert (fresh(invoice).open_amount, fresh(memo).open_amount) == (
        Decimal("75.00"),
        Decimal("35.00"),
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_link_change_shows_the_reviewed_amount_in_the_language(desk, language):
    reseller, _prepaid, agent = desk
    typed, _, _, _ = LANGUAGES[language]
    factories.post(reseller, "invoice", "100.00", number="INV-1")
    factories.post(reseller, "credit_memo", "60.00", number="CN-1")
    client = client_in(language, agent)
    form_page = client.get(reverse("classic:link", args=[reseller.pk]))
    review = submit(client, form_page, fill={"amount": typed, "reason": "x"})
    change = find_form(review).buttons[1][0]
    again = submit(client, review, button=change)
    amount = dict(find_form(again).fields)["amount"]
    assert amount == typed
    # Reviewing the shown value again works as typed.
    assert submit(client, again).status_code == 200
    assert Allocation.objects.count() == 0


@pytest.mark.parametrize("language", LANGUAGES)
def test_credit_memo_confirms_from_the_rendered_review_page(desk, language):
    reseller, _prepaid, agent = desk
    _, _, typed, shown = LANGUAGES[language]
    client = client_in(language, agent)
    form_page = client.get(reverse("classic:credit_memo", args=[reseller.pk]))
    review = submit(client, form_page, fill={"amount": typed, "reason": "Kulanz"})
    assert shown in review.content.decode()
    assert not Document.objects.filter(kind="credit_memo").exists()
    done = submit(client, review, follow=True)
    memo = Document.objects.get(kind="credit_memo")
    assert memo.total == Decimal("1234.50")
    assert shown in done.content.decode()


@pytest.mark.parametrize("language", LANGUAGES)
def test_prepaid_credit_memo_review_says_what_is_applied_where(desk, language):
    _reseller, prepaid, agent = desk
    typed, shown, _, _ = LANGUAGES[language]
    older = factories.post(prepaid, "invoice", "10.00", number="P-INV-1")
    newer = factories.post(prepaid, "invoice", "40.00", number="P-INV-2")
    client = client_in(language, agent)
    form_page = client.get(reverse("classic:credit_memo", args=[prepaid.pk]))
    review = submit(client, form_page, fill={"amount": typed, "reason": "x"})
    html = review.content.decode()
    effect = html[html.index('data-testid="memo-effect"') :]
    effect = effect[: effect.index("</table>")]
    rows = effect.split("<tr>")[2:]
    ten = "€10.00" if language == "en" else "10,00\xa0€"
    fifteen = "€15.00" if language == "en" else "15,00\xa0€"
    assert "P-INV-1" in rows[0] and ten in rows[0]
    assert "P-INV-2" in rows[1] and fifteen in rows[1]
    assert len(rows) == 2
    submit(client, review)
    assert fresh(older).open_amount == 0
    assert fresh(newer).open_amount == Decimal("25.00")
    assert shown  # the memo's amount is the typed one


@pytest.mark.parametrize("language", LANGUAGES)
def test_unlink_and_revert_confirm_from_the_rendered_page(desk, language):
    reseller, _prepaid, agent = desk
    invoice = factories.post(reseller, "invoice", "100.00", number="INV-1")
    memo = factories.post(reseller, "credit_memo", "60.00", number="CN-1")
    first = services.link_documents(
        credit=memo, debit=invoice, amount="20.00", actor=agent, reason="a"
    )
    second = services.link_documents(
        credit=memo, debit=invoice, amount="5.00", actor=agent, reason="b"
    )
    client = client_in(language, agent)
    url = reverse("classic:unlink", args=[reseller.pk, first.pk])
    page = client.get(url)
    assert ("€20.00" if language == "en" else "20,00\xa0€") in page.content.decode()
    done = submit(client, page, fill={"reason": "falsch"})
    assert done.status_code == 302
    assert Reversal.objects.filter(allocation=first).exists()
    url = reverse("classic:revert", args=[reseller.pk, second.operation_id])
    done = submit(client, client.get(url), fill={"reason": "zurück"})
    assert done.status_code == 302
    assert Operation.objects.filter(reverts=second.operation).exists()
    assert fresh(invoice).open_amount == Decimal("100.00")


@pytest.mark.parametrize("language", LANGUAGES)
def test_pay_confirms_from_the_rendered_preview(desk, language):
    reseller, _prepaid, _agent = desk
    _, _, _, shown = LANGUAGES[language]
    invoice = factories.post(reseller, "invoice", "1234.50", number="INV-1")
    client = client_in(language, factories.reseller_user(reseller))
    preview = client.get(reverse("pay"), {"document": invoice.pk})
    assert shown in preview.content.decode()
    done = submit(
        client,
        preview,
        action=reverse("pay"),
        fill={"card_number": "4242424242424242"},
    )
    assert done.status_code == 302, done.content.decode()
    assert fresh(invoice).open_amount == 0
