"""Hostile or broken statement files: a clear refusal, nothing written."""

import pytest
from django.utils import translation

from billing.models import BankLine, BankStatement, Document
from billing.services.cash_application import StatementRefused
from billing.statements import MAX_STATEMENT_BYTES
from tests.billing import bank

pytestmark = pytest.mark.django_db

CAMT = (bank.FIXTURES / "camt053_v02.xml").read_bytes()

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE Document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>
<Stmt><Id>&xxe;</Id><Acct><Id><IBAN>DE89370400440532013000</IBAN></Id></Acct>
</Stmt></BkToCstmrStmt></Document>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
]>
<Document><BkToCstmrStmt><Stmt><Id>&lol9;</Id></Stmt></BkToCstmrStmt></Document>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE Document SYSTEM "http://127.0.0.1:9/camt.dtd">
<Document/>"""

CSV_HEADER = (
    f"# account: {bank.DE_IBAN}\n"
    "date,amount,currency,counterparty,remittance,reference\n"
)

HOSTILE = [
    ("malformed XML", CAMT.replace(b"</Ntry>", b"</Ntri>", 1), "xml_malformed"),
    ("XML cut short", CAMT[: len(CAMT) // 2], "xml_malformed"),
    ("external entity", XXE, "xml_forbidden"),
    ("billion laughs", BILLION_LAUGHS, "xml_forbidden"),
    ("external DTD", EXTERNAL_DTD, "xml_forbidden"),
    (
        "XML declared UTF-8 but written in Latin-1",
        CAMT.replace(b"Zahlung", "Zählung".encode("latin-1")),
        "xml_malformed",
    ),
    (
        "CSV in Latin-1",
        (CSV_HEADER + '2026-03-06,10.00,EUR,Müller,"x",R1\n').encode("latin-1"),
        "encoding",
    ),
    (
        "CSV with a formula",
        (CSV_HEADER + '2026-03-06,10.00,EUR,"=HYPERLINK(""x"")",y,R1\n').encode(),
        "csv_formula",
    ),
    (
        "CSV with a formula after good rows",
        (
            CSV_HEADER
            + "2026-03-06,10.00,EUR,Good,RF71000000004711,R1\n"
            + "2026-03-06,11.00,EUR,Bad,@SUM(A1),R2\n"
        ).encode(),
        "csv_formula",
    ),
    ("binary garbage", b"\x00\x01\x02PK\x03\x04" * 50, "encoding"),
    ("empty file", b"   \n", "empty"),
    (
        "CSV amount with more decimals than its currency has",
        (CSV_HEADER + "2026-03-06,10.005,EUR,a,b,R1\n").encode(),
        "amount",
    ),
    (
        "CSV amount past what the ledger holds",
        (CSV_HEADER + "2026-03-06,99999999999999999999.00,EUR,a,b,R1\n").encode(),
        "amount",
    ),
    (
        "camt.053 amount in millionths",
        CAMT.replace(b"119.00<", b"119.000001<"),
        "amount",
    ),
    (
        "CSV with float-like amount",
        (CSV_HEADER + "2026-03-06,1e3,EUR,a,b,R1\n").encode(),
        "amount",
    ),
]


@pytest.mark.parametrize(
    ("data", "code"), [case[1:] for case in HOSTILE], ids=[c[0] for c in HOSTILE]
)
def test_hostile_file_is_refused_with_a_clear_error(data, code):
    bank.de_marketplace()
    with pytest.raises(StatementRefused) as error:
        bank.import_bytes(data)
    assert error.value.code == code
    assert str(error.value.message)
    assert BankStatement.objects.count() == BankLine.objects.count() == 0
    assert Document.objects.count() == 0


def test_a_50_mb_file_is_refused_by_its_size_before_parsing():
    bank.de_marketplace()
    data = b"<" + b"A" * (50 * 1024 * 1024)
    assert len(data) > MAX_STATEMENT_BYTES
    with pytest.raises(StatementRefused) as error:
        bank.import_bytes(data)
    assert error.value.code == "too_large"
    assert BankLine.objects.count() == 0


def test_a_failure_in_the_second_statement_leaves_the_first_file_unwritten():
    """A file is read whole first: a bad second statement writes nothing."""
    bank.de_marketplace()
    data = (bank.FIXTURES / "mt940_de.sta").read_bytes()
    broken = data.replace(b":62F:C260306EUR13846,50", b":62F:C260306EUR1,00")
    with pytest.raises(StatementRefused):
        bank.import_bytes(broken)
    assert BankLine.objects.count() == 0


def test_an_amount_the_ledger_cannot_hold_is_named_in_the_language_of_the_page():
    bank.de_marketplace()
    data = (CSV_HEADER + "2026-03-06,10.00,EUR,a,b,R1\n").encode()
    data += b"2026-03-07,12.345,EUR,a,b,R2\n"
    with translation.override("de"), pytest.raises(StatementRefused) as error:
        bank.import_bytes(data)
    assert str(error.value.message) == (
        "Zeile 2, 12.345 EUR: Beträge in EUR haben höchstens 2 Nachkommastellen."
    )
    assert BankLine.objects.count() == 0


def test_a_bad_amount_in_a_file_of_several_statements_names_its_statement():
    """Lines count within their statement: the refusal names which one."""
    bank.de_marketplace()
    data = (bank.FIXTURES / "mt940_de.sta").read_bytes()
    data = data.replace(b"CR42,00N", b"CR42,005N").replace(
        b":62F:C260306EUR13846,50", b":62F:C260306EUR13846,505"
    )
    with translation.override("de"), pytest.raises(StatementRefused) as error:
        bank.import_bytes(data)
    assert error.value.code == "amount"
    assert str(error.value.message) == (
        "Auszug STARTUMSE 00062/001, Zeile 1, 42.005 EUR: "
        "Beträge in EUR haben höchstens 2 Nachkommastellen."
    )
    assert BankLine.objects.count() == 0
