"""Cash application: bank statement lines become payments of the right reseller.

A statement is read whole first (a bad file writes nothing), then imported
in one transaction: the marketplace's bank account row is locked so imports
of one account serialize, lines already stored (same bank entry reference)
are skipped, the rest are matched by :func:`billing.matching.match_line`,
the resellers they prove are locked (in id order), and each matched line
becomes a payment document (source "bank") allocated by the policy. What
proves nothing waits in the unmatched queue for an agent, who assigns it to
a reseller or returns it to the payer; both are recorded.

A line is applied at most once: its payment document is a one-to-one field
of the line, and a line must be queued to be assigned.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import BooleanField, CharField, F, Q, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.allocation_policy import PlannedAllocation, plan_allocations
from billing.exceptions import BillingError, DocumentNotFound
from billing.fields import AmountField
from billing.locking import lock_reseller, lock_resellers
from billing.matching import (
    Decision,
    DocumentFact,
    LineFacts,
    MatchContext,
    Method,
    OperationFact,
    match_line,
)
from billing.models import (
    DEBIT_KINDS,
    POSTGRESQL_NUMBER_KEY,
    SQLITE_NUMBER_KEY,
    AuditEvent,
    BankLine,
    BankLineEvent,
    BankStatement,
    Document,
    DocumentKind,
    Marketplace,
    MarketplaceBankAccount,
    Operation,
    Payment,
    PaymentDocument,
    Reseller,
    ResellerBankAccount,
    Source,
    same_reseller,
)
from billing.money import format_money
from billing.payment_plan import open_item
from billing.references import (
    compact_account,
    creditor_reference_candidates,
    normalize,
    payer_iban,
    quoted_number_keys,
    useful_document_number,
)
from billing.rows import integer as sql_integer
from billing.rows import names as sql_names
from billing.selectors import HAS_OPEN_AMOUNT
from billing.services.ledger_steps import (
    Actor,
    allocate_operations,
    auto_apply,
    clean_idempotency_key,
    require_reason,
    store_amounts,
    user_or_none,
)
from billing.statements import Line, Statement, StatementError, stable_reference
from billing.statements import read_statements as _read

ZERO = Decimal(0)
CHUNK = 500
# Payers whose open debits at the amounts they paid one read looks up.
PAYERS_PER_READ = 50
OPEN_STATUSES = (Operation.Status.AWAITING_TRANSFER, Operation.Status.PARTLY_PAID)


class StatementRefused(BillingError):
    code = "statement_refused"
    message = _("The statement could not be read; nothing was imported.")


class UnknownBankAccount(BillingError):
    code = "unknown_bank_account"
    message = _("No marketplace receives payments on account %(account)s.")


class NotYourBankAccount(BillingError):
    code = "not_your_bank_account"
    message = _("Account %(account)s belongs to a marketplace you do not work on.")


class BankLineNotQueued(BillingError):
    code = "line_not_queued"
    message = _("This line is no longer in the unmatched queue.")


class BankLineKeyReused(BillingError):
    code = "line_key_reused"
    message = _(
        "This form was already used for another bank line. "
        "Reload the page and try again."
    )


class WrongCurrency(BillingError):
    code = "wrong_currency"
    message = _("The line's currency is not the reseller's; it cannot be applied.")


class WrongMarketplace(BillingError):
    code = "wrong_marketplace"
    message = _("The reseller belongs to another marketplace than the line.")


@dataclass
class ImportResult:
    """What one file brought: statements, new lines, applied and queued."""

    statements: list[BankStatement] = field(default_factory=list)
    lines: int = 0
    new: int = 0
    applied: int = 0
    queued: int = 0

    @property
    def known(self) -> int:
        return self.lines - self.new


def read_statements(data: bytes) -> list[Statement]:
    """Return the statements of a file, or raise :class:`StatementRefused`."""
    try:
        return _read(data)
    except StatementError as exc:
        raise StatementRefused(str(exc.message), code=exc.code) from exc


def import_statement(
    *,
    data: bytes,
    file_name: str,
    actor: Actor | None,
    source: str,
    marketplace_ids: Iterable[int] | None = None,
) -> ImportResult:
    """Import every statement of a file; one transaction per statement.

    ``marketplace_ids`` (for staff) limits the accounts that may be imported.
    Importing the same lines again adds nothing.
    """
    actor = user_or_none(actor)
    statements = read_statements(data)
    allowed = None if marketplace_ids is None else set(marketplace_ids)
    accounts = {}
    for bank_account in MarketplaceBankAccount.objects.select_related("marketplace"):
        for identifier in bank_account.identifiers:
            accounts[identifier] = bank_account
    pairs = []
    for statement in statements:
        bank_account = accounts.get(compact_account(statement.account))
        if bank_account is None:
            raise UnknownBankAccount(
                UnknownBankAccount.message % {"account": statement.account[:42]}
            )
        if allowed is not None and bank_account.marketplace_id not in allowed:
            raise NotYourBankAccount(
                NotYourBankAccount.message % {"account": statement.account[:42]}
            )
        pairs.append((statement, bank_account))
    digest = hashlib.sha256(data).hexdigest()
    result = ImportResult()
    for statement, bank_account in pairs:
        _import_one(
            statement=statement,
            bank_account=bank_account,
            file_name=file_name,
            digest=digest,
            actor=actor,
            source=source,
            result=result,
        )
    return result


def _keyed_lines(statement: Statement, account: str) -> list[tuple[str, Line]]:
    """Return (key, line) pairs, each key once: the bank's reference or a hash."""
    keyed: dict[str, Line] = {}
    occurrences: dict[tuple, int] = {}
    for line in statement.lines:
        key = line.entry_reference[:200]
        if not key:
            identity = (line.booking_date, line.amount, line.payer_account, line.text)
            occurrences[identity] = occurrences.get(identity, 0) + 1
            key = stable_reference(account, line, occurrences[identity])
        keyed.setdefault(key, line)
    return list(keyed.items())


