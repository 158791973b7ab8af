"""Every write to the ledger: one function per action, one transaction each.

Each service locks the reseller first, validates against fresh balances, and
writes its audit entry in the same transaction. Refusals raise a
:class:`billing.exceptions.BillingError` and change nothing.
"""

from billing.payment_plan import (
    PaymentPlan,
    PlanLine,
    credit_allowed,
    preview_payment,
)
from billing.services.documents import issue_credit_memo, post_document
from billing.services.holds import hold_document, release_hold
from billing.services.links import link_documents, revert_operation, unlink_allocation
from billing.services.payments import pay_documents, settle_payment

__all__ = [
    "PaymentPlan",
    "PlanLine",
    "credit_allowed",
    "hold_document",
    "issue_credit_memo",
    "link_documents",
    "pay_documents",
    "post_document",
    "preview_payment",
    "release_hold",
    "revert_operation",
    "settle_payment",
    "unlink_allocation",
]
