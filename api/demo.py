"""The reseller API's part of the demo data (``manage.py seed_demo``)."""

from __future__ import annotations

from billing.models import ResellerMembership

# The demo's reseller API key, for Cobalt Systems' user ``cobalt``. It is
# published in the README, so it is a demo key only: stored hashed like every
# key, and revocable on the panel's API keys page.
DEMO_API_KEY = "arl_democobalt01_DemoKeyOfCobaltSystems-NotASecret-0001"


def seed_demo_api_key() -> None:
    """Create the demo API key once (idempotent: found by its prefix)."""
    from api.keys import KEY_PATTERN, issue_api_key
    from api.models import ApiKey

    prefix = KEY_PATTERN.match(DEMO_API_KEY).group(1)
    if ApiKey.objects.filter(prefix=prefix).exists():
        return
    membership = ResellerMembership.objects.select_related("user", "reseller").get(
        user__username="cobalt"
    )
    issue_api_key(
        user=membership.user,
        reseller=membership.reseller,
        name="Demo ERP",
        key=DEMO_API_KEY,
    )