def _import_one(
    *,
    statement: Statement,
    bank_account: MarketplaceBankAccount,
    file_name: str,
    digest: str,
    actor: Actor | None,
    source: str,
    result: ImportResult,
) -> None:
    account = compact_account(statement.account)
    marketplace = bank_account.marketplace
    with transaction.atomic():
        MarketplaceBankAccount.objects.select_for_update().get(
            pk=bank_account.pk, marketplace=marketplace
        )
        keyed = _keyed_lines(statement, account)
        known: set[str] = set()
        keys = [key for key, _line in keyed]
        for start in range(0, len(keys), CHUNK):
            known.update(
                BankLine.objects.filter(
                    marketplace=marketplace,
                    account=account,
                    entry_reference__in=keys[start : start + CHUNK],
                ).values_list("entry_reference", flat=True)
            )
        new = [(key, line) for key, line in keyed if key not in known]
        context = matching_context(marketplace, (line for _key, line in new))
        decisions = [match_line(_facts(line), context) for _key, line in new]
        resellers = _lock_resellers(
            sorted({d.reseller_id for d in decisions if d.applies})
        )
        stored = BankStatement.objects.create(
            marketplace=marketplace,
            account=account,
            format=statement.format,
            bank_statement_id=statement.statement_id[:140],
            file_name=file_name[:255],
            file_sha256=digest,
            line_count=len(keyed),
            new_line_count=len(new),
            imported_by=actor,
            source=source,
        )
        rows = BankLine.objects.bulk_create(
            BankLine(
                statement=stored,
                marketplace=marketplace,
                account=account,
                entry_reference=key,
                booking_date=line.booking_date,
                value_date=line.value_date,
                amount=line.amount,
                currency=line.currency.upper(),
                payer_name=line.payer_name[:200],
                payer_account=line.payer_account[:42],
                text=line.text,
                unmatched_reason="" if decision.applies else decision.reason,
                match_detail=decision.detail[:500],
            )
            for (key, line), decision in zip(new, decisions, strict=True)
        )
        BankLineEvent.objects.bulk_create(
            BankLineEvent(
                line=row,
                marketplace_id=row.marketplace_id,
                action=BankLineEvent.Action.QUEUED,
                actor=actor,
                source=source,
                detail=f"{decision.reason} {decision.detail}".strip()[:500],
            )
            for row, decision in zip(rows, decisions, strict=True)
            if not decision.applies
        )
        _apply(
            resellers=resellers,
            items=[
                (row, decision)
                for row, decision in zip(rows, decisions, strict=True)
                if decision.applies
            ],
            actor=actor,
            source=Source.BANK,
            reason="",
            action=BankLineEvent.Action.APPLIED,
        )
        applied = sum(1 for d in decisions if d.applies)
    result.statements.append(stored)
    result.lines += len(keyed)
    result.new += len(new)
    result.applied += applied
    result.queued += len(new) - applied


def _facts(line: Line) -> LineFacts:
    return LineFacts(
        amount=line.amount,
        currency=line.currency.upper(),
        text=line.text,
        payer_account=line.payer_account,
    )


