"""Every read of the ledger, already scoped to a reseller or to a staff user.

Views never build ledger querysets themselves: they ask here, so a reseller
can only ever see its own rows and staff only their marketplaces' resellers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import (
    Count,
    Exists,
    F,
    FilteredRelation,
    Max,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Sum,
    Value,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _

from billing import rows
from billing.fields import AmountField
from billing.models import (
    CREDIT_KINDS,
    DEBIT_KINDS,
    Allocation,
    AuditEvent,
    Document,
    DocumentKind,
    Marketplace,
    Operation,
    Payment,
    PaymentDocument,
    Reseller,
    ResellerMembership,
    Reversal,
    same_reseller,
)

ZERO = Decimal(0)
# "Something is left open": the generated column the open documents' partial
# indexes are conditioned on (``WHERE is_open``). A filter on ``True`` is
# written as the bare column, no parameter, so a prepared statement's generic
# plan can prove it implies the index's condition (a bound ``open_amount >
# $1`` could not, and would walk the account's whole history).
HAS_OPEN_AMOUNT = Q(is_open=True)
# "A payment or a credit memo", with the kinds written into the SQL for the
# same reason: the open credits have an index of their own, ``WHERE kind IN
# ('payment', 'credit_memo')``, which a bound ``kind IN ($2, $3)`` cannot use.
IS_CREDIT = Q(kind__in=RawSQL(rows.names(CREDIT_KINDS), ()))
# "A payment waiting for its card charge", for the index of those.
IS_CHARGING = Q(status=RawSQL(rows.names([Operation.Status.CHARGING]), ()))
# The user of a request: signed in or not (an anonymous user sees nothing).
RequestUser = AbstractBaseUser | AnonymousUser


# --- who sees what -----------------------------------------------------------


def reseller_for_user(user: RequestUser) -> Reseller | None:
    """Return the reseller account a reseller-panel user belongs to, or None.

    A user loaded with its membership (as the sign-in backend loads it) costs
    no statement; another costs one, from the membership (a user has one at
    most), with the reseller and the marketplace that every panel page shows.
    """
    if not user.is_authenticated:
        return None
    loaded = ResellerMembership.user.field.remote_field
    if loaded.is_cached(user):
        membership = loaded.get_cached_value(user)
        return membership.reseller if membership is not None else None
    memberships = ResellerMembership.objects.select_related(
        "reseller__marketplace"
    ).filter(user_id=user.pk)[:1]
    return next((membership.reseller for membership in memberships), None)


def marketplaces_for_staff(user: RequestUser) -> QuerySet[Marketplace]:
    """Return the marketplaces a classic-panel user works on (all for superusers)."""
    if not user.is_authenticated or not user.is_active:
        return Marketplace.objects.none()
    if user.is_superuser:
        return Marketplace.objects.all()
    return Marketplace.objects.filter(staff=user)


def resellers_for_staff(user: RequestUser) -> QuerySet[Reseller]:
    """Return the resellers of the staff user's marketplaces."""
    return Reseller.objects.select_related("marketplace").filter(
        marketplace__in=marketplaces_for_staff(user)
    )


# --- documents ---------------------------------------------------------------


def documents_for_reseller(reseller: Reseller) -> QuerySet[Document]:
    """Return every AR document of the reseller, oldest first."""
    return Document.objects.filter(reseller=reseller).order_by(
        "issue_date", "number", "id"
    )


def unpaid_documents(reseller: Reseller) -> QuerySet[Document]:
    """Return invoices and debit memos with an open amount, oldest first."""
    return documents_for_reseller(reseller).filter(
        HAS_OPEN_AMOUNT, kind__in=DEBIT_KINDS
    )


def overdue_condition(today: date) -> Q:
    """Return the queryset condition for overdue documents.

    A document is overdue when it is an invoice or debit memo with something
    left to pay and its due date is before ``today``; one without a due date
    never is.
    """
    return HAS_OPEN_AMOUNT & Q(kind__in=DEBIT_KINDS, due_date__lt=today)


def is_overdue(document: Document, *, today: date) -> bool:
    """Return whether ``document`` is overdue on ``today`` (see
    :func:`overdue_condition`)."""
    return bool(
        document.kind in DEBIT_KINDS
        and document.open_amount > 0
        and document.due_date is not None
        and document.due_date < today
    )


