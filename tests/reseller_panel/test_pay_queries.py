"""The pay flow's statements, counted exactly: a new one shows up here first.

Preview (GET): the session, the user with its membership, reseller and
marketplace (one statement, see ``reseller_panel.backends``; the plan uses
that reseller), and the selected documents with the open credits (one read).
The count does not depend on how many documents are selected.

Confirm (POST): the session, the user with its reseller; then, in the payment's
transaction, the locked reseller; one read of the idempotency key, the
selected documents with the open credits and the operation's reserved id;
and the writes: the operation, its payment record, the selected documents as
rows, the open amounts, the allocations and the audit event (one statement
on PostgreSQL; one each on SQLite), between the transaction's start and its
end.
"""

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.urls import reverse

from billing.models import Operation, ResellerMembership
from billing.selectors import reseller_for_user
from tests import factories
from tests.reseller_panel.conftest import days_ago

PREVIEW_QUERIES = 3
CONFIRM_QUERIES = {
    # (PostgreSQL, SQLite)
    Operation.Status.COMPLETED: (7, 12),
    Operation.Status.AWAITING_TRANSFER: (7, 12),
}


@pytest.mark.parametrize("selected", [1, 3])
@pytest.mark.parametrize(
    ("credit", "status"),
    [
        ("1000.00", Operation.Status.COMPLETED),
        ("50.00", Operation.Status.AWAITING_TRANSFER),
    ],
)
def test_the_pay_flow_sends_the_same_statements_for_any_selection(
    client_of, term_reseller, django_assert_num_queries, selected, credit, status
):
    ids = [
        factories.post(
            term_reseller, "invoice", "100.00", issue_date=days_ago(30 + i)
        ).pk
        for i in range(selected)
    ]
    factories.post(term_reseller, "credit_memo", credit)
    client = client_of(term_reseller)
    with django_assert_num_queries(PREVIEW_QUERIES):
        response = client.get(reverse("pay"), {"document": ids, "use_credit": "1"})
    assert response.status_code == 200
    data = {
        "document": ids,
        "use_credit": "1",
        "fingerprint": response.context["plan"].fingerprint,
        "idempotency_key": response.context["key"],
        "payment_method": "bank_transfer",
    }
    on_postgresql = connection.vendor == "postgresql"
    with django_assert_num_queries(CONFIRM_QUERIES[status][not on_postgresql]):
        response = client.post(reverse("pay"), data)
    assert response.status_code == 302
    operation = Operation.objects.get(reseller=term_reseller, kind="payment")
    assert operation.status == status


def test_a_removed_membership_counts_at_the_next_request(client_of, term_reseller):
    client = client_of(term_reseller)
    assert client.get(reverse("home")).status_code == 200
    ResellerMembership.objects.filter(reseller=term_reseller).delete()
    assert client.get(reverse("home")).status_code == 403


def test_a_page_reads_the_reseller_with_the_user(
    term_reseller, django_assert_num_queries
):
    client = Client()
    client.force_login(factories.reseller_user(term_reseller))
    # The session, and the user with its reseller.
    with django_assert_num_queries(2):
        response = client.get(reverse("help_paying"))
    assert response.status_code == 200
    assert response.context["reseller"] == term_reseller
    assert response.context["marketplace"] == term_reseller.marketplace


def test_a_user_loaded_otherwise_costs_one_statement_for_its_reseller(
    term_reseller, django_assert_num_queries
):
    user = User.objects.get(pk=factories.reseller_user(term_reseller).pk)
    with django_assert_num_queries(1):
        reseller = reseller_for_user(user)
        assert reseller == term_reseller
        assert reseller.marketplace == term_reseller.marketplace


def test_only_the_membership_backend_signs_in():
    # A second backend would check every wrong password twice.
    assert [
        path for path in settings.AUTHENTICATION_BACKENDS if "axes" not in path
    ] == ["reseller_panel.backends.MembershipBackend"]
