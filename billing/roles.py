"""The staff roles of the classic panel, as Django groups.

Operators assign users to these groups in the admin; the demo data, the tests
and the classic panel rely on the same names and permissions.
"""

from __future__ import annotations

from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission

SUPPORT_AGENTS = "Support agents"
SUPPORT_VIEWERS = "Support viewers"

AGENT_PERMISSIONS = ("view_document", "link_documents", "issue_credit_memo")
VIEWER_PERMISSIONS = ("view_document",)


def _billing_permissions(codenames: tuple[str, ...]) -> list[Permission]:
    """Return the billing permissions named ``codenames``, creating any missing."""
    wanted = set(codenames)
    found = list(
        Permission.objects.filter(
            content_type__app_label="billing", codename__in=wanted
        )
    )
    if len(found) < len(wanted):
        # Permissions come from post_migrate; a flushed test database may
        # not have them yet.
        create_permissions(apps.get_app_config("billing"), verbosity=0)
        found = list(
            Permission.objects.filter(
                content_type__app_label="billing", codename__in=wanted
            )
        )
    missing = wanted - {permission.codename for permission in found}
    if missing:
        raise LookupError(f"billing permissions missing: {sorted(missing)}")
    return found


def ensure_support_groups() -> tuple[Group, Group]:
    """Create or repair the "Support agents" and "Support viewers" groups.

    Agents may view documents, link/unlink/revert them and issue credit memos;
    viewers may only view documents. Each group ends with exactly these
    permissions. Return ``(agents, viewers)``.
    """
    agents, _ = Group.objects.get_or_create(name=SUPPORT_AGENTS)
    agents.permissions.set(_billing_permissions(AGENT_PERMISSIONS))
    viewers, _ = Group.objects.get_or_create(name=SUPPORT_VIEWERS)
    viewers.permissions.set(_billing_permissions(VIEWER_PERMISSIONS))
    return agents, viewers