def open_credits(reseller: Reseller) -> QuerySet[Document]:
    """Return payments and credit memos with something left to apply."""
    return documents_for_reseller(reseller).filter(HAS_OPEN_AMOUNT, IS_CREDIT)


def _amount_sum(expression, **kwargs) -> Coalesce:
    return Coalesce(
        Sum(expression, **kwargs),
        Value(0, output_field=AmountField()),
        output_field=AmountField(),
    )


def credit_balance(reseller: Reseller) -> Decimal:
    """Return the open amounts of the reseller's payments and credit memos."""
    return open_credits(reseller).aggregate(total=_amount_sum("open_amount"))["total"]


class DocumentStatus:
    """The status labels of documents, as staff and as resellers see them."""

    OPEN = "open"
    PARTLY_PAID = "partly_paid"
    PAID = "paid"
    UNAPPLIED = "unapplied"
    PARTLY_APPLIED = "partly_applied"
    APPLIED = "applied"
    CLOSED = "closed"

    labels = {
        OPEN: _("Open"),
        PARTLY_PAID: _("Partly paid"),
        PAID: _("Paid"),
        UNAPPLIED: _("Unapplied"),
        PARTLY_APPLIED: _("Partly applied"),
        APPLIED: _("Applied"),
        CLOSED: _("Closed"),
    }


def document_status(document: Document) -> str:
    """Return the document's real status, as support staff see it."""
    if document.is_debit:
        untouched, partly, done = (
            DocumentStatus.OPEN,
            DocumentStatus.PARTLY_PAID,
            DocumentStatus.PAID,
        )
    else:
        untouched, partly, done = (
            DocumentStatus.UNAPPLIED,
            DocumentStatus.PARTLY_APPLIED,
            DocumentStatus.APPLIED,
        )
    if document.open_amount == 0:
        return done
    if document.open_amount == document.total:
        return untouched
    return partly


def reseller_document_status(document: Document) -> str:
    """Return the status a reseller sees: a credit memo is always "Closed".

    A credit memo's value lives in the credit balance, which the reseller
    uses as a whole; the memo itself is not something the reseller manages.
    """
    if document.kind == DocumentKind.CREDIT_MEMO:
        return DocumentStatus.CLOSED
    return document_status(document)


def status_filter(status: str, *, for_reseller: bool) -> Q:
    """Return the queryset condition for documents showing ``status``."""
    memo = Q(kind=DocumentKind.CREDIT_MEMO)
    debit = Q(kind__in=DEBIT_KINDS)
    credit = Q(kind__in=CREDIT_KINDS)
    if for_reseller:
        if status == DocumentStatus.CLOSED:
            return memo
        credit &= ~memo
    untouched = Q(open_amount=F("total"))
    done = Q(open_amount=0)
    partly = HAS_OPEN_AMOUNT & Q(open_amount__lt=F("total"))
    conditions = {
        DocumentStatus.OPEN: debit & untouched,
        DocumentStatus.PARTLY_PAID: debit & partly,
        DocumentStatus.PAID: debit & done,
        DocumentStatus.UNAPPLIED: credit & untouched,
        DocumentStatus.PARTLY_APPLIED: credit & partly,
        DocumentStatus.APPLIED: credit & done,
    }
    return conditions.get(status, Q(pk__in=[]))


def allocations_for_document(document: Document) -> QuerySet[Allocation]:
    """Return every allocation touching the document, reversed ones included."""
    # An allocation applies a credit-kind document to a debit-kind one.
    side = "credit" if document.kind in CREDIT_KINDS else "debit"
    return with_reversals(
        Allocation.objects.filter(
            same_reseller("credit", "debit", "operation"),
            reseller_id=document.reseller_id,
            **{side: document},
        )
        .select_related("credit", "debit", "operation", "created_by")
        .order_by("created_at", "id"),
        document.reseller_id,
    )


def with_reversals(
    allocations: QuerySet[Allocation], reseller_id: int
) -> QuerySet[Allocation]:
    """Add each allocation's reversal, if it was unlinked, with its actor.

    Read apart and restricted to the reseller, like every join between the
    reseller's rows: an allocation without one would need an outer join,
    which a database sharded by reseller routes only when its ``ON`` clause
    names the reseller.
    """
    return allocations.prefetch_related(
        Prefetch(
            "reversal",
            queryset=Reversal.objects.filter(reseller_id=reseller_id).select_related(
                "actor"
            ),
        )
    )


