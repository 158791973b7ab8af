"""The API keys page: a reseller user creates a key (shown once), sees when it
was last used, and revokes it, in English and in German, by submitting what
the rendered page holds."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.test import Client

from api.keys import digest, issue_api_key
from api.models import ApiKey
from tests import factories
from tests.reseller_panel.conftest import make_reseller

pytestmark = pytest.mark.django_db

TEXTS = {
    "en": {
        "title": "API keys",
        "shown_once": "it is shown only once",
        "never": "Never",
    },
    "de": {
        "title": "API-Schlüssel",
        "shown_once": "er wird nur einmal angezeigt",
        "never": "Nie",
    },
}


class Forms(HTMLParser):
    """Collect each form's action and the inputs it would submit."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action"), "fields": {}})
        elif tag == "input" and self.forms and attrs.get("name"):
            self.forms[-1]["fields"][attrs["name"]] = attrs.get("value") or ""


def forms_of(response) -> list[dict]:
    parser = Forms()
    parser.feed(response.content.decode())
    return [f for f in parser.forms if (f["action"] or "").startswith("/api-keys/")]


def signed_in(user, language: str) -> Client:
    client = Client(enforce_csrf_checks=True, HTTP_ACCEPT_LANGUAGE=language)
    client.force_login(user)
    return client


@pytest.mark.parametrize("language", ["en", "de"])
def test_create_a_key_see_it_once_use_it_and_revoke_it(language):
    reseller = make_reseller()
    user = factories.reseller_user(reseller)
    client = signed_in(user, language)
    texts = TEXTS[language]

    page = client.get("/api-keys/")
    assert page.status_code == 200
    assert texts["title"] in page.content.decode()
    [create] = forms_of(page)
    created = client.post(create["action"], {**create["fields"], "name": "ERP prod"})

    assert created.status_code == 200
    html = created.content.decode()
    assert texts["shown_once"] in html
    key = re.search(r'data-testid="new-key-value">([^<]+)<', html).group(1)
    stored = ApiKey.objects.get(user=user)
    assert stored.name == "ERP prod" and stored.digest == digest(key)
    assert created["Cache-Control"].startswith("max-age=0")
    listing = client.get("/api-keys/").content.decode()
    assert key not in listing and stored.prefix in listing
    assert texts["never"] in listing

    api = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert api.get("/api/v1/account").json()["name"] == reseller.name
    assert texts["never"] not in client.get("/api-keys/").content.decode()

    [_create, revoke] = forms_of(client.get("/api-keys/"))
    revoked = client.post(revoke["action"], revoke["fields"], follow=True)
    assert revoked.status_code == 200
    assert "ERP prod" in revoked.content.decode()
    stored.refresh_from_db()
    assert stored.revoked_at is not None
    assert api.get("/api/v1/account").status_code == 401
    assert len(forms_of(client.get("/api-keys/"))) == 1  # nothing left to revoke


@pytest.mark.parametrize("language", ["en", "de"])
def test_a_key_without_a_name_is_refused_with_a_message(language):
    user = factories.reseller_user(make_reseller())
    client = signed_in(user, language)
    [create] = forms_of(client.get("/api-keys/"))

    response = client.post(create["action"], {**create["fields"], "name": "  "})

    assert response.status_code == 400
    message = {"en": "Give the key a name.", "de": "Geben Sie dem Schlüssel einen"}
    assert message[language] in response.content.decode()
    assert not ApiKey.objects.exists()


def test_users_see_and_revoke_only_their_own_keys():
    reseller = make_reseller()
    mine = factories.reseller_user(reseller)
    colleague = factories.reseller_user(reseller)
    theirs, _key = issue_api_key(user=colleague, reseller=reseller, name="Theirs")
    client = Client()
    client.force_login(mine)

    assert "Theirs" not in client.get("/api-keys/").content.decode()
    assert client.post(f"/api-keys/{theirs.pk}/revoke/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_the_page_needs_a_signed_in_reseller_user_and_posts_need_csrf():
    user = factories.reseller_user(make_reseller())
    assert Client().get("/api-keys/").status_code == 302
    assert signed_in(user, "en").post("/api-keys/", {"name": "x"}).status_code == 403
    assert not ApiKey.objects.exists()


def test_the_navigation_links_to_the_page():
    client = Client()
    client.force_login(factories.reseller_user(make_reseller()))
    assert 'href="/api-keys/"' in client.get("/").content.decode()
