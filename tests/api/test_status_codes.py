"""Every status code the schema documents is reachable: one real request per
(operation, status), and together they cover exactly what is documented."""

from __future__ import annotations

from datetime import date

import pytest
from django.test import Client

from api.endpoints import api
from billing.models import CreditPolicy
from tests.api.conftest import API, api_client, make_reseller, new_key, post_json
from tests.factories import pay, post

pytestmark = pytest.mark.django_db


def documented() -> set[tuple[str, int]]:
    schema = api.get_openapi_schema(path_prefix=f"{API}/")
    return {
        (operation["operationId"], int(status))
        for operations in schema["paths"].values()
        for operation in operations.values()
        for status in operation["responses"]
    }


class World:
    """A self-service reseller with open invoices and credit, and a
    contact-support one, each with a key."""

    def __init__(self):
        self.reseller = make_reseller()
        self.invoice = post(
            self.reseller, "invoice", "100.00", issue_date=date(2026, 1, 1)
        )
        self.card_invoice = post(self.reseller, "invoice", "5.00")
        self.paid = post(self.reseller, "invoice", "10.00", issue_date=date(2025, 1, 1))
        self.operation = pay(self.reseller, [self.paid], use_credit=False)
        self.memo = post(
            self.reseller, "credit_memo", "30.00", issue_date=date(2025, 12, 1)
        )
        self.client = api_client(new_key(self.reseller))
        self.support = make_reseller(policy=CreditPolicy.CONTACT_SUPPORT)
        self.support_invoice = post(self.support, "invoice", "10.00")
        post(self.support, "payment", "3.00")
        self.support_client = api_client(new_key(self.support))

    def plan(self, client: Client, document, use_credit=True) -> dict:
        body = {"document_ids": [document.pk], "use_credit": use_credit}
        return post_json(client, "/payments/preview", body).json()

    def payment(self, document, client=None, **changes) -> dict:
        client = client or self.client
        plan = self.plan(client, document)
        return {
            "document_ids": [document.pk],
            "use_credit": plan["use_credit"],
            "payment_method": "bank_transfer",
            "fingerprint": plan["fingerprint"],
            **changes,
        }


def get(path):
    return lambda w: w.client.get(f"{API}{path(w)}")


def pay_with(body, key="status-1", client=None):
    def send(w):
        return post_json(
            client(w) if client else w.client,
            "/payments",
            body(w),
            HTTP_IDEMPOTENCY_KEY=key,
        )

    return send


def replay_with_other_body(w):
    first = w.payment(w.invoice)
    post_json(w.client, "/payments", first, HTTP_IDEMPOTENCY_KEY="reused")
    other = {**first, "payment_method": "card", "card_token": "tok_sandbox_success"}
    return post_json(w.client, "/payments", other, HTTP_IDEMPOTENCY_KEY="reused")


def stale(w):
    body = w.payment(w.invoice)
    post(w.reseller, "payment", "1.00", issue_date=date(2025, 12, 2))
    return post_json(w.client, "/payments", body, HTTP_IDEMPOTENCY_KEY="stale-1")


def preview(ids, use_credit=True):
    return lambda w: post_json(
        w.client,
        "/payments/preview",
        {"document_ids": ids(w), "use_credit": use_credit},
    )


def card_payment(token):
    return pay_with(
        lambda w: (
            w.payment(
                w.card_invoice,
                use_credit=False,
                payment_method="card",
                card_token=token,
            )
            | {"fingerprint": w.plan(w.client, w.card_invoice, False)["fingerprint"]}
        )
    )


# (operation, status) -> the request that answers it.
REQUESTS = {
    ("getAccount", 200): get(lambda w: "/account"),
    ("listDocuments", 200): get(lambda w: "/documents"),
    ("listDocuments", 400): get(lambda w: "/documents?limit=0"),
    ("getDocument", 200): get(lambda w: f"/documents/{w.invoice.pk}"),
    ("getDocument", 400): get(lambda w: "/documents/0"),
    ("getDocument", 404): get(lambda w: f"/documents/{w.support_invoice.pk}"),
    ("previewPayment", 200): preview(lambda w: [w.invoice.pk]),
    ("previewPayment", 400): preview(lambda w: []),
    ("previewPayment", 404): preview(lambda w: [w.support_invoice.pk]),
    ("previewPayment", 409): preview(lambda w: [w.memo.pk]),  # not payable
    ("createPayment", 201): pay_with(lambda w: w.payment(w.invoice)),
    ("createPayment", 400): pay_with(
        lambda w: w.payment(w.invoice) | {"payment_method": "cash"}
    ),
    ("createPayment", 403): pay_with(
        lambda w: (
            w.payment(w.support_invoice, client=w.support_client) | {"use_credit": True}
        ),
        client=lambda w: w.support_client,
    ),
    ("createPayment", 404): pay_with(
        lambda w: w.payment(w.invoice) | {"document_ids": [w.support_invoice.pk]}
    ),
    ("createPayment", 409): stale,
    ("createPayment", 422): replay_with_other_body,
    ("createPayment", 503): card_payment("tok_sandbox_unavailable"),
    ("listPayments", 200): get(lambda w: "/payments"),
    ("listPayments", 400): get(lambda w: "/payments?cursor=forged"),
    ("getPayment", 200): get(lambda w: f"/payments/{w.operation.pk}"),
    ("getPayment", 400): get(lambda w: "/payments/x"),
    ("getPayment", 404): get(lambda w: "/payments/999999"),
}
OPERATIONS = {operation for operation, _status in REQUESTS}


def test_the_table_covers_every_documented_status_code():
    table = set(REQUESTS) | {(op, 401) for op in OPERATIONS}
    table |= {(op, 429) for op in OPERATIONS}
    assert table == documented()


@pytest.mark.parametrize(("operation", "status"), sorted(REQUESTS))
def test_documented_status_is_reachable(operation, status):
    world = World()

    response = REQUESTS[operation, status](world)

    assert response.status_code == status, response.content
    media = "application/json" if status < 400 else "application/problem+json"
    assert response["Content-Type"].startswith(media)


# Refusals come before the request is read: any well-formed request will do.
SIMPLE = {
    "getAccount": ("get", "/account"),
    "listDocuments": ("get", "/documents"),
    "getDocument": ("get", "/documents/1"),
    "previewPayment": ("post", "/payments/preview"),
    "createPayment": ("post", "/payments"),
    "listPayments": ("get", "/payments"),
    "getPayment": ("get", "/payments/1"),
}
SIMPLE_BODY = {
    "document_ids": [1],
    "payment_method": "bank_transfer",
    "fingerprint": "a" * 64,
}


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize("status", [401, 429])
def test_every_operation_refuses_without_a_key_and_when_rate_limited(
    operation, status, settings
):
    world = World()
    client = Client() if status == 401 else world.client
    settings.API_RATE_LIMIT = 0
    method, path = SIMPLE[operation]

    if method == "get":
        response = client.get(f"{API}{path}")
    else:
        response = post_json(client, path, SIMPLE_BODY, HTTP_IDEMPOTENCY_KEY="k")

    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    if status == 429:
        assert int(response["Retry-After"]) >= 1
