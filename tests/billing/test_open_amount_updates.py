"""A change of a document's open amount that leaves it open rewrites no index.

The open documents' partial indexes are conditioned on ``is_open``, which the
database keeps from ``open_amount``, and no index names ``open_amount``
itself. PostgreSQL then updates such a row in place (a HOT update): the
credit every payment of a busy account draws from, or both sides of a
partial link, get no new index entries. Only opening or closing a document
changes an indexed column.
"""

import re
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection

from billing import services
from billing.models import Document
from tests.factories import pay, post

OPEN_INDEXES = {
    "document_open_credit_idx",
    "document_open_debit_idx",
    "document_open_by_date_idx",
    "document_open_debit_number_idx",
}


def _document_indexes() -> dict[str, str]:
    """Return each index of the documents' table by name, with its definition."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT indexname, indexdef FROM pg_indexes "
                "WHERE tablename = 'billing_document'"
            )
        else:
            cursor.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                "AND tbl_name = 'billing_document' AND sql IS NOT NULL"
            )
        return dict(cursor.fetchall())


@pytest.mark.django_db
def test_no_index_of_documents_names_the_open_amount():
    indexes = _document_indexes()
    assert OPEN_INDEXES <= set(indexes)
    for name, definition in indexes.items():
        assert "open_amount" not in definition, definition
        if name in OPEN_INDEXES:
            assert re.search(r"\bis_open\b", definition), definition


def _open(document: Document) -> tuple[Decimal, bool]:
    document.refresh_from_db(fields=["open_amount", "is_open"])
    return document.open_amount, document.is_open


def test_is_open_follows_the_open_amount(term_reseller, staff_user):
    memo = post(term_reseller, "credit_memo", "100.00", issue_date=date(2025, 12, 1))
    invoice = post(term_reseller, "invoice", "60.00")
    assert _open(memo) == (Decimal("100.00"), True)

    operation = pay(term_reseller, [invoice])
    assert _open(invoice) == (Decimal("0.00"), False)
    assert _open(memo) == (Decimal("40.00"), True)

    services.revert_operation(
        operation=operation, actor=staff_user, reason="paid twice"
    )
    assert _open(invoice) == (Decimal("60.00"), True)


def _updates_of_documents() -> tuple[int, int]:
    """Return this transaction's updates of documents so far: all, and HOT."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables "
            "WHERE relname = 'billing_document'"
        )
        return cursor.fetchone()


def _updates_during(write) -> tuple[int, int]:
    """Return how many documents ``write`` updated, and how many in place."""
    updated, in_place = _updates_of_documents()
    write()
    after, after_in_place = _updates_of_documents()
    return after - updated, after_in_place - in_place


@pytest.mark.postgresql_only
def test_a_partial_link_updates_both_documents_in_place(term_reseller, staff_user):
    memo = post(term_reseller, "credit_memo", "100.00", issue_date=date(2025, 12, 1))
    invoice = post(term_reseller, "invoice", "60.00")

    updates = _updates_during(
        lambda: services.link_documents(
            credit=memo, debit=invoice, amount="25.00", actor=staff_user, reason="asked"
        )
    )

    assert updates == (2, 2)


@pytest.mark.postgresql_only
def test_a_payment_from_credit_draws_on_the_credit_in_place(term_reseller):
    memo = post(term_reseller, "credit_memo", "100.00", issue_date=date(2025, 12, 1))
    invoice = post(term_reseller, "invoice", "60.00")

    updates = _updates_during(lambda: pay(term_reseller, [invoice]))

    # The credit stays open (in place); the invoice closes, which leaves the
    # open indexes and so is a new version.
    assert updates == (2, 1)
    assert _open(memo) == (Decimal("40.00"), True)
