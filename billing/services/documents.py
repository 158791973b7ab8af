"""Posting documents to the ledger: from upstream billing, imports and staff."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.exceptions import DuplicateDocumentNumber, InvalidDocument
from billing.locking import lock_reseller
from billing.models import (
    CREDIT_KINDS,
    DEBIT_KINDS,
    AuditEvent,
    Document,
    DocumentKind,
    Operation,
    Reseller,
    Source,
)
from billing.money import format_money, parse_amount
from billing.services._ledger import (
    User,
    auto_apply,
    clean_idempotency_key,
    create_document,
    record,
    replayed_operation,
    request_hash,
    require_reason,
    user_or_none,
)

MAX_NUMBER_LENGTH = 64


def post_document(
    *,
    reseller: Reseller,
    kind: str,
    number: str,
    total: Decimal | str | int,
    issue_date: date,
    due_date: date | None = None,
    description: str = "",
    actor: User | None = None,
    source: str = Source.SYSTEM,
) -> Document:
    """Add a document to the reseller's ledger, fully open.

    For a prepaid reseller the available credit is applied in the same
    transaction, so the returned document may already be (partly) paid.
    """
    if kind not in DocumentKind.values:
        raise InvalidDocument(_("Unknown document kind."), code="invalid_kind")
    number = (number or "").strip()
    if not number or len(number) > MAX_NUMBER_LENGTH:
        raise InvalidDocument(
            _("A document number is required (64 characters at most)."),
            code="invalid_number",
        )
    if not isinstance(issue_date, date):
        raise InvalidDocument(
            _("The issue date is required."), code="invalid_issue_date"
        )
    if due_date is not None and (
        kind in CREDIT_KINDS or not isinstance(due_date, date) or due_date < issue_date
    ):
        raise InvalidDocument(
            _(
                "Only invoices and debit memos have a due date, "
                "on or after the issue date."
            ),
            code="invalid_due_date",
        )
    amount = parse_amount(total, reseller.currency)
    actor = user_or_none(actor)
    try:
        with transaction.atomic(durable=True):
            reseller = lock_reseller(reseller.pk)
            document = _create_locked(
                reseller=reseller,
                kind=kind,
                number=number,
                total=amount,
                issue_date=issue_date,
                due_date=due_date,
                description=description,
                actor=actor,
                source=source,
            )
    except IntegrityError as exc:
        # Another reseller of the marketplace took the number concurrently.
        raise DuplicateDocumentNumber() from exc
    return document


def issue_credit_memo(
    *,
    reseller: Reseller,
    amount: Decimal | str | int,
    reason: str,
    actor: User,
    issue_date: date | None = None,
    source: str = Source.CLASSIC_PANEL,
    idempotency_key: str | None = None,
) -> Document:
    """Issue a credit memo to the reseller, numbered ``CM-<reseller>-<n>``.

    It adds to the reseller's credit balance; a prepaid reseller's open
    documents are paid from it at once. With an ``idempotency_key``, a
    replayed request returns the first credit memo and issues nothing more.
    """
    reason = require_reason(reason)
    total = parse_amount(amount, reseller.currency)
    key = clean_idempotency_key(idempotency_key, required=False)
    digest = request_hash(total, reason, issue_date)
    actor = user_or_none(actor)
    with transaction.atomic(durable=True):
        reseller = lock_reseller(reseller.pk)
        replay = replayed_operation(
            reseller=reseller, key=key, kind=Operation.Kind.CREDIT_MEMO, digest=digest
        )
        if replay is not None:
            return Document.objects.get(operation=replay, reseller=reseller)
        operation = Operation.objects.create(
            reseller=reseller,
            kind=Operation.Kind.CREDIT_MEMO,
            actor=actor,
            source=source,
            reason=reason,
            idempotency_key=key,
            request_hash=digest,
            completed_at=timezone.now(),
        )
        prefix = f"CM-{reseller.pk}-"
        sequence = (
            Document.objects.filter(
                reseller=reseller, number__startswith=prefix
            ).count()
            + 1
        )
        return _create_locked(
            reseller=reseller,
            kind=DocumentKind.CREDIT_MEMO,
            number=f"{prefix}{sequence:04d}",
            total=total,
            issue_date=issue_date or timezone.localdate(),
            due_date=None,
            description=reason,
            actor=actor,
            source=source,
            action=AuditEvent.Action.CREDIT_MEMO_ISSUED,
            reason=reason,
            operation=operation,
        )


def _create_locked(
    *,
    reseller: Reseller,
    kind: str,
    number: str,
    total: Decimal,
    issue_date: date,
    due_date: date | None,
    description: str,
    actor: User | None,
    source: str,
    action: str = AuditEvent.Action.DOCUMENT_POSTED,
    reason: str = "",
    operation: Operation | None = None,
) -> Document:
    if Document.objects.filter(
        marketplace_id=reseller.marketplace_id, number=number
    ).exists():
        raise DuplicateDocumentNumber()
    document = create_document(
        reseller,
        kind=kind,
        number=number,
        issue_date=issue_date,
        due_date=due_date if kind in DEBIT_KINDS else None,
        total=total,
        open_amount=total,
        description=description[:500],
        source=source,
        operation=operation,
    )
    record(
        reseller=reseller,
        action=action,
        actor=actor,
        source=source,
        reason=reason,
        operation=operation,
        document=document,
        amount=total,
        summary=f"{document.get_kind_display()} {number} posted for "
        f"{format_money(total, reseller.currency)}",
    )
    if reseller.is_prepaid and auto_apply(
        reseller=reseller, actor=actor, source=source
    ):
        document.open_amount = (
            Document.objects.filter(reseller=reseller, pk=document.pk)
            .values_list("open_amount", flat=True)
            .get()
        )
    return document
