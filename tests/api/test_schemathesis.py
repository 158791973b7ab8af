"""Schemathesis against the live schema of a running server.

Every operation is called with generated requests, valid and invalid, as a
reseller with a key and a small ledger: no answer may be a server error, and
every answer must be documented and conform to its schema (status code,
content type, headers, body). ``test_status_codes.py`` shows every documented
status code is reachable.
"""

from __future__ import annotations

import os
from datetime import date

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.stateful import run_state_machine_as_test
from schemathesis import GenerationMode

from api import cursors
from billing import selectors
from tests.api.conftest import make_reseller, new_key
from tests.factories import pay, post

# A few examples per operation and mode keep the suite fast and repeatable;
# set API_FUZZ_EXAMPLES (e.g. 200) for a longer, randomised run.
DEFAULT_EXAMPLES = 8
EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", DEFAULT_EXAMPLES))
CURSOR_MAX = 500
OPERATIONS = [
    "getAccount",
    "listDocuments",
    "getDocument",
    "previewPayment",
    "createPayment",
    "listPayments",
    "getPayment",
]


@pytest.fixture
def live_schema(live_server, transactional_db, settings):
    settings.API_RATE_LIMIT = 100_000
    reseller = make_reseller()
    for day in range(1, 4):
        post(reseller, "invoice", "100.00", issue_date=date(2026, 1, day))
    post(reseller, "credit_memo", "30.00", issue_date=date(2025, 12, 1))
    paid = post(reseller, "invoice", "10.00", issue_date=date(2025, 11, 1))
    pay(reseller, [paid], use_credit=False)
    loaded = schemathesis.openapi.from_url(f"{live_server.url}/api/v1/openapi.json")
    loaded.config.update(
        base_url=live_server.url,
        headers={"Authorization": f"Bearer {new_key(reseller)}"},
    )
    real_cursors = {
        "/api/v1/documents": [
            cursors.encode("documents", doc.issue_date, doc.number, doc.pk)
            for doc in selectors.documents_for_reseller(reseller)
        ],
        "/api/v1/payments": [
            cursors.encode("payments", op.created_at, op.pk)
            for op in selectors.operations_for_reseller(reseller)
        ],
    }

    @loaded.hook
    def map_query(context, query):
        """Put a real cursor where a well-formed one is generated.

        A cursor is opaque: any string fits the schema, but only one the
        server issued is valid (a forged one is a 400, tested elsewhere).
        """
        cursor = (query or {}).get("cursor")
        if isinstance(cursor, str) and len(cursor) <= CURSOR_MAX:
            choices = real_cursors[context.operation.path]
            query["cursor"] = choices[len(cursor) % len(choices)]
        return query

    return loaded


@pytest.mark.parametrize("operation_id", OPERATIONS)
def test_every_operation_answers_as_documented(live_schema, operation_id):
    operation = live_schema.find_operation_by_id(operation_id)
    # An operation without parameters has no invalid request to make.
    modes = [GenerationMode.POSITIVE]
    if operation_id != "getAccount":
        modes.append(GenerationMode.NEGATIVE)

    for mode in modes:

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            derandomize=EXAMPLES == DEFAULT_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case):
            case.call_and_validate()

        check()


def test_the_schema_covers_every_operation(live_schema):
    found = {
        result.ok().definition.raw["operationId"]
        for result in live_schema.get_all_operations()
    }
    assert found == set(OPERATIONS)


def test_stateful_runs_follow_the_links_between_operations(live_schema):
    """Ids one answer gives (a payment made, a listed document) lead to the
    next call, and every answer on the way is as documented."""
    machine = live_schema.as_state_machine()

    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=5,
            derandomize=EXAMPLES == DEFAULT_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
