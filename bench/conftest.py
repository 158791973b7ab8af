"""Benchmarks: run with ``make bench`` (``pytest bench --benchmark-only``).

They live outside ``testpaths`` so the normal suite never runs them, and they
only measure: timing belongs here, never in an assertion.
"""

import pytest

from billing.models import CreditPolicy, PaymentModel
from tests import factories


@pytest.fixture
def big_term_reseller(db):
    """A self-service term account; benchmarks add its documents in bulk."""
    marketplace = factories.MarketplaceFactory(
        term_credit_policy=CreditPolicy.SELF_SERVICE
    )
    return factories.ResellerFactory(
        marketplace=marketplace, payment_model=PaymentModel.TERM
    )
