"""Who gets in: staff of the marketplace, nobody else, and never without CSRF."""

import pytest
from django.test import Client
from django.urls import reverse

from billing import services
from tests import factories
from tests.billing import bank
from tests.classic_panel.conftest import (
    VIEW,
    client_for,
    reseller_panel_user,
    staff,
)
from tests.classic_panel.helpers import (
    ACTIONS,
    PUBLIC,
    classic_urls,
    classic_urls_for,
    ledger_state,
)


@pytest.fixture
def linked(world):
    """An allocation and its link operation on the DE reseller."""
    return services.link_documents(
        credit=world.credit_memo,
        debit=world.invoice,
        amount="10.00",
        actor=world.support_de,
        reason="setup",
    )


@pytest.fixture
def us_linked(world):
    return services.link_documents(
        credit=world.us_credit,
        debit=world.us_invoice,
        amount="5.00",
        actor=None,
        reason="setup",
    )


def de_ids(world, allocation) -> dict:
    return {
        "reseller_id": world.de_reseller.pk,
        "document_id": world.invoice.pk,
        "operation_id": allocation.operation_id,
        "allocation_id": allocation.pk,
        "line_id": bank.queued_line(world.de).pk,
    }


# Bank pages list the staff user's own marketplaces: no reseller id to refuse.
BANK_LISTS = {"bank_queue", "bank_statements", "bank_upload"}


def test_every_classic_url_is_covered_by_these_tests():
    names = {pattern.name for pattern in classic_urls.urlpatterns}
    assert names >= PUBLIC | ACTIONS | {"home", "reseller", "document", "activity"}
    assert len(names) == len(classic_urls.urlpatterns)


def test_reseller_user_gets_403_on_every_classic_url(world, linked):
    user = reseller_panel_user(world.de_reseller, "reseller-de")
    client = client_for(user)
    before = ledger_state()
    urls = classic_urls_for(de_ids(world, linked))
    assert len(urls) == len(classic_urls.urlpatterns)
    for name, url in urls:
        if name in PUBLIC:
            continue
        assert client.get(url).status_code == 403, url
        assert client.post(url, {"reason": "x", "amount": "1"}).status_code == 403
    assert ledger_state() == before


def test_reseller_user_cannot_sign_in_to_the_classic_panel(world):
    reseller_panel_user(world.de_reseller, "reseller-de")
    response = Client().post(
        reverse("classic:login"),
        {"username": "reseller-de", "password": factories.PASSWORD},
    )
    assert response.status_code == 200
    assert "no access to the classic panel" in response.content.decode()
    assert "_auth_user_id" not in response.client.session


def test_staff_without_a_marketplace_gets_403(world):
    client = client_for(staff("support-nowhere", [], VIEW))
    assert client.get(reverse("classic:home")).status_code == 403


def test_anonymous_is_sent_to_the_classic_sign_in(world, linked):
    client = Client()
    for name, url in classic_urls_for(de_ids(world, linked)):
        if name in PUBLIC:
            continue
        for response in (client.get(url), client.post(url, {"reason": "x"})):
            assert response.status_code == 302, url
            assert response["Location"].startswith(reverse("classic:login") + "?next=")


