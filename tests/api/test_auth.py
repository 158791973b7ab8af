"""Who gets in: a valid key of the reseller, nothing else; a key reaches only
its own reseller; each key is rate limited."""

from __future__ import annotations

from decimal import Decimal

import pytest

from api.keys import digest, issue_api_key, revoke_api_key
from api.models import ApiKey
from billing.models import Operation
from tests import factories
from tests.api.conftest import API, api_client, make_reseller, new_key, post_json
from tests.factories import pay, post

pytestmark = pytest.mark.django_db


@pytest.fixture
def others_world(db):
    """Another reseller with a document, a credit and a payment of its own."""
    other = make_reseller()
    invoice = post(other, "invoice", "80.00")
    paid = post(other, "invoice", "20.00")
    post(other, "payment", "30.00")
    operation = pay(other, [paid])
    return {"reseller": other, "invoice": invoice, "operation": operation}


def every_request(ids: dict) -> list[tuple[str, str, dict]]:
    """One request per operation of the API, aimed at ``ids``' objects."""
    body = {"document_ids": [ids["document"]], "use_credit": True}
    return [
        ("get", "/account", {}),
        ("get", "/documents", {}),
        ("get", f"/documents/{ids['document']}", {}),
        ("post", "/payments/preview", body),
        (
            "post",
            "/payments",
            {**body, "payment_method": "bank_transfer", "fingerprint": "a" * 64},
        ),
        ("get", "/payments", {}),
        ("get", f"/payments/{ids['operation']}", {}),
    ]


def send(client, method: str, path: str, body: dict):
    if method == "get":
        return client.get(f"{API}{path}")
    return post_json(client, path, body, HTTP_IDEMPOTENCY_KEY="isolation-1")


def test_another_resellers_key_never_sees_or_touches_its_objects(
    term_reseller, others_world
):
    own = post(term_reseller, "invoice", "10.00", number="OWN-1")
    client = api_client(new_key(term_reseller))
    ids = {
        "document": others_world["invoice"].pk,
        "operation": others_world["operation"].pk,
    }
    answers = {
        (method, path): send(client, method, path, body)
        for method, path, body in every_request(ids)
    }

    for request in (
        ("get", f"/documents/{ids['document']}"),
        ("post", "/payments/preview"),
        ("post", "/payments"),
        ("get", f"/payments/{ids['operation']}"),
    ):
        assert answers[request].status_code == 404, request
        assert answers[request]["Content-Type"] == "application/problem+json"
    assert answers["get", "/account"].json()["name"] == term_reseller.name
    listed = answers["get", "/documents"].json()["items"]
    assert [d["number"] for d in listed] == [own.number]
    assert answers["get", "/payments"].json()["items"] == []
    others_world["invoice"].refresh_from_db()
    assert others_world["invoice"].open_amount == Decimal("80.00")
    assert not Operation.objects.filter(reseller=term_reseller).exists()


@pytest.mark.parametrize("credential", ["none", "revoked", "unknown", "malformed"])
def test_missing_revoked_or_unknown_keys_get_401_and_no_data(term_reseller, credential):
    invoice = post(term_reseller, "invoice", "10.00")
    operation = pay(term_reseller, [invoice], use_credit=False)
    key = new_key(term_reseller)
    if credential == "revoked":
        revoke_api_key(api_key=ApiKey.objects.get(digest=digest(key)))
    elif credential == "unknown":
        key = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    elif credential == "malformed":
        key = "not-a-key"
    client = api_client(None if credential == "none" else key)
    ids = {"document": invoice.pk, "operation": operation.pk}

    for method, path, body in every_request(ids):
        response = send(client, method, path, body)
        assert response.status_code == 401, path
        assert response["Content-Type"] == "application/problem+json"
        assert response["WWW-Authenticate"].startswith("Bearer")
        assert response.json()["code"] == "not_authenticated"
        assert term_reseller.name not in response.content.decode()
    assert Operation.objects.filter(reseller=term_reseller).count() == 1


def test_a_key_stops_working_when_its_user_leaves_the_reseller(term_reseller):
    user = factories.reseller_user(term_reseller)
    _api_key, key = issue_api_key(user=user, reseller=term_reseller, name="ERP")
    client = api_client(key)
    assert client.get(f"{API}/account").status_code == 200

    user.membership.reseller = make_reseller()
    user.membership.save()
    assert client.get(f"{API}/account").status_code == 401

    user.membership.reseller = term_reseller
    user.membership.save()
    user.is_active = False
    user.save()
    assert client.get(f"{API}/account").status_code == 401


def test_keys_are_stored_as_digests_and_record_when_they_were_used(term_reseller):
    key = new_key(term_reseller)
    api_key = ApiKey.objects.get()
    assert key not in {api_key.prefix, api_key.digest, api_key.name}
    assert api_key.digest == digest(key) and len(api_key.digest) == 64
    assert api_key.last_used_at is None

    api_client(key).get(f"{API}/account")

    api_key.refresh_from_db()
    assert api_key.last_used_at is not None


def test_each_key_is_rate_limited_with_retry_after(term_reseller, settings):
    settings.API_RATE_LIMIT = 3
    settings.API_RATE_WINDOW = 60
    limited = api_client(new_key(term_reseller))
    other = api_client(new_key(term_reseller))

    statuses = [limited.get(f"{API}/account").status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    refused = limited.get(f"{API}/account")
    assert refused["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 61
    assert other.get(f"{API}/account").status_code == 200
