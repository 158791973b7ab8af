"""The sign-in backend loads the user with its account in one statement."""

import pytest

from billing.models import ResellerMembership
from billing.selectors import reseller_for_user
from reseller_panel.backends import MembershipBackend
from tests import factories


def test_the_user_comes_with_its_membership_reseller_and_marketplace(
    term_reseller, django_assert_num_queries
):
    member = factories.reseller_user(term_reseller)
    with django_assert_num_queries(1):
        user = MembershipBackend().get_user(member.pk)
        reseller = reseller_for_user(user)
        assert user == member
        assert user.membership.user is user
        assert reseller == term_reseller
        assert reseller.name == term_reseller.name
        assert reseller.payment_model == term_reseller.payment_model
        assert reseller.marketplace == term_reseller.marketplace
        assert reseller.marketplace.code == term_reseller.marketplace.code
    assert user.date_joined == member.date_joined
    assert user.check_password(factories.PASSWORD)


def test_a_user_without_membership_is_loaded_knowing_it_has_none(
    db, django_assert_num_queries
):
    staff = factories.UserFactory()
    with django_assert_num_queries(1):
        user = MembershipBackend().get_user(staff.pk)
        assert user == staff
        assert reseller_for_user(user) is None
    with pytest.raises(ResellerMembership.DoesNotExist):
        user.membership  # noqa: B018


def test_an_unknown_or_inactive_user_is_not_loaded(term_reseller):
    member = factories.reseller_user(term_reseller)
    member.is_active = False
    member.save(update_fields=["is_active"])
    backend = MembershipBackend()
    assert backend.get_user(member.pk) is None
    assert backend.get_user(member.pk + 1000) is None
