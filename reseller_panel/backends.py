"""Signing in: Django's model backend, with the reseller read beside the user."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.base_user import AbstractBaseUser


class MembershipBackend(ModelBackend):
    """Check passwords and permissions as :class:`ModelBackend` does, and load
    the signed-in user with its reseller membership, reseller and marketplace.

    Every reseller-panel request needs the account the user belongs to; read
    in the user's statement it costs no statement of its own. It is read anew
    on every request, so a removed membership counts at the next one.
    """

    def get_user(self, user_id: int | str) -> AbstractBaseUser | None:
        users = get_user_model()._default_manager.select_related(
            "membership__reseller__marketplace"
        )
        try:
            user = users.get(pk=user_id)
        except get_user_model().DoesNotExist:
            return None
        return user if self.user_can_authenticate(user) else None