def _lock_resellers(ids: Sequence[int]) -> dict[int, Reseller]:
    """Lock the resellers a statement pays, in id order (no deadlock)."""
    return {reseller.pk: reseller for reseller in lock_resellers(ids)}


def matching_context(marketplace: Marketplace, lines: Iterable[Line]) -> MatchContext:
    """Return what the marketplace's ledger offers to match ``lines`` against.

    Only what the lines could prove is read, each through an index, so a
    statement's cost does not grow with the marketplace's ledger: the known
    accounts of the lines' payers; the payments whose transfer references
    the lines quote, the open ones of older ``TR-…`` references and the open
    ones of the payers; the open debits of :func:`_quotable_debits`; and the
    currencies of the resellers these belong to.
    """
    lines = list(lines)
    line_ibans = [payer_iban(line.payer_account) for line in lines]
    ibans = sorted(set(line_ibans) - {""})
    accounts = [
        row
        for start in range(0, len(ibans), CHUNK)
        for row in payer_accounts(marketplace, ibans[start : start + CHUNK])
    ]
    owners: dict[str, set[int]] = {}
    for iban, reseller_id in accounts:
        owners.setdefault(iban, set()).add(reseller_id)
    # What each payer (the one reseller a line's account is known for) paid.
    paid: dict[int, set[Decimal]] = {}
    for line, iban in zip(lines, line_ibans, strict=True):
        owning = owners.get(iban, set())
        if len(owning) == 1:
            paid.setdefault(min(owning), set()).add(line.amount)
    quoted: set[str] = set()
    for line in lines:
        quoted.update(creditor_reference_candidates(line.text)[0])
    found = _transfer_payments(marketplace, sorted(quoted), sorted(paid))
    operations = list({fact.id: fact for fact in found}.values())
    documents = [
        DocumentFact(id=pk, reseller_id=reseller_id, number=number, open_amount=open_)
        for pk, reseller_id, number, open_ in _quotable_debits(marketplace, lines, paid)
    ]
    resellers = sorted(
        {fact.reseller_id for fact in (*operations, *documents)}
        | {reseller_id for _iban, reseller_id in accounts}
    )
    currencies = {
        pk: currency
        for start in range(0, len(resellers), CHUNK)
        for pk, currency in Reseller.objects.filter(
            marketplace=marketplace, pk__in=resellers[start : start + CHUNK]
        ).values_list("id", "currency")
    }
    return MatchContext.build(
        currencies=currencies,
        operations=operations,
        documents=documents,
        accounts=accounts,
    )


# "A payment that waits for a bank transfer", as the index of those names
# it: an open payment (awaiting its transfer, or partly paid) has a transfer
# reference and an amount left open; a completed one leaves nothing open, a
# card payment has no reference. Literals, so a prepared statement's generic
# plan can prove the index's condition.
LEAVES_AMOUNT_OPEN = Q(amount_left_open__gt=RawSQL("0", (), output_field=AmountField()))
AWAITS_TRANSFER = LEAVES_AMOUNT_OPEN & ~Q(
    transfer_reference=RawSQL("''", (), output_field=CharField())
)
OPERATION_FACT = ("pk", "reseller_id", "transfer_reference", "amount_left_open")


def payer_accounts(marketplace: Marketplace, ibans: Sequence[str]) -> QuerySet:
    """Return the marketplace's known accounts of ``ibans``: (IBAN, reseller)."""
    return ResellerBankAccount.objects.filter(
        reseller__marketplace=marketplace, iban__in=ibans
    ).values_list("iban", "reseller_id")


def awaiting_transfers(marketplace: Marketplace) -> QuerySet:
    """Return the marketplace's payments waiting for a bank transfer."""
    return Payment.objects.filter(
        AWAITS_TRANSFER,
        same_reseller("operation"),
        reseller__marketplace=marketplace,
        operation__status__in=OPEN_STATUSES,
    )


def older_awaiting_transfers(marketplace: Marketplace) -> QuerySet:
    """Return the marketplace's payments waiting for a transfer that quote an
    older ``TR-…`` reference."""
    # The condition of their index, ``payment_awaiting_older_idx``, as each
    # database keeps it (SQLite's names its escape character).
    escape = " ESCAPE '\\'" if connection.vendor == "sqlite" else ""
    older = RawSQL(
        f""""billing_payment"."transfer_reference" LIKE 'TR%%'{escape}""",
        (),
        output_field=BooleanField(),
    )
    return Payment.objects.filter(
        LEAVES_AMOUNT_OPEN,
        Q(older),
        same_reseller("operation"),
        reseller__marketplace=marketplace,
        operation__status__in=OPEN_STATUSES,
    )


