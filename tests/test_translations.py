"""The German translation: complete, compiled, and served to German browsers.

English stays the default: only a request that asks for German (through
``Accept-Language`` or the footer's language switch) gets German pages.
"""

import gettext
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from tests import factories
from tests.conftest import require

LC_MESSAGES = Path(settings.BASE_DIR) / "locale" / "de" / "LC_MESSAGES"
PO_FILE = LC_MESSAGES / "django.po"
MO_FILE = LC_MESSAGES / "django.mo"
# %(name)s / %(n)d (python-format) and {name} (python-brace-format).
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\w+\}")
NBSP = "\N{NO-BREAK SPACE}"
# Where the translated messages live (what ``makemessages`` reads).
SOURCE_DIRS = (
    "api",
    "billing",
    "classic_panel",
    "config",
    "panelkit",
    "reseller_panel",
    "templates",
)
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "locale")


@pytest.fixture(autouse=True)
def default_language_afterwards():
    """The test client activates the request's language in this thread; put
    the default back so later tests still see English."""
    yield
    translation.deactivate()


def german_messages():
    with PO_FILE.open("rb") as handle:
        catalog = read_po(handle, locale="de")
    return catalog, [message for message in catalog if message.id]


def forms_of(value):
    return list(value) if isinstance(value, list | tuple) else [value]


def test_every_german_message_is_translated_and_none_is_fuzzy():
    catalog, messages = german_messages()

    assert len(messages) > 300  # the whole UI, not a stub
    assert not catalog.fuzzy
    assert catalog.plural_forms == "nplurals=2; plural=(n != 1);"
    untranslated = [m.id for m in messages if not all(forms_of(m.string))]
    fuzzy = [m.id for m in messages if m.fuzzy]
    assert untranslated == []
    assert fuzzy == []


def test_german_messages_keep_every_placeholder():
    _, messages = german_messages()

    broken = []
    for message in messages:
        expected = sorted(PLACEHOLDER.findall(forms_of(message.id)[-1]))
        for form in forms_of(message.string):
            if sorted(PLACEHOLDER.findall(form)) != expected:
                broken.append((message.id, form))
    assert broken == []


def test_compiled_german_catalog_matches_the_po_file():
    _, messages = german_messages()
    with MO_FILE.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)

    stale = []
    for message in messages:
        if isinstance(message.id, list | tuple):
            singular, plural = message.id
            got = [compiled.ngettext(singular, plural, n) for n in (1, 2)]
        else:
            got = [compiled.gettext(message.id)]
        if got != forms_of(message.string):
            stale.append(message.id)
    assert stale == []


@pytest.fixture
def euro_reseller_client(client, db):
    marketplace = factories.MarketplaceFactory(currency="EUR")
    reseller = factories.ResellerFactory(marketplace=marketplace, currency="EUR")
    factories.post(reseller, "invoice", "1234.50")
    client.force_login(factories.reseller_user(reseller))
    return client, reseller


def test_reseller_home_is_german_with_german_money_for_a_german_browser(
    euro_reseller_client,
):
    client, reseller = euro_reseller_client

    response = client.get(reverse("home"), HTTP_ACCEPT_LANGUAGE="de")

    assert response.status_code == 200
    assert response["Content-Language"] == "de"
    content = response.content.decode()
    assert '<html lang="de">' in content
    assert f"Willkommen, {reseller.name}" in content
    assert ">Offene Posten</h2>" in content
    assert ">Überfällig</h2>" in content
    assert ">Guthaben</h2>" in content
    assert "1 Beleg zu bezahlen" in content
    assert ">Abmelden</button>" in content
    assert f"1.234,50{NBSP}€" in content
    assert "Unpaid documents" not in content
    assert "Sign out" not in content


def test_reseller_home_stays_english_without_a_language_preference(
    euro_reseller_client,
):
    client, reseller = euro_reseller_client

    response = client.get(reverse("home"))

    content = response.content.decode()
    assert '<html lang="en">' in content
    assert f"Welcome, {reseller.name}" in content
    assert ">Unpaid documents</h2>" in content
    assert "€1,234.50" in content
    assert "Offene Posten" not in content


def _navigation(content: str) -> list[tuple[str, str, bool]]:
    """Return the main navigation's links: (address, text, marked current)."""
    nav = re.search(r'<nav class="mainnav"[^>]*>(.*?)</nav>', content, re.S).group(1)
    links = re.findall(r'<a href="([^"]+)"( aria-current="page")?>([^<]+)</a>', nav)
    return [(href, text, bool(current)) for href, current, text in links]


