"""Errors the ledger raises. Each has a stable ``code`` that callers and tests
match on, and a message written for the person who caused it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from billing.payment_plan import PaymentPlan


class BillingError(Exception):
    """A request the ledger refused; nothing was changed."""

    code = "billing_error"
    message = _("The request could not be processed.")

    def __init__(self, message: str | None = None, *, code: str | None = None):
        self.message = message if message is not None else self.message
        if code is not None:
            self.code = code
        super().__init__(str(self.message))


class InvalidAmount(BillingError):
    code = "invalid_amount"
    message = _("Enter a valid amount.")
    code_too_many_digits = "too_many_decimals"
    too_many_digits = _("{currency} amounts have at most {places} decimals.")
    code_not_positive = "amount_not_positive"
    not_positive = _("The amount must be greater than zero.")
    code_too_large = "amount_too_large"
    too_large = _("Amounts are at most {limit}.")


class InvalidDocument(BillingError):
    code = "invalid_document"
    message = _("The document is not valid.")


class DuplicateDocumentNumber(BillingError):
    code = "duplicate_number"
    message = _("A document with this number already exists in this marketplace.")


class ReservedDocumentNumber(BillingError):
    """A number of a series the system issues itself (card payments, …)."""

    code = "reserved_number"
    message = _(
        "Numbers starting with {prefixes} are issued by the system; "
        "give the document another number."
    )


class DocumentNotFound(BillingError):
    """A document id that is not the reseller's (or does not exist)."""

    code = "document_not_found"
    message = _("Document not found.")


class DocumentNotPayable(BillingError):
    code = "document_not_payable"
    message = _("Only invoices and debit memos with an open amount can be paid.")


class DocumentOnHold(BillingError):
    """A debit document support put on hold while it is disputed."""

    code = "document_on_hold"
    message = _("{document} is on hold while it is disputed. Contact support.")


class NotHoldable(BillingError):
    code = "not_holdable"
    message = _("Only invoices and debit memos can be put on hold.")


class NothingSelected(BillingError):
    code = "nothing_selected"
    message = _("Select at least one document to pay.")


class CreditNotAllowed(BillingError):
    """The reseller's marketplace does not let its term accounts use credit."""

    code = "credit_not_allowed"
    message = _(
        "Your credit balance cannot be applied from the panel. "
        "Please contact support to use it."
    )


class InvalidPaymentMethod(BillingError):
    code = "invalid_payment_method"
    message = _("Choose a payment method: card or bank transfer.")


class CardRequired(BillingError):
    code = "card_required"
    message = _("Enter the card to charge.")


class InvalidIdempotencyKey(BillingError):
    code = "invalid_idempotency_key"
    message = _(
        "This confirmation is missing its one-time key. "
        "Review the request and confirm it again."
    )


class IdempotencyKeyReused(BillingError):
    code = "idempotency_key_reused"
    message = _(
        "This payment request was already submitted with different choices. "
        "Start a new payment."
    )


class PaymentInProgress(BillingError):
    code = "payment_in_progress"
    message = _(
        "A card payment for some of these documents is still being processed. "
        "Please wait a moment and reload."
    )


class StalePreview(BillingError):
    """Balances changed after the preview; the new plan is attached."""

    code = "stale_preview"
    message = _(
        "Your balances changed since you reviewed this payment. "
        "Nothing was charged or applied; please review the updated amounts."
    )

    def __init__(self, plan: PaymentPlan):
        super().__init__()
        self.plan = plan


class GatewayUnavailable(BillingError):
    code = "gateway_unavailable"
    message = _(
        "The card processor did not answer. Nothing more was charged; "
        "retry the same payment to finish it."
    )


class ReasonRequired(BillingError):
    code = "reason_required"
    message = _("Give a reason: it is kept in the audit trail.")


class DifferentResellers(BillingError):
    code = "different_resellers"
    message = _("Both documents must belong to the same reseller.")


class WrongDocumentKind(BillingError):
    code = "wrong_document_kind"
    message = _("Link a payment or credit memo to an invoice or debit memo.")


class AmountExceedsOpen(BillingError):
    code = "amount_exceeds_open"
    message = _("The amount is more than the open amount of {document}.")


class AlreadyReversed(BillingError):
    code = "already_reversed"
    message = _("This allocation has already been unlinked.")


class NothingToRevert(BillingError):
    code = "nothing_to_revert"
    message = _("This operation has no applied amounts left to revert.")


class NotRevertible(BillingError):
    code = "not_revertible"
    message = _("Only payments, automatic applications and links can be reverted.")


class UnsupportedCurrency(BillingError):
    code = "unsupported_currency"
    message = _("This currency is not supported.")


class CurrencyMismatch(BillingError):
    code = "currency_mismatch"
    message = _("The document's currency differs from the reseller's currency.")
