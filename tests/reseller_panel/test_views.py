"""The reseller panel through Django's test client: access, isolation, paying."""

import re
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import translation

from billing.exceptions import CreditNotAllowed, GatewayUnavailable, StalePreview
from billing.models import Allocation, Document, Operation
from billing.references import format_reference
from billing.selectors import account_summary
from tests import factories
from tests.html_forms import find_form, submit
from tests.panelkit.lists import assert_bad_value_reported_beside
from tests.reseller_panel.conftest import days_ago, make_reseller

SUCCESS_CARD = "4242424242424242"
UNAVAILABLE_CARD = "4000000000000119"


def preview(client, documents, *, use_credit=False):
    params = {"document": [doc.pk for doc in documents]}
    if use_credit:
        params["use_credit"] = "1"
    return client.get(reverse("pay"), params)


def confirmation(response, *, method="bank_transfer", card=""):
    """Return the POST data of the Pay page's confirm form."""
    plan = response.context["plan"]
    data = {
        "document": [doc.pk for doc in plan.documents],
        "fingerprint": plan.fingerprint,
        "idempotency_key": response.context["key"],
        "payment_method": method,
        "card_number": card,
    }
    if plan.use_credit:
        data["use_credit"] = "1"
    return data


def open_amounts(*documents):
    return [Document.objects.get(pk=doc.pk).open_amount for doc in documents]


# --- who gets in --------------------------------------------------------------


PAGES = [
    ("home", {}),
    ("unpaid_documents", {}),
    ("pay", {}),
    ("payments", {}),
    ("documents", {}),
    ("help_paying", {}),
    ("receipt", {"operation_id": 1}),
    ("document", {"document_id": 1}),
]


@pytest.mark.parametrize(("name", "kwargs"), PAGES)
def test_anonymous_users_are_sent_to_sign_in(client, db, name, kwargs):
    url = reverse(name, kwargs=kwargs)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_staff_without_a_reseller_account_go_to_the_classic_panel(client, db):
    staff = factories.UserFactory()
    factories.MarketplaceFactory().staff.add(staff)
    client.force_login(staff)
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"] == "/classic/"


def test_users_without_a_reseller_account_are_refused(client, db):
    client.force_login(factories.UserFactory())
    response = client.get(reverse("unpaid_documents"))
    assert response.status_code == 403
    assert b"not a member of a reseller account" in response.content