def without_reversal(allocations: QuerySet[Allocation]) -> QuerySet[Allocation]:
    """Keep the allocations not unlinked."""
    return with_own_reversal(allocations).filter(own_reversal__isnull=True)


def with_own_reversal(allocations: QuerySet[Allocation]) -> QuerySet[Allocation]:
    """Make each allocation's reversal, if any, available as ``own_reversal``:
    looked for among the reseller's rows (the condition in the outer join's
    ``ON`` clause, see ``with_reversals``)."""
    return allocations.alias(
        own_reversal=FilteredRelation("reversal", condition=same_reseller("reversal"))
    )


def operations_for_reseller(reseller: Reseller) -> QuerySet[Operation]:
    """Return the reseller's operations, newest first, with reversal state
    and, for a payment, its payment record (``operation.payment``)."""
    return (
        Operation.objects.filter(reseller=reseller)
        .select_related("actor", "reseller")
        # A payment record only a payment has: read apart, on the reseller
        # (see ``with_reversals``).
        .prefetch_related(
            Prefetch("payment", queryset=Payment.objects.filter(reseller=reseller))
        )
        .annotate(
            has_active_allocations=Exists(
                without_reversal(
                    Allocation.objects.filter(
                        operation=OuterRef("pk"), reseller=OuterRef("reseller")
                    )
                )
            )
        )
    )


def payments_left_charging(started_before: datetime) -> QuerySet[Operation]:
    """Return card payments still charging that started before the given time
    (``settle_payments`` asks the gateway about them), of every reseller.

    Read through the index of charging operations, a handful at any time,
    with the status written into the SQL so that a generic plan can use it
    too: the index on the creation time alone would walk every operation
    ever made before the cut-off.
    """
    return Operation.objects.filter(
        IS_CHARGING,
        kind=Operation.Kind.PAYMENT,
        created_at__lte=started_before,
    ).select_related("reseller")


@dataclass(frozen=True)
class Correction:
    """What support took back of an operation's allocations after it ran."""

    applied: Decimal
    reopened: Decimal
    last_at: datetime | None

    REVERTED = "reverted"
    PARTLY_REVERTED = "partly_reverted"

    @property
    def state(self) -> str:
        """Return "reverted", "partly_reverted" or "" (nothing taken back)."""
        if self.reopened <= 0:
            return ""
        if self.reopened >= self.applied:
            return self.REVERTED
        return self.PARTLY_REVERTED


def operation_corrections(
    reseller: Reseller, operations: Iterable[Operation]
) -> dict[int, Correction]:
    """Return, per operation that support changed since, what it took back.

    An operation is reverted when every allocation it made was unlinked
    (by a revert or one by one), partly reverted when some were. Operations
    nothing was taken back from are left out. One query for any number.
    """
    ids = [operation.pk for operation in operations]
    taken_back = (
        with_own_reversal(
            Allocation.objects.filter(reseller=reseller, operation_id__in=ids)
        )
        .order_by()
        .values("operation_id")
        .annotate(
            applied=_amount_sum("amount"),
            reopened=_amount_sum("amount", filter=Q(own_reversal__isnull=False)),
            last_at=Max("own_reversal__created_at"),
        )
        .filter(reopened__gt=0)
    )
    return {
        row["operation_id"]: Correction(
            applied=row["applied"], reopened=row["reopened"], last_at=row["last_at"]
        )
        for row in taken_back
    }


def with_selected_documents(
    operations: QuerySet[Operation], reseller: Reseller
) -> QuerySet[Operation]:
    """Add each payment's selected documents, in order, as
    ``operation.payment.selections`` (one query for the page)."""
    return operations.prefetch_related(
        Prefetch(
            "payment__selections",
            queryset=PaymentDocument.objects.filter(reseller=reseller),
        )
    )


def selected_documents(operation: Operation) -> QuerySet[Document]:
    """Return the documents a payment operation selected (none for other kinds)."""
    return Document.objects.filter(
        reseller_id=operation.reseller_id,
        payment_selections__payment_id=operation.pk,
        payment_selections__reseller_id=operation.reseller_id,
    )


