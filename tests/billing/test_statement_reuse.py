"""The ledger's writes are converted once per process on PostgreSQL.

psycopg turns a statement's ``%s`` placeholders into ``$1`` once and keeps
the result only for statements of at most so many parameters; the ledger's
one-statement writes (a posting's has 62) repeat on every operation, so the
engine (``config.postgresql``) raises that limit. Here each kind of
operation runs twice and its second run must convert nothing again.
"""

import pytest
from psycopg import _queries

from billing import services
from tests import factories

pytestmark = [pytest.mark.postgresql_only, pytest.mark.django_db]


@pytest.fixture
def conversions(monkeypatch):
    """Count the statements psycopg converts without keeping the result."""
    converted = []
    convert = _queries._query2pg_nocache

    def counted(query, encoding):
        converted.append(query[:80])
        return convert(query, encoding)

    monkeypatch.setattr(_queries, "_query2pg_nocache", counted)
    return converted


def test_payments_links_and_postings_are_converted_once(
    term_reseller, prepaid_reseller, conversions
):
    factories.post(term_reseller, "credit_memo", "1000.00")
    factories.post(prepaid_reseller, "credit_memo", "1000.00")
    invoices = iter(
        [factories.post(term_reseller, "invoice", "10.00") for _ in range(6)]
    )
    memo = factories.post(term_reseller, "credit_memo", "50.00")

    def pay():
        factories.pay(term_reseller, [next(invoices)])

    def link():
        services.link_documents(
            credit=memo, debit=next(invoices), amount="1.00", actor=None, reason="r"
        )

    def post():
        factories.post(prepaid_reseller, "invoice", "5.00")

    for operation in (pay, link, post):
        operation()  # the first run of each shape converts it
        conversions.clear()
        operation()
        assert conversions == [], operation.__name__