def test_sign_in_rotates_the_session_and_lands_on_home(db, term_reseller):
    user = factories.reseller_user(term_reseller)
    client = Client()
    session = client.session
    session["before"] = "sign-in"
    session.save()
    client.cookies[settings.SESSION_COOKIE_NAME] = session.session_key
    response = client.post(
        reverse("login"), {"username": user.username, "password": factories.PASSWORD}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert client.session.session_key != session.session_key
    assert client.get(reverse("home")).context["reseller"] == term_reseller


def test_wrong_password_is_refused_with_a_message(client, db, term_reseller):
    user = factories.reseller_user(term_reseller)
    response = client.post(
        reverse("login"), {"username": user.username, "password": "nope"}
    )
    assert response.status_code == 200
    assert b"Please enter a correct username and password" in response.content
    assert "_auth_user_id" not in client.session


# --- isolation ----------------------------------------------------------------


@pytest.fixture
def others_world(db):
    """Another reseller's invoice, credit memo and payment operation."""
    other = make_reseller()
    invoice = factories.post(other, "invoice", "80.00")
    memo = factories.post(other, "credit_memo", "30.00")
    operation = factories.pay(other, [invoice])
    return invoice, memo, operation


def test_another_resellers_documents_answer_404(client_of, term_reseller, others_world):
    invoice, memo, _operation = others_world
    client = client_of(term_reseller)
    for document in (invoice, memo):
        url = reverse("document", kwargs={"document_id": document.pk})
        assert client.get(url).status_code == 404


def test_another_resellers_receipt_answers_404(client_of, term_reseller, others_world):
    _invoice, _memo, operation = others_world
    client = client_of(term_reseller)
    url = reverse("receipt", kwargs={"operation_id": operation.pk})
    assert client.get(url).status_code == 404
    assert operation.reference.encode() not in client.get(reverse("payments")).content


def test_another_resellers_documents_cannot_be_paid(
    client_of, term_reseller, others_world
):
    invoice, _memo, _operation = others_world
    own = factories.post(term_reseller, "invoice", "10.00")
    client = client_of(term_reseller)
    response = client.get(reverse("pay"), {"document": [own.pk, invoice.pk]})
    assert response.status_code == 404
    response = client.post(
        reverse("pay"),
        {
            "document": [invoice.pk],
            "fingerprint": "0" * 64,
            "idempotency_key": "a" * 32,
            "payment_method": "bank_transfer",
        },
    )
    assert response.status_code == 404
    assert open_amounts(invoice) == [Decimal("50.00")]  # 30.00 memo applied before
    assert not Operation.objects.filter(reseller=term_reseller).exists()


def test_lists_show_only_own_documents(client_of, term_reseller, others_world):
    invoice, memo, _operation = others_world
    mine = factories.post(term_reseller, "invoice", "10.00")
    client = client_of(term_reseller)
    for name in ("documents", "unpaid_documents"):
        content = client.get(reverse(name)).content
        assert mine.number.encode() in content
        assert invoice.number.encode() not in content
        assert memo.number.encode() not in content


# --- paying -------------------------------------------------------------------


def test_preview_shows_what_credit_pays_and_what_remains(client_of, term_reseller):
    older = factories.post(term_reseller, "invoice", "100.00", issue_date=days_ago(60))
    newer = factories.post(term_reseller, "invoice", "100.00", issue_date=days_ago(10))
    factories.post(term_reseller, "credit_memo", "150.00")
    response = preview(client_of(term_reseller), [newer, older], use_credit=True)
    assert response.status_code == 200
    lines = [(line.document, line.remainder) for line in response.context["plan"].lines]
    assert lines == [(older, Decimal("0.00")), (newer, Decimal("50.00"))]
    content = response.content.decode()
    assert "$150.00" in content  # the credit balance
    assert 'name="use_credit"' in content
    assert open_amounts(older, newer) == [Decimal("100.00"), Decimal("100.00")]


def test_paying_with_credit_and_bank_transfer_redirects_to_the_receipt(
    client_of, term_reseller
):
    older = factories.post(term_reseller, "invoice", "100.00", issue_date=days_ago(60))
    newer = factories.post(term_reseller, "invoice", "100.00", issue_date=days_ago(10))
    factories.post(term_reseller, "credit_memo", "150.00")
    client = client_of(term_reseller)
    response = client.post(
        reverse("pay"), confirmation(preview(client, [older, newer], use_credit=True))
    )
    operation = Operation.objects.get(reseller=term_reseller, kind="payment")
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "receipt", kwargs={"operation_id": operation.pk}
    )
    assert operation.status == Operation.Status.AWAITING_TRANSFER
    assert open_amounts(older, newer) == [Decimal("0.00"), Decimal("50.00")]
    receipt = client.get(response["Location"]).content.decode()
    assert format_reference(operation.payment.transfer_reference) in receipt
    assert "$50.00" in receipt


def test_resubmitting_the_confirmation_pays_once(client_of, term_reseller):
    invoice = factories.post(term_reseller, "invoice", "100.00")
    client = client_of(term_reseller)
    data = confirmation(preview(client, [invoice]), method="card", card=SUCCESS_CARD)
    first = client.post(reverse("pay"), data)
    second = client.post(reverse("pay"), data)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert Operation.objects.filter(reseller=term_reseller, kind="payment").count() == 1
    assert Document.objects.filter(reseller=term_reseller, kind="payment").count() == 1
    assert open_amounts(invoice) == [Decimal("0.00")]


def test_changed_balance_shows_the_new_preview_and_applies_nothing(
    client_of, term_reseller
):
    invoice = factories.post(term_reseller, "invoice", "100.00")
    factories.post(term_reseller, "credit_memo", "40.00")
    client = client_of(term_reseller)
    data = confirmation(preview(client, [invoice], use_credit=True))
    factories.post(term_reseller, "credit_memo", "20.00")  # balances change
    response = client.post(reverse("pay"), data)
    assert response.status_code == 409
    assert str(StalePreview.message) in response.content.decode()
    assert response.context["plan"].credit_applied == Decimal("60.00")
    assert response.context["plan"].fingerprint != data["fingerprint"]
    assert not Operation.objects.filter(reseller=term_reseller, kind="payment").exists()
    assert open_amounts(invoice) == [Decimal("100.00")]


