"""Idempotency and credit over real HTTP: concurrent requests to a running
server, each served by its own thread and database connection.

The runs on PostgreSQL (``DATABASE_URL=postgres://…``, as CI's second pass does)
race on row locks; on SQLite they race on its write lock. Either way one key
makes one payment, and credit is never spent twice.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections import Counter
from datetime import date
from decimal import Decimal
from functools import partial

import pytest
from django.db.models import Sum

from api.keys import key_for_token
from billing.models import Allocation, Document, Operation
from tests.api.conftest import make_reseller, new_key
from tests.billing.ledger_checks import assert_ledger_consistent
from tests.factories import post

REQUESTS = 20
# Pairs of requests sent at once, one key each pair, for the race between
# two bodies under one key.
ROUNDS = 20
pytestmark = pytest.mark.django_db(transaction=True)


def call(url: str, key: str, body: dict, idempotency_key: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/json",
            "Idempotency-Key": idempotency_key,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def all_at_once(tasks) -> list[tuple[int, dict]]:
    barrier = threading.Barrier(len(tasks))
    results: list = [None] * len(tasks)

    def run(index, task):
        try:
            barrier.wait(timeout=30)
            results[index] = task()
        except Exception as exc:  # every outcome is checked by the test
            results[index] = (0, {"error": repr(exc)})

    threads = [threading.Thread(target=run, args=item) for item in enumerate(tasks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a request hung"
    return results


@pytest.fixture
def shared_ledger(db):
    """Three invoices (300.00) and 250.00 of credit in two documents."""
    reseller = make_reseller()
    invoices = [
        post(reseller, "invoice", "100.00", issue_date=date(2026, 1, day))
        for day in (1, 2, 3)
    ]
    credits = [
        post(reseller, "credit_memo", total, issue_date=date(2025, 12, day))
        for day, total in ((1, "150.00"), (2, "100.00"))
    ]
    return reseller, invoices, credits


def preview_body(live_server, key, invoices, use_credit=True) -> dict:
    request = urllib.request.Request(
        f"{live_server.url}/api/v1/payments/preview",
        data=json.dumps(
            {"document_ids": [doc.pk for doc in invoices], "use_credit": use_credit}
        ).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        plan = json.loads(response.read())
    return {
        "document_ids": [doc.pk for doc in invoices],
        "use_credit": use_credit,
        "payment_method": "bank_transfer",
        "fingerprint": plan["fingerprint"],
    }


def test_concurrent_posts_with_one_idempotency_key_make_one_payment(
    live_server, shared_ledger
):
    reseller, invoices, _credits = shared_ledger
    key = new_key(reseller)
    body = preview_body(live_server, key, invoices)
    url = f"{live_server.url}/api/v1/payments"

    results = all_at_once([lambda: call(url, key, body, "erp-batch-17")] * REQUESTS)

    assert Counter(status for status, _body in results) == {201: REQUESTS}, results
    assert len({answer["id"] for _status, answer in results}) == 1
    assert Operation.objects.filter(reseller=reseller).count() == 1
    assert results[0][1]["credit_applied"] == "250.00"
    applied = Allocation.objects.filter(reseller=reseller).aggregate(s=Sum("amount"))
    assert applied["s"] == Decimal("250.00")
    assert_ledger_consistent(reseller)


def test_concurrent_payments_with_20_keys_never_overspend_credit(
    live_server, shared_ledger
):
    reseller, invoices, credits = shared_ledger
    keys = [new_key(reseller, name=f"ERP {n}") for n in range(REQUESTS)]
    seen = preview_body(live_server, keys[0], invoices)
    url = f"{live_server.url}/api/v1/payments"

    def task(n: int):
        # Half confirm the plan they saw; half ask for one invoice each.
        if n % 2 == 0:
            return lambda: call(url, keys[n], seen, f"seen-{n}")
        one = {**seen, "document_ids": [invoices[n % 3].pk], "fingerprint": None}
        one["fingerprint"] = preview_body(live_server, keys[0], [invoices[n % 3]])[
            "fingerprint"
        ]
        return lambda: call(url, keys[n], one, f"one-{n}")

    results = all_at_once([task(n) for n in range(REQUESTS)])

    statuses = Counter(status for status, _body in results)
    assert set(statuses) <= {201, 409}, results
    assert statuses[201] >= 1
    refused = {answer["code"] for status, answer in results if status == 409}
    assert refused <= {"stale_preview", "document_not_payable"}
    assert sum(status == 201 for status, _ in results[0::2]) <= 1
    for credit in credits:
        credit.refresh_from_db()
        given = Allocation.objects.filter(
            credit=credit, reversal__isnull=True
        ).aggregate(s=Sum("amount"))["s"] or Decimal(0)
        assert given == credit.total - credit.open_amount <= credit.total
    applied = sum(
        (Decimal(body["credit_applied"]) for status, body in results if status == 201),
        Decimal(0),
    )
    assert applied <= Decimal("250.00")
    assert (
        applied
        == Allocation.objects.filter(reseller=reseller).aggregate(s=Sum("amount"))["s"]
    )
    assert Operation.objects.filter(reseller=reseller).count() == statuses[201]
    assert all(doc.open_amount >= 0 for doc in Document.objects.all())
    assert_ledger_consistent(reseller)


def test_one_key_sent_at_once_with_two_cards_charges_the_payers_card(live_server, db):
    """Two systems of one reseller send the same Idempotency-Key at once, for
    the same invoice by card, each with its own card: one payment is made
    and charged to the card of the request that made it, that request is
    answered 201 with it, and the other is refused as the key reused (it
    charges nothing), round after round."""
    reseller = make_reseller()
    invoices = [
        post(reseller, "invoice", "10.00", issue_date=date(2026, 1, 1))
        for _ in range(ROUNDS)
    ]
    erp, shop = new_key(reseller, name="ERP"), new_key(reseller, name="Shop")
    user_of = {erp: key_for_token(erp).user_id, shop: key_for_token(shop).user_id}
    outcome_of = {erp: "completed", shop: "declined"}
    url = f"{live_server.url}/api/v1/payments"

    for n, invoice in enumerate(invoices):
        body = {
            **preview_body(live_server, erp, [invoice], use_credit=False),
            "payment_method": "card",
        }
        bodies = {
            erp: {**body, "card_token": "tok_sandbox_success"},
            shop: {**body, "card_token": "tok_sandbox_declined"},
        }

        order = f"order-{n}"
        results = all_at_once(
            [partial(call, url, key, sent, order) for key, sent in bodies.items()]
        )

        answers = dict(zip(bodies, results, strict=True))
        statuses = sorted(status for status, _answer in results)
        assert statuses == [201, 422], (n, results)
        payer = next(key for key, (status, _) in answers.items() if status == 201)
        other = shop if payer == erp else erp
        (paid,) = Operation.objects.filter(reseller=reseller, idempotency_key=order)
        assert paid.actor_id == user_of[payer], (n, results)
        assert paid.status == outcome_of[payer], (n, results)
        assert answers[payer][1]["id"] == paid.pk
        assert answers[other][1]["code"] == "idempotency_key_reused"
    assert_ledger_consistent(reseller)
