"""Hostile and broken import files: all or nothing, a summary, no traceback."""

import io
import json
import re
import sys

import pytest
from django.db import connection

from billing.models import AuditEvent, Document, PaymentModel
from tests import factories
from tests.billing.test_import_documents import HEADER, ledger_state, run

pytestmark = pytest.mark.django_db

GOOD = "US,Acme Cloud,invoice,INV-{n},2026-03-01,,10.00,USD,Subscriptions"


@pytest.fixture
def acme(db):
    us = factories.MarketplaceFactory(code="US", currency="USD")
    return factories.ResellerFactory(marketplace=us, name="Acme Cloud")


def write_bytes(tmp_path, data: bytes, name="documents.csv"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def csv_bytes(*rows: str) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode()


def assert_refused_and_nothing_written(out: str, err: str, line: int, reason: str):
    assert f"line {line}: " in err and reason in err, err
    assert "Traceback" not in err
    assert "written 0, " in out and f"(line(s) {line})" in out
    assert "nothing written" in out
    assert Document.objects.count() == 0


def test_one_bad_row_writes_nothing_by_default(tmp_path, acme):
    path = write_bytes(
        tmp_path, csv_bytes(GOOD.format(n=1), GOOD.format(n=2).replace("10.00", "x"))
    )
    succeeded, out, err = run(path)
    assert not succeeded
    assert_refused_and_nothing_written(out, err, 3, "bad amount 'x'")
    assert "--partial" in out


def test_partial_writes_the_good_rows_and_reports_the_bad(tmp_path, acme):
    path = write_bytes(
        tmp_path,
        csv_bytes(GOOD.format(n=1), GOOD.format(n=2).replace("10.00", "x")),
    )
    succeeded, out, _err = run(path, "--partial")
    assert not succeeded
    assert "written 1, unchanged 0, refused 1 (line(s) 3)" in out
    assert list(Document.objects.values_list("number", flat=True)) == ["INV-1"]


def test_a_duplicated_header_column_is_refused(tmp_path, acme):
    path = write_bytes(
        tmp_path,
        (HEADER + ",total\n" + GOOD.format(n=1) + ",99.00\n").encode(),
    )
    succeeded, _out, err = run(path)
    assert not succeeded
    assert "column(s) total appear more than once in the header" in err
    assert Document.objects.count() == 0


@pytest.mark.parametrize(
    ("name", "data", "line", "reason"),
    [
        (
            "documents.csv",
            csv_bytes(GOOD.format(n=1), GOOD.format(n=2).replace("10.00", "1e20")),
            3,
            "bad amount '1e20'",
        ),
        (
            "documents.csv",
            csv_bytes(
                GOOD.format(n=1), GOOD.format(n=2).replace("Subscriptions", "a\x00b")
            ),
            3,
            "description contains a NUL character",
        ),
        (
            "documents.jsonl",
            (
                json.dumps({"marketplace": "US", "reseller": "Acme Cloud"})[:-1]
                + ', "kind": "invoice", "number": "INV-1", "issue_date": '
                '"2026-03-01", "total": 1e20}\n'
            ).encode(),
            1,
            "bad amount",
        ),
        (
            "documents.jsonl",
            ('{"number": ' + "[" * 100_000 + "]" * 100_000 + "}\n").encode(),
            1,
            "invalid JSON",
        ),
        (
            "documents.jsonl",
            b'{"marketplace": "US", "reseller": "Acme Cloud", "kind": "invoice", '
            b'"number": "INV-1", "issue_date": "2026-03-01", "total": "1.00", '
            b'"description": "X\\ud800"}\n',
            1,
            "description is not valid UTF-8 text",
        ),
        (
            "documents.csv",
            csv_bytes(
                GOOD.format(n=1),
                GOOD.format(n=2).replace("Subscriptions", "x" * 140_000),
            ),
            3,
            "field larger than field limit",
        ),
    ],
    ids=["total-1e20", "nul-byte", "json-1e20", "deep-json", "surrogate", "128kb"],
)
def test_hostile_row_is_refused_without_a_traceback(
    tmp_path, acme, name, data, line, reason
):
    succeeded, out, err = run(write_bytes(tmp_path, data, name))
    assert not succeeded
    assert_refused_and_nothing_written(out, err, line, reason)


def test_a_bad_byte_after_9_kb_writes_nothing_and_names_its_line(tmp_path, acme):
    rows = [GOOD.format(n=n) for n in range(1, 201)]  # about 11 KB
    data = csv_bytes(*rows)
    assert len(data) > 9 * 1024
    bad = GOOD.format(n=999).replace("Subscriptions", "Sub\xffs").encode("latin-1")
    path = write_bytes(tmp_path, data + bad + b"\n")

    succeeded, out, err = run(path)

    assert not succeeded
    assert_refused_and_nothing_written(out, err, 202, "not valid UTF-8")
    assert "unchanged 0, refused 1" in out


def test_standard_input_is_imported_like_a_file(acme, monkeypatch):
    data = csv_bytes(GOOD.format(n=1), GOOD.format(n=2))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    succeeded, out, err = run("-", "--format", "csv")
    assert succeeded, err
    assert "written 2, unchanged 0, refused 0" in out


def test_a_failing_write_leaves_nothing_and_a_retry_works(tmp_path, us_prepaid):
    """Each database write of the import fails in turn; then the import runs."""
    path = write_bytes(
        tmp_path,
        csv_bytes(
            "US,Bolt IT,payment,PAY-1,2026-03-01,,50.00,USD,",
            "US,Bolt IT,invoice,INV-1,2026-03-02,,80.00,USD,",
            "US,Bolt IT,credit_memo,CN-1,2026-03-03,,40.00,USD,",
        ),
    )
    before = (ledger_state(), AuditEvent.objects.count())
    failed_at = 0
    while True:
        failed_at += 1
        fault = FailNthWrite(failed_at)
        with connection.execute_wrapper(fault):
            succeeded, out, err = run(path)
        if not fault.fired:
            break
        assert not succeeded
        assert "nothing was written" in err and "Traceback" not in err
        assert (ledger_state(), AuditEvent.objects.count()) == before
    assert fault.parts > 5  # the import writes documents, audit, allocations…
    assert succeeded, err
    assert "written 3, unchanged 0, refused 0" in out
    assert Document.objects.get(number="INV-1").open_amount == 0


# A statement that writes: an INSERT, UPDATE or DELETE, or a WITH ending in
# one (on PostgreSQL several writes of one operation are sent as one WITH).
WRITE = re.compile(r"^\s*(?:WITH\b.*?\)\s*)?(?:INSERT|UPDATE|DELETE)\b", re.I | re.S)
# One write such a statement carries.
WRITE_PART = re.compile(
    r'\b(?:INSERT\s+INTO|DELETE\s+FROM|UPDATE(?!\s+SET\b))\s+"?\w', re.I
)


class FailNthWrite:
    """Raise on the n-th write statement the database is sent.

    ``parts`` counts the writes those statements carry.
    """

    def __init__(self, n: int):
        self.n = n
        self.writes = 0
        self.parts = 0
        self.fired = False

    def __call__(self, execute, sql, params, many, context):
        if WRITE.match(sql):
            self.writes += 1
            self.parts += len(WRITE_PART.findall(sql))
            if self.writes == self.n:
                self.fired = True
                raise RuntimeError(f"injected failure at write {self.n}")
        return execute(sql, params, many, context)


@pytest.fixture
def us_prepaid(db):
    us = factories.MarketplaceFactory(code="US", currency="USD")
    return factories.ResellerFactory(
        marketplace=us, name="Bolt IT", payment_model=PaymentModel.PREPAID
    )
