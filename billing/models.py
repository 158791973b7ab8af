"""The ledger's tables.

Rows are append-only where history matters: an allocation is never edited or
deleted; unlinking it adds a :class:`Reversal`. Open amounts are kept on the
documents (for fast reads) and are always equal to ``total`` minus the active
allocations, which ``check_ledger`` verifies. Every ledger row carries its
reseller, so one reseller's rows can live on one shard.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.db.models.lookups import GreaterThan
from django.utils import timezone
from django.utils.encoding import force_str
from django.utils.translation import gettext_lazy as _

from billing.fields import AmountField
from billing.money import format_money, is_supported_currency


class CreditPolicy(models.TextChoices):
    SELF_SERVICE = "self_service", _("Self-service: term accounts may pay with credit")
    CONTACT_SUPPORT = "contact_support", _("Contact support: credit applied by support")


class PaymentModel(models.TextChoices):
    PREPAID = "prepaid", _("Prepaid")
    TERM = "term", _("Term")


class DocumentKind(models.TextChoices):
    INVOICE = "invoice", _("Invoice")
    DEBIT_MEMO = "debit_memo", _("Debit memo")
    CREDIT_MEMO = "credit_memo", _("Credit memo")
    PAYMENT = "payment", _("Payment")


DEBIT_KINDS = (DocumentKind.INVOICE, DocumentKind.DEBIT_MEMO)
CREDIT_KINDS = (DocumentKind.PAYMENT, DocumentKind.CREDIT_MEMO)


class Source(models.TextChoices):
    """Where a change came from."""

    RESELLER_PANEL = "reseller_panel", _("Reseller panel")
    CLASSIC_PANEL = "classic_panel", _("Classic panel")
    ADMIN = "admin", _("Django admin")
    IMPORT = "import", _("Import")
    GATEWAY = "gateway", _("Payment gateway")
    SYSTEM = "system", _("System")
    BANK = "bank", _("Bank statement")
    API = "api", _("Reseller API")


class ChoiceLabels:
    """``get_FOO_display()`` from a table of labels made once per field.

    Django rebuilds a field's choices into a dictionary on every call (~15 µs);
    the panels' lists call it once or twice a row. The label is the same:
    translated into the active language, the value itself when it is not
    one of the choices.
    """

    def _get_FIELD_display(self, field: models.Field) -> str:
        value = getattr(self, field.attname)
        try:
            label = _choice_labels(field).get(value, value)
        except TypeError:  # a value that cannot key the table
            return super()._get_FIELD_display(field)
        return force_str(label, strings_only=True)


@cache
def _choice_labels(field: models.Field) -> dict:
    return dict(field.flatchoices)


def _require_supported_currency(currency: str) -> None:
    if not is_supported_currency(currency):
        raise ValidationError(
            {"currency": _("Use an ISO 4217 code with at most three decimals.")}
        )


class Marketplace(models.Model):
    """An L1 / country level: its currency, support contact and credit policy."""

    code = models.CharField(_("code"), max_length=8, unique=True)
    name = models.CharField(_("name"), max_length=100)
    currency = models.CharField(_("currency"), max_length=3)
    support_email = models.EmailField(_("support e-mail"), blank=True)
    support_phone = models.CharField(_("support phone"), max_length=40, blank=True)
    term_credit_policy = models.CharField(
        _("term-account credit policy"),
        max_length=20,
        choices=CreditPolicy.choices,
        default=CreditPolicy.CONTACT_SUPPORT,
    )
    staff = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="staff_marketplaces",
        verbose_name=_("support staff"),
        help_text=_("Classic panel users who work on this marketplace's resellers."),
    )

    class Meta:
        ordering = ["code"]
        verbose_name = _("marketplace")
        constraints = [
            models.CheckConstraint(
                condition=Q(term_credit_policy__in=CreditPolicy.values),
                name="marketplace_credit_policy_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} — {self.name}"

    def clean(self) -> None:
        self.currency = (self.currency or "").upper()
        _require_supported_currency(self.currency)


class Reseller(ChoiceLabels, models.Model):
    """A reseller account: one marketplace, one currency, one payment model."""

    marketplace = models.ForeignKey(
        Marketplace, on_delete=models.PROTECT, related_name="resellers"
    )
    name = models.CharField(_("name"), max_length=200)
    currency = models.CharField(_("currency"), max_length=3)
    payment_model = models.CharField(
        _("payment model"), max_length=10, choices=PaymentModel.choices
    )
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        through="ResellerMembership",
        related_name="resellers",
        blank=True,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Kept by the services as they post documents (under the reseller lock),
    # so an unfiltered document list knows its size without counting rows;
    # ``check_ledger`` verifies it.
    document_count = models.PositiveBigIntegerField(
        _("documents"), default=0, editable=False
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("reseller account")
        indexes = [models.Index(fields=["marketplace", "name"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(payment_model__in=PaymentModel.values),
                name="reseller_payment_model_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        self.currency = (self.currency or "").upper()
        _require_supported_currency(self.currency)

    @property
    def is_prepaid(self) -> bool:
        return self.payment_model == PaymentModel.PREPAID


class ResellerMembership(models.Model):
    """A reseller-panel user; each user belongs to one reseller at most."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership"
    )
    reseller = models.ForeignKey(
        Reseller, on_delete=models.CASCADE, related_name="memberships"
    )

    class Meta:
        verbose_name = _("reseller user")

    def __str__(self) -> str:
        return f"{self.user} @ {self.reseller}"