def test_unavailable_card_processor_keeps_the_key_and_a_retry_finishes(
    client_of, term_reseller
):
    invoice = factories.post(term_reseller, "invoice", "100.00")
    client = client_of(term_reseller)
    data = confirmation(
        preview(client, [invoice]), method="card", card=UNAVAILABLE_CARD
    )
    response = client.post(reverse("pay"), data)
    assert response.status_code == 503
    assert str(GatewayUnavailable.message) in response.content.decode()
    assert response.context["key"] == data["idempotency_key"]
    assert open_amounts(invoice) == [Decimal("100.00")]
    retry = client.post(reverse("pay"), {**data, "card_number": SUCCESS_CARD})
    operation = Operation.objects.get(reseller=term_reseller, kind="payment")
    assert retry.status_code == 302
    assert operation.status == Operation.Status.COMPLETED
    assert operation.payment.amount_charged == Decimal("100.00")
    assert open_amounts(invoice) == [Decimal("0.00")]


def test_contact_support_account_sees_credit_and_support_instead_of_a_choice(
    client_of, support_reseller
):
    invoice = factories.post(support_reseller, "invoice", "100.00")
    factories.post(support_reseller, "credit_memo", "25.00")
    client = client_of(support_reseller)
    response = preview(client, [invoice], use_credit=True)
    content = response.content.decode()
    assert 'name="use_credit"' not in content
    assert "$25.00" in content
    assert support_reseller.marketplace.support_email in content
    assert response.context["plan"].credit_applied == 0
    forced = {**confirmation(response), "use_credit": "1"}
    refused = client.post(reverse("pay"), forced)
    assert refused.status_code == 400
    assert str(CreditNotAllowed.message) in refused.content.decode()
    assert open_amounts(invoice) == [Decimal("100.00")]
    assert not Operation.objects.filter(reseller=support_reseller).exists()


def test_prepaid_account_always_uses_its_credit(client_of, prepaid_reseller):
    invoice = factories.post(prepaid_reseller, "invoice", "100.00")
    response = preview(client_of(prepaid_reseller), [invoice])
    assert response.context["plan"].use_credit is True
    assert b"applied automatically" in response.content
    assert b'name="use_credit" value="1"' in response.content  # hidden, not a choice
    assert b'id="use-credit"' not in response.content


@pytest.mark.parametrize(
    ("change", "field_error"),
    [
        ({"card_number": "4242-4242"}, "12 to 19 digits"),
        ({"payment_method": "cash"}, "Select a valid choice"),
        ({"idempotency_key": "not-a-key"}, "expired"),
    ],
)
def test_bad_confirmation_input_gets_a_message_and_changes_nothing(
    client_of, term_reseller, change, field_error
):
    invoice = factories.post(term_reseller, "invoice", "100.00")
    client = client_of(term_reseller)
    data = {**confirmation(preview(client, [invoice]), method="card"), **change}
    response = client.post(reverse("pay"), data)
    assert response.status_code == 400
    assert field_error in response.content.decode()
    assert open_amounts(invoice) == [Decimal("100.00")]
    assert not Operation.objects.filter(reseller=term_reseller).exists()


def test_card_without_number_is_asked_for(client_of, term_reseller):
    invoice = factories.post(term_reseller, "invoice", "100.00")
    client = client_of(term_reseller)
    response = client.post(
        reverse("pay"), confirmation(preview(client, [invoice]), method="card")
    )
    assert response.status_code == 400
    assert "Enter the card to charge." in response.content.decode()
    assert not Operation.objects.filter(reseller=term_reseller).exists()


@pytest.mark.parametrize("query", ["", "document=abc", "document=-3", "document=0"])
def test_a_bad_selection_goes_back_to_the_list_with_a_message(
    client_of, term_reseller, query
):
    client = client_of(term_reseller)
    response = client.get(f"{reverse('pay')}?{query}", follow=True)
    assert response.redirect_chain == [(reverse("unpaid_documents"), 302)]
    messages = [str(m) for m in response.context["messages"]]
    assert messages and messages[0].startswith("Select")


def test_paying_a_paid_document_is_refused_clearly(client_of, term_reseller):
    invoice = factories.post(term_reseller, "invoice", "10.00")
    factories.pay(
        term_reseller, [invoice], payment_method="card", card_token=SUCCESS_CARD
    )
    response = preview(client_of(term_reseller), [invoice])
    assert response.status_code == 400
    assert b"Only invoices and debit memos with an open amount" in response.content


