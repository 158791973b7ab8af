"""The pay flow's statements, counted exactly: a new one shows up here first.

Preview (GET): the session, the user, the reseller with its marketplace (one
statement, from the user's membership), the reseller again for the plan, the
selected documents and the open credits. The count does not depend on how
many documents are selected.

Confirm (POST): the session, the user, the reseller; then, in the payment's
transaction, the locked reseller, the idempotency key, the selected documents,
the open credits, the operation, the open amounts, the allocations and the
audit event, between the transaction's start and its end. A remainder left
for a bank transfer adds the transfer reference.
"""

import pytest
from django.urls import reverse

from billing.models import Operation
from tests import factories
from tests.reseller_panel.conftest import days_ago

PREVIEW_QUERIES = 6
CONFIRM_QUERIES = {
    Operation.Status.COMPLETED: 13,
    Operation.Status.AWAITING_TRANSFER: 14,
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
    with django_assert_num_queries(CONFIRM_QUERIES[status]):
        response = client.post(reverse("pay"), data)
    assert response.status_code == 302
    operation = Operation.objects.get(reseller=term_reseller, kind="payment")
    assert operation.status == status
