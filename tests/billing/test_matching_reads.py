"""What cash application reads of the ledger to match a statement.

A statement's lines are matched against the open debits they could prove —
those whose numbers they quote, those of a known payer's account whose open
amount they pay, and whatever reads like either — not against every open
invoice of the marketplace; against the payments whose references they
quote, the open ones of older ``TR-…`` references and the open ones of
their payers, not every payment waiting for a transfer; and against the
known accounts and currencies of those payers and resellers only. The
decisions are those a whole read gives.
"""

from datetime import date
from decimal import Decimal

import pytest

from billing.matching import (
    DocumentFact,
    LineFacts,
    MatchContext,
    Method,
    OperationFact,
    Reason,
    match_line,
)
from billing.models import (
    Document,
    NumberKey,
    Operation,
    Payment,
    Reseller,
    ResellerBankAccount,
)
from billing.references import (
    creditor_reference,
    normalize,
    quoted_number_keys,
    useful_document_number,
)
from billing.services.cash_application import OPEN_STATUSES, matching_context
from billing.statements import Line
from tests import factories
from tests.billing import bank

pytestmark = pytest.mark.django_db

AWKWARD_NUMBERS = [
    "inv-0042/7",
    "Rg.-Nr. 2026 ä-ß 17",
    "ＩＮＶ１２３４-5",  # full-width letters and digits are not ASCII
    "ı-i-İ 55",  # a Turkish locale upper-cases i to İ; matching does not
    "tab\tnew line 9",
    "x_y-77",
    "ÆØÅ-æøå-2026",
    "12345",
]


def test_the_database_reads_a_number_as_matching_does():
    """``NumberKey`` in SQL (PostgreSQL's, or SQLite's registered function)
    gives :func:`normalize`'s key for every number."""
    reseller = factories.ResellerFactory()
    for number in AWKWARD_NUMBERS:
        factories.post(reseller, number=number)
    keys = dict(
        Document.objects.annotate(key=NumberKey("number")).values_list("number", "key")
    )
    assert keys == {number: normalize(number) for number in AWKWARD_NUMBERS}


def test_quoted_number_keys_are_the_runs_a_number_could_be():
    keys = quoted_number_keys("Rechnung inv-0042 / 7, Kd 12")
    assert {"INV0042", "INV00427", "0042", "00427", "00427KD12", "KD12"} <= keys
    # too short, or no digit: no number of the ledger reads so
    assert not {"INV", "7", "12", "RECHNUNG", "KD"} & keys
    assert all(len(key) <= 64 for key in quoted_number_keys("A1" * 200))


def _line(text: str, amount: str = "100.00", payer: str = "") -> Line:
    return Line(
        entry_reference="",
        booking_date=date(2026, 3, 1),
        value_date=date(2026, 3, 1),
        amount=Decimal(amount),
        currency="EUR",
        payer_name="",
        payer_account=payer,
        text=text,
    )


@pytest.fixture
def ledger():
    """Three resellers with 20 open invoices each; three numbers read alike."""
    de = bank.de_marketplace()
    cobalt = bank.reseller(de, "Cobalt", iban=bank.COBALT_IBAN)
    delta = bank.reseller(de, "Delta", iban=bank.DELTA_IBAN)
    other = bank.reseller(de, "Other")
    for reseller in (cobalt, delta, other):
        for n in range(20):
            factories.post(
                reseller, number=f"{reseller.name[:3].upper()}-{n:04d}", total="100.00"
            )
    factories.post(cobalt, number="AB-7788", total="55.00")
    factories.post(delta, number="AB7788", total="56.00")
    factories.post(other, number="a-b 7788", total="57.00")
    factories.post(cobalt, number="COB-UNIQUE-1", total="42.42")
    # Payments waiting for a transfer: one whose reference a line quotes, one
    # of an older TR- reference, one of a payer's account, and one nobody
    # quotes or pays; and a paid one whose reference a line quotes.
    bank.awaiting(other, [factories.post(other, number="OTH-W1", total="71.00")], 4711)
    legacy = bank.awaiting(delta, [factories.post(delta, number="DEL-W2", total="72")])
    Payment.objects.filter(pk=legacy.pk).update(transfer_reference="TR-DE-9-00000077")
    bank.awaiting(cobalt, [factories.post(cobalt, number="COB-W3", total="73.00")])
    unquoted = factories.post(other, number="OTH-W4", total="74.00")
    bank.awaiting(other, [unquoted])
    paid = bank.awaiting(delta, [factories.post(delta, number="DEL-W5", total="75")])
    Operation.objects.filter(pk=paid.pk).update(status=Operation.Status.COMPLETED)
    Payment.objects.filter(pk=paid.pk).update(
        amount_left_open=0, transfer_reference=creditor_reference(4712)
    )
    # Accounts and a reseller no line pays from.
    for n in range(5):
        bank.reseller(de, f"Far {n}", iban=f"DE{n:02d}{'1' * 18}")
    return de, cobalt, delta, other


def _whole_context(marketplace, lines) -> MatchContext:
    """The context as it was read before: every open debit, open payment,
    known account and currency of the marketplace (and the payments whose
    references the lines quote)."""
    context = matching_context(marketplace, lines)
    payments = Payment.objects.filter(reseller__marketplace=marketplace)
    quoted = [op for op in context.operations.values() if op.amount_open == 0]
    return MatchContext.build(
        currencies=dict(
            Reseller.objects.filter(marketplace=marketplace).values_list(
                "id", "currency"
            )
        ),
        operations=[
            *quoted,
            *(
                OperationFact(pk, reseller_id, reference, left)
                for pk, reseller_id, reference, left in payments.filter(
                    operation__status__in=OPEN_STATUSES
                )
                .exclude(transfer_reference="")
                .values_list(
                    "pk", "reseller_id", "transfer_reference", "amount_left_open"
                )
            ),
        ],
        documents=[
            doc for docs in _every_open_debit(marketplace).values() for doc in docs
        ],
        accounts=ResellerBankAccount.objects.filter(
            reseller__marketplace=marketplace
        ).values_list("iban", "reseller_id"),
    )