def _transfer_payments(
    marketplace: Marketplace, quoted: Sequence[str], payers: Sequence[int]
) -> list[OperationFact]:
    """Return the payments ``quoted`` references or ``payers`` could prove.

    Those whose reference a line quotes, whatever their status (a transfer
    for a payment already paid is told apart from an unknown reference);
    every open one of an older ``TR-…`` reference (found by a search of the
    line's words for the references known, not by a reading of them); and
    the open ones of the payers, whose amounts a line may pay. Only open
    payments carry their amount left open.
    """
    fact = (*OPERATION_FACT, "operation__status")
    rows = []
    for start in range(0, len(quoted), CHUNK):
        rows += Payment.objects.filter(
            same_reseller("operation"),
            reseller__marketplace=marketplace,
            transfer_reference__in=quoted[start : start + CHUNK],
        ).values_list(*fact)
    rows += older_awaiting_transfers(marketplace).values_list(*fact)
    for start in range(0, len(payers), CHUNK):
        rows += (
            awaiting_transfers(marketplace)
            .filter(reseller_id__in=payers[start : start + CHUNK])
            .values_list(*fact)
        )
    return [
        OperationFact(
            id=pk,
            reseller_id=reseller_id,
            reference=reference,
            amount_open=left if status in OPEN_STATUSES else ZERO,
        )
        for pk, reseller_id, reference, left, status in rows
    ]


# The kinds of a debit document as literals, as the open-debit indexes' own
# condition names them: a prepared statement's generic plan cannot prove
# ``kind IN ($1, $2)`` implies it.
IS_DEBIT = RawSQL(
    f'"billing_document"."kind" IN ({sql_names(DEBIT_KINDS)})',
    (),
    output_field=BooleanField(),
)
DEBIT_FACT = ("id", "reseller_id", "number", "open_amount")


def _quotable_debits(
    marketplace: Marketplace,
    lines: Sequence[Line],
    paid: dict[int, set[Decimal]],
) -> list[tuple]:
    """Return the open debits ``lines`` could prove, as :data:`DEBIT_FACT` rows.

    Those whose number a line quotes; those of each payer in ``paid`` whose
    open amount is one of the amounts it paid; and every open debit whose
    number reads like one of theirs (two such prove nothing, so the matcher
    must see both). Read through ``document_open_debit_number_idx`` and the
    reseller's open debits, never the whole marketplace: a statement's cost
    does not grow with the ledger.
    """
    keys: set[str] = set()
    for line in lines:
        keys |= quoted_number_keys(line.text)
    found: dict[int, tuple] = {}
    payers = sorted(paid)
    for start in range(0, len(payers), PAYERS_PER_READ):
        some = {pk: paid[pk] for pk in payers[start : start + PAYERS_PER_READ]}
        for row in open_debits_paid(marketplace, some):
            if useful_document_number(row[2]):
                found[row[0]] = row
                keys.add(normalize(row[2]))
    for row in _numbered_debits(marketplace.pk, sorted(keys)):
        found[row[0]] = row
    return list(found.values())


def open_debits_paid(
    marketplace: Marketplace, amounts: dict[int, set[Decimal]]
) -> QuerySet:
    """Return the open debits of each reseller in ``amounts`` whose open amount
    is one of its amounts, as :data:`DEBIT_FACT` rows."""
    condition = Q()
    for reseller_id, paid in amounts.items():
        condition |= Q(reseller_id=reseller_id, open_amount__in=paid)
    return Document.objects.filter(
        HAS_OPEN_AMOUNT, IS_DEBIT, condition, marketplace=marketplace
    ).values_list(*DEBIT_FACT)


