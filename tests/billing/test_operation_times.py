"""An operation completed as it is made reads as completed when it was made:
never before it was created (the Activity page and the admin show both)."""

import pytest

from billing import services
from billing.models import Operation
from tests.factories import pay, post

pytestmark = pytest.mark.django_db


def _linked(reseller, staff):
    memo = post(reseller, "credit_memo", "50.00")
    invoice = post(reseller, "invoice", "80.00")
    return services.link_documents(
        credit=memo, debit=invoice, amount="20.00", actor=staff, reason="test"
    )


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(
            lambda r, staff: pay(r, [post(r, "invoice", "30.00")], use_credit=True).pk,
            id="payment-from-credit",
        ),
        pytest.param(lambda r, staff: _linked(r, staff).operation_id, id="link"),
        pytest.param(
            lambda r, staff: (
                services.unlink_allocation(
                    allocation=_linked(r, staff), actor=staff, reason="wrong"
                ).operation_id
            ),
            id="unlink",
        ),
        pytest.param(
            lambda r, staff: (
                services.revert_operation(
                    operation=_linked(r, staff).operation, actor=staff, reason="wrong"
                ).pk
            ),
            id="revert",
        ),
        pytest.param(
            lambda r, staff: (
                services.issue_credit_memo(
                    reseller=r, amount="5.00", reason="goodwill", actor=staff
                ).operation_id
            ),
            id="credit-memo",
        ),
    ],
)
def test_an_operation_completed_as_it_is_made_has_one_instant(
    term_reseller, staff_user, make
):
    post(term_reseller, "credit_memo", "100.00")
    operation = Operation.objects.get(pk=make(term_reseller, staff_user))
    assert operation.status == Operation.Status.COMPLETED
    assert operation.completed_at == operation.created_at


def test_automatic_application_is_completed_when_it_is_made(prepaid_reseller):
    post(prepaid_reseller, "credit_memo", "100.00")
    invoice = post(prepaid_reseller, "invoice", "30.00")
    operation = Operation.objects.get(
        reseller=prepaid_reseller, kind=Operation.Kind.AUTO_APPLY
    )
    assert operation.allocations.get().debit == invoice
    assert operation.completed_at == operation.created_at


def test_a_payment_left_open_is_created_and_not_completed(term_reseller):
    operation = pay(term_reseller, [post(term_reseller, "invoice", "30.00")])
    operation.refresh_from_db()
    assert operation.status == Operation.Status.AWAITING_TRANSFER
    assert operation.created_at is not None
    assert operation.completed_at is None