def test_staff_signs_in_and_lands_on_billing(world):
    client = Client()
    login = client.get(reverse("classic:login"))
    assert "Classic panel — staff sign in" in login.content.decode()
    response = client.post(
        reverse("classic:login"),
        {"username": "support-de", "password": factories.PASSWORD},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("classic:home")
    assert "Kunde GmbH" in client.get(reverse("classic:home")).content.decode()
    out = client.post(reverse("classic:logout"))
    assert out["Location"] == reverse("classic:login")
    assert client.get(reverse("classic:home")).status_code == 302


def test_support_de_gets_404_for_a_us_reseller_and_its_rows(world, agent, us_linked):
    before = ledger_state()
    us_ids = {
        "reseller_id": world.us_reseller.pk,
        "document_id": world.us_invoice.pk,
        "operation_id": us_linked.operation_id,
        "allocation_id": us_linked.pk,
        "line_id": bank.queued_line(world.us).pk,
    }
    for name, url in classic_urls_for(us_ids):
        if name in PUBLIC or name == "home" or name in BANK_LISTS:
            continue
        assert agent.get(url).status_code == 404, url
        if name in ACTIONS:
            assert agent.post(url, {"reason": "x"}).status_code == 404, url
    assert ledger_state() == before


def test_support_de_gets_404_for_us_rows_under_a_de_reseller(world, agent, us_linked):
    de = world.de_reseller.pk
    for name, kwargs in (
        ("document", {"document_id": world.us_invoice.pk}),
        ("operation", {"operation_id": us_linked.operation_id}),
        ("revert", {"operation_id": us_linked.operation_id}),
        ("unlink", {"allocation_id": us_linked.pk}),
    ):
        url = reverse(f"classic:{name}", kwargs={"reseller_id": de, **kwargs})
        assert agent.get(url).status_code == 404, url
    before = ledger_state()
    unlink = reverse("classic:unlink", args=[de, us_linked.pk])
    assert agent.post(unlink, {"reason": "x"}).status_code == 404
    revert = reverse("classic:revert", args=[de, us_linked.operation_id])
    assert agent.post(revert, {"reason": "x"}).status_code == 404
    assert ledger_state() == before


def test_support_de_search_does_not_find_us_resellers(world, agent):
    by_name = agent.get(reverse("classic:home"), {"q": "Acme"}).content.decode()
    assert "Acme US" not in by_name
    by_id = agent.get(reverse("classic:home"), {"q": str(world.us_reseller.pk)})
    assert "Acme US" not in by_id.content.decode()
    listing = agent.get(reverse("classic:home")).content.decode()
    assert "Kunde GmbH" in listing and "Acme US" not in listing


def test_superuser_sees_every_marketplace(world):
    admin = factories.UserFactory(username="root", is_superuser=True, is_staff=True)
    client = client_for(admin)
    listing = client.get(reverse("classic:home")).content.decode()
    assert "Kunde GmbH" in listing and "Acme US" in listing
    url = reverse("classic:reseller", args=[world.us_reseller.pk])
    assert client.get(url).status_code == 200


def test_viewer_sees_pages_without_action_buttons(world, viewer, linked):
    ids = de_ids(world, linked)
    for _name, url in classic_urls_for(
        ids,
        names={
            "home",
            "reseller",
            "document",
            "operations",
            "operation",
            "activity",
            "documents_csv",
        },
    ):
        assert viewer.get(url).status_code == 200, url
    document = viewer.get(
        reverse("classic:document", args=[ids["reseller_id"], world.invoice.pk])
    )
    html = document.content.decode()
    assert "DE-CM-1" in html
    assert reverse("classic:unlink", args=[ids["reseller_id"], linked.pk]) not in html
    operations = viewer.get(reverse("classic:operations", args=[ids["reseller_id"]]))
    assert "/revert/" not in operations.content.decode()
    assert "/link/" not in html and "/credit-memo/" not in html


def test_viewer_is_refused_every_action_and_nothing_changes(world, viewer, linked):
    ids = de_ids(world, linked)
    before = ledger_state()
    payload = {
        "credit": world.credit_memo.pk,
        "debit": world.invoice.pk,
        "amount": "5.00",
        "reason": "viewer tries",
        "token": "anything",
    }
    for _name, url in classic_urls_for(ids, names=ACTIONS):
        assert viewer.get(url).status_code == 403, url
        assert viewer.post(url, payload).status_code == 403, url
    assert ledger_state() == before


def test_every_post_requires_csrf(world, linked):
    client = client_for(world.support_de, enforce_csrf_checks=True)
    before = ledger_state()
    payload = {
        "credit": world.credit_memo.pk,
        "debit": world.invoice.pk,
        "amount": "5.00",
        "reason": "no csrf",
        "username": "support-de",
        "password": factories.PASSWORD,
    }
    for _name, url in classic_urls_for(de_ids(world, linked)):
        assert client.post(url, payload).status_code == 403, url
    assert ledger_state() == before
    # The same client does get in with a token: the refusal was the CSRF check.
    assert client.get(reverse("classic:home")).status_code == 200
