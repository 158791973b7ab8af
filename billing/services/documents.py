"""Posting documents to the ledger: from upstream billing, imports and staff."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from billing.exceptions import DuplicateDocumentNumber, InvalidDocument
from billing.models import (
    CREDIT_KINDS,
    DEBIT_KINDS,
    AuditEvent,
    Document,
    DocumentKind,
    Operation,
    Reseller,
    Source,
    completed_now,
)
from billing.money import parse_amount
from billing.payment_plan import auto_apply_plan, auto_apply_read
from billing.services._numbers import credit_memo_number, refuse_reserved_number
from billing.services.ledger_steps import (
    Actor,
    UnderLock,
    Writes,
    apply_credit,
    clean_idempotency_key,
    create_document,
    lock_and_read,
    lock_and_replay,
    read_under_lock,
    record_audit_event,
    request_hash,
    require_reason,
    user_or_none,
)

MAX_NUMBER_LENGTH = 64
# The kinds a document may have (read on every posted or imported row).
KINDS = frozenset(DocumentKind.values)


@dataclass(frozen=True)
class NewDocument:
    """A document to post, checked by :func:`clean_document`."""

    reseller: Reseller
    kind: str
    number: str
    total: Decimal
    issue_date: date
    due_date: date | None
    description: str = ""


def clean_document(
    *,
    reseller: Reseller,
    kind: str,
    number: str,
    total: Decimal | str | int,
    issue_date: date,
    due_date: date | None = None,
    description: str = "",
) -> NewDocument:
    """Return the document to post, or refuse it (nothing is read or written).

    Numbers of the system's own series (``CARD-``, ``CM-``, ``BANK-``) are
    refused: only the system issues them.
    """
    if kind not in KINDS:
        raise InvalidDocument(_("Unknown document kind."), code="invalid_kind")
    number = (number or "").strip()
    if not number or len(number) > MAX_NUMBER_LENGTH:
        raise InvalidDocument(
            _("A document number is required (64 characters at most)."),
            code="invalid_number",
        )
    refuse_reserved_number(number)
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
    return NewDocument(
        reseller=reseller,
        kind=kind,
        number=number,
        total=parse_amount(total, reseller.currency),
        issue_date=issue_date,
        due_date=due_date,
        description=description,
    )


def post_document(
    *,
    reseller: Reseller,
    kind: str,
    number: str,
    total: Decimal | str | int,
    issue_date: date,
    due_date: date | None = None,
    description: str = "",
    actor: Actor | None = None,
    source: str = Source.SYSTEM,
) -> Document:
    """Add a document to the reseller's ledger, fully open.

    For a prepaid reseller the available credit is applied in the same
    transaction, so the returned document may already be (partly) paid.
    """
    new = clean_document(
        reseller=reseller,
        kind=kind,
        number=number,
        total=total,
        issue_date=issue_date,
        due_date=due_date,
        description=description,
    )
    actor = user_or_none(actor)
    try:
        with transaction.atomic(durable=True):
            locked, read = lock_and_read(
                reseller, **_posting_read(reseller, new.kind, new.number)
            )
            if locked.is_prepaid != reseller.is_prepaid:
                # The caller's copy of the account is out of date: what the
                # posting reads depends on its payment model as it is now.
                read = read_under_lock(
                    locked, **_posting_read(locked, new.kind, new.number)
                )
            document = _create_locked(
                reseller=locked,
                kind=new.kind,
                number=new.number,
                total=new.total,
                issue_date=new.issue_date,
                due_date=new.due_date,
                description=new.description,
                actor=actor,
                source=source,
                read=read,
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
    actor: Actor,
    issue_date: date | None = None,
    source: str = Source.CLASSIC_PANEL,
    idempotency_key: str | None = None,
) -> Document:
    """Issue a credit memo to the reseller, numbered ``CM-US-2026-0001``.

    The number is the next of the marketplace's series for the issue year;
    ``CM-`` numbers are the system's own, so no imported document can take it.

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
        reseller, replay = lock_and_replay(
            reseller.pk, key=key, kind=Operation.Kind.CREDIT_MEMO, digest=digest
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
            **completed_now(),
        )
        issued_on = issue_date or timezone.localdate()
        return _create_locked(
            reseller=reseller,
            kind=DocumentKind.CREDIT_MEMO,
            number=credit_memo_number(reseller, issued_on),
            total=total,
            issue_date=issued_on,
            due_date=None,
            description=reason,
            actor=actor,
            source=source,
            action=AuditEvent.Action.CREDIT_MEMO_ISSUED,
            reason=reason,
            operation=operation,
        )


def _posting_read(reseller: Reseller, kind: str, number: str) -> dict:
    """Return what posting a document reads under the lock, as the keyword
    arguments of :func:`read_under_lock`."""
    prepaid = reseller.is_prepaid
    return {
        "number": number,
        "plan": (
            auto_apply_read(reseller, with_new_credit=kind in CREDIT_KINDS)
            if prepaid
            else None
        ),
        "new": [Document, Operation] if prepaid else [Document],
    }


def _create_locked(
    *,
    reseller: Reseller,
    kind: str,
    number: str,
    total: Decimal,
    issue_date: date,
    due_date: date | None,
    description: str,
    actor: Actor | None,
    source: str,
    action: str = AuditEvent.Action.DOCUMENT_POSTED,
    reason: str = "",
    operation: Operation | None = None,
    read: UnderLock | None = None,
) -> Document:
    """Post the document under the lock: one read, then its writes together.

    The read (:func:`_posting_read`, sent here unless the caller sent it with
    the lock) checks the number, reserves the new rows' ids and, for a prepaid
    account, reads what automatic application plans from.
    """
    prepaid = reseller.is_prepaid
    if read is None:
        read = read_under_lock(reseller, **_posting_read(reseller, kind, number))
    if read.number_taken:
        raise DuplicateDocumentNumber()
    writes = Writes()
    document = create_document(
        reseller,
        writes=writes,
        pk=read.ids[0],
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
    record_audit_event(
        reseller=reseller,
        action=action,
        actor=actor,
        source=source,
        reason=reason,
        operation=operation,
        document=document,
        amount=total,
        facts={"kind": kind, "number": number, "amount": str(total)},
        writes=writes,
    )
    if prepaid:
        # The reseller's credit pays what it can at once.
        credits, debits, planned = auto_apply_plan(
            reseller, posted=document, read=(read.credits, read.documents)
        )
        apply_credit(
            reseller=reseller,
            credits=credits,
            debits=debits,
            planned=planned,
            actor=actor,
            source=source,
            writes=writes,
            operation_id=read.ids[1],
        )
    writes.send()
    return document
