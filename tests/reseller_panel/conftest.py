"""Accounts of each kind the reseller panel serves, with a signed-in user."""

from datetime import date, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from billing.models import CreditPolicy, PaymentModel
from tests import factories


def make_reseller(policy=CreditPolicy.SELF_SERVICE, model=PaymentModel.TERM, **kw):
    marketplace = factories.MarketplaceFactory(term_credit_policy=policy)
    return factories.ResellerFactory(marketplace=marketplace, payment_model=model, **kw)


@pytest.fixture
def term_reseller(db):
    """A term account of a self-service marketplace: may pay with credit."""
    return make_reseller()


@pytest.fixture
def support_reseller(db):
    """A term account of a contact-support marketplace: credit not usable here."""
    return make_reseller(policy=CreditPolicy.CONTACT_SUPPORT)


@pytest.fixture
def prepaid_reseller(db):
    return make_reseller(model=PaymentModel.PREPAID)


def days_ago(days: int) -> date:
    return timezone.localdate() - timedelta(days=days)


def signed_in_client(reseller, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(factories.reseller_user(reseller))
    return client


@pytest.fixture
def client_of():
    """Return a test client signed in as a new user of the given reseller."""
    return signed_in_client