def documents_of_receipt(
    operation: Operation, allocations: Iterable[Allocation]
) -> list[Document]:
    """Return the documents a payment was asked to pay and those the
    operation's ``allocations`` paid (an automatic application selects none),
    in the order of the reseller's documents."""
    documents = []
    if operation.kind == Operation.Kind.PAYMENT:
        documents = list(selected_documents(operation))
    missing = {a.debit_id for a in allocations} - {doc.pk for doc in documents}
    if missing:
        documents += documents_for_reseller(operation.reseller).filter(pk__in=missing)
    return sorted(documents, key=lambda doc: (doc.issue_date, doc.number, doc.pk))


def allocations_of_operation(operation: Operation) -> QuerySet[Allocation]:
    """Return what an operation applied, with reversal state."""
    return with_reversals(
        Allocation.objects.filter(
            same_reseller("credit", "debit"),
            operation=operation,
            reseller_id=operation.reseller_id,
        )
        .select_related("credit", "debit")
        .order_by("id"),
        operation.reseller_id,
    )


def reversals_of_operation(operation: Operation) -> QuerySet[Reversal]:
    """Return what an unlink or revert operation reversed."""
    return (
        Reversal.objects.filter(
            same_reseller("allocation", "allocation__credit", "allocation__debit"),
            operation=operation,
            reseller_id=operation.reseller_id,
        )
        .select_related("allocation__credit", "allocation__debit")
        .order_by("id")
    )


def audit_events_for_reseller(reseller: Reseller) -> QuerySet[AuditEvent]:
    """Return the reseller's audit trail, newest first."""
    # An entry's operation and document, when it has them, are read apart
    # on the reseller (see ``with_reversals``).
    return (
        AuditEvent.objects.filter(reseller=reseller)
        .select_related("actor")
        .prefetch_related(
            Prefetch("operation", queryset=Operation.objects.filter(reseller=reseller)),
            Prefetch("document", queryset=Document.objects.filter(reseller=reseller)),
        )
    )


# --- the account at a glance -------------------------------------------------

AGING_BUCKETS = (
    ("current", _("Not yet due"), None, 0),
    ("1_30", _("1–30 days"), 1, 30),
    ("31_60", _("31–60 days"), 31, 60),
    ("61_90", _("61–90 days"), 61, 90),
    ("90_plus", _("Over 90 days"), 91, None),
)


@dataclass(frozen=True)
class AgingBucket:
    key: str
    label: str
    amount: Decimal
    count: int


@dataclass(frozen=True)
class AccountSummary:
    """What the reseller owes and can use, for the Home page and support."""

    currency: str
    unpaid_count: int
    total_due: Decimal
    overdue_count: int
    overdue_amount: Decimal
    next_due_date: date | None
    credit_balance: Decimal
    unapplied_payments: Decimal
    open_credit_memos: Decimal
    aging: tuple[AgingBucket, ...]


def account_summary(reseller: Reseller, *, today: date) -> AccountSummary:
    """Return the reseller's figures in two aggregate queries."""
    unpaid = unpaid_documents(reseller).order_by()
    aggregates = {
        "count": Count("id"),
        "due": _amount_sum("open_amount"),
        "overdue_count": Count("id", filter=overdue_condition(today)),
        "overdue": _amount_sum("open_amount", filter=overdue_condition(today)),
        "next_due": Min("due_date", filter=Q(due_date__gte=today)),
    }
    for key, _label, low, high in AGING_BUCKETS:
        condition = _aging_condition(today, low, high)
        aggregates[f"aging_{key}"] = _amount_sum("open_amount", filter=condition)
        aggregates[f"aging_{key}_count"] = Count("id", filter=condition)
    debit = unpaid.aggregate(**aggregates)
    credit = (
        open_credits(reseller)
        .order_by()
        .aggregate(
            payments=_amount_sum("open_amount", filter=Q(kind=DocumentKind.PAYMENT)),
            memos=_amount_sum("open_amount", filter=Q(kind=DocumentKind.CREDIT_MEMO)),
        )
    )
    return AccountSummary(
        currency=reseller.currency,
        unpaid_count=debit["count"],
        total_due=debit["due"],
        overdue_count=debit["overdue_count"],
        overdue_amount=debit["overdue"],
        next_due_date=debit["next_due"],
        credit_balance=credit["payments"] + credit["memos"],
        unapplied_payments=credit["payments"],
        open_credit_memos=credit["memos"],
        aging=tuple(
            AgingBucket(
                key, str(label), debit[f"aging_{key}"], debit[f"aging_{key}_count"]
            )
            for key, label, _low, _high in AGING_BUCKETS
        ),
    )


