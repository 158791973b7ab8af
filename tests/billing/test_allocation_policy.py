"""The allocation policy: oldest debits first, oldest credits first, exact."""

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.allocation_policy import (
    OpenItem,
    PlannedAllocation,
    plan_allocations,
    policy_order,
    remaining_after,
)

ZERO = Decimal(0)
DETERMINISTIC = settings(
    derandomize=True, database=None, deadline=None, max_examples=150
)

amounts = st.integers(min_value=0, max_value=500_000).map(
    lambda cents: Decimal(cents).scaleb(-2)
)
positive_amounts = st.integers(min_value=1, max_value=500_000).map(
    lambda cents: Decimal(cents).scaleb(-2)
)


@st.composite
def open_items(draw, *, id_offset: int, amount=amounts, max_size: int = 12):
    """Draw documents with distinct ids; dates and numbers may collide."""
    size = draw(st.integers(min_value=0, max_value=max_size))
    items = []
    for index in range(size):
        items.append(
            OpenItem(
                id=id_offset + index,
                number=f"N{draw(st.integers(min_value=0, max_value=5)):03d}",
                issue_date=date(2026, 1, 1)
                + timedelta(days=draw(st.integers(min_value=0, max_value=4))),
                open_amount=draw(amount),
            )
        )
    return items


credit_lists = open_items(id_offset=1)
debit_lists = open_items(id_offset=1000)


def totals_by(plan, attribute):
    totals = defaultdict(lambda: ZERO)
    for item in plan:
        totals[getattr(item, attribute)] += item.amount
    return totals


@DETERMINISTIC
@given(credits=credit_lists, debits=debit_lists)
def test_plan_conserves_money(credits, debits):
    plan = plan_allocations(credits, debits)
    planned = sum((item.amount for item in plan), ZERO)
    assert planned == min(
        sum((c.open_amount for c in credits), ZERO),
        sum((d.open_amount for d in debits), ZERO),
    )


@DETERMINISTIC
@given(credits=credit_lists, debits=debit_lists)
def test_every_planned_amount_is_positive_and_exact(credits, debits):
    for item in plan_allocations(credits, debits):
        assert isinstance(item.amount, Decimal)
        assert item.amount > 0
        assert item.amount == item.amount.quantize(Decimal("0.01"))


@DETERMINISTIC
@given(credits=credit_lists, debits=debit_lists)
def test_no_document_gives_or_receives_more_than_its_open_amount(credits, debits):
    plan = plan_allocations(credits, debits)
    given_out = totals_by(plan, "credit_id")
    received = totals_by(plan, "debit_id")
    credit_ids = {c.id for c in credits}
    debit_ids = {d.id for d in debits}
    assert set(given_out) <= credit_ids
    assert set(received) <= debit_ids
    for credit in credits:
        assert given_out[credit.id] <= credit.open_amount
    for debit in debits:
        assert received[debit.id] <= debit.open_amount


@DETERMINISTIC
@given(credits=credit_lists, debits=debit_lists)
def test_debits_are_paid_strictly_oldest_first(credits, debits):
    received = totals_by(plan_allocations(credits, debits), "debit_id")
    ordered = policy_order(debits)
    for index, debit in enumerate(ordered):
        if received[debit.id] > 0:
            for earlier in ordered[:index]:
                assert received[earlier.id] == earlier.open_amount, (
                    f"{debit} paid before older {earlier} was settled"
                )


@DETERMINISTIC
@given(credits=credit_lists, debits=debit_lists)
def test_credits_are_consumed_oldest_first(credits, debits):
    given_out = totals_by(plan_allocations(credits, debits), "credit_id")
    ordered = policy_order(credits)
    for index, credit in enumerate(ordered):
        if given_out[credit.id] > 0:
            for earlier in ordered[:index]:
                assert given_out[earlier.id] == earlier.open_amount


@DETERMINISTIC
@given(credits=credit_lists, debits=debit_lists)
def test_at_most_one_debit_is_partly_paid_and_it_is_the_last_touched(credits, debits):
    plan = plan_allocations(credits, debits)
    received = totals_by(plan, "debit_id")
    ordered = [d for d in policy_order(debits) if received[d.id] > 0]
    partly = [d for d in ordered if received[d.id] < d.open_amount]
    assert len(partly) <= 1
    if partly:
        assert partly[0] is ordered[-1]
    credits_left = [c for c in credits if totals_by(plan, "credit_id")[c.id] == 0]
    if partly:
        # A debit stays partly paid only because every credit ran out.
        assert all(c.open_amount == 0 for c in credits_left)