def open_debits_numbered(marketplace_id: int, keys: Sequence[str]) -> tuple[str, list]:
    """Return the read of the marketplace's open debits whose number, as
    matched (``NumberKey``), is one of ``keys``: SQL and its parameters,
    giving :data:`DEBIT_FACT` rows.

    One index look-up per key (``document_open_debit_number_idx``), however
    many keys: PostgreSQL keeps no statistics of a partial index's
    expression, so a plain join or ``= ANY(…)`` of a few hundred keys was
    planned as a walk over every open debit of the marketplace. On
    PostgreSQL each key's look-up is a subquery of its own, of at most two
    rows (a second debit whose number reads alike already proves nothing,
    ``MatchContext.build``): without the limit it was estimated at hundreds
    of rows a key, and the plan's cost had the server compile it first
    (JIT, ~180 ms).
    """
    debit = sql_names(DEBIT_KINDS)
    if connection.vendor == "postgresql":
        number_key = POSTGRESQL_NUMBER_KEY.format(column='doc."number"')
        sql = (
            'SELECT d."id", d."reseller_id", d."number", d."open_amount"'  # noqa: S608 - literals only
            " FROM unnest(%s::text[]) AS quoted (key) CROSS JOIN LATERAL ("
            ' SELECT doc."id", doc."reseller_id", doc."number", doc."open_amount"'
            ' FROM "billing_document" AS doc WHERE doc."marketplace_id" = %s'
            f' AND doc."is_open" AND doc."kind" IN ({debit})'
            f" AND {number_key} = quoted.key LIMIT 2) AS d"
        )
        return sql, [list(keys), marketplace_id]
    sql = (
        'SELECT d."id", d."reseller_id", d."number", d."open_amount"'  # noqa: S608 - literals only
        ' FROM json_each(%s) AS quoted JOIN "billing_document" AS d'
        f' ON {SQLITE_NUMBER_KEY}(d."number") = quoted.value'
        ' WHERE d."marketplace_id" = %s'
        f' AND d."is_open" AND d."kind" IN ({debit})'
    )
    return sql, [json.dumps(list(keys)), marketplace_id]


def _numbered_debits(marketplace_id: int, keys: Sequence[str]) -> list[tuple]:
    amount = Document._meta.get_field("open_amount")
    with connection.cursor() as cursor:
        cursor.execute(*open_debits_numbered(marketplace_id, keys))
        return [
            (pk, reseller_id, number, amount.from_db_value(open_, None, connection))
            for pk, reseller_id, number, open_ in cursor.fetchall()
        ]


