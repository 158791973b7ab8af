"""Fixtures of the ledger tests: one account of each kind the DESIGN names."""

import pytest

from billing.models import CreditPolicy, PaymentModel
from tests import factories
from tests.billing.migrations import latest, migrate


@pytest.fixture
def term_reseller(db):
    """A term account of a self-service marketplace: may pay with credit."""
    marketplace = factories.MarketplaceFactory(
        term_credit_policy=CreditPolicy.SELF_SERVICE
    )
    return factories.ResellerFactory(
        marketplace=marketplace, payment_model=PaymentModel.TERM
    )


@pytest.fixture
def support_reseller(db):
    """A term account of a contact-support marketplace: credit not usable."""
    marketplace = factories.MarketplaceFactory(
        term_credit_policy=CreditPolicy.CONTACT_SUPPORT
    )
    return factories.ResellerFactory(
        marketplace=marketplace, payment_model=PaymentModel.TERM
    )


@pytest.fixture
def prepaid_reseller(db):
    """A prepaid account: credit is applied whenever a document is posted."""
    marketplace = factories.MarketplaceFactory(
        term_credit_policy=CreditPolicy.CONTACT_SUPPORT
    )
    return factories.ResellerFactory(
        marketplace=marketplace, payment_model=PaymentModel.PREPAID
    )


@pytest.fixture
def staff_user(db):
    # No password: hashing one costs half a second and nothing here logs in.
    return factories.UserFactory(is_staff=True, password=None)


@pytest.fixture
def old_apps(request):
    """The billing apps as of the test module's ``BEFORE`` migration, for a
    test of a migration's data; the database is migrated to the latest again
    afterwards."""
    apps = migrate(request.module.BEFORE)
    yield apps
    migrate(latest())
