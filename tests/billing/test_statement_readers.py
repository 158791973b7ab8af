"""Reading statement files as banks write them: only credit lines come out."""

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from billing.statements import StatementError, read_statements

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "statements"


def read(name: str):
    return read_statements((FIXTURES / name).read_bytes())


def test_camt053_v02_reads_every_transaction_of_a_batched_entry():
    (statement,) = read("camt053_v02.xml")
    assert statement.account == "DE89370400440532013000"
    assert statement.currency == "EUR"
    refs = [line.entry_reference for line in statement.lines]
    # The debit (…1236) and the reversal (…1237) are left out.
    assert refs == [
        "2026030200001234",
        "2026030200001235-1",
        "2026030200001235-2",
        "2026030200001235-3",
    ]
    assert [line.amount for line in statement.lines] == [
        Decimal("119.00"),
        Decimal("500.00"),
        Decimal("860.50"),
        Decimal("100.00"),
    ]
    first = statement.lines[0]
    assert first.payer_name == "Cobalt Systems GmbH"
    assert first.payer_account == "DE02120300000000202051"
    assert first.text == "Zahlung rf71 0000 0000 4711 Danke"
    assert first.booking_date == date(2026, 3, 2)
    # The structured creditor reference is read as well as the free text.
    assert statement.lines[1].text == "RF44000000004712"


def test_camt053_v08_reads_party_names_and_skips_pending_entries():
    (statement,) = read("camt053_v08.xml")
    assert [(line.entry_reference, line.amount) for line in statement.lines] == [
        ("20260303-7781001-01", Decimal("400.00")),
        ("20260303-7781001-02", Decimal("200.00")),
        ("20260303-7781002", Decimal("360.00")),
    ]
    assert statement.lines[0].payer_name == "Cobalt Systems GmbH"
    assert statement.lines[0].booking_date == date(2026, 3, 3)


def test_camt054_notification_is_read_like_a_statement():
    (statement,) = read("camt054_v08.xml")
    assert statement.statement_id == "NTFCTN-20260304-0009-1"
    assert [line.text for line in statement.lines] == ["RF60000000004715"]


def test_bai2_takes_credit_detail_records_and_joins_continuations():
    (statement,) = read("bai2_us.bai")
    assert statement.account == "000123456789"
    assert statement.currency == "USD"
    assert [(line.entry_reference, line.amount) for line in statement.lines] == [
        ("FW26030500112233", Decimal("2500.00")),
        ("ACH0305ZX8812", Decimal("1200.00")),
        ("ACH0305ZX8813", Decimal("300.00")),
        ("FW26030500112299", Decimal("450.00")),
    ]
    assert "0000 4720 THANK YOU" in statement.lines[0].text
    assert statement.lines[0].payer_name == "ACME CLOUD INC"
    assert statement.lines[1].payer_name == "BOLT IT LLC"


def test_bai2_with_a_wrong_control_total_is_refused():
    data = (FIXTURES / "bai2_us.bai").read_bytes().replace(b"49,3359000", b"49,3359001")
    with pytest.raises(StatementError) as error:
        read_statements(data)
    assert error.value.code == "control_total"


def test_bai2_without_trailer_is_refused():
    data = b"\n".join((FIXTURES / "bai2_us.bai").read_bytes().splitlines()[:-3])
    with pytest.raises(StatementError) as error:
        read_statements(data)
    assert error.value.code == "truncated"


def test_mt940_reads_structured_information_and_leaves_out_reversals():
    first, second = read("mt940_de.sta")
    assert first.account == "37040044/0532013000"
    assert [(line.entry_reference, line.amount) for line in first.lines] == [
        ("2603050912345", Decimal("1190.00")),
        ("2603050912347", Decimal("500.00")),
    ]
    line = first.lines[0]
    assert line.payer_name == "COBALT SYSTEMS GMBH"
    assert line.payer_account == "DE02120300000000202051"
    # ?21 and ?22 split the document number; joined again.
    assert "DE-INV-2026-0107 DE-INV-2026-0108" in line.text
    assert second.lines[0].entry_reference == "KREF 77812"


@pytest.mark.parametrize("encoding", ["utf-8", "iso-8859-1"])
def test_mt940_from_a_german_bank_is_read_in_either_encoding_it_is_written_in(
    encoding,
):
    data = (
        (FIXTURES / "mt940_de.sta")
        .read_text(encoding="utf-8")
        .replace("?32COBALT SYSTEMS GMBH", "?32MÜLLER & SÖHNE GMBH")
        .replace("SVWZ+Zahlung Rechnungen", "SVWZ+Zahlung für Rechnungen")
        .encode(encoding)
    )
    first, _second = read_statements(data)
    line = first.lines[0]
    assert line.payer_name == "MÜLLER & SÖHNE GMBH"
    assert "Zahlung für Rechnungen" in line.text


def test_mt940_with_binary_data_is_refused_in_any_encoding():
    data = (FIXTURES / "mt940_de.sta").read_bytes().replace(b"STARTUMSE", b"\xff\x00")
    with pytest.raises(StatementError) as error:
        read_statements(data)
    assert error.value.code == "encoding"


def test_mt940_that_does_not_reconcile_is_refused():
    data = (FIXTURES / "mt940_de.sta").read_bytes().replace(b"CR500,00", b"CR501,00")
    with pytest.raises(StatementError) as error:
        read_statements(data)
    assert error.value.code == "balance"


def test_csv_takes_positive_amounts_only():
    (statement,) = read("statement.csv")
    assert statement.account == "DE89 3704 0044 0532 0130 00"
    assert [line.amount for line in statement.lines] == [
        Decimal("119.00"),
        Decimal("250.00"),
        Decimal("33.00"),
    ]
    assert statement.lines[2].entry_reference == ""