def _every_open_debit(marketplace):
    found = {}
    for pk, reseller_id, number, open_ in Document.objects.filter(
        marketplace=marketplace, open_amount__gt=0, kind__in=("invoice", "debit_memo")
    ).values_list("id", "reseller_id", "number", "open_amount"):
        if useful_document_number(number):
            found.setdefault(reseller_id, []).append(
                DocumentFact(pk, reseller_id, number, open_)
            )
    return found


LINES = [
    ("quotes one number", _line("Zahlung COB-0003 danke")),
    ("quotes it split", _line("Zahlung COB 00 07")),
    ("quotes two numbers of two resellers", _line("COB-0001 DEL-0002")),
    ("quotes a number that reads like another", _line("AB-7788")),
    (
        "pays the one open amount of its account",
        _line("Danke", "42.42", bank.COBALT_IBAN),
    ),
    (
        "pays an amount its account owes twice",
        _line("Danke", "100.00", bank.DELTA_IBAN),
    ),
    ("pays what its account does not owe", _line("Danke", "1.00", bank.DELTA_IBAN)),
    (
        "pays the amount of a number that reads alike",
        _line("x", "56.00", bank.DELTA_IBAN),
    ),
    ("quotes nothing", _line("Miete Mai")),
    (
        "quotes the reference of a payment waiting for it",
        _line("RF71 0000 0000 4711", "71.00"),
    ),
    ("quotes an older reference", _line("TR-DE-9-00000077", "72.00")),
    (
        "pays what its account's payment waits for",
        _line("Danke", "73.00", bank.COBALT_IBAN),
    ),
    ("quotes the reference of a paid payment", _line("RF44 0000 0000 4712")),
]


def test_a_statement_reads_only_the_debits_its_lines_could_prove(ledger):
    de, cobalt, delta, other = ledger
    lines = [line for _name, line in LINES]

    context = matching_context(de, lines)

    read = {doc.number for docs in context.by_reseller.values() for doc in docs}
    # AB-7788, AB7788 and a-b 7788 read alike: none of them can prove.
    assert read == {
        "COB-0003",
        "COB-0007",
        "COB-0001",
        "DEL-0002",
        "COB-UNIQUE-1",
        "COB-W3",  # Cobalt's account pays 73.00
        *(f"DEL-{n:04d}" for n in range(20)),  # Delta's account pays 100.00
    }
    assert "AB7788" not in context.documents
    assert len(read) < Document.objects.filter(marketplace=de).count() - 30
    waiting = {
        op.reference: op.amount_open for ops in context.awaiting.values() for op in ops
    }
    assert waiting == {
        creditor_reference(4711): Decimal("71.00"),
        "TR-DE-9-00000077": Decimal("72.00"),
        Payment.objects.get(reseller=cobalt).transfer_reference: Decimal("73.00"),
    }
    assert normalize(creditor_reference(4712)) in context.operations
    assert set(context.accounts) == {bank.COBALT_IBAN, bank.DELTA_IBAN}
    assert set(context.currencies) == {cobalt.pk, delta.pk, other.pk}


@pytest.mark.parametrize("name,line", LINES, ids=[name for name, _line in LINES])
def test_each_line_is_decided_as_a_whole_read_decides_it(ledger, name, line):
    de = ledger[0]
    lines = [other for _name, other in LINES]
    facts = LineFacts(
        amount=line.amount,
        currency=line.currency,
        text=line.text,
        payer_account=line.payer_account,
    )

    decision = match_line(facts, matching_context(de, lines))

    assert decision == match_line(facts, _whole_context(de, lines))


def test_the_decisions_still_prove_what_they_did(ledger):
    de, cobalt, delta, _other = ledger
    context = matching_context(de, [line for _name, line in LINES])
    decide = {
        name: match_line(
            LineFacts(line.amount, line.currency, line.text, line.payer_account),
            context,
        )
        for name, line in LINES
    }
    assert decide["quotes one number"].method == Method.DOCUMENTS
    assert decide["quotes one number"].reseller_id == cobalt.pk
    assert decide["quotes it split"].detail == "COB-0007"
    assert decide["quotes two numbers of two resellers"].reason == Reason.AMBIGUOUS
    assert decide["quotes a number that reads like another"].reason == (
        Reason.NO_REFERENCE
    )
    assert decide["pays the one open amount of its account"].method == Method.ACCOUNT
    assert decide["pays an amount its account owes twice"].reason == (
        Reason.ACCOUNT_NO_AMOUNT
    )
    assert decide["pays what its account does not owe"].reason == (
        Reason.ACCOUNT_NO_AMOUNT
    )
    # AB7788 is Delta's and open at 56.00, but it reads like Cobalt's AB-7788.
    assert decide["pays the amount of a number that reads alike"].reason == (
        Reason.ACCOUNT_NO_AMOUNT
    )
    assert decide["quotes the reference of a payment waiting for it"].method == (
        Method.REFERENCE
    )
    assert decide["quotes an older reference"].reseller_id == delta.pk
    paid_to_order = decide["pays what its account's payment waits for"]
    assert paid_to_order.method == Method.ACCOUNT
    assert paid_to_order.operation_ids == (Payment.objects.get(reseller=cobalt).pk,)
    assert decide["quotes the reference of a paid payment"].reseller_id == delta.pk
