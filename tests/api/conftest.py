"""API clients: a test client that sends a reseller user's API key."""

from __future__ import annotations

import pytest
from django.test import Client

from api.keys import issue_api_key
from billing.models import CreditPolicy, PaymentModel
from tests import factories

API = "/api/v1"


def make_reseller(policy=CreditPolicy.SELF_SERVICE, model=PaymentModel.TERM, **kw):
    marketplace = factories.MarketplaceFactory(term_credit_policy=policy, **kw)
    return factories.ResellerFactory(marketplace=marketplace, payment_model=model)


def new_key(reseller, name: str = "ERP") -> str:
    """Return the text of a new API key of a new user of ``reseller``."""
    user = factories.reseller_user(reseller)
    _api_key, key = issue_api_key(user=user, reseller=reseller, name=name)
    return key


def api_client(key: str | None, **headers) -> Client:
    if key is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return Client(**headers)


@pytest.fixture
def term_reseller(db):
    """A term account of a self-service marketplace: may pay with credit."""
    return make_reseller()


@pytest.fixture
def support_reseller(db):
    """A term account of a contact-support marketplace."""
    return make_reseller(policy=CreditPolicy.CONTACT_SUPPORT)


@pytest.fixture
def prepaid_reseller(db):
    return make_reseller(model=PaymentModel.PREPAID)


@pytest.fixture
def client_for():
    """Return an API client holding a new key of the given reseller."""

    def make(reseller, **headers) -> Client:
        return api_client(new_key(reseller), **headers)

    return make


def post_json(client: Client, path: str, data: dict, **headers):
    return client.post(f"{API}{path}", data, content_type="application/json", **headers)
