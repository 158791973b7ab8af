"""Previewing and paying through the API: the panel's plan, an idempotent
POST, a stale preview answered with the new plan, card tokens only."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from billing import services
from billing.models import Allocation, AuditEvent, Document, Operation
from tests import factories
from tests.api.conftest import API, post_json
from tests.factories import post

pytestmark = pytest.mark.django_db


def preview(client, documents, use_credit=True):
    body = {"document_ids": [doc.pk for doc in documents], "use_credit": use_credit}
    return post_json(client, "/payments/preview", body)


def payment_body(plan: dict, method="bank_transfer", **extra) -> dict:
    return {
        "document_ids": [line["document"]["id"] for line in plan["lines"]],
        "use_credit": plan["use_credit"],
        "payment_method": method,
        "fingerprint": plan["fingerprint"],
        **extra,
    }


def pay(client, body: dict, key: str = "erp-0001", **headers):
    return post_json(client, "/payments", body, HTTP_IDEMPOTENCY_KEY=key, **headers)


def open_amount(document) -> Decimal:
    return Document.objects.get(pk=document.pk).open_amount


@pytest.fixture
def ledger(term_reseller):
    """Two invoices and 60.00 of credit: credit pays the older one partly."""
    older = post(term_reseller, "invoice", "100.00", issue_date=date(2026, 1, 1))
    newer = post(term_reseller, "invoice", "50.00", issue_date=date(2026, 1, 5))
    credit = post(term_reseller, "credit_memo", "60.00", issue_date=date(2025, 12, 1))
    return older, newer, credit


def test_preview_is_the_plan_the_panel_shows(term_reseller, client_for, ledger):
    older, newer, credit = ledger
    plan = services.preview_payment(
        reseller=term_reseller, document_ids=[older.pk, newer.pk], use_credit=True
    )

    body = preview(client_for(term_reseller), [newer, older]).json()

    assert body["fingerprint"] == plan.fingerprint
    assert body["credit_applied"] == "60.00"
    assert body["remainder"] == "90.00"
    assert body["total_selected"] == "150.00"
    assert [(line["document"]["id"], line["remainder"]) for line in body["lines"]] == [
        (older.pk, "40.00"),
        (newer.pk, "50.00"),
    ]
    assert body["allocations"] == [
        {
            "credit": {"id": credit.pk, "number": credit.number, "kind": "credit_memo"},
            "debit": {"id": older.pk, "number": older.number, "kind": "invoice"},
            "amount": "60.00",
        }
    ]
    assert body["contact_support"] is None
    assert open_amount(older) == Decimal("100.00")


def test_contact_support_policy_answers_with_the_credit_and_whom_to_contact(
    support_reseller, client_for
):
    invoice = post(support_reseller, "invoice", "100.00")
    post(support_reseller, "payment", "30.00")
    client = client_for(support_reseller)

    body = preview(client, [invoice]).json()
    refused = pay(client, payment_body({**body, "use_credit": True}))

    assert body["credit_allowed"] is False and body["use_credit"] is False
    assert body["credit_applied"] == "0.00"
    support = support_reseller.marketplace
    assert body["contact_support"]["available_credit"] == "30.00"
    assert body["contact_support"]["email"] == support.support_email
    assert refused.status_code == 403
    assert refused.json()["code"] == "credit_not_allowed"
    assert refused.json()["support"]["email"] == support.support_email
    assert open_amount(invoice) == Decimal("100.00")


def test_paying_applies_the_credit_and_leaves_a_transfer_to_make(
    term_reseller, client_for, ledger
):
    older, newer, _credit = ledger
    client = client_for(term_reseller)
    plan = preview(client, [older, newer]).json()

    response = pay(client, payment_body(plan))

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "awaiting_transfer"
    assert body["credit_applied"] == "60.00"
    assert body["amount_left_open"] == "90.00"
    assert body["transfer"]["amount"] == "90.00"
    assert body["transfer"]["reference"].startswith("RF")
    assert body["reverted_by_support"] is False
    assert [a["amount"] for a in body["allocations"]] == ["60.00"]
    assert open_amount(older) == Decimal("40.00")
    assert client.get(f"{API}/payments/{body['id']}").json() == body
    assert [p["id"] for p in client.get(f"{API}/payments").json()["items"]] == [
        body["id"]
    ]


def test_a_payment_through_the_api_is_audited_as_coming_from_it(
    term_reseller, client_for, ledger
):
    older, newer, _credit = ledger
    client = client_for(term_reseller)
    plan = preview(client, [older, newer]).json()

    body = pay(client, payment_body(plan)).json()

    operation = Operation.objects.get(pk=body["id"])
    assert operation.source == "api"
    events = AuditEvent.objects.filter(operation=operation)
    assert events.exists()
    assert set(events.values_list("source", flat=True)) == {"api"}


def test_a_replay_returns_the_first_result_and_pays_nothing_more(
    term_reseller, client_for, ledger
):
    older, newer, _credit = ledger
    client = client_for(term_reseller)
    body = payment_body(preview(client, [older, newer]).json())

    first = pay(client, body)
    again = pay(client, body)

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert Operation.objects.filter(reseller=term_reseller).count() == 1
    assert Allocation.objects.filter(reseller=term_reseller).count() == 1


@pytest.mark.parametrize(
    "change",
    [
        {"payment_method": "card", "card_token": "tok_sandbox_success"},
        {"use_credit": False},
        {"fingerprint": "0" * 64},
    ],
    ids=["method", "use-credit", "fingerprint"],
)
def test_the_same_key_with_another_body_is_refused(
    term_reseller, client_for, ledger, change
):
    older, newer, _credit = ledger
    client = client_for(term_reseller)
    body = payment_body(preview(client, [older, newer]).json())
    assert pay(client, body).status_code == 201

    response = pay(client, {**body, **change})

    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert Operation.objects.filter(reseller=term_reseller).count() == 1


def test_the_same_key_with_other_documents_is_refused(
    term_reseller, client_for, ledger
):
    older, newer, _credit = ledger
    client = client_for(term_reseller)
    assert pay(client, payment_body(preview(client, [older]).json())).status_code == 201

    response = pay(client, payment_body(preview(client, [newer]).json()))

    assert response.status_code == 422
    assert open_amount(newer) == Decimal("50.00")


def test_a_stale_fingerprint_answers_409_with_the_new_plan(
    term_reseller, client_for, ledger
):
    older, newer, _credit = ledger
    client = client_for(term_reseller)
    seen = preview(client, [older, newer]).json()
    post(term_reseller, "payment", "10.00", issue_date=date(2025, 12, 2))

    response = pay(client, payment_body(seen))

    assert response.status_code == 409
    problem = response.json()
    assert problem["code"] == "stale_preview"
    assert problem["plan"]["credit_applied"] == "70.00"
    assert problem["plan"]["fingerprint"] != seen["fingerprint"]
    assert open_amount(older) == Decimal("100.00")
    assert not Operation.objects.filter(reseller=term_reseller).exists()
    retried = pay(client, payment_body(problem["plan"]), key="erp-0002")
    assert retried.status_code == 201
    assert retried.json()["credit_applied"] == "70.00"


def test_card_payments_take_a_gateway_token(term_reseller, client_for):
    invoice = post(term_reseller, "invoice", "25.00")
    client = client_for(term_reseller)
    plan = preview(client, [invoice], use_credit=False).json()

    response = pay(client, payment_body(plan, "card", card_token="tok_sandbox_success"))

    assert response.status_code == 201
    assert response.json()["status"] == "completed"
    assert response.json()["amount_charged"] == "25.00"
    assert open_amount(invoice) == 0


@pytest.mark.parametrize(
    "card", ["4242424242424242", "4242 4242 4242 4242", "4242-4242-4242-4242"]
)
def test_a_card_number_is_refused_and_never_echoed(term_reseller, client_for, card):
    invoice = post(term_reseller, "invoice", "25.00")
    client = client_for(term_reseller)
    plan = preview(client, [invoice], use_credit=False).json()

    response = pay(client, payment_body(plan, "card", card_token=card))

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
    assert "4242" not in response.content.decode()
    assert open_amount(invoice) == Decimal("25.00")


def test_a_card_remainder_needs_a_token(term_reseller, client_for):
    invoice = post(term_reseller, "invoice", "25.00")
    client = client_for(term_reseller)
    plan = preview(client, [invoice], use_credit=False).json()

    response = pay(client, payment_body(plan, "card"))

    assert response.status_code == 400
    assert response.json()["code"] == "card_required"


def test_a_declined_card_is_a_payment_that_charged_nothing(term_reseller, client_for):
    invoice = post(term_reseller, "invoice", "25.00")
    client = client_for(term_reseller)
    plan = preview(client, [invoice], use_credit=False).json()

    response = pay(
        client, payment_body(plan, "card", card_token="tok_sandbox_declined")
    )

    assert response.status_code == 201
    assert response.json()["status"] == "declined"
    assert response.json()["amount_charged"] == "0.00"
    assert response.json()["message"]
    assert open_amount(invoice) == Decimal("25.00")


def test_an_unavailable_processor_answers_503_and_the_same_key_finishes(
    term_reseller, client_for, settings
):
    invoice = post(term_reseller, "invoice", "25.00")
    client = client_for(term_reseller)
    plan = preview(client, [invoice], use_credit=False).json()
    body = payment_body(plan, "card", card_token="tok_sandbox_unavailable")

    first = pay(client, body)

    assert first.status_code == 503
    assert first.json()["code"] == "gateway_unavailable"
    assert int(first["Retry-After"]) > 0
    assert pay(client, {**body, "card_token": "tok_sandbox_success"}).status_code == (
        422
    )
    assert pay(client, body).status_code == 503
    assert Operation.objects.get(reseller=term_reseller).status == "charging"


@pytest.mark.parametrize("key", [None, "", "x" * 65, "naïve"])
def test_a_payment_without_a_usable_idempotency_key_is_refused(
    term_reseller, client_for, ledger, key
):
    older, _newer, _credit = ledger
    client = client_for(term_reseller)
    body = payment_body(preview(client, [older]).json())
    headers = {} if key is None else {"HTTP_IDEMPOTENCY_KEY": key}

    response = post_json(client, "/payments", body, **headers)

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_idempotency_key"
    assert not Operation.objects.filter(reseller=term_reseller).exists()


def test_paying_a_paid_document_is_refused(term_reseller, client_for, ledger):
    older, _newer, _credit = ledger
    client = client_for(term_reseller)
    plan = preview(client, [older]).json()
    post(term_reseller, "payment", "40.00")
    assert pay(client, payment_body(plan)).status_code == 409  # stale
    pay(client, payment_body(preview(client, [older]).json()), key="erp-0002")

    response = preview(client, [older])

    assert response.status_code == 409
    assert response.json()["code"] == "document_not_payable"


def test_a_prepaid_account_always_uses_its_credit(prepaid_reseller, client_for):
    invoice = post(prepaid_reseller, "invoice", "100.00")
    client = client_for(prepaid_reseller)

    body = preview(client, [invoice], use_credit=False).json()

    assert body["use_credit"] is True


def test_payments_show_when_support_reverted_them(term_reseller, client_for, ledger):
    older, newer, _credit = ledger
    client = client_for(term_reseller)
    paid = pay(client, payment_body(preview(client, [older, newer]).json())).json()
    agent = factories.UserFactory(is_superuser=True)
    services.revert_operation(
        operation=Operation.objects.get(pk=paid["id"]), actor=agent, reason="refund"
    )

    body = client.get(f"{API}/payments/{paid['id']}").json()

    assert body["reverted_by_support"] is True
    assert all(a["reversed_by_support"] for a in body["allocations"])
    listed = client.get(f"{API}/payments").json()["items"]
    assert [p["reverted_by_support"] for p in listed] == [True]


def test_problem_details_follow_the_requests_language(term_reseller, client_for):
    client = client_for(term_reseller, HTTP_ACCEPT_LANGUAGE="de")

    response = preview(client, [Document(pk=999_999)])

    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "document_not_found"
    assert problem["type"].endswith("document_not_found")
    assert problem["title"] == "Not Found" and problem["status"] == 404
    assert problem["detail"] == "Beleg nicht gefunden."