def _apply(
    *,
    resellers: dict[int, Reseller],
    items: Sequence[tuple[BankLine, Decision]],
    actor: Actor | None,
    source: str,
    reason: str,
    action: str,
    idempotency_key: str | None = None,
) -> None:
    """Turn matched lines into payment documents and apply them, in bulk.

    ``resellers`` are locked. Each line's money goes to its operations'
    documents (oldest operation first), else to its named documents, by the
    allocation policy; what is left stays as credit, which a prepaid account
    applies at once. The allocations and open amounts go through the
    ledger's writer (:func:`allocate_operations`), one call per reseller;
    the lines, payments and their events are written in bulk.
    """
    if not items:
        return
    now = timezone.now()
    for line, decision in items:
        if line.currency != resellers[decision.reseller_id].currency:
            raise WrongCurrency()
    wanted = {pk for _line, decision in items for pk in decision.operation_ids}
    locked = sorted(resellers)
    operations = {
        op.pk: op
        for op in Operation.objects.filter(
            same_reseller("payment"),
            reseller_id__in=locked,
            pk__in=wanted,
            kind=Operation.Kind.PAYMENT,
        ).select_related("payment")
    }
    selected = _selected_documents(operations, locked)
    groups: list[list[tuple[Operation, list[int]]]] = []
    created: list[tuple[Operation, list[int]]] = []
    for _line, decision in items:
        found = sorted(
            (
                operations[pk]
                for pk in decision.operation_ids
                if pk in operations
                and operations[pk].reseller_id == decision.reseller_id
            ),
            key=lambda op: op.pk,
        )
        if not found:
            holder = Operation(
                reseller_id=decision.reseller_id,
                kind=Operation.Kind.PAYMENT,
                status=Operation.Status.COMPLETED,
                actor=actor,
                source=Source.BANK,
                reason=reason,
                created_at=now,
                completed_at=now,
            )
            ids = sorted(set(decision.document_ids))
            created.append((holder, ids))
            groups.append([(holder, ids)])
        else:
            groups.append([(op, selected.get(op.pk, [])) for op in found])
    _create_holders(created)
    debits = _open_debits(
        {pk for group in groups for _op, ids in group for pk in ids}, locked
    )
    payments = Document.objects.bulk_create(
        Document(
            reseller_id=decision.reseller_id,
            marketplace_id=line.marketplace_id,
            kind=DocumentKind.PAYMENT,
            number=f"BANK-{line.pk:08d}",
            issue_date=line.booking_date,
            total=line.amount,
            open_amount=line.amount,
            description=f"Bank transfer {line.payer_name}".strip()[:500],
            source=Source.BANK,
            operation=group[0][0],
        )
        for (line, decision), group in zip(items, groups, strict=True)
    )
    counts: dict[int, int] = {}
    for payment in payments:
        counts[payment.reseller_id] = counts.get(payment.reseller_id, 0) + 1
    for reseller_id, count in counts.items():
        Reseller.objects.filter(pk=reseller_id).update(
            document_count=F("document_count") + count
        )
    # Each line's plan sees what the lines before it took; the plans are then
    # recorded by the ledger's writer once per reseller, in the order planned.
    open_amounts = {pk: doc.open_amount for pk, doc in debits.items()}
    open_amounts |= {payment.pk: payment.open_amount for payment in payments}
    planned: dict[int, list[tuple[int, list[PlannedAllocation]]]] = {}
    touched_operations: dict[int, tuple[Operation, list[int]]] = {}
    for (_line, decision), group, payment in zip(items, groups, payments, strict=True):
        for operation, ids in group:
            touched_operations[operation.pk] = (operation, ids)
            owned = [
                debits[pk]
                for pk in ids
                if pk in debits and debits[pk].reseller_id == decision.reseller_id
            ]
            if not owned or payment.open_amount <= 0:
                continue
            rows = plan_allocations([open_item(payment)], map(open_item, owned))
            for item in rows:
                payment.open_amount -= item.amount
                debits[item.debit_id].open_amount -= item.amount
            planned.setdefault(decision.reseller_id, []).append((operation.pk, rows))
    for reseller_id, groups_of_rows in planned.items():
        allocated = allocate_operations(
            reseller=resellers[reseller_id],
            planned=groups_of_rows,
            open_amounts={
                pk: open_amounts[pk]
                for _operation_id, rows in groups_of_rows
                for row in rows
                for pk in (row.credit_id, row.debit_id)
            },
            actor=actor,
        )
        open_amounts |= allocated.open_amounts
    _settle_operations(
        [operation for operation, _ids in touched_operations.values()],
        {
            pk: sum((open_amounts[i] for i in ids if i in debits), ZERO)
            for pk, (_operation, ids) in touched_operations.items()
        },
        resellers,
        now,
    )
    audit, events = [], []
    for (line, decision), group, payment in zip(items, groups, payments, strict=True):
        holder = group[0][0]
        line.state = BankLine.State.APPLIED
        line.reseller_id = decision.reseller_id
        line.payment = payment
        line.operation = holder
        line.match_method = decision.method
        line.match_detail = decision.detail[:500]
        line.unmatched_reason = ""
        line.handled_by = actor if action == BankLineEvent.Action.ASSIGNED else None
        line.handled_reason = reason
        line.handled_at = now
        reseller = resellers[decision.reseller_id]
        amount = format_money(line.amount, reseller.currency)
        audit.append(
            AuditEvent(
                reseller=reseller,
                action=AuditEvent.Action.BANK_TRANSFER_APPLIED,
                actor=actor,
                source=source,
                reason=reason,
                operation=holder,
                document=payment,
                amount=line.amount,
                facts={
                    "amount": str(line.amount),
                    "currency": reseller.currency,
                    "reference": line.entry_reference,
                    "number": payment.number,
                },
                summary=(
                    f"Bank transfer of {amount} ({line.entry_reference}) applied as "
                    f"payment {payment.number}, matched by {decision.method} "
                    f"{decision.detail}"
                ).strip()[:500],
            )
        )
        events.append(
            BankLineEvent(
                line=line,
                marketplace_id=line.marketplace_id,
                action=action,
                actor=actor,
                source=source,
                reason=reason,
                detail=f"{decision.method} {decision.detail}".strip()[:500],
                idempotency_key=idempotency_key,
            )
        )
    _store_applied_lines(
        [line for line, _d in items],
        handled=action == BankLineEvent.Action.ASSIGNED,
        actor=actor,
        reason=reason,
        now=now,
    )
    AuditEvent.objects.bulk_create(audit, batch_size=1000)
    BankLineEvent.objects.bulk_create(events, batch_size=1000)
    leftover = {p.reseller_id for p in payments if open_amounts[p.pk] > 0}
    for reseller_id in sorted(leftover):
        if resellers[reseller_id].is_prepaid:
            auto_apply(reseller=resellers[reseller_id], actor=actor, source=Source.BANK)


def _selected_documents(
    operations: dict[int, Operation], resellers: Sequence[int]
) -> dict[int, list[int]]:
    """Return the documents each payment operation selected, in their order."""
    selected: dict[int, list[int]] = {}
    if not operations:
        return selected
    rows = PaymentDocument.objects.filter(
        reseller_id__in=resellers, payment_id__in=list(operations)
    ).order_by("payment_id", "position")
    for payment_id, document_id in rows.values_list("payment_id", "document_id"):
        selected.setdefault(payment_id, []).append(document_id)
    return selected


