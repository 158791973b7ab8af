"""Sessions: Django's database store, its read written out."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.utils import timezone

from config.sessions import SessionStore


def test_the_panels_use_the_written_out_session_store():
    assert settings.SESSION_ENGINE == "config.sessions"


def test_a_saved_session_is_read_back(db, django_assert_num_queries):
    saved = SessionStore()
    saved["answer"] = 42
    saved.save()
    session = SessionStore(saved.session_key)
    with django_assert_num_queries(1):
        assert session["answer"] == 42
    assert session.session_key == saved.session_key


def test_an_expired_session_reads_empty_and_loses_its_key(db):
    saved = SessionStore()
    saved["answer"] = 42
    saved.save()
    Session.objects.filter(session_key=saved.session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    session = SessionStore(saved.session_key)
    assert session.load() == {}
    assert session.session_key is None


def test_an_unknown_or_tampered_session_reads_empty(db):
    saved = SessionStore()
    saved["answer"] = 42
    saved.save()
    Session.objects.filter(session_key=saved.session_key).update(
        session_data="tampered"
    )
    assert SessionStore(saved.session_key).load() == {}
    unknown = SessionStore("no-such-session-key")
    assert unknown.load() == {}
    assert unknown.session_key is None


@pytest.mark.parametrize(
    "cookie",
    ["abc\x00defghijk", "x" * 5000, "ü" * 20, "'; DROP TABLE django_session; --"],
    ids=["nul", "long", "non-ascii", "sql"],
)
def test_a_junk_session_cookie_starts_an_empty_session_on_every_panel(
    db, client, cookie
):
    client.raise_request_exception = False
    client.cookies[settings.SESSION_COOKIE_NAME] = cookie
    assert SessionStore(cookie).session_key is None
    for path in ("/", "/pay/", "/classic/", "/en/", "/de/"):
        response = client.get(path)
        assert response.status_code < 500, (path, response.status_code)