def _aging_condition(today: date, low: int | None, high: int | None) -> Q:
    """Documents ``low``..``high`` days past due (None: not yet due / open end).

    A document without a due date counts as not yet due.
    """
    if low is None:
        return Q(due_date__isnull=True) | Q(due_date__gte=today)
    condition = Q(due_date__lte=today - timedelta(days=low))
    if high is not None:
        condition &= Q(due_date__gte=today - timedelta(days=high))
    return condition


# --- classic panel: staff-scoped lookups -------------------------------------


def reseller_for_staff(user: RequestUser, reseller_id: int) -> Reseller:
    """Return the reseller if it is in one of the staff user's marketplaces.

    Raise ``Reseller.DoesNotExist`` otherwise, so a reseller out of scope
    answers exactly like one that does not exist.
    """
    return resellers_for_staff(user).get(pk=reseller_id)


def allocations_for_reseller(reseller: Reseller) -> QuerySet[Allocation]:
    """Return the reseller's allocations with documents, operation and reversal."""
    return with_reversals(
        Allocation.objects.filter(
            same_reseller("credit", "debit", "operation"), reseller=reseller
        ).select_related("credit", "debit", "operation", "created_by"),
        reseller.pk,
    )


# --- keyset pages (the reseller API) ----------------------------------------


def documents_page_for_reseller(
    reseller: Reseller,
    *,
    limit: int,
    after: tuple[date, str, int] | None = None,
    kind: str | None = None,
    status: str | None = None,
    issued_from: date | None = None,
    issued_to: date | None = None,
    due_from: date | None = None,
    due_to: date | None = None,
    overdue_on: date | None = None,
) -> list[Document]:
    """Return up to ``limit`` of the reseller's documents following ``after``.

    The list is in its usual order (issue date, number, id) and read by keyset
    from the (issue date, number, id) of the last row seen, so a deep page
    costs what the first does and rows posted meanwhile neither repeat nor
    shift a page. ``status`` is the status a reseller sees; ``overdue_on``
    keeps unpaid documents due before that day.
    """
    condition = Q()
    if kind:
        condition &= Q(kind=kind)
    if status:
        condition &= status_filter(status, for_reseller=True)
    if issued_from:
        condition &= Q(issue_date__gte=issued_from)
    if issued_to:
        condition &= Q(issue_date__lte=issued_to)
    if due_from:
        condition &= Q(due_date__gte=due_from)
    if due_to:
        condition &= Q(due_date__lte=due_to)
    if overdue_on:
        condition &= HAS_OPEN_AMOUNT & Q(due_date__lt=overdue_on)
    if after is not None:
        issued, number, pk = after
        # The first term alone is redundant; it lets the index on
        # (reseller, issue date, number) start the scan at the cursor.
        condition &= Q(issue_date__gte=issued) & (
            Q(issue_date__gt=issued)
            | Q(issue_date=issued, number__gt=number)
            | Q(issue_date=issued, number=number, id__gt=pk)
        )
    return list(documents_for_reseller(reseller).filter(condition)[:limit])


def receipts_page_for_reseller(
    reseller: Reseller,
    *,
    kinds: tuple[str, ...],
    limit: int,
    after: tuple[date, int] | None = None,
) -> list[Operation]:
    """Return up to ``limit`` of the reseller's operations of ``kinds``, newest
    first, following ``after`` (the created time and id of the last row seen),
    with each payment's selected documents."""
    operations = with_selected_documents(
        operations_for_reseller(reseller).filter(kind__in=kinds), reseller
    )
    if after is not None:
        created, pk = after
        operations = operations.filter(
            Q(created_at__lt=created) | Q(created_at=created, id__lt=pk)
        )
    return list(operations.order_by("-created_at", "-id")[:limit])