def _create_holders(created: Sequence[tuple[Operation, list[int]]]) -> None:
    """Create the payments of lines that named no earlier payment.

    Each is a completed bank-transfer payment of the documents its line named.
    """
    if not created:
        return
    Operation.objects.bulk_create([operation for operation, _ids in created])
    Payment.objects.bulk_create(
        Payment(
            operation=operation,
            reseller_id=operation.reseller_id,
            method=Payment.Method.BANK_TRANSFER,
        )
        for operation, _ids in created
    )
    PaymentDocument.objects.bulk_create(
        (
            PaymentDocument(
                payment_id=operation.pk,
                reseller_id=operation.reseller_id,
                document_id=document_id,
                position=position,
            )
            for operation, ids in created
            for position, document_id in enumerate(ids, start=1)
        ),
        batch_size=1000,
    )


def _settle_operations(
    operations: Sequence[Operation],
    left_open: dict[int, Decimal],
    resellers: dict[int, Reseller],
    now,
) -> None:
    """Store what each paid operation leaves open, and its status.

    An operation that leaves nothing open is completed, else partly paid.
    Set-based per reseller: one update per status, and the amounts left open
    through the ledger's :func:`store_amounts`.
    """
    by_status: dict[tuple[int, str], list[int]] = {}
    left_by_reseller: dict[int, dict[int, Decimal]] = {}
    for operation in operations:
        left = left_open[operation.pk]
        operation.payment.amount_left_open = left
        if left == 0:
            operation.status = Operation.Status.COMPLETED
            operation.completed_at = operation.completed_at or now
        else:
            operation.status = Operation.Status.PARTLY_PAID
        key = (operation.reseller_id, operation.status)
        by_status.setdefault(key, []).append(operation.pk)
        left_by_reseller.setdefault(operation.reseller_id, {})[operation.pk] = left
    for (reseller_id, status), ids in sorted(by_status.items()):
        changes = {"status": status}
        if status == Operation.Status.COMPLETED:
            changes["completed_at"] = Coalesce(F("completed_at"), Value(now))
        Operation.objects.filter(reseller_id=reseller_id, pk__in=ids).update(**changes)
    for reseller_id, amounts in sorted(left_by_reseller.items()):
        store_amounts(resellers[reseller_id], Payment, "amount_left_open", amounts)


# Lines per statement when applied lines are written back.
LINES_PER_STATEMENT = 1000


def _store_applied_lines(
    lines: Sequence[BankLine],
    *,
    handled: bool,
    actor: Actor | None,
    reason: str,
    now,
) -> None:
    """Write applied lines back, restricted to their marketplace.

    One ``UPDATE … FROM (VALUES …)`` per 1,000 lines: their ids as literals,
    their match method and detail as parameters. ``handled`` (an agent's
    assignment) also stores who handled the lines (``actor``), why and when.
    """
    connection = transaction.get_connection()
    handled_columns = (
        ', "handled_by_id" = %s, "handled_reason" = %s, "handled_at" = %s'
        if handled
        else ""
    )
    by_marketplace: dict[int, list[BankLine]] = {}
    for line in lines:
        by_marketplace.setdefault(line.marketplace_id, []).append(line)
    for marketplace_id, group in sorted(by_marketplace.items()):
        for start in range(0, len(group), LINES_PER_STATEMENT):
            chunk = group[start : start + LINES_PER_STATEMENT]
            values = ", ".join(
                f"({sql_integer(line.pk)}, {sql_integer(line.reseller_id)}, "
                f"{sql_integer(line.payment_id)}, {sql_integer(line.operation_id)}, "
                "%s, %s)"
                for line in chunk
            )
            # VALUES names its columns column1, column2, … on both databases.
            sql = (
                'UPDATE "billing_bankline" SET "state" = %s, '  # noqa: S608 - integers only
                '"reseller_id" = new.column2, "payment_id" = new.column3, '
                '"operation_id" = new.column4, "match_method" = new.column5, '
                '"match_detail" = new.column6, "unmatched_reason" = \'\''
                f"{handled_columns} FROM (VALUES {values}) AS new "
                'WHERE "billing_bankline"."id" = new.column1 '
                'AND "billing_bankline"."marketplace_id" = %s'
            )
            params: list = [BankLine.State.APPLIED.value]
            if handled:
                params += [
                    actor.pk if actor is not None else None,
                    reason,
                    connection.ops.adapt_datetimefield_value(now),
                ]
            for line in chunk:
                params += [line.match_method, line.match_detail]
            params.append(marketplace_id)
            with connection.cursor() as cursor:
                cursor.execute(sql, params)