# --- what pages show ----------------------------------------------------------


def test_home_shows_the_account_summary(client_of, term_reseller):
    factories.post(term_reseller, "invoice", "100.00", issue_date=days_ago(75))
    factories.post(term_reseller, "debit_memo", "20.50", issue_date=days_ago(5))
    factories.post(term_reseller, "payment", "12.25")
    factories.post(term_reseller, "credit_memo", "7.00")
    response = client_of(term_reseller).get(reverse("home"))
    summary = response.context["summary"]
    assert summary == account_summary(term_reseller, today=days_ago(0))
    content = response.content.decode()
    for text in ("$120.50", "$100.00", "$19.25", "$12.25", "$7.00", 'role="img"'):
        assert text in content


def test_credit_memo_is_closed_and_its_open_amount_is_not_shown(
    client_of, term_reseller
):
    memo = factories.post(term_reseller, "credit_memo", "33.33")
    client = client_of(term_reseller)
    listing = client.get(reverse("documents"), {"status": "closed"})
    assert [doc.pk for doc in listing.context["page"].object_list] == [memo.pk]
    detail = client.get(reverse("document", kwargs={"document_id": memo.pk}))
    content = detail.content.decode()
    assert "Closed" in content
    assert "Not yet applied" not in content
    assert content.count("$33.33") == 1  # the total only


def test_unpaid_list_filters_overdue_documents_of_a_kind(client_of, term_reseller):
    overdue = factories.post(term_reseller, "invoice", issue_date=days_ago(90))
    factories.post(term_reseller, "invoice", issue_date=days_ago(1))
    factories.post(term_reseller, "debit_memo", issue_date=days_ago(90))
    response = client_of(term_reseller).get(
        reverse("unpaid_documents"), {"overdue": "on", "kind": "invoice"}
    )
    assert list(response.context["page"].object_list) == [overdue]


def test_a_bad_filter_value_is_reported_beside_its_field_and_only_it_is_ignored(
    client_of, term_reseller
):
    for _ in range(30):
        factories.post(term_reseller, "invoice", "10.00")
    memo = factories.post(term_reseller, "credit_memo", "5.00")
    client = client_of(term_reseller)

    response = client.get(
        reverse("documents"), {"kind": "credit_memo", "issued_from": "bogus"}
    )

    page = response.context["page"]
    assert list(page.object_list) == [memo]
    assert (page.paginator.count, page.paginator.num_pages) == (1, 1)
    html = response.content.decode()
    assert ">1 document</caption>" in html
    assert_bad_value_reported_beside(html, "issued_from", "Enter a valid date.")

    unpaid = client.get(reverse("unpaid_documents"), {"kind": "payment", "q": "INV"})

    assert unpaid.context["page"].paginator.count == 30
    assert_bad_value_reported_beside(
        unpaid.content.decode(),
        "kind",
        "Select a valid choice. payment is not one of the available choices.",
    )


def test_documents_are_not_sorted_by_the_open_amounts_the_list_hides(
    client_of, term_reseller
):
    first = factories.post(term_reseller, "credit_memo", "10.00", number="CN-A")
    second = factories.post(term_reseller, "credit_memo", "90.00", number="CN-B")

    response = client_of(term_reseller).get(
        reverse("documents"), {"sort": "-open_amount"}
    )

    assert list(response.context["page"].object_list) == [first, second]
    html = response.content.decode()
    assert "sort=open_amount" not in html and 'aria-sort="descending"' not in html


@pytest.mark.parametrize("language", ["en", "de"])
def test_date_filters_are_typed_and_shown_as_iso_dates(
    client_of, term_reseller, language
):
    factories.post(term_reseller, "invoice", issue_date=days_ago(1), number="NEW")
    factories.post(term_reseller, "invoice", issue_date=days_ago(40), number="OLD")
    since = days_ago(10).isoformat()
    try:
        response = client_of(term_reseller).get(
            reverse("documents"), {"issued_from": since}, HTTP_ACCEPT_LANGUAGE=language
        )
    finally:
        translation.deactivate()

    html = response.content.decode()
    field = re.search(r'<input\b[^>]*name="issued_from"[^>]*>', html)[0]
    assert 'type="text"' in field and f'value="{since}"' in field
    assert r'pattern="\d{4}-\d{2}-\d{2}"' in field
    assert [doc.number for doc in response.context["page"].object_list] == ["NEW"]


