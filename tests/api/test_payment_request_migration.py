"""Migration api 0003 moves each remembered API request's body into its
payment's operation, so that its retries stay replays and another body under
its key stays refused."""

from __future__ import annotations

from datetime import date

import pytest

from billing.exceptions import IdempotencyKeyReused
from billing.models import Operation
from tests.api.conftest import make_reseller
from tests.billing.migrations import latest, migrate
from tests.factories import pay, post

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("api", "0002_request_counts")]
BODY = "b" * 64


@pytest.fixture
def old_apps():
    apps = migrate(BEFORE)
    yield apps
    migrate(latest())


def test_a_remembered_body_becomes_part_of_its_payments_request(old_apps):
    reseller = make_reseller()
    invoice = post(reseller, "invoice", "25.00", issue_date=date(2026, 1, 5))
    second = post(reseller, "invoice", "30.00", issue_date=date(2026, 1, 6))
    # Paid through the API before the migration: the ledger recorded the
    # selection, credit and method; the API remembered the body.
    first = pay(reseller, [second, invoice], idempotency_key="erp-1", source="api")
    # Paid, but the body was never remembered (the request ended first).
    third = post(reseller, "invoice", "5.00", issue_date=date(2026, 1, 7))
    unremembered = pay(reseller, [third], idempotency_key="erp-2", source="api")
    old_apps.get_model("api", "PaymentRequest").objects.create(
        reseller_id=reseller.pk,
        idempotency_key="erp-1",
        body_digest=BODY,
        operation_id=first.pk,
    )
    recorded = dict(Operation.objects.values_list("pk", "request_hash"))

    migrate(latest())

    hashes = dict(Operation.objects.values_list("pk", "request_hash"))
    assert hashes[first.pk] != recorded[first.pk]
    assert hashes[unremembered.pk] == recorded[unremembered.pk]
    kwargs = {"idempotency_key": "erp-1", "source": "api"}
    again = pay(reseller, [invoice, second], request_digest=BODY, **kwargs)
    assert again.pk == first.pk
    with pytest.raises(IdempotencyKeyReused):
        pay(reseller, [invoice, second], request_digest="c" * 64, **kwargs)
    retry = pay(
        reseller,
        [third],
        idempotency_key="erp-2",
        source="api",
        request_digest="d" * 64,
    )
    assert retry.pk == unremembered.pk

    migrate(BEFORE)

    assert dict(Operation.objects.values_list("pk", "request_hash")) == recorded
