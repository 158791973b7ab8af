"""The API's JSON shapes (Pydantic), and how ledger rows become them.

Money is a decimal string with exactly the currency's minor units
(``"1234.50"`` in EUR, ``"1234"`` in JPY), never a float.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from ninja import Field, Schema
from pydantic import BeforeValidator

from billing.exceptions import CreditNotAllowed
from billing.models import Allocation, Document, DocumentKind, Operation, Reseller
from billing.money import quantize
from billing.selectors import AccountSummary, reseller_document_status
from billing.services import PaymentPlan

ZERO = Decimal(0)

Money = Annotated[
    str,
    Field(
        pattern=r"^[0-9]+(\.[0-9]{1,3})?$",
        description="Decimal string with the currency's minor units.",
        examples=["1234.50"],
    ),
]
DocumentId = Annotated[int, Field(ge=1, le=2**63 - 1)]
Kind = Literal["invoice", "debit_memo", "credit_memo", "payment"]
ResellerStatus = Literal[
    "open", "partly_paid", "paid", "unapplied", "partly_applied", "applied", "closed"
]
OperationStatus = Literal["completed", "charging", "declined", "awaiting_transfer"]
PaymentMethod = Literal["card", "bank_transfer"]
IdempotencyKey = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[!-~]{1,64}$")
]


def _date_text(value: object) -> object:
    """Accept a date only as written in ISO 8601 (``2026-01-31``).

    Pydantic would also read a number as a Unix time; a query string that
    says ``due_to=-3e-11`` is a mistake, not 1 January 1970.
    """
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("Enter a date as YYYY-MM-DD.")
    return value


IsoDate = Annotated[date, BeforeValidator(_date_text)]


def whole_number_text(value: object) -> object:
    if isinstance(value, str) and not re.fullmatch(r"[0-9]{1,9}", value):
        raise ValueError("Enter a whole number.")
    return value


def _boolean_text(value: object) -> object:
    if isinstance(value, str) and value not in ("true", "false"):
        raise ValueError("Enter true or false.")
    return value


# A query flag as the schema writes it: no "yes" or "1" for true.
QueryBool = Annotated[bool, BeforeValidator(_boolean_text)]


def money(amount: Decimal, currency: str) -> str:
    return str(quantize(amount, currency))


# --- account -----------------------------------------------------------------


class SupportContact(Schema):
    email: str
    phone: str


class AgingBucketOut(Schema):
    key: Literal["current", "1_30", "31_60", "61_90", "90_plus"]
    amount: Money
    count: int


class AccountOut(Schema):
    name: str
    currency: str
    payment_model: Literal["prepaid", "term"]
    marketplace: str
    credit_allowed: bool = Field(
        description="Whether payments may use the credit balance (use_credit)."
    )
    credit_balance: Money
    unapplied_payments: Money
    open_credit_memos: Money
    unpaid_count: int
    unpaid_total: Money
    overdue_count: int
    overdue_total: Money
    next_due_date: date | None
    aging: list[AgingBucketOut]
    support: SupportContact


def support_of(reseller: Reseller) -> dict:
    market = reseller.marketplace
    return {"email": market.support_email, "phone": market.support_phone}


def account_out(reseller: Reseller, summary: AccountSummary, allowed: bool) -> dict:
    cur = reseller.currency
    return {
        "name": reseller.name,
        "currency": cur,
        "payment_model": reseller.payment_model,
        "marketplace": reseller.marketplace.code,
        "credit_allowed": allowed,
        "credit_balance": money(summary.credit_balance, cur),
        "unapplied_payments": money(summary.unapplied_payments, cur),
        "open_credit_memos": money(summary.open_credit_memos, cur),
        "unpaid_count": summary.unpaid_count,
        "unpaid_total": money(summary.total_due, cur),
        "overdue_count": summary.overdue_count,
        "overdue_total": money(summary.overdue_amount, cur),
        "next_due_date": summary.next_due_date,
        "aging": [
            {"key": b.key, "amount": money(b.amount, cur), "count": b.count}
            for b in summary.aging
        ],
        "support": support_of(reseller),
    }


# --- documents ---------------------------------------------------------------


class DocumentRef(Schema):
    id: int
    number: str
    kind: Kind


class DocumentOut(DocumentRef):
    status: ResellerStatus = Field(
        description='The status the reseller sees: a credit memo is always "closed".'
    )
    issue_date: date
    due_date: date | None
    currency: str
    total: Money
    open_amount: Money | None = Field(
        description="Still unpaid or unapplied; null for a credit memo, whose "
        "value is part of the credit balance."
    )
    overdue: bool
    description: str


class DocumentPage(Schema):
    items: list[DocumentOut]
    next_cursor: str | None = Field(
        description="Pass as ``cursor`` for the next page; null on the last page."
    )


class DocumentAllocationOut(Schema):
    date: datetime
    credit: DocumentRef
    debit: DocumentRef
    amount: Money
    reversed_by_support: bool


class DocumentDetailOut(DocumentOut):
    allocations: list[DocumentAllocationOut]


def ref(document: Document) -> dict:
    return {"id": document.pk, "number": document.number, "kind": document.kind}


def document_out(document: Document, currency: str, today: date) -> dict:
    memo = document.kind == DocumentKind.CREDIT_MEMO
    return {
        **ref(document),
        "status": reseller_document_status(document),
        "issue_date": document.issue_date,
        "due_date": document.due_date,
        "currency": currency,
        "total": money(document.total, currency),
        "open_amount": None if memo else money(document.open_amount, currency),
        "overdue": bool(
            document.is_debit
            and document.open_amount > 0
            and document.due_date is not None
            and document.due_date < today
        ),
        "description": document.description,
    }


def allocation_out(allocation: Allocation, currency: str) -> dict:
    return {
        "date": allocation.created_at,
        "credit": ref(allocation.credit),
        "debit": ref(allocation.debit),
        "amount": money(allocation.amount, currency),
        "reversed_by_support": getattr(allocation, "reversal", None) is not None,
    }


# --- payments ----------------------------------------------------------------


class SelectionIn(Schema):
    document_ids: list[DocumentId] = Field(
        min_length=1, max_length=1000, description="Invoices and debit memos to pay."
    )
    use_credit: bool = Field(
        False,
        description="Pay with the credit balance first, where policy allows; "
        "prepaid accounts always do. The system decides how it is applied.",
    )


class PaymentIn(SelectionIn):
    payment_method: PaymentMethod = Field(
        description="How the part credit does not cover is paid."
    )
    fingerprint: str = Field(
        pattern=r"^[0-9a-f]{64}$",
        description="The fingerprint of the previewed plan.",
    )
    card_token: str | None = Field(
        None,
        pattern=r"^[A-Za-z][A-Za-z0-9_-]{5,127}$",
        description="The payment gateway's token for the card (never a card "
        "number); required when a card pays a remainder. Sandbox: "
        "tok_sandbox_success, tok_sandbox_declined, tok_sandbox_unavailable.",
    )


class PlanLineOut(Schema):
    document: DocumentRef
    open_amount: Money
    credit_applied: Money
    remainder: Money


class PlannedAllocationOut(Schema):
    credit: DocumentRef
    debit: DocumentRef
    amount: Money


class ContactSupportOut(Schema):
    detail: str
    available_credit: Money
    email: str
    phone: str


class PlanOut(Schema):
    currency: str
    use_credit: bool
    credit_allowed: bool
    credit_balance: Money
    total_selected: Money
    credit_applied: Money
    remainder: Money = Field(description="What the payment method pays.")
    fingerprint: str
    lines: list[PlanLineOut]
    allocations: list[PlannedAllocationOut]
    contact_support: ContactSupportOut | None = Field(
        description="Set when policy keeps the credit balance for support to apply."
    )


def plan_out(plan: PaymentPlan) -> dict:
    reseller = plan.reseller
    cur = reseller.currency
    contact = None
    if not plan.credit_allowed:
        contact = {
            "detail": str(CreditNotAllowed.message),
            "available_credit": money(plan.credit_balance, cur),
            **support_of(reseller),
        }
    return {
        "currency": cur,
        "use_credit": plan.use_credit,
        "credit_allowed": plan.credit_allowed,
        "credit_balance": money(plan.credit_balance, cur),
        "total_selected": money(plan.total_selected, cur),
        "credit_applied": money(plan.credit_applied, cur),
        "remainder": money(plan.remainder, cur),
        "fingerprint": plan.fingerprint,
        "lines": [
            {
                "document": ref(line.document),
                "open_amount": money(line.document.open_amount, cur),
                "credit_applied": money(line.credit_applied, cur),
                "remainder": money(line.remainder, cur),
            }
            for line in plan.lines
        ],
        "allocations": [
            {"credit": ref(credit), "debit": ref(debit), "amount": money(amount, cur)}
            for credit, debit, amount in plan.allocation_rows
        ],
        "contact_support": contact,
    }


class BankRow(Schema):
    label: str
    value: str


class TransferOut(Schema):
    amount: Money
    reference: str
    bank: list[BankRow]


class PaymentOut(Schema):
    id: int
    reference: str
    kind: Literal["payment", "auto_apply"]
    status: OperationStatus
    created_at: datetime
    completed_at: datetime | None
    payment_method: PaymentMethod | None
    document_ids: list[int]
    credit_applied: Money
    amount_charged: Money
    amount_left_open: Money
    message: str
    reverted_by_support: bool = Field(
        description="Support reverted everything this operation applied."
    )
    transfer: TransferOut | None = Field(
        description="Where to send the bank transfer, while it is awaited."
    )


class PaymentDetailOut(PaymentOut):
    allocations: list[DocumentAllocationOut]


class PaymentPage(Schema):
    items: list[PaymentOut]
    next_cursor: str | None


def payment_out(
    operation: Operation, bank_rows: Iterable[tuple[str, str]] = ()
) -> dict:
    """Return a payment or automatic application as the API shows it.

    A payment's figures come from its payment record (with its selected
    documents prefetched as ``selections``); an automatic application shows
    what it applied as credit.
    """
    cur = operation.reseller.currency
    payment = getattr(operation, "payment", None)
    credit = payment.credit_applied if payment else operation.amount
    charged = payment.amount_charged if payment else ZERO
    left_open = payment.amount_left_open if payment else ZERO
    applied = credit > 0 or charged > 0
    active = getattr(operation, "has_active_allocations", True)
    transfer = None
    if operation.status == Operation.Status.AWAITING_TRANSFER and payment:
        transfer = {
            "amount": money(left_open, cur),
            "reference": payment.transfer_reference,
            "bank": [{"label": label, "value": value} for label, value in bank_rows],
        }
    return {
        "id": operation.pk,
        "reference": operation.reference,
        "kind": operation.kind,
        "status": operation.status,
        "created_at": operation.created_at,
        "completed_at": operation.completed_at,
        "payment_method": (payment.method if payment else "") or None,
        "document_ids": (
            [row.document_id for row in payment.selections.all()] if payment else []
        ),
        "credit_applied": money(credit, cur),
        "amount_charged": money(charged, cur),
        "amount_left_open": money(left_open, cur),
        "message": payment.message if payment else "",
        "reverted_by_support": bool(applied and not active),
        "transfer": transfer,
    }


# --- problems ----------------------------------------------------------------


class FieldError(Schema):
    location: list[str | int]
    message: str


class Problem(Schema):
    """An RFC 9457 problem: ``code`` is the ledger's stable error code."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[FieldError] | None = None
    plan: PlanOut | None = None
    support: SupportContact | None = None
    request_id: str | None = None
