"""Shared fixtures: factories, a live server and a real Chromium browser."""

import os
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import translation

from tests import factories

CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Playwright's sync API runs an event loop in the test thread; the ORM calls
# the tests make beside it are ordinary synchronous calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def require(condition: bool, reason: str) -> None:
    """Skip locally when a real dependency is missing; fail under CI."""
    if condition:
        return
    if CI:
        pytest.fail(f"{reason} (required when CI=true)")
    pytest.skip(reason)


def pytest_collection_modifyitems(config, items):
    """Leave out tests of PostgreSQL's own machinery when on SQLite.

    They are not skipped: they do not apply to SQLite, and ``make test`` with
    ``DATABASE_URL`` (the second pass of CI) runs them.
    """
    from django.db import connection

    if connection.vendor == "postgresql":
        return
    left_out = [item for item in items if item.get_closest_marker("postgresql_only")]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item not in left_out]


@pytest.fixture(autouse=True, scope="session")
def caches_of_the_tests_own():
    """Keep Django's default cache in local memory whatever ``CACHE_URL`` the
    shell exports: the tests would otherwise share a developer's Redis or
    cache table with each other and with every earlier run."""
    local = {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "tests",
    }
    with override_settings(CACHES={**settings.CACHES, "default": local}):
        yield


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Hash test users' passwords cheaply; password hashing is not under test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def default_language():
    """Start every test in the default language.

    A German request through the test client leaves German active in the
    thread (LocaleMiddleware activates it and nothing deactivates it), which
    would leak into the messages of the next test.
    """
    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture
def marketplace(db):
    return factories.MarketplaceFactory()


@pytest.fixture
def reseller(marketplace):
    return factories.ResellerFactory(marketplace=marketplace)


@pytest.fixture(scope="session")
def chromium_browser():
    """One headless Debian Chromium for the whole run, driven by Playwright."""
    require(shutil.which(CHROMIUM) is not None, f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(chromium_browser, live_server, request):
    """A fresh browser page; a screenshot is saved as an artifact at the end."""
    yield from browser_page(chromium_browser, live_server, request, "en-US")


@pytest.fixture
def german_page(chromium_browser, live_server, request):
    """A fresh browser page of a browser set to German (``de-DE``)."""
    yield from browser_page(chromium_browser, live_server, request, "de-DE")


def browser_page(chromium_browser, live_server, request, locale: str):
    context = chromium_browser.new_context(
        base_url=live_server.url,
        locale=locale,
        viewport={"width": 1280, "height": 900},
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    blocked: list[str] = []
    page.on(
        "console",
        lambda message: (
            blocked.append(message.text)
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    name = request.node.nodeid.replace("/", "_").replace("::", "__")
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    context.close()
    assert not blocked, f"the content security policy blocked: {blocked}"
