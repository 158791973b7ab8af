"""Signing in: Django's model backend, with the reseller read beside the user."""

from __future__ import annotations

from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import connections, router
from django.db.backends.base.base import BaseDatabaseWrapper

from billing import rows
from billing.models import Marketplace, Reseller, ResellerMembership


class MembershipBackend(ModelBackend):
    """Check passwords and permissions as :class:`ModelBackend` does, and load
    the signed-in user with its reseller membership, reseller and marketplace.

    Every reseller-panel request needs the account the user belongs to; read
    in the user's statement it costs no statement of its own. It is read anew
    on every request, so a removed membership counts at the next one.

    The statement runs on every request, so its SQL is written out once
    (building it through the ORM's ``select_related`` cost several times
    what running it does) and its row becomes model instances through
    :mod:`billing.rows`, linked as ``select_related`` links them.
    """

    def get_user(self, user_id: int | str) -> AbstractBaseUser | None:
        user_model = get_user_model()
        # The connection itself, not django.db's proxy of it: building the
        # instances looks it up many times.
        connection = connections[router.db_for_read(user_model)]
        with connection.cursor() as cursor:
            cursor.execute(_user_with_account_sql(), [user_id])
            found = cursor.fetchall()
        if not found:
            return None
        (user,) = rows.instances(user_model, found, connection)
        start = rows.width(user_model)
        membership = None
        if found[0][start] is not None:
            membership = _account(found, start, connection)
            ResellerMembership.user.field.set_cached_value(membership, user)
        ResellerMembership.user.field.remote_field.set_cached_value(user, membership)
        return user if self.user_can_authenticate(user) else None


def _account(
    found: list[tuple], start: int, connection: BaseDatabaseWrapper
) -> ResellerMembership:
    """Return the membership in ``found``'s row with its reseller and marketplace."""
    (membership,) = rows.instances(ResellerMembership, found, connection, start=start)
    start += rows.width(ResellerMembership)
    (reseller,) = rows.instances(Reseller, found, connection, start=start)
    start += rows.width(Reseller)
    (marketplace,) = rows.instances(Marketplace, found, connection, start=start)
    ResellerMembership.reseller.field.set_cached_value(membership, reseller)
    Reseller.marketplace.field.set_cached_value(reseller, marketplace)
    return membership


@cache
def _user_with_account_sql() -> str:
    """Return the user's row with its membership, reseller and marketplace."""
    user_model = get_user_model()
    users = user_model._meta.db_table
    pk = user_model._meta.pk.column
    membership = ResellerMembership._meta.db_table
    reseller = Reseller._meta.db_table
    marketplace = Marketplace._meta.db_table
    selected = ", ".join(
        rows.columns(model)
        for model in (user_model, ResellerMembership, Reseller, Marketplace)
    )
    return (
        f'SELECT {selected} FROM "{users}" '  # noqa: S608 - names from _meta
        f'LEFT OUTER JOIN "{membership}" '
        f'ON "{membership}"."user_id" = "{users}"."{pk}" '
        f'LEFT OUTER JOIN "{reseller}" '
        f'ON "{reseller}"."id" = "{membership}"."reseller_id" '
        f'LEFT OUTER JOIN "{marketplace}" '
        f'ON "{marketplace}"."id" = "{reseller}"."marketplace_id" '
        f'WHERE "{users}"."{pk}" = %s'
    )