def same_reseller(*relations: str) -> Q:
    """Return the condition that each related ledger row (``"payment"``,
    ``"payment__operation"``) belongs to the queried row's reseller.

    Rows of one reseller are joined by their ids; saying too that they share
    the reseller lets a database sharded by ``reseller_id`` join them on one
    shard (BENCHMARKS.md, "Past one machine"). It never changes a result: a
    ledger row only ever refers to rows of its own reseller.
    """
    return Q(**{f"{relation}__reseller": F("reseller") for relation in relations})


def operation_reference(operation_id: int) -> str:
    """Return the reference an operation is shown by: ``OP-00000042``."""
    return f"OP-{operation_id:08d}"


def completed_now() -> dict[str, datetime]:
    """Return the times of an operation completed as it is made: created and
    completed at one instant, so that no operation reads as completed before
    it was created."""
    now = timezone.now()
    return {"created_at": now, "completed_at": now}


class Operation(ChoiceLabels, models.Model):
    """One reseller payment, automatic application run or staff action.

    It groups the allocations (or reversals) it made, so support can revert it
    as a whole. A payment keeps its request and outcome in its
    :class:`Payment` record (``operation.payment``).

    ``amount`` is what a link or an automatic application moved from credit
    to debit documents. It is stored rather than summed from the allocations
    because those can be unlinked later while the operation's own figure
    stays what it did; a payment's amounts (credit, card, left open) are on
    its Payment, and the other kinds leave it at zero.
    """

    class Kind(models.TextChoices):
        PAYMENT = "payment", _("Reseller payment")
        AUTO_APPLY = "auto_apply", _("Automatic application")
        LINK = "link", _("Manual link")
        UNLINK = "unlink", _("Manual unlink")
        REVERT = "revert", _("Revert")
        CREDIT_MEMO = "credit_memo", _("Credit memo issued")

    class Status(models.TextChoices):
        COMPLETED = "completed", _("Completed")
        CHARGING = "charging", _("Card charge in progress")
        DECLINED = "declined", _("Card declined")
        AWAITING_TRANSFER = "awaiting_transfer", _("Awaiting bank transfer")
        PARTLY_PAID = "partly_paid", _("Partly paid")

    reseller = models.ForeignKey(
        Reseller,
        on_delete=models.PROTECT,
        related_name="operations",
        db_index=False,  # (reseller, -created_at) below serves it
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    status = models.CharField(
        max_length=20, choices=Status.choices, default=Status.COMPLETED
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # partial index below
    )
    source = models.CharField(max_length=20, choices=Source.choices)
    reason = models.TextField(blank=True)
    # Staff lists of every reseller's operations, newest first (admin).
    # Set when the operation is made (not when its row is inserted, a moment
    # later), so that one completed as it is made can carry the same instant
    # in both (:func:`completed_now`).
    created_at = models.DateTimeField(
        default=timezone.now, db_index=True, editable=False
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    # The request that made the operation, so a replay finds it.
    # NULL (not "") for operations without a key, so the unique constraint
    # below only covers keyed requests.
    idempotency_key = models.CharField(  # noqa: DJ001
        max_length=64, null=True, blank=True
    )
    request_hash = models.CharField(max_length=64, blank=True)
    amount = AmountField(default=0)
    reverts = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reverted_by",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["reseller", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="operation_idempotency_key_unique_per_reseller",
            ),
            models.CheckConstraint(
                condition=Q(amount__gte=0), name="operation_amount_not_negative"
            ),
        ]
        indexes = [
            # A reseller's operations, newest first (operation lists, API); also
            # every lookup by reseller alone.
            models.Index(fields=["reseller", "-created_at"]),
            # Card payments still charging, which ``settle_payments`` looks
            # for from cron: a handful, where the index on the creation time
            # alone walked every operation older than its cut-off (a scan of
            # the whole table each run). A payment's status leaves it once,
            # when its charge is recorded.
            models.Index(
                fields=["created_at"],
                condition=Q(status="charging"),
                name="operation_charging_idx",
            ),
            # A user's operations, checked when a user is deleted: only rows
            # someone signed in for (automatic runs and imports have none).
            models.Index(
                fields=["actor"],
                condition=Q(actor__isnull=False),
                name="operation_actor_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} {self.get_kind_display()}"

    @property
    def reference(self) -> str:
        return operation_reference(self.pk) if self.pk else "OP-new"

    @property
    def reverts_reference(self) -> str:
        """The reference of the operation this one reverts ("" if none)."""
        return operation_reference(self.reverts_id) if self.reverts_id else ""


class Payment(models.Model):
    """A reseller's payment request and what came of it.

    It sits beside the payment :class:`Operation` that groups its
    allocations (same primary key): the method, whether credit was used, what
    credit paid, what the card was asked for and charged, what is left open,
    the reference a bank transfer quotes and the gateway's answer. The
    documents the reseller selected are :class:`PaymentDocument` rows.
    """

    class Method(models.TextChoices):
        CARD = "card", _("Card")
        BANK_TRANSFER = "bank_transfer", _("Bank transfer")

    operation = models.OneToOneField(
        Operation, on_delete=models.PROTECT, primary_key=True, related_name="payment"
    )
    reseller = models.ForeignKey(
        Reseller, on_delete=models.PROTECT, related_name="payments"
    )
    method = models.CharField(max_length=20, choices=Method.choices, blank=True)
    use_credit = models.BooleanField(default=False)
    credit_applied = AmountField(default=0)
    amount_to_charge = AmountField(default=0)
    amount_charged = AmountField(default=0)
    amount_left_open = AmountField(default=0)
    transfer_reference = models.CharField(max_length=40, blank=True)
    gateway_reference = models.CharField(max_length=100, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(credit_applied__gte=0)
                & Q(amount_to_charge__gte=0)
                & Q(amount_charged__gte=0)
                & Q(amount_left_open__gte=0),
                name="payment_amounts_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(amount_charged__lte=F("amount_to_charge")),
                name="payment_charged_at_most_requested",
            ),
        ]
        indexes = [
            # Cash application and support's search look payments up by the
            # reference a transfer quotes. Not a partial index: a prepared
            # statement's generic plan could not prove its condition.
            models.Index(
                fields=["transfer_reference"], name="payment_transfer_reference"
            ),
            # The payments waiting for a bank transfer, which cash application
            # reads by reseller (``AWAITS_TRANSFER`` names the same condition):
            # a completed payment leaves nothing open, a card payment has no
            # transfer reference, so the index holds only the open transfers.
            models.Index(
                fields=["reseller"],
                name="payment_awaiting_transfer_idx",
                condition=Q(amount_left_open__gt=0) & ~Q(transfer_reference=""),
            ),
            # Those of them quoting an older ``TR-…`` reference, which cash
            # application reads whole (``older_awaiting_transfers``): none is
            # made any more, so the index empties as they are paid.
            models.Index(
                fields=["reseller"],
                name="payment_awaiting_older_idx",
                condition=Q(
                    amount_left_open__gt=0, transfer_reference__startswith="TR"
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"Payment {self.reference}"

    @property
    def reference(self) -> str:
        return operation_reference(self.pk) if self.pk else "OP-new"


class PaymentDocument(models.Model):
    """One document a payment was asked to pay, in the order it was selected."""

    payment = models.ForeignKey(
        Payment,
        on_delete=models.PROTECT,
        related_name="selections",
        db_index=False,  # UNIQUE (payment, document) below serves it
    )
    reseller = models.ForeignKey(Reseller, on_delete=models.PROTECT, related_name="+")
    document = models.ForeignKey(
        "Document", on_delete=models.PROTECT, related_name="payment_selections"
    )
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["payment", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["payment", "document"],
                name="payment_document_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.payment_id}: {self.document_id}"


class NumberKey(models.Func):
    """A document number as bank lines are matched against it: its ASCII
    letters and digits, upper-cased (:func:`billing.references.normalize`).

    PostgreSQL computes it in SQL (in the C collation, so no locale's case
    rules apply); SQLite calls the same Python function, registered on each
    connection (``billing.apps``).
    """

    output_field = models.CharField()
    arity = 1

    def as_postgresql(self, compiler, connection, **extra_context):
        template = POSTGRESQL_NUMBER_KEY.format(column="%(expressions)s")
        return self.as_sql(compiler, connection, template=template, **extra_context)

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(
            compiler, connection, function=SQLITE_NUMBER_KEY, **extra_context
        )


POSTGRESQL_NUMBER_KEY = (
    "upper(regexp_replace({column}, '[^A-Za-z0-9]', '', 'g') COLLATE \"C\")"
)
SQLITE_NUMBER_KEY = "ledger_number_key"


class Document(ChoiceLabels, models.Model):
    """An AR document. Debit documents are paid; credit documents pay.

    ``open_amount`` is what is still unpaid (debit) or unapplied (credit).
    The reseller's currency is the document's currency.
    """

    reseller = models.ForeignKey(
        Reseller,
        on_delete=models.PROTECT,
        related_name="documents",
        db_index=False,  # the (reseller, …) indexes below serve it
    )
    # Denormalised from the reseller so numbers can be unique per marketplace.
    marketplace = models.ForeignKey(
        Marketplace,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # UNIQUE (marketplace, number) below serves it
    )
    kind = models.CharField(_("kind"), max_length=20, choices=DocumentKind.choices)
    number = models.CharField(_("number"), max_length=64)
    issue_date = models.DateField(_("issue date"))
    due_date = models.DateField(_("due date"), null=True, blank=True)
    total = AmountField(_("total"))
    open_amount = AmountField(_("open amount"))
    # "Something is left open", kept by the database from ``open_amount``.
    # The open documents' indexes name this column, never ``open_amount``:
    # PostgreSQL updates a row in place (a HOT update: no new index entries)
    # only if no indexed column changes, and a column in an index's condition
    # counts. So a payment or link that leaves a document partly open, such
    # as the credit a payment draws from, rewrites no index; only opening or
    # closing a document does.
    is_open = models.GeneratedField(
        expression=GreaterThan(F("open_amount"), 0),
        output_field=models.BooleanField(),
        db_persist=True,
    )
    description = models.CharField(_("description"), max_length=500, blank=True)
    source = models.CharField(max_length=20, choices=Source.choices)
    # The operation that created the document: a card charge's payment, a
    # credit memo issued by staff. Documents from upstream billing have none.
    operation = models.ForeignKey(
        Operation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="created_documents",
        db_index=False,  # partial index below
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # A dispute hold on a debit document: skipped by automatic application
    # and not payable from the panel until support releases it.
    held_at = models.DateTimeField(_("on hold since"), null=True, blank=True)
    held_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("put on hold by"),
        db_index=False,  # partial index below
    )
    hold_reason = models.TextField(_("hold reason"), blank=True)

    class Meta:
        ordering = ["issue_date", "number"]
        verbose_name = _("AR document")
        permissions = [
            ("link_documents", _("Can link, unlink and revert AR documents")),
            ("issue_credit_memo", _("Can issue credit memos")),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["marketplace", "number"],
                name="document_number_unique_per_marketplace",
            ),
            models.CheckConstraint(
                condition=Q(total__gt=0), name="document_total_positive"
            ),
            models.CheckConstraint(
                condition=Q(open_amount__gte=0), name="document_open_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(open_amount__lte=F("total")),
                name="document_open_at_most_total",
            ),
            models.CheckConstraint(
                condition=Q(due_date__isnull=True) | Q(due_date__gte=F("issue_date")),
                name="document_due_not_before_issue",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=[k.value for k in DocumentKind]),
                name="document_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(held_at__isnull=True)
                | Q(kind__in=[k.value for k in DEBIT_KINDS]),
                name="document_hold_on_debit_only",
            ),
        ]
        # Every index is paid for by each posted document and by each
        # document a payment or link opens or closes. A change of the open
        # amount alone is a HOT update and writes none (see ``is_open``).
        indexes = [
            # Document lists filtered by kind (Documents page, API, classic).
            models.Index(
                fields=["reseller", "kind", "issue_date", "number"],
                name="document_reseller_kind_idx",
            ),
            # Document lists in date order; also every lookup by reseller alone.
            models.Index(
                fields=["reseller", "issue_date", "number"],
                name="document_reseller_date_idx",
            ),
            # What can be used, and what is owed: the open credits that
            # every payment, link and posting reads under the lock, and
            # automatic application's open debits (the few open documents
            # of an account with years of paid ones). One index for each
            # side, so that neither read walks the other: an account owing
            # 27,000 invoices had them all read for its one open credit
            # (8.6 ms against 0.07). Each open document is in one of them;
            # partial indexes of open documents cost nothing when a payment
            # closes a document (the closed version has no entry). The reads
            # name the kinds as literals (``billing.payment_plan``), as the
            # conditions do, or no generic plan could use them.
            models.Index(
                fields=["reseller", "kind", "issue_date", "number"],
                condition=Q(is_open=True, kind__in=CREDIT_KINDS),
                name="document_open_credit_idx",
            ),
            models.Index(
                fields=["reseller", "kind", "issue_date", "number"],
                condition=Q(is_open=True, kind__in=DEBIT_KINDS),
                name="document_open_debit_idx",
            ),
            # The same open documents in list order, for the Unpaid page and
            # the summaries of what is owed, carrying the kinds and due dates
            # they filter on (not the open amounts they sum, which would
            # make every partial payment rewrite the index; they are read
            # from the few open rows themselves). Not merged with the ones
            # above: without that one, automatic application's open debits
            # of an account with 100,000 documents (10 open) were read
            # through its whole history (0.15 ms → 61 ms).
            models.Index(
                fields=["reseller", "issue_date", "number", "id"],
                include=["kind", "due_date"],
                condition=Q(is_open=True),
                name="document_open_by_date_idx",
            ),
            # The open debits a bank line may quote, by their number as it is
            # matched (letters and digits, upper-cased): a statement reads
            # the few its lines quote instead of every open invoice of the
            # marketplace (``billing.services.cash_application``).
            models.Index(
                "marketplace",
                NumberKey("number"),
                condition=Q(is_open=True, kind__in=DEBIT_KINDS),
                name="document_open_debit_number_idx",
            ),
            # The documents an operation created (card payment, credit memo):
            # most documents come from upstream billing and have none.
            models.Index(
                fields=["operation"],
                condition=Q(operation__isnull=False),
                name="document_operation_idx",
            ),
            # Documents a user put on hold, checked when a user is deleted:
            # only the few held ones.
            models.Index(
                fields=["held_by"],
                condition=Q(held_by__isnull=False),
                name="document_held_by_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.number}"

    @property
    def is_debit(self) -> bool:
        return self.kind in DEBIT_KINDS

    @property
    def is_credit(self) -> bool:
        return self.kind in CREDIT_KINDS

    @property
    def currency(self) -> str:
        return self.reseller.currency

    @property
    def is_held(self) -> bool:
        return self.held_at is not None

    @property
    def applied_amount(self):
        """Return how much of the document has been paid or applied."""
        return self.total - self.open_amount


class Allocation(models.Model):
    """An amount of one credit document applied to one debit document."""

    reseller = models.ForeignKey(
        Reseller, on_delete=models.PROTECT, related_name="allocations"
    )
    credit = models.ForeignKey(
        Document, on_delete=models.PROTECT, related_name="allocations_out"
    )
    debit = models.ForeignKey(
        Document, on_delete=models.PROTECT, related_name="allocations_in"
    )
    amount = AmountField(_("amount"))
    operation = models.ForeignKey(
        Operation, on_delete=models.PROTECT, related_name="allocations"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # partial index below
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="allocation_amount_positive"
            ),
            models.CheckConstraint(
                condition=~Q(credit=F("debit")), name="allocation_two_documents"
            ),
        ]
        # reseller (the reseller's allocations), credit and debit (a
        # document's allocations) and operation (what an operation applied)
        # keep their foreign keys' indexes.
        indexes = [
            # A user's links, checked when a user is deleted: automatic
            # application and imports leave created_by empty.
            models.Index(
                fields=["created_by"],
                condition=Q(created_by__isnull=False),
                name="allocation_created_by_idx",
            ),
        ]

    def __str__(self) -> str:
        amount = format_money(self.amount, self.reseller.currency)
        return f"{amount} {self.credit.number} → {self.debit.number}"

    @property
    def source(self) -> str:
        """Return how the allocation was made: payment, automatic or staff."""
        return self.operation.get_kind_display()


class Reversal(models.Model):
    """The unlinking of one allocation: who, when and why. One at most."""

    reseller = models.ForeignKey(
        Reseller, on_delete=models.PROTECT, related_name="reversals"
    )
    allocation = models.OneToOneField(
        Allocation, on_delete=models.PROTECT, related_name="reversal"
    )
    operation = models.ForeignKey(
        Operation, on_delete=models.PROTECT, related_name="reversals"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # partial index below
    )
    reason = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # A user's unlinks, checked when a user is deleted.
            models.Index(
                fields=["actor"],
                condition=Q(actor__isnull=False),
                name="reversal_actor_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"Reversal of allocation {self.allocation_id}"


class AuditEvent(ChoiceLabels, models.Model):
    """One entry of the audit trail: every change, with actor, source, reason."""

    class Action(models.TextChoices):
        DOCUMENT_POSTED = "document_posted", _("Document posted")
        CREDIT_MEMO_ISSUED = "credit_memo_issued", _("Credit memo issued")
        CREDIT_APPLIED = "credit_applied", _("Credit applied automatically")
        PAYMENT_STARTED = "payment_started", _("Payment submitted")
        PAYMENT_CHARGED = "payment_charged", _("Card charged")
        PAYMENT_DECLINED = "payment_declined", _("Card declined")
        DOCUMENTS_LINKED = "documents_linked", _("Documents linked")
        ALLOCATION_UNLINKED = "allocation_unlinked", _("Allocation unlinked")
        OPERATION_REVERTED = "operation_reverted", _("Operation reverted")
        DOCUMENT_HELD = "document_held", _("Document put on hold")
        HOLD_RELEASED = "hold_released", _("Hold released")
        BANK_TRANSFER_APPLIED = "bank_transfer_applied", _("Bank transfer applied")

    reseller = models.ForeignKey(
        Reseller,
        on_delete=models.PROTECT,
        related_name="audit_events",
        db_index=False,  # (reseller, -created_at) below serves it
    )
    action = models.CharField(max_length=30, choices=Action.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # partial index below
    )
    source = models.CharField(max_length=20, choices=Source.choices)
    reason = models.TextField(blank=True)
    operation = models.ForeignKey(
        Operation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # partial index below
    )
    document = models.ForeignKey(
        Document,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # partial index below
    )
    amount = AmountField(null=True, blank=True)
    # The English sentence, for search; pages render ``facts`` in the reader's
    # language (``description``). Rows from before facts keep only this.
    summary = models.CharField(max_length=500)
    facts = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The reseller's audit trail, newest first; also every lookup by
            # reseller alone.
            models.Index(fields=["reseller", "-created_at"]),
            # Entries about an operation, a document or by a user: read only
            # when one of those is deleted (a check of what protects it), and
            # many entries name none of them.
            models.Index(
                fields=["operation"],
                condition=Q(operation__isnull=False),
                name="auditevent_operation_idx",
            ),
            models.Index(
                fields=["document"],
                condition=Q(document__isnull=False),
                name="auditevent_document_idx",
            ),
            models.Index(
                fields=["actor"],
                condition=Q(actor__isnull=False),
                name="auditevent_actor_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.summary

    @property
    def description(self) -> str:
        """Return what happened, in the active language."""
        from billing.audit import describe  # the presenter reads these models

        return describe(self)


class NumberSequence(models.Model):
    """The last number the system issued in one series of a marketplace.

    Document numbers are unique per marketplace, so the system's own series
    (staff credit memos: ``CM-US-2026-0001``) count per marketplace. The row is
    incremented inside the issuing transaction, after the reseller lock, so two
    resellers of one marketplace never draw the same number.
    """

    marketplace = models.ForeignKey(
        Marketplace, on_delete=models.PROTECT, related_name="+"
    )
    series = models.CharField(max_length=32)
    last = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["marketplace", "series"],
                name="number_sequence_unique_per_marketplace",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.series} #{self.last}"


class SandboxCharge(models.Model):
    """A charge the sandbox payment gateway made; not part of the ledger.

    It stands in for the gateway's own records, so the sandbox can answer
    retries and look-ups by idempotency key as a real gateway does.
    """

    idempotency_key = models.CharField(max_length=200, unique=True)
    amount = AmountField()
    currency = models.CharField(max_length=3)
    succeeded = models.BooleanField()
    reference = models.CharField(max_length=100)
    message = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.reference


# --- Cash application: bank accounts, statements and their lines -----------


class MarketplaceBankAccount(models.Model):
    """The bank account a marketplace's resellers pay into.

    Shown on the transfer instructions; a statement of this account is
    imported into this marketplace.
    """

    marketplace = models.OneToOneField(
        Marketplace,
        on_delete=models.CASCADE,
        related_name="bank_account",
        verbose_name=_("marketplace"),
    )
    beneficiary = models.CharField(_("beneficiary"), max_length=140)
    bank_name = models.CharField(_("bank"), max_length=140, blank=True)
    iban = models.CharField(_("IBAN"), max_length=42, blank=True)
    bic = models.CharField(_("BIC / SWIFT"), max_length=11, blank=True)
    account_number = models.CharField(_("account number"), max_length=34, blank=True)
    routing_number = models.CharField(_("routing number"), max_length=9, blank=True)

    class Meta:
        verbose_name = _("marketplace bank account")
        constraints = [
            models.CheckConstraint(
                condition=~Q(iban="") | ~Q(account_number=""),
                name="bank_account_has_iban_or_number",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.marketplace.code} {self.iban or self.account_number}"

    def clean(self) -> None:
        from billing.references import IbanError, clean_iban

        if self.iban:
            try:
                self.iban = clean_iban(self.iban)
            except IbanError as exc:
                raise ValidationError({"iban": str(exc)}) from exc
        if not self.iban and not self.account_number:
            raise ValidationError(_("Give an IBAN or an account number."))

    @property
    def identifiers(self) -> set[str]:
        """Return how a statement may name this account."""
        from billing.references import compact_account

        ids = {compact_account(v) for v in (self.iban, self.account_number) if v}
        if self.iban:
            # MT940 often names the account by its domestic number (BBAN).
            ids.add(compact_account(self.iban)[4:])
        return ids


class ResellerBankAccount(models.Model):
    """A bank account a reseller is known to pay from (its IBAN)."""

    reseller = models.ForeignKey(
        Reseller, on_delete=models.CASCADE, related_name="bank_accounts"
    )
    iban = models.CharField(_("IBAN"), max_length=34)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("reseller bank account")
        constraints = [
            models.UniqueConstraint(
                fields=["reseller", "iban"], name="reseller_iban_unique"
            ),
        ]
        # Cash application finds a statement line's payer by its IBAN.
        indexes = [models.Index(fields=["iban"], name="reseller_bank_account_iban")]

    def __str__(self) -> str:
        return self.iban

    def clean(self) -> None:
        from billing.references import IbanError, clean_iban

        try:
            self.iban = clean_iban(self.iban)
        except IbanError as exc:
            raise ValidationError({"iban": str(exc)}) from exc


class BankStatement(models.Model):
    """One imported statement (or notification) of a marketplace account."""

    marketplace = models.ForeignKey(
        Marketplace, on_delete=models.PROTECT, related_name="bank_statements"
    )
    account = models.CharField(_("account"), max_length=42)
    format = models.CharField(_("format"), max_length=20)
    # The bank's own statement id: shown, never trusted as unique.
    bank_statement_id = models.CharField(_("statement id"), max_length=140)
    file_name = models.CharField(_("file"), max_length=255, blank=True)
    file_sha256 = models.CharField(max_length=64)
    line_count = models.PositiveIntegerField(_("credit lines"), default=0)
    new_line_count = models.PositiveIntegerField(_("new lines"), default=0)
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    source = models.CharField(max_length=20, choices=Source.choices)
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-imported_at", "-id"]
        verbose_name = _("bank statement")

    def __str__(self) -> str:
        return f"{self.account} {self.bank_statement_id}"


class BankLine(models.Model):
    """One credit entry of a bank statement, stored once.

    Keyed by the bank's own entry reference per account (or a stable hash
    where the bank gives none). A line is applied (it became a payment
    document), queued (waiting for an agent) or returned to the payer.
    """

    class State(models.TextChoices):
        APPLIED = "applied", _("Applied")
        QUEUED = "queued", _("Unmatched")
        RETURNED = "returned", _("Returned to payer")

    statement = models.ForeignKey(
        BankStatement, on_delete=models.PROTECT, related_name="lines"
    )
    marketplace = models.ForeignKey(
        Marketplace, on_delete=models.PROTECT, related_name="bank_lines"
    )
    account = models.CharField(_("account"), max_length=42)
    entry_reference = models.CharField(_("bank reference"), max_length=200)
    booking_date = models.DateField(_("booking date"))
    value_date = models.DateField(_("value date"), null=True, blank=True)
    amount = AmountField(_("amount"))
    currency = models.CharField(_("currency"), max_length=3)
    payer_name = models.CharField(_("payer"), max_length=200, blank=True)
    payer_account = models.CharField(_("payer account"), max_length=42, blank=True)
    text = models.TextField(_("remittance information"), blank=True)
    state = models.CharField(
        _("state"), max_length=10, choices=State.choices, default=State.QUEUED
    )
    # Why it is in the queue, or how it was matched: codes, shown translated.
    unmatched_reason = models.CharField(max_length=40, blank=True)
    match_method = models.CharField(max_length=20, blank=True)
    match_detail = models.CharField(max_length=500, blank=True)
    reseller = models.ForeignKey(
        Reseller,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="bank_lines",
    )
    payment = models.OneToOneField(
        Document,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="bank_line",
    )
    operation = models.ForeignKey(
        Operation,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="bank_lines",
    )
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    handled_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    handled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["booking_date", "id"]
        verbose_name = _("bank statement line")
        constraints = [
            models.UniqueConstraint(
                fields=["account", "entry_reference"],
                name="bank_line_unique_per_account",
            ),
            models.CheckConstraint(
                condition=Q(amount__gt=0), name="bank_line_amount_positive"
            ),
            models.CheckConstraint(
                condition=Q(state__in=["applied", "queued", "returned"]),
                name="bank_line_state_valid",
            ),
            models.CheckConstraint(
                condition=(
                    Q(state="applied", payment__isnull=False, reseller__isnull=False)
                    | (~Q(state="applied") & Q(payment__isnull=True))
                ),
                name="bank_line_applied_has_payment",
            ),
        ]
        indexes = [
            models.Index(
                fields=["marketplace", "state", "booking_date"],
                name="bank_line_queue_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.entry_reference} {self.amount} {self.currency}"


class BankLineEvent(models.Model):
    """The audit trail of a bank line: imported, applied, assigned, returned.

    A line that proves no reseller has no reseller audit trail yet, so its
    history lives here; applying it also writes the reseller's audit event.
    It carries its line's marketplace, so the bank tables are distributed by
    marketplace together.
    """

    class Action(models.TextChoices):
        IMPORTED = "imported", _("Imported")
        APPLIED = "applied", _("Applied automatically")
        QUEUED = "queued", _("Put in the unmatched queue")
        ASSIGNED = "assigned", _("Assigned by support")
        RETURNED = "returned", _("Returned to payer")

    line = models.ForeignKey(BankLine, on_delete=models.PROTECT, related_name="events")
    marketplace = models.ForeignKey(
        Marketplace,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # UNIQUE (marketplace, idempotency_key) below serves it
    )
    action = models.CharField(max_length=20, choices=Action.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    source = models.CharField(max_length=20, choices=Source.choices)
    reason = models.TextField(blank=True)
    detail = models.CharField(max_length=500, blank=True)
    # A staff action's key: a replayed form post finds the first result. It
    # is unique in its marketplace, where the replay looks for it.
    idempotency_key = models.CharField(  # noqa: DJ001
        max_length=64, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["marketplace", "idempotency_key"],
                name="bank_line_event_key_per_marketplace",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.line_id} {self.action}"