@pytest.mark.parametrize(
    ("credit", "explained"), [(None, False), ("payment", True), ("credit_memo", True)]
)
def test_home_explains_the_credit_balance_only_when_there_is_one(
    client_of, term_reseller, credit, explained
):
    factories.post(term_reseller, "invoice", "50.00")
    if credit:
        factories.post(term_reseller, credit, "5.00")

    content = client_of(term_reseller).get(reverse("home")).content.decode()

    assert ("Made of unapplied payments" in content) is explained


def test_help_says_how_the_preview_updates_with_and_without_javascript(
    client_of, term_reseller
):
    content = client_of(term_reseller).get(reverse("help_paying")).content.decode()

    step = re.search(r"<li>([^<]*Use credit balance[^<]*)</li>", content)[1]
    assert "The preview then shows exactly which credit pays" in step
    assert "if it does not change by itself, choose “Update preview”" in step


def test_no_page_offers_link_or_unlink(client_of, term_reseller):
    invoice = factories.post(term_reseller, "invoice", "100.00")
    memo = factories.post(term_reseller, "credit_memo", "30.00")
    operation = factories.pay(term_reseller, [invoice])
    client = client_of(term_reseller)
    urls = [
        reverse(name)
        for name in ("home", "unpaid_documents", "documents", "payments", "help_paying")
    ] + [
        reverse("document", kwargs={"document_id": invoice.pk}),
        reverse("document", kwargs={"document_id": memo.pk}),
        reverse("receipt", kwargs={"operation_id": operation.pk}),
        f"{reverse('pay')}?document={invoice.pk}",
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        content = response.content.decode()
        forms = re.findall(r"<form\b[^>]*>", content)
        posts = [form for form in forms if 'method="post"' in form]
        actions = sorted(re.search(r'action="([^"]*)"', form)[1] for form in posts)
        # Only sign-out, the language switch and the Pay page's confirmation
        # post anything.
        expected = [reverse("set_language"), reverse("logout")]
        if "/pay/" in url:
            expected.append(reverse("pay"))
        assert actions == sorted(expected), url
        for field in ('name="credit"', 'name="debit"', 'name="allocation"'):
            assert field not in content, url
    assert Allocation.objects.filter(reseller=term_reseller).count() == 1


def test_processor_outage_always_offers_the_retry(client_of, term_reseller):
    """Credit pays the older document in full; the card processor is down.

    The selection is no longer payable as previewed, yet the outage page
    offers the retry, and the retry (the page's own form) finishes it.
    """
    older = factories.post(term_reseller, "invoice", "30.00", issue_date=days_ago(9))
    newer = factories.post(term_reseller, "invoice", "50.00", issue_date=days_ago(1))
    factories.post(term_reseller, "credit_memo", "30.00", issue_date=days_ago(20))
    client = client_of(term_reseller)
    page = preview(client, [older, newer], use_credit=True)
    outage = submit(
        client, page, action=reverse("pay"), fill={"card_number": UNAVAILABLE_CARD}
    )
    assert outage.status_code == 503
    html = outage.content.decode()
    assert str(GatewayUnavailable.message) in html
    assert "$20.00" not in html and "$50.00" in html  # what is left to charge
    assert find_form(outage, reverse("pay")).names() >= {"card_number"}
    assert open_amounts(older, newer) == [Decimal("0.00"), Decimal("50.00")]
    retry = submit(
        client, outage, action=reverse("pay"), fill={"card_number": SUCCESS_CARD}
    )
    assert retry.status_code == 302
    operation = Operation.objects.get(reseller=term_reseller, kind="payment")
    assert operation.status == Operation.Status.COMPLETED
    assert operation.payment.amount_charged == Decimal("50.00")
    assert open_amounts(older, newer) == [Decimal("0.00"), Decimal("0.00")]


@pytest.mark.parametrize("junk", ["²", "③", "1\x00", "9" * 10_000, "-1", "1.5"])
def test_junk_document_ids_get_a_message_not_an_error(client_of, term_reseller, junk):
    client = client_of(term_reseller)
    response = client.get(reverse("pay"), {"document": junk}, follow=True)
    assert response.status_code == 200
    assert "Select documents from the list of unpaid documents." in (
        response.content.decode()
    )
    posted = client.post(reverse("pay"), {"document": junk})
    assert posted.status_code == 400
    assert not Operation.objects.filter(reseller=term_reseller).exists()
