"""The ledger against a plain-Python model of it (TigerBeetle's "auditor").

A Hypothesis state machine posts documents, pays with and without credit (bank
transfer, card charged, card declined), links, unlinks and reverts through the
services, and keeps its own model of every open amount and allocation. After
each step the database must agree with the model and obey every guarantee.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from billing import selectors, services
from billing.exceptions import BillingError
from billing.gateways import SandboxGateway
from billing.models import (
    CREDIT_KINDS,
    Allocation,
    CreditPolicy,
    Document,
    Operation,
    PaymentModel,
    Reversal,
)
from tests import factories
from tests.billing.ledger_checks import assert_ledger_consistent, ledger_snapshot
from tests.factories import pay, post

ZERO = Decimal(0)
CARD_OUTCOMES = {
    "card_charged": SandboxGateway.SUCCESS_CARD,
    "card_declined": SandboxGateway.DECLINED_CARD,
}
cents = st.integers(min_value=1, max_value=40_000).map(lambda c: Decimal(c) / 100)
days = st.integers(min_value=0, max_value=6)
_serial = itertools.count(1)


@dataclass
class ModelDocument:
    id: int
    kind: str
    number: str
    issue_date: date
    total: Decimal
    open: Decimal

    @property
    def is_credit(self) -> bool:
        return self.kind in CREDIT_KINDS

    @property
    def order(self) -> tuple:
        return (self.issue_date, self.number, self.id)


@dataclass
class ModelAllocation:
    credit: int
    debit: int
    amount: Decimal
    operation: int
    active: bool = True


@dataclass
class Model:
    documents: dict[int, ModelDocument] = field(default_factory=dict)
    allocations: dict[int, ModelAllocation] = field(default_factory=dict)

    def open_of(self, *, credit: bool) -> list[ModelDocument]:
        return sorted(
            (
                doc
                for doc in self.documents.values()
                if doc.is_credit == credit and doc.open > 0
            ),
            key=lambda doc: doc.order,
        )

    def oldest_first(
        self, credits: list[ModelDocument], debits: list[ModelDocument]
    ) -> list[tuple[int, int, Decimal]]:
        """The policy, written again as plainly as possible."""
        credit_left = {c.id: c.open for c in credits}
        planned = []
        for debit in sorted(debits, key=lambda doc: doc.order):
            need = debit.open
            for credit in sorted(credits, key=lambda doc: doc.order):
                amount = min(need, credit_left[credit.id])
                if amount > 0:
                    planned.append((credit.id, debit.id, amount))
                    credit_left[credit.id] -= amount
                    need -= amount
        return planned

    def apply(self, planned: list[tuple[int, int, Decimal]]) -> None:
        for credit, debit, amount in planned:
            self.documents[credit].open -= amount
            self.documents[debit].open -= amount

    def reverse(self, allocation_id: int) -> None:
        allocation = self.allocations[allocation_id]
        allocation.active = False
        self.documents[allocation.credit].open += allocation.amount
        self.documents[allocation.debit].open += allocation.amount


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.model = Model()
        self.last_allocation_id = 0
        self.payments: list[tuple[Operation, dict, list[int]]] = []

    @initialize(
        account=st.sampled_from(["term_self_service", "term_contact", "prepaid"])
    )
    def open_account(self, account: str) -> None:
        policy = (
            CreditPolicy.CONTACT_SUPPORT
            if account == "term_contact"
            else CreditPolicy.SELF_SERVICE
        )
        marketplace = factories.MarketplaceFactory(term_credit_policy=policy)
        self.reseller = factories.ResellerFactory(
            marketplace=marketplace,
            payment_model=PaymentModel.PREPAID
            if account == "prepaid"
            else PaymentModel.TERM,
        )
        self.staff = factories.UserFactory(password=None)
        self.credit_allowed = account != "term_contact"
        self.last_allocation_id = (
            Allocation.objects.order_by("-id").values_list("id", flat=True).first() or 0
        )

    # --- helpers -------------------------------------------------------------

    def expect_new_allocations(self, planned, operation_ids=None) -> None:
        """Check the allocations made since the last step match ``planned``."""
        new = list(
            Allocation.objects.filter(
                reseller=self.reseller, id__gt=self.last_allocation_id
            ).order_by("id")
        )
        assert Counter((a.credit_id, a.debit_id, a.amount) for a in new) == Counter(
            planned
        )
        for allocation in new:
            if operation_ids is not None:
                assert allocation.operation_id in operation_ids
            self.model.allocations[allocation.pk] = ModelAllocation(
                allocation.credit_id,
                allocation.debit_id,
                allocation.amount,
                allocation.operation_id,
            )
            self.last_allocation_id = allocation.pk

    def add_document(self, document: Document) -> None:
        self.model.documents[document.pk] = ModelDocument(
            document.pk,
            document.kind,
            document.number,
            document.issue_date,
            document.total,
            document.total,
        )

    def post_and_auto_apply(self, kind: str, amount: Decimal, day: int) -> None:
        document = post(
            self.reseller,
            kind,
            amount,
            issue_date=date(2026, 1, 1) + timedelta(days=day),
            number=f"SM-{next(_serial):07d}",
        )
        self.add_document(document)
        planned = []
        if self.reseller.is_prepaid:
            planned = self.model.oldest_first(
                self.model.open_of(credit=True), self.model.open_of(credit=False)
            )
            self.model.apply(planned)
        self.expect_new_allocations(planned)

    def active_allocation_ids(self) -> list[int]:
        return sorted(pk for pk, a in self.model.allocations.items() if a.active)

    # --- rules ---------------------------------------------------------------

    @rule(kind=st.sampled_from(["invoice", "debit_memo"]), amount=cents, day=days)
    def post_debit(self, kind: str, amount: Decimal, day: int) -> None:
        self.post_and_auto_apply(kind, amount, day)

    @rule(kind=st.sampled_from(["credit_memo", "payment"]), amount=cents, day=days)
    def post_credit(self, kind: str, amount: Decimal, day: int) -> None:
        self.post_and_auto_apply(kind, amount, day)

    @precondition(lambda self: self.model.open_of(credit=False))
    @rule(
        data=st.data(),
        use_credit=st.booleans(),
        method=st.sampled_from(["bank_transfer", "card_charged", "card_declined"]),
        with_preview=st.booleans(),
    )
    def pay_documents(self, data, use_credit, method, with_preview) -> None:
        candidates = self.model.open_of(credit=False)
        selected = data.draw(
            st.lists(
                st.sampled_from(candidates),
                min_size=1,
                max_size=4,
                unique_by=lambda doc: doc.id,
            ),
            label="selection",
        )
        kwargs = {"use_credit": use_credit, "idempotency_key": f"k{next(_serial)}"}
        if method == "bank_transfer":
            kwargs["payment_method"] = "bank_transfer"
        else:
            kwargs["payment_method"] = "card"
            kwargs["card_token"] = CARD_OUTCOMES[method]
        if use_credit and not self.credit_allowed:
            before = ledger_snapshot(self.reseller)
            try:
                pay(self.reseller, [doc.id for doc in selected], **kwargs)
            except BillingError as exc:
                assert exc.code == "credit_not_allowed"
            else:
                raise AssertionError("credit used where the marketplace forbids it")
            assert ledger_snapshot(self.reseller) == before
            return
        if with_preview:
            kwargs["fingerprint"] = services.preview_payment(
                reseller=self.reseller,
                document_ids=[doc.id for doc in selected],
                use_credit=use_credit,
            ).fingerprint

        planned = []
        if use_credit:
            planned = self.model.oldest_first(self.model.open_of(credit=True), selected)
        self.model.apply(planned)
        remainder = sum((doc.open for doc in selected), ZERO)
        operation = pay(self.reseller, [doc.id for doc in selected], **kwargs)

        assert operation.payment.credit_applied == sum((p[2] for p in planned), ZERO)
        if remainder == 0:
            assert operation.status == Operation.Status.COMPLETED
        elif method == "bank_transfer":
            assert operation.status == Operation.Status.AWAITING_TRANSFER
            assert operation.payment.amount_left_open == remainder
        elif method == "card_declined":
            assert operation.status == Operation.Status.DECLINED
            assert operation.payment.amount_left_open == remainder
        else:
            assert operation.status == Operation.Status.COMPLETED
            assert operation.payment.amount_charged == remainder
            payment = Document.objects.get(operation=operation)
            self.add_document(payment)
            card_plan = self.model.oldest_first(
                [self.model.documents[payment.pk]], selected
            )
            self.model.apply(card_plan)
            planned += card_plan
            assert self.model.documents[payment.pk].open == 0
        self.expect_new_allocations(planned, operation_ids={operation.pk})
        self.payments.append((operation, kwargs, [doc.id for doc in selected]))

    @precondition(lambda self: self.payments)
    @rule(data=st.data())
    def replay_payment(self, data) -> None:
        operation, kwargs, ids = data.draw(st.sampled_from(self.payments))
        kwargs = {k: v for k, v in kwargs.items() if k != "fingerprint"}
        before = ledger_snapshot(self.reseller)
        replay = pay(self.reseller, ids, **kwargs)
        assert replay.pk == operation.pk
        assert replay.status == operation.status
        assert ledger_snapshot(self.reseller) == before

    @precondition(
        lambda self: (
            self.model.open_of(credit=True) and self.model.open_of(credit=False)
        )
    )
    @rule(data=st.data())
    def link_partial(self, data) -> None:
        credit = data.draw(st.sampled_from(self.model.open_of(credit=True)))
        debit = data.draw(st.sampled_from(self.model.open_of(credit=False)))
        most = int(min(credit.open, debit.open) * 100)
        amount = Decimal(data.draw(st.integers(1, most), label="cents")) / 100
        allocation = services.link_documents(
            credit=Document.objects.get(pk=credit.id),
            debit=Document.objects.get(pk=debit.id),
            amount=amount,
            actor=self.staff,
            reason="state machine",
        )
        planned = [(credit.id, debit.id, amount)]
        self.model.apply(planned)
        self.expect_new_allocations(planned, operation_ids={allocation.operation_id})

    @precondition(
        lambda self: (
            self.model.open_of(credit=True) and self.model.open_of(credit=False)
        )
    )
    @rule(data=st.data())
    def link_too_much_is_refused(self, data) -> None:
        credit = data.draw(st.sampled_from(self.model.open_of(credit=True)))
        debit = data.draw(st.sampled_from(self.model.open_of(credit=False)))
        before = ledger_snapshot(self.reseller)
        try:
            services.link_documents(
                credit=Document.objects.get(pk=credit.id),
                debit=Document.objects.get(pk=debit.id),
                amount=max(credit.open, debit.open) + Decimal("0.01"),
                actor=self.staff,
                reason="state machine",
            )
        except BillingError as exc:
            assert exc.code == "amount_exceeds_open"
        else:
            raise AssertionError("overspending link accepted")
        assert ledger_snapshot(self.reseller) == before

    @precondition(lambda self: self.active_allocation_ids())
    @rule(data=st.data())
    def unlink(self, data) -> None:
        allocation_id = data.draw(st.sampled_from(self.active_allocation_ids()))
        services.unlink_allocation(
            allocation=Allocation.objects.get(pk=allocation_id),
            actor=self.staff,
            reason="state machine",
        )
        self.model.reverse(allocation_id)
        before = ledger_snapshot(self.reseller)
        try:
            services.unlink_allocation(
                allocation=Allocation.objects.get(pk=allocation_id),
                actor=self.staff,
                reason="again",
            )
        except BillingError as exc:
            assert exc.code == "already_reversed"
        else:
            raise AssertionError("allocation unlinked twice")
        assert ledger_snapshot(self.reseller) == before

    @precondition(lambda self: self.model.allocations)
    @rule(data=st.data())
    def revert(self, data) -> None:
        operation_ids = sorted({a.operation for a in self.model.allocations.values()})
        operation = Operation.objects.get(pk=data.draw(st.sampled_from(operation_ids)))
        active = [
            pk
            for pk, a in self.model.allocations.items()
            if a.operation == operation.pk and a.active
        ]
        before = ledger_snapshot(self.reseller)
        try:
            services.revert_operation(
                operation=operation, actor=self.staff, reason="state machine"
            )
        except BillingError as exc:
            assert not active
            assert exc.code == "nothing_to_revert"
            assert ledger_snapshot(self.reseller) == before
            return
        assert active, "revert succeeded with nothing to revert"
        for allocation_id in active:
            self.model.reverse(allocation_id)

    # --- invariants -------------------------------------------------------------

    @invariant()
    def database_matches_model(self) -> None:
        if not hasattr(self, "reseller"):
            return
        stored = dict(
            Document.objects.filter(reseller=self.reseller).values_list(
                "pk", "open_amount"
            )
        )
        assert stored == {pk: doc.open for pk, doc in self.model.documents.items()}
        for doc in self.model.documents.values():
            assert ZERO <= doc.open <= doc.total
        active_in_db = set(
            Allocation.objects.filter(
                reseller=self.reseller, reversal__isnull=True
            ).values_list("pk", flat=True)
        )
        assert active_in_db == set(self.active_allocation_ids())
        assert Reversal.objects.filter(reseller=self.reseller).count() == sum(
            not a.active for a in self.model.allocations.values()
        )
        expected_balance = sum(
            (doc.open for doc in self.model.open_of(credit=True)), ZERO
        )
        assert selectors.credit_balance(self.reseller) == expected_balance
        assert_ledger_consistent(self.reseller)


def test_ledger_agrees_with_its_model_whatever_the_sequence(db):
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=25,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