def _open_debits(ids: set[int], resellers: Sequence[int]) -> dict[int, Document]:
    """Return the open invoices and debit memos among ``ids`` of the locked
    ``resellers``, by id."""
    found: dict[int, Document] = {}
    ordered = sorted(ids)
    for start in range(0, len(ordered), CHUNK):
        found.update(
            (doc.pk, doc)
            for doc in Document.objects.filter(
                HAS_OPEN_AMOUNT,
                reseller_id__in=resellers,
                pk__in=ordered[start : start + CHUNK],
                kind__in=DEBIT_KINDS,
            )
        )
    return found


def _replayed(key: str, line: BankLine, action: str) -> BankLine | None:
    """Return ``line`` as stored if ``action`` was done to it under ``key``.

    Keys are looked up in the line's marketplace; one used there for another
    line or action is refused rather than answered with what it did.
    """
    event = BankLineEvent.objects.filter(
        marketplace_id=line.marketplace_id, idempotency_key=key
    ).first()
    if event is None:
        return None
    if event.line_id != line.pk or event.action != action:
        raise BankLineKeyReused()
    return BankLine.objects.get(pk=line.pk, marketplace_id=line.marketplace_id)


def _locked_line(line: BankLine) -> BankLine:
    """Lock and return the line as stored, found within its marketplace."""
    return BankLine.objects.select_for_update().get(
        pk=line.pk, marketplace_id=line.marketplace_id
    )


def assign_bank_line(
    *,
    line: BankLine,
    reseller: Reseller,
    document_ids: Iterable[int | str],
    reason: str,
    actor: Actor | None,
    idempotency_key: str,
) -> BankLine:
    """Apply a queued line to ``reseller`` (and optionally its documents).

    Replaying the same ``idempotency_key`` returns the line and does nothing.
    """
    reason = require_reason(reason)
    key = clean_idempotency_key(idempotency_key, required=True)
    actor = user_or_none(actor)
    with transaction.atomic(durable=True):
        locked = lock_reseller(reseller.pk)
        # A line never changes marketplace: the one it was read with holds.
        if locked.marketplace_id != line.marketplace_id:
            raise WrongMarketplace()
        replay = _replayed(key, line, BankLineEvent.Action.ASSIGNED)
        if replay is not None:
            return replay
        line = _locked_line(line)
        if line.state != BankLine.State.QUEUED:
            raise BankLineNotQueued()
        ids = _clean_ids(document_ids)
        found = Document.objects.filter(
            reseller=locked, pk__in=ids, kind__in=DEBIT_KINDS
        ).count()
        if found != len(ids):
            raise DocumentNotFound()
        decision = Decision(
            reseller_id=locked.pk,
            method=Method.AGENT,
            document_ids=tuple(ids),
            detail=getattr(actor, "username", "") or "",
        )
        _apply(
            resellers={locked.pk: locked},
            items=[(line, decision)],
            actor=actor,
            source=Source.CLASSIC_PANEL,
            reason=reason,
            action=BankLineEvent.Action.ASSIGNED,
            idempotency_key=key,
        )
    return line


def return_bank_line(
    *, line: BankLine, reason: str, actor: Actor | None, idempotency_key: str
) -> BankLine:
    """Mark a queued line as returned to the payer; the ledger is not touched."""
    reason = require_reason(reason)
    key = clean_idempotency_key(idempotency_key, required=True)
    actor = user_or_none(actor)
    with transaction.atomic(durable=True):
        line = _locked_line(line)
        replay = _replayed(key, line, BankLineEvent.Action.RETURNED)
        if replay is not None:
            return replay
        if line.state != BankLine.State.QUEUED:
            raise BankLineNotQueued()
        line.state = BankLine.State.RETURNED
        line.handled_by = actor
        line.handled_reason = reason
        line.handled_at = timezone.now()
        BankLine.objects.filter(pk=line.pk, marketplace_id=line.marketplace_id).update(
            state=line.state,
            handled_by=actor,
            handled_reason=reason,
            handled_at=line.handled_at,
        )
        BankLineEvent.objects.create(
            line=line,
            marketplace_id=line.marketplace_id,
            action=BankLineEvent.Action.RETURNED,
            actor=actor,
            source=Source.CLASSIC_PANEL,
            reason=reason,
            idempotency_key=key,
        )
    return line


def _clean_ids(values: Iterable[int | str]) -> list[int]:
    ids = set()
    for value in values or ():
        try:
            ids.add(int(str(value).strip()))
        except ValueError as exc:
            raise DocumentNotFound() from exc
    return sorted(ids)
