"""Which reseller a bank line proves: one pure function, each step explained.

In order:

1. a valid RF reference (or an old ``TR-…`` reference) anywhere in the
   text, whatever the spacing or case → those payment operations;
2. document numbers of one reseller in the text → those documents;
3. the payer's account is a reseller's known IBAN and the amount equals one
   open document or one awaiting operation exactly → that one;
4. otherwise the line waits in the unmatched queue, with the reason.

A line in another currency than the reseller's is never applied. No database
here: facts in, :class:`Decision` out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from billing.references import (
    creditor_reference_candidates,
    document_number_candidates,
    legacy_reference_candidates,
    normalize,
    payer_iban,
)


class Method:
    """How a line was matched (stored on the line, shown translated)."""

    REFERENCE = "reference"
    DOCUMENTS = "documents"
    ACCOUNT = "account"
    AGENT = "agent"


class Reason:
    """Why a line waits in the queue (stored on the line, shown translated)."""

    NO_REFERENCE = "no_reference"
    BAD_REFERENCE = "bad_reference"
    UNKNOWN_REFERENCE = "unknown_reference"
    AMBIGUOUS = "ambiguous"
    CURRENCY = "currency"
    ACCOUNT_NO_AMOUNT = "account_no_amount"


@dataclass(frozen=True, slots=True)
class OperationFact:
    """A payment operation a transfer reference points to."""

    id: int
    reseller_id: int
    reference: str
    amount_open: Decimal


@dataclass(frozen=True, slots=True)
class DocumentFact:
    """An open debit document whose number may be quoted."""

    id: int
    reseller_id: int
    number: str
    open_amount: Decimal


@dataclass
class MatchContext:
    """What the ledger of one marketplace offers to match against."""

    currencies: dict[int, str]  # reseller id -> currency
    operations: dict[str, OperationFact] = field(default_factory=dict)  # by ref
    documents: dict[str, DocumentFact] = field(default_factory=dict)  # by number
    accounts: dict[str, set[int]] = field(default_factory=dict)  # IBAN -> ids
    awaiting: dict[int, list[OperationFact]] = field(default_factory=dict)
    legacy: list[str] = field(default_factory=list)  # old TR-… references
    by_reseller: dict[int, list[DocumentFact]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        *,
        currencies: dict[int, str],
        operations: Iterable[OperationFact] = (),
        documents: Iterable[DocumentFact] = (),
        accounts: Iterable[tuple[str, int]] = (),
    ) -> MatchContext:
        context = cls(currencies=currencies)
        for operation in operations:
            context.operations[normalize(operation.reference)] = operation
            if operation.amount_open > 0:
                context.awaiting.setdefault(operation.reseller_id, []).append(operation)
        clashes: set[str] = set()
        for document in documents:
            key = normalize(document.number)
            if key in context.documents:
                clashes.add(key)
            context.documents[key] = document
        for key in clashes:
            del context.documents[key]  # two numbers that read alike prove nothing
        for document in context.documents.values():
            context.by_reseller.setdefault(document.reseller_id, []).append(document)
        context.legacy = [key for key in context.operations if key.startswith("TR")]
        for iban, reseller_id in accounts:
            context.accounts.setdefault(iban, set()).add(reseller_id)
        return context

    def documents_of(self, reseller_id: int) -> list[DocumentFact]:
        return self.by_reseller.get(reseller_id, [])


@dataclass(frozen=True, slots=True)
class LineFacts:
    """What the matcher reads of a bank line."""

    amount: Decimal
    currency: str
    text: str
    payer_account: str = ""


@dataclass(frozen=True)
class Decision:
    """The matcher's answer: apply to a reseller, or queue, and why."""

    reseller_id: int | None
    method: str = ""
    operation_ids: tuple[int, ...] = ()
    document_ids: tuple[int, ...] = ()
    reason: str = ""
    detail: str = ""

    @property
    def applies(self) -> bool:
        return self.reseller_id is not None and not self.reason


def _queue(reason: str, detail: str = "") -> Decision:
    return Decision(reseller_id=None, reason=reason, detail=detail[:500])


def _for_reseller(decision: Decision, line: LineFacts, ctx: MatchContext) -> Decision:
    """Refuse a decision whose reseller keeps another currency than the line."""
    currency = ctx.currencies.get(decision.reseller_id)
    if currency != line.currency:
        return _queue(
            Reason.CURRENCY,
            f"{line.currency} line, {currency or '?'} account; {decision.detail}",
        )
    return decision


def match_line(line: LineFacts, ctx: MatchContext) -> Decision:
    """Return whose money ``line`` is, or why it waits for a person."""
    references, saw_rf = creditor_reference_candidates(line.text)
    legacy = legacy_reference_candidates(line.text, ctx.legacy)
    found = [
        ctx.operations[ref]
        for ref in sorted(references | legacy)
        if ref in ctx.operations
    ]
    if found:
        resellers = {op.reseller_id for op in found}
        refs = " ".join(op.reference for op in found)
        if len(resellers) > 1:
            return _queue(Reason.AMBIGUOUS, refs)
        decision = Decision(
            reseller_id=found[0].reseller_id,
            method=Method.REFERENCE,
            operation_ids=tuple(sorted(op.id for op in found)),
            detail=refs,
        )
        return _for_reseller(decision, line, ctx)

    numbers = document_number_candidates(line.text, ctx.documents)
    if numbers:
        documents = [ctx.documents[n] for n in sorted(numbers)]
        resellers = {doc.reseller_id for doc in documents}
        detail = " ".join(doc.number for doc in documents)
        if len(resellers) > 1:
            return _queue(Reason.AMBIGUOUS, detail)
        decision = Decision(
            reseller_id=documents[0].reseller_id,
            method=Method.DOCUMENTS,
            document_ids=tuple(sorted(doc.id for doc in documents)),
            detail=detail,
        )
        return _for_reseller(decision, line, ctx)

    if saw_rf:
        reason = Reason.UNKNOWN_REFERENCE if references else Reason.BAD_REFERENCE
        return _queue(reason, " ".join(sorted(references)))

    iban = payer_iban(line.payer_account)
    owners = ctx.accounts.get(iban, set()) if iban else set()
    if len(owners) > 1:
        return _queue(Reason.AMBIGUOUS, iban)
    if owners:
        (reseller_id,) = owners
        operations = [
            op
            for op in ctx.awaiting.get(reseller_id, [])
            if op.amount_open == line.amount
        ]
        documents = [
            doc
            for doc in ctx.documents_of(reseller_id)
            if doc.open_amount == line.amount
        ]
        if len(operations) == 1:
            decision = Decision(
                reseller_id=reseller_id,
                method=Method.ACCOUNT,
                operation_ids=(operations[0].id,),
                detail=f"{iban} {operations[0].reference}",
            )
            return _for_reseller(decision, line, ctx)
        if not operations and len(documents) == 1:
            decision = Decision(
                reseller_id=reseller_id,
                method=Method.ACCOUNT,
                document_ids=(documents[0].id,),
                detail=f"{iban} {documents[0].number}",
            )
            return _for_reseller(decision, line, ctx)
        return _queue(Reason.ACCOUNT_NO_AMOUNT, iban)
    return _queue(Reason.NO_REFERENCE)
