"""The rate limit is counted in the database: every server process counts
against the same limit, and requests made at the same moment are each
counted."""

from __future__ import annotations

import threading

import pytest
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.db import connection

from api.auth import count_request
from api.models import ApiKey, RequestCount
from tests.api.conftest import API, api_client, make_reseller, new_key
from tests.test_security import settings_from_environment


@pytest.mark.parametrize(
    "url, backend, location",
    [
        (None, "django.core.cache.backends.locmem.LocMemCache", ""),
        (
            "dbcache://some_cache",
            "django.core.cache.backends.db.DatabaseCache",
            "some_cache",
        ),
    ],
)
def test_cache_url_chooses_the_default_cache(monkeypatch, url, backend, location):
    environment = {"CACHE_URL": url} if url else {}
    caches = settings_from_environment(monkeypatch, **environment)["CACHES"]
    assert caches["default"]["BACKEND"] == backend
    assert caches["default"]["LOCATION"] == location
    # The template fragments stay each process's own, whatever CACHE_URL says.
    assert caches["template_fragments"]["BACKEND"].endswith("LocMemCache")


def test_requests_are_counted_where_every_process_reads_them(term_reseller, settings):
    settings.API_RATE_LIMIT = 3
    limited = api_client(new_key(term_reseller))

    statuses = [limited.get(f"{API}/account").status_code for _ in range(4)]

    assert statuses == [200, 200, 200, 429]
    # The count another server process would read: the database's.
    with connection.cursor() as cursor:
        cursor.execute('SELECT "count" FROM "api_requestcount"')
        assert cursor.fetchall() == [(4,)]


def test_a_new_window_forgets_the_earlier_ones(term_reseller):
    api_key_id = _key_id(new_key(term_reseller))
    assert [count_request(api_key_id, 41) for _ in range(3)] == [1, 2, 3]

    assert count_request(api_key_id, 42) == 1

    assert list(RequestCount.objects.values_list("slot", "count")) == [(42, 1)]


def _key_id(key: str) -> int:
    return ApiKey.objects.get(prefix=key.split("_")[1]).pk


@pytest.mark.django_db(transaction=True)
def test_requests_made_at_the_same_moment_are_each_counted():
    """Eight connections count 25 requests each in the same window: every
    request gets a count of its own (a read-then-write count would hand two
    of them the same one and let the key past its limit)."""
    api_key_id = _key_id(new_key(make_reseller()))
    start = threading.Barrier(8)
    counts: list[int] = []
    errors: list[BaseException] = []

    def requests() -> None:
        try:
            start.wait(timeout=30)
            for _ in range(25):
                counts.append(count_request(api_key_id, 7))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=requests) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert sorted(counts) == list(range(1, 201))
    assert RequestCount.objects.get(slot=7).count == 200


def test_the_tests_keep_a_cache_of_their_own(settings):
    """Whatever ``CACHE_URL`` the shell exports (a developer's Redis), the
    tests keep Django's default cache in local memory (``tests/conftest.py``)."""
    assert settings.CACHES["default"] == {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "tests",
    }
    assert isinstance(caches["default"], LocMemCache)
