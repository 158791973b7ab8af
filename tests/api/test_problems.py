"""Server errors: answered as problem details, logged with a request id, and
never logging the caller's key."""

from __future__ import annotations

import logging

import pytest

from billing import selectors
from tests.api.conftest import API, api_client, new_key

pytestmark = pytest.mark.django_db


def broken_summary(*args, **kwargs):
    raise RuntimeError("the database went away")


@pytest.mark.parametrize("sent", [None, "req-42.a_b", "bad id with spaces"])
def test_a_server_error_is_a_problem_with_the_logged_request_id(
    term_reseller, monkeypatch, caplog, sent
):
    monkeypatch.setattr(selectors, "account_summary", broken_summary)
    key = new_key(term_reseller)
    headers = {} if sent is None else {"HTTP_X_REQUEST_ID": sent}

    with caplog.at_level(logging.ERROR, logger="api"):
        response = api_client(key, **headers).get(f"{API}/account")

    assert response.status_code == 500
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "server_error"
    request_id = problem["request_id"]
    assert response["X-Request-ID"] == request_id
    if sent == "req-42.a_b":
        assert request_id == sent
    else:
        assert len(request_id) == 32 and request_id != sent
    [record] = [r for r in caplog.records if r.name == "api"]
    assert request_id in record.getMessage()
    assert record.exc_info is not None
    assert key not in caplog.text
    assert "the database went away" not in response.content.decode()
