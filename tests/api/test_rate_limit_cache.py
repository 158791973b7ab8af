"""The rate limit is counted in Django's default cache, which ``CACHE_URL``
chooses: local memory for one process, a shared cache (the database's, Redis)
for several, and ``check --deploy`` says so when it is local memory."""

from __future__ import annotations

import pytest
from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.core.cache.backends.locmem import LocMemCache
from django.core.management import call_command
from django.db import connection

from tests.api.conftest import API, api_client, new_key
from tests.test_security import PRODUCTION, deploy_check, settings_from_environment

TABLE = "api_rate_counts"
SHARED = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": TABLE,
    }
}


@pytest.mark.parametrize(
    "url, backend, location",
    [
        (None, "django.core.cache.backends.locmem.LocMemCache", ""),
        (
            "dbcache://api_cache",
            "django.core.cache.backends.db.DatabaseCache",
            "api_cache",
        ),
    ],
)
def test_cache_url_chooses_the_default_cache(monkeypatch, url, backend, location):
    environment = {"CACHE_URL": url} if url else {}
    # settings_from_environment clears CACHE_URL first (one of PRODUCTION's).
    caches = settings_from_environment(monkeypatch, **environment)["CACHES"]
    assert caches["default"]["BACKEND"] == backend
    assert caches["default"]["LOCATION"] == location
    # The template fragments stay each process's own, whatever CACHE_URL says.
    assert caches["template_fragments"]["BACKEND"].endswith("LocMemCache")


@pytest.fixture
def shared_cache(settings, transactional_db):
    call_command("createcachetable", TABLE, verbosity=0)
    local = settings.CACHES
    settings.CACHES = {**local, **SHARED}
    yield DatabaseCache(TABLE, {})  # what another server process would open
    settings.CACHES = local  # before the table goes, and the database with it
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {TABLE}")


def test_with_a_shared_cache_every_process_sees_the_same_count(
    shared_cache, settings, term_reseller
):
    settings.API_RATE_LIMIT = 3
    limited = api_client(new_key(term_reseller))

    statuses = [limited.get(f"{API}/account").status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT cache_key FROM {TABLE}")  # noqa: S608 - a constant
        (stored,) = [key for (key,) in cursor.fetchall()]
    # Django's key is ":<version>:<key>"; the other process asks by the key.
    counted = shared_cache.get(stored.split(":", 2)[2])
    assert counted == 4


def test_the_deploy_check_asks_for_a_shared_cache():
    local = {**PRODUCTION, "CACHE_URL": "locmemcache://"}
    warned = deploy_check("--fail-level", "WARNING", **local)
    assert "(api.W001)" in warned.stderr
    assert "CACHE_URL" in warned.stderr

    shared = deploy_check("--fail-level", "WARNING", **PRODUCTION)
    assert "api.W001" not in shared.stderr


def test_the_tests_count_in_a_cache_of_their_own(settings):
    """Whatever ``CACHE_URL`` the shell exports (a developer's Redis), the
    tests count in local memory of their own (``tests/conftest.py``)."""
    assert settings.CACHES["default"] == {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "tests",
    }
    assert isinstance(caches["default"], LocMemCache)