@DETERMINISTIC
@given(credits=credit_lists, debits=debit_lists, data=st.data())
def test_plan_does_not_depend_on_input_order(credits, debits, data):
    shuffled_credits = data.draw(st.permutations(credits))
    shuffled_debits = data.draw(st.permutations(debits))
    assert plan_allocations(shuffled_credits, shuffled_debits) == plan_allocations(
        credits, debits
    )


@DETERMINISTIC
@given(credits=credit_lists, debits=debit_lists)
def test_plan_follows_policy_order_line_by_line(credits, debits):
    plan = plan_allocations(credits, debits)
    debit_rank = {d.id: i for i, d in enumerate(policy_order(debits))}
    credit_rank = {c.id: i for i, c in enumerate(policy_order(credits))}
    keys = [(debit_rank[p.debit_id], credit_rank[p.credit_id]) for p in plan]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)


@DETERMINISTIC
@given(
    credits=open_items(id_offset=1, amount=positive_amounts),
    debits=open_items(id_offset=1000, amount=positive_amounts),
)
def test_remaining_after_is_open_minus_planned(credits, debits):
    plan = plan_allocations(credits, debits)
    received = totals_by(plan, "debit_id")
    rows = remaining_after(debits, plan)
    assert [debit for debit, _left in rows] == policy_order(debits)
    for debit, left in rows:
        assert left == debit.open_amount - received[debit.id]
        assert ZERO <= left <= debit.open_amount


# --- the DESIGN rules, by example -------------------------------------------


def item(id_, number, day, amount):
    return OpenItem(id_, number, date(2026, 1, day), Decimal(amount))


def test_credit_smaller_than_selection_pays_oldest_fully_and_next_partly():
    credit = item(1, "CM-1", 20, "150.00")
    march = item(12, "INV-3", 3, "100.00")
    january = item(10, "INV-1", 1, "100.00")
    february = item(11, "INV-2", 2, "100.00")
    plan = plan_allocations([credit], [march, january, february])
    assert plan == [
        PlannedAllocation(1, 10, Decimal("100.00")),
        PlannedAllocation(1, 11, Decimal("50.00")),
    ]


def test_same_issue_date_debits_are_paid_in_number_order():
    credit = item(1, "CM-1", 1, "60.00")
    later_number = item(10, "INV-B", 5, "50.00")
    earlier_number = item(11, "INV-A", 5, "50.00")
    plan = plan_allocations([credit], [later_number, earlier_number])
    assert plan == [
        PlannedAllocation(1, 11, Decimal("50.00")),
        PlannedAllocation(1, 10, Decimal("10.00")),
    ]


def test_oldest_credit_is_consumed_first_and_spills_into_the_next():
    newer = item(2, "PAY-2", 9, "80.00")
    older = item(1, "PAY-1", 3, "30.00")
    invoice = item(10, "INV-1", 1, "50.00")
    plan = plan_allocations([newer, older], [invoice])
    assert plan == [
        PlannedAllocation(1, 10, Decimal("30.00")),
        PlannedAllocation(2, 10, Decimal("20.00")),
    ]


def test_credit_covering_everything_pays_every_debit_and_keeps_the_rest():
    credit = item(1, "CM-1", 1, "500.00")
    debits = [item(10, "INV-1", 1, "100.00"), item(11, "INV-2", 2, "0.01")]
    plan = plan_allocations([credit], debits)
    assert plan == [
        PlannedAllocation(1, 10, Decimal("100.00")),
        PlannedAllocation(1, 11, Decimal("0.01")),
    ]


@pytest.mark.parametrize(
    ("credits", "debits"),
    [
        ([], [item(10, "INV-1", 1, "100.00")]),
        ([item(1, "CM-1", 1, "100.00")], []),
        ([item(1, "CM-1", 1, "0")], [item(10, "INV-1", 1, "100.00")]),
        ([], []),
    ],
)
def test_nothing_is_planned_without_credit_or_debit(credits, debits):
    assert plan_allocations(credits, debits) == []


def test_zero_open_documents_are_skipped():
    plan = plan_allocations(
        [item(1, "CM-0", 1, "0"), item(2, "CM-1", 2, "40")],
        [item(10, "INV-0", 1, "0"), item(11, "INV-1", 2, "25")],
    )
    assert plan == [PlannedAllocation(2, 11, Decimal("25"))]