def test_kept_navigation_and_language_menu_follow_the_page_and_the_language(
    euro_reseller_client,
):
    """The navigation and the language menu are rendered once per process for
    each language and page: a page never shows another page's current link,
    nor another language's words."""
    client, _ = euro_reseller_client
    seen = {}
    for language in ("en", "de", "en", "de"):
        for name in ("home", "unpaid_documents", "payments", "help_paying"):
            content = client.get(
                reverse(name), HTTP_ACCEPT_LANGUAGE=language
            ).content.decode()
            links = _navigation(content)
            assert [href for href, _, current in links if current] == [reverse(name)]
            seen.setdefault((language, name), links)
            assert links == seen[language, name]
            selected = re.findall(
                r'<option value="(\w+)" lang="\w+" selected>', content
            )
            assert selected == [language]

    english = [text for _, text, _ in seen["en", "home"]]
    german = [text for _, text, _ in seen["de", "home"]]
    assert english[:4] == ["Home", "Unpaid documents", "Documents", "Payments"]
    assert german[:4] == ["Startseite", "Offene Posten", "Belege", "Zahlungen"]


def test_classic_panel_sign_in_page_is_german_for_a_german_browser(client, db):
    response = client.get(reverse("classic:login"), HTTP_ACCEPT_LANGUAGE="de")

    assert response.status_code == 200
    content = response.content.decode()
    assert '<html lang="de">' in content
    assert "Classic-Panel – Anmeldung für Mitarbeiter" in content
    assert ">Benutzername</label>" in content
    assert ">Passwort</label>" in content
    assert ">Anmelden</button>" in content
    assert "Staff sign in" not in content


def test_footer_language_switch_posts_to_set_language(client, db):
    response = client.get(reverse("classic:login"))

    content = response.content.decode()
    form = re.search(
        r'<form class="language-switch" method="post" action="([^"]+)">(.*?)</form>',
        content,
        re.S,
    )
    assert form is not None
    action, body = form.groups()
    assert action == reverse("set_language")
    assert '<label for="language-select">Language</label>' in body
    assert re.findall(r'<option value="(\w+)"', body) == ["en", "de"]
    assert '<option value="en" lang="en" selected>English</option>' in body
    assert 'name="next" value="/classic/login/"' in body


def test_choosing_german_in_the_language_switch_turns_pages_german(client, db):
    login = reverse("classic:login")
    assert "Staff sign in" in client.get(login).content.decode()

    response = client.post(reverse("set_language"), {"language": "de", "next": login})

    assert response.status_code == 302
    assert response["Location"] == login
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "de"
    content = client.get(login).content.decode()
    assert '<html lang="de">' in content
    assert "Anmeldung für Mitarbeiter" in content
    assert '<option value="de" lang="de" selected>Deutsch</option>' in content
    assert ">Sprache ändern</button>" in content

    client.post(reverse("set_language"), {"language": "en", "next": login})

    assert "Staff sign in" in client.get(login).content.decode()


def test_german_catalog_holds_every_message_of_the_source(tmp_path):
    """Extracting the messages afresh finds nothing the catalogue lacks, and
    the catalogue keeps nothing the source no longer says."""
    require(shutil.which("xgettext") is not None, "GNU gettext is not installed")
    base = Path(settings.BASE_DIR)
    for name in SOURCE_DIRS:
        shutil.copytree(base / name, tmp_path / name, ignore=IGNORE)
    (tmp_path / "locale" / "de" / "LC_MESSAGES").mkdir(parents=True)
    environment = {
        name: value
        for name, value in os.environ.items()
        if name != "DJANGO_SETTINGS_MODULE"
    }

    subprocess.run(
        [sys.executable, "-m", "django", "makemessages", "-l", "de", "--no-obsolete"],
        cwd=tmp_path,
        env=environment,
        check=True,
        capture_output=True,
    )

    with (tmp_path / "locale" / "de" / "LC_MESSAGES" / "django.po").open("rb") as f:
        extracted = {message.id for message in read_po(f) if message.id}
    _, messages = german_messages()
    catalogued = {message.id for message in messages}
    assert len(extracted) > 300
    assert sorted(map(str, extracted - catalogued)) == []
    assert sorted(map(str, catalogued - extracted)) == []
