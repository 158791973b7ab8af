"""Dispute holds: support stops a debit document from being paid or applied.

A held document is skipped by automatic application and cannot be selected
for payment by the reseller (:mod:`billing.payment_plan`) until support
releases it. Staff can still link it by hand. Setting a hold that is set, or
releasing one that is not, changes nothing and records nothing, so a
double submit is harmless.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from billing.exceptions import DocumentNotFound, NotHoldable
from billing.locking import lock_reseller
from billing.models import DEBIT_KINDS, AuditEvent, Document, Reseller, Source
from billing.services.ledger_steps import (
    Actor,
    auto_apply,
    record_audit_event,
    require_reason,
    user_or_none,
)


def hold_document(
    *,
    document: Document,
    reason: str,
    actor: Actor | None,
    source: str = Source.CLASSIC_PANEL,
) -> Document:
    """Put a debit document on hold while it is disputed; return it."""
    reason = require_reason(reason)
    actor = user_or_none(actor)
    with transaction.atomic(durable=True):
        reseller = lock_reseller(document.reseller_id)
        document = _locked(reseller.pk, document.pk)
        if document.kind not in DEBIT_KINDS:
            raise NotHoldable()
        if document.is_held:
            return document
        document.held_at = timezone.now()
        document.held_by = actor
        document.hold_reason = reason
        _store_hold(reseller, document)
        record_audit_event(
            reseller=reseller,
            action=AuditEvent.Action.DOCUMENT_HELD,
            actor=actor,
            source=source,
            reason=reason,
            document=document,
            amount=document.open_amount,
            facts={"number": document.number},
        )
    return document


def release_hold(
    *,
    document: Document,
    reason: str,
    actor: Actor | None,
    source: str = Source.CLASSIC_PANEL,
) -> Document:
    """Release a dispute hold; a prepaid account's credit then applies to it."""
    reason = require_reason(reason)
    actor = user_or_none(actor)
    with transaction.atomic(durable=True):
        reseller = lock_reseller(document.reseller_id)
        document = _locked(reseller.pk, document.pk)
        if not document.is_held:
            return document
        document.held_at = None
        document.held_by = None
        document.hold_reason = ""
        _store_hold(reseller, document)
        record_audit_event(
            reseller=reseller,
            action=AuditEvent.Action.HOLD_RELEASED,
            actor=actor,
            source=source,
            reason=reason,
            document=document,
            amount=document.open_amount,
            facts={"number": document.number},
        )
        if reseller.is_prepaid:
            auto_apply(
                reseller=reseller, actor=actor, source=source, documents=[document]
            )
    return document


def _store_hold(reseller: Reseller, document: Document) -> None:
    """Write the document's hold as it now is, on the locked reseller only."""
    Document.objects.filter(pk=document.pk, reseller=reseller).update(
        held_at=document.held_at,
        held_by=document.held_by,
        hold_reason=document.hold_reason,
    )


def _locked(reseller_id: int, document_id: int) -> Document:
    try:
        return Document.objects.get(pk=document_id, reseller_id=reseller_id)
    except Document.DoesNotExist as exc:
        raise DocumentNotFound() from exc
