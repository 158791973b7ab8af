"""Persistent PostgreSQL connections are checked before each request uses them."""

import time

import psycopg
import pytest
from django.db import connection

pytestmark = [pytest.mark.postgresql_only, pytest.mark.django_db(transaction=True)]


def _new_request() -> None:
    """Do what Django does between two requests of a persistent connection."""
    connection.close_if_unusable_or_obsolete()


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_a_quiet_connection_is_kept_without_a_round_trip(monkeypatch):
    assert connection.settings_dict["CONN_HEALTH_CHECKS"]
    pid = _backend_pid()
    round_trips = []
    monkeypatch.setattr(connection, "is_usable", lambda: round_trips.append(1) or True)
    _new_request()
    assert _backend_pid() == pid
    assert round_trips == []


def test_a_connection_the_server_closed_is_replaced_before_the_request_uses_it():
    pid = _backend_pid()
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    with psycopg.connect(**params, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
    time.sleep(0.2)  # the server's goodbye reaches the socket
    _new_request()
    assert _backend_pid() != pid
