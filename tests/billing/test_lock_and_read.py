"""The lock and the read under it, sent together.

A payment, a link and a posting lock the reseller and read what they plan
from in one go (``lock_and_read``; an unlink, a revert and a credit memo so
read their replay): on PostgreSQL the two statements are pipelined. The
read must still be a statement of its own, run once the lock is granted,
so it sees what the previous holder of the lock committed; a read that ran
before the lock (or in the lock's own statement, with the snapshot taken
before the wait) would plan from stale balances or miss a replay.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.db import OperationalError, connection, connections, transaction

from billing import services
from billing.exceptions import DuplicateDocumentNumber
from billing.locking import lock_reseller, lock_resellers
from billing.models import Operation, Reseller
from billing.payment_plan import selected_read
from billing.services import ledger_steps
from billing.services.ledger_steps import lock_and_read
from tests import factories
from tests.factories import pay, post

pytestmark = pytest.mark.django_db(transaction=True)


def _waiting_on_a_lock(backend_pid: int) -> bool:
    with connections["default"].cursor() as cursor:
        # Within a transaction the server keeps the first look at its
        # backends; each poll asks afresh.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s",
            [backend_pid],
        )
        found = cursor.fetchone()
    return bool(found and found[0])


def behind_a_holder(reseller, write: Callable[[], object], read: Callable[[], object]):
    """Return what ``read`` (a write's lock and read) found when it queued on
    the reseller's lock while another transaction held it and ran ``write``,
    committed once ``read`` was waiting on the lock."""
    waiter: dict[str, object] = {}
    holding, waiting = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        try:
            with transaction.atomic():
                lock_reseller(reseller.pk)
                holding.set()
                assert waiting.wait(timeout=30)
                # Commit only once the other request waits on the lock, with
                # its read already on its way.
                deadline = time.monotonic() + 30
                while not _waiting_on_a_lock(waiter["pid"]):
                    assert time.monotonic() < deadline, "never waited"
                    time.sleep(0.01)
                write()
        except Exception as exc:  # reported below
            waiter["holder's error"] = exc
        finally:
            connection.close()

    def queue_behind_it() -> None:
        try:
            assert holding.wait(timeout=30)
            connection.ensure_connection()
            waiter["pid"] = connection.connection.info.backend_pid
            waiting.set()
            with transaction.atomic():
                waiter["found"] = read()
        except Exception as exc:  # reported below
            waiter["error"] = exc
        finally:
            connection.close()

    threads = [
        threading.Thread(target=hold_the_lock),
        threading.Thread(target=queue_behind_it),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert "holder's error" not in waiter, waiter.get("holder's error")
    assert "error" not in waiter, waiter.get("error")
    return waiter["found"]


@pytest.mark.postgresql_only
def test_the_read_sees_what_the_previous_holder_committed(term_reseller):
    credit = post(term_reseller, "credit_memo", "100.00")
    invoice = post(term_reseller, "invoice", "60.00")

    def spend_the_credit():
        ledger_steps.store_open_amounts(term_reseller, {credit.pk: Decimal("40.00")})

    def read():
        _locked, found = lock_and_read(
            term_reseller,
            plan=selected_read(term_reseller, [invoice.pk]),
            new=[Operation],
        )
        return {doc.pk: doc.open_amount for doc in found.credits}

    found = behind_a_holder(term_reseller, spend_the_credit, read)
    assert found == {credit.pk: Decimal("40.00")}


@pytest.mark.postgresql_only
def test_the_replay_check_sees_the_operation_the_previous_holder_committed(
    term_reseller,
):
    digest = ledger_steps.request_hash("the same request")

    def make_the_operation():
        return Operation.objects.create(
            reseller=term_reseller,
            kind=Operation.Kind.CREDIT_MEMO,
            idempotency_key="once",
            request_hash=digest,
        )

    def replay():
        _locked, operation = ledger_steps.lock_and_replay(
            term_reseller.pk, key="once", kind=Operation.Kind.CREDIT_MEMO, digest=digest
        )
        return operation

    found = behind_a_holder(term_reseller, make_the_operation, replay)
    assert found == Operation.objects.get(
        reseller=term_reseller, idempotency_key="once"
    )


@pytest.mark.postgresql_only
def test_the_lock_and_the_read_travel_in_one_pipeline(term_reseller):
    invoice = post(term_reseller, "invoice", "60.00")
    pipelined = []

    def note(execute, sql, params, many, context):
        pipelined.append((sql.split()[0], connection.connection._pipeline is not None))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(note), transaction.atomic():
        locked, read = lock_and_read(
            term_reseller,
            plan=selected_read(term_reseller, [invoice.pk]),
            new=[Operation],
        )
    assert pipelined == [("SELECT", True), ("WITH", True)]
    assert locked.pk == term_reseller.pk
    assert [doc.pk for doc in read.documents] == [invoice.pk]


def test_a_missing_reseller_is_refused_and_nothing_is_read_for_it(db):
    with pytest.raises(Reseller.DoesNotExist), transaction.atomic():
        lock_and_read(Reseller(pk=987654), new=[Operation])


def test_the_lock_refuses_to_run_outside_a_transaction(term_reseller):
    with pytest.raises(RuntimeError, match="atomic"):
        lock_and_read(term_reseller, new=[Operation])


def test_a_payment_and_a_link_plan_from_what_they_read_with_the_lock(
    term_reseller, staff_user
):
    credit = post(term_reseller, "credit_memo", "100.00")
    first, second = post(term_reseller, "invoice", "70.00"), post(term_reseller)
    pay(Reseller(pk=term_reseller.pk), [first])
    credit.refresh_from_db()
    assert credit.open_amount == Decimal("30.00")
    allocation = services.link_documents(
        credit=credit, debit=second, amount="30.00", actor=staff_user, reason="rest"
    )
    assert allocation.amount == Decimal("30.00")
    credit.refresh_from_db()
    assert credit.open_amount == 0


def test_a_posting_with_an_outdated_copy_of_a_prepaid_account_applies_its_credit(
    prepaid_reseller,
):
    post(prepaid_reseller, "credit_memo", "100.00")
    outdated = Reseller.objects.get(pk=prepaid_reseller.pk)
    outdated.payment_model = "term"  # as read before the account became prepaid
    invoice = post(outdated, "invoice", "25.00")
    assert invoice.open_amount == 0
    assert Operation.objects.filter(
        reseller=prepaid_reseller, kind=Operation.Kind.AUTO_APPLY
    ).exists()


def test_a_posting_with_a_copy_of_another_marketplace_checks_the_right_one(
    term_reseller,
):
    post(term_reseller, "invoice", number="INV-SAME")
    elsewhere = Reseller.objects.get(pk=term_reseller.pk)
    elsewhere.marketplace_id = factories.MarketplaceFactory().pk
    sent = []

    def note(execute, sql, params, many, context):
        sent.append(sql)
        return execute(sql, params, many, context)

    with pytest.raises(DuplicateDocumentNumber), connection.execute_wrapper(note):
        post(elsewhere, "invoice", number="INV-SAME")
    # Refused by the number check under the lock, not by the database's
    # constraint after a write.
    assert not [sql for sql in sent if "INSERT" in sql]


@pytest.mark.postgresql_only
def test_a_lock_that_times_out_is_a_database_error_and_the_connection_lives_on(
    term_reseller,
):
    invoice = post(term_reseller, "invoice", "60.00")
    holding, done = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        try:
            with transaction.atomic():
                lock_reseller(term_reseller.pk)
                holding.set()
                done.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        assert holding.wait(timeout=30)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '50ms'")
        with pytest.raises(OperationalError), transaction.atomic():
            lock_and_read(
                term_reseller,
                plan=selected_read(term_reseller, [invoice.pk]),
                new=[Operation],
            )
        with pytest.raises(OperationalError), transaction.atomic():
            lock_reseller(term_reseller.pk)
    finally:
        done.set()
        holder.join(timeout=30)
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
    # The same connection pays once the lock is free.
    paid = pay(term_reseller, [invoice], use_credit=False)
    assert paid.payment.amount_left_open == Decimal("60.00")


def test_many_resellers_are_locked_in_id_order_a_hundred_at_a_time(db):
    marketplace = factories.MarketplaceFactory()
    resellers = Reseller.objects.bulk_create(
        factories.ResellerFactory.build(marketplace=marketplace) for _ in range(101)
    )
    ids = [reseller.pk for reseller in resellers]
    sent = []

    def note(execute, sql, params, many, context):
        if not sql.startswith("SELECT"):  # SQLite's BEGIN IMMEDIATE
            return execute(sql, params, many, context)
        # The pipeline itself is kept, so two are never told apart by an id
        # the first one's memory handed on.
        sent.append((params[0], getattr(connection.connection, "_pipeline", None)))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(note), transaction.atomic():
        locked = lock_resellers([*reversed(ids), ids[0]])
    assert [reseller.pk for reseller in locked] == sorted(ids)
    assert [pk for pk, _pipeline in sent] == sorted(ids)
    pipelines = [pipeline for _pk, pipeline in sent]
    if connection.vendor == "postgresql":
        assert all(pipeline is pipelines[0] for pipeline in pipelines[:100])
        assert pipelines[0] is not None
        assert pipelines[100] is not None
        assert pipelines[100] is not pipelines[0]
    with pytest.raises(Reseller.DoesNotExist), transaction.atomic():
        lock_resellers([ids[0], 987654])
