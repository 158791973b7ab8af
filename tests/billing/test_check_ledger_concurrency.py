"""check_ledger reads one snapshot: writes committed meanwhile are no drift.

Real threads on a real database. PostgreSQL is where the check and the writes
truly run side by side (REPEATABLE READ); on SQLite the check's one
transaction holds the write lock, so the writes wait for it. It runs on both,
so it never skips: ``make test`` with ``DATABASE_URL`` set runs it on PostgreSQL.
"""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from billing import services
from billing.models import CreditPolicy, PaymentModel
from tests import factories
from tests.factories import pay, post

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _account(index: int):
    marketplace = factories.MarketplaceFactory(
        term_credit_policy=CreditPolicy.SELF_SERVICE
    )
    reseller = factories.ResellerFactory(
        marketplace=marketplace, payment_model=PaymentModel.TERM
    )
    credits = [
        post(reseller, "credit_memo", "500.00", issue_date=date(2025, 12, day))
        for day in (1, 2)
    ]
    invoices = [
        post(reseller, "invoice", "30.00", issue_date=date(2026, 1, 1) + timedelta(i))
        for i in range(12)
    ]
    return reseller, credits, invoices


def test_check_ledger_reports_nothing_while_payments_and_links_run(staff_user):
    linking, link_credits, link_invoices = _account(1)
    paying, _pay_credits, pay_invoices = _account(2)
    writers_done = threading.Event()
    errors: list[BaseException] = []
    reports: list[str] = []
    checks = 0

    def link_and_unlink() -> None:
        for round_ in range(15):
            credit = link_credits[round_ % 2]
            debit = link_invoices[round_ % len(link_invoices)]
            allocation = services.link_documents(
                credit=credit, debit=debit, amount="1.00", actor=staff_user, reason="r"
            )
            services.unlink_allocation(
                allocation=allocation, actor=staff_user, reason="undo"
            )

    def pay_one_by_one() -> None:
        for invoice in pay_invoices:
            pay(paying, [invoice], use_credit=True, payment_method="bank_transfer")

    def check_repeatedly() -> None:
        nonlocal checks
        while not writers_done.is_set() or checks == 0:
            out = StringIO()
            try:
                call_command("check_ledger", "--batch-size", "1", stdout=out)
            except CommandError:
                reports.append(out.getvalue())
            checks += 1
            # SQLite's lock is not fair: a waiting writer polls for it, so a
            # check started the instant the last one ended could keep the
            # writers out for good. Checks are not run back to back in use.
            time.sleep(0.05)

    def guarded(task):
        def run() -> None:
            try:
                task()
            except BaseException as exc:  # reported by the test below
                errors.append(exc)
            finally:
                connection.close()

        return run

    writers = [
        threading.Thread(target=guarded(task))
        for task in (link_and_unlink, pay_one_by_one)
    ]
    checker = threading.Thread(target=guarded(check_repeatedly))
    checker.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join(timeout=120)
    writers_done.set()
    checker.join(timeout=120)

    assert not errors, errors
    assert checks >= 1
    assert reports == [], reports[0]
    # The writes did happen while the check ran.
    assert all(doc.open_amount == 0 for doc in map(_fresh, pay_invoices[:10]))


def _fresh(document):
    document.refresh_from_db()
    return document
