"""The matcher on the bundled realistic sample statement: rate and no mistakes.

``tests/fixtures/statements/sample_realistic_de.xml`` is a camt.053.001.08
day of a German receivables account: references in the structured field,
lower-cased, inside sentences, split over two lines or run into other words;
document numbers instead of references (lower-cased, spaced, combined);
payer IBAN only; combined and partial payments; an old ``TR-`` reference;
and lines that prove nothing (typos, unknown numbers, another currency,
numbers of two resellers). The ledger below is the one the payers meant.
"""

from decimal import Decimal

import pytest

from billing.models import Allocation, BankLine, Document, Operation
from billing.references import creditor_reference
from tests import factories
from tests.billing import bank

pytestmark = pytest.mark.django_db

IBANS = {
    "Cobalt": bank.COBALT_IBAN,
    "Delta": bank.DELTA_IBAN,
    "Alpenblick": "AT611904300234573201",
    "Ostsee": "DE75512108001245126199",
}
# reseller: {invoice number: total}, {operation ref id: invoice numbers}
LEDGER = {
    "Cobalt": (
        {"1001": "119.00", "1002": "450.00", "1003": "89.90", "1004": "1200.00"}
        | {"1005": "75.50", "1006": "66.00"},
        {5001: ["1001"], 5002: ["1002"], 5003: ["1004"], 5004: ["1006"]},
    ),
    "Delta": (
        {"2001": "300.00", "2002": "250.00", "2003": "99.00", "2004": "640.00"},
        {5011: ["2001"], 5012: ["2002"], 5013: ["2004"]},
    ),
    "Nordlicht": (
        {"3001": "1500.00", "3002": "330.00", "3003": "45.00", "3004": "780.00"},
        {5021: ["3001"], 5022: ["3002", "3003"]},
    ),
    "Alpenblick": (
        {"4001": "560.00", "4002": "212.40", "4003": "99.99"},
        {5031: ["4003"]},
    ),
    "Ostsee": ({"5001": "880.00", "5002": "120.00"}, {5041: ["5001"], 5042: ["5002"]}),
    "Rhein": (
        {"6001": "410.00", "6002": "95.00", "6003": "1999.00"},
        {5051: ["6001"], 5052: ["6003"]},
    ),
}
LEGACY = {5051: "TR-DE-77-00005051"}
# line: (reseller, operations by ref id, documents by number) it must go to.
PROVABLE = {
    "L01": ("Cobalt", {5001}, set()),
    "L02": ("Cobalt", {5002}, set()),
    "L03": ("Cobalt", {5003}, set()),
    "L04": ("Cobalt", set(), {"1003"}),
    "L05": ("Cobalt", set(), {"1005"}),
    "L06": ("Delta", {5011}, set()),
    "L07": ("Delta", set(), {"2002", "2003"}),
    "L08": ("Delta", {5013}, set()),
    "L09": ("Nordlicht", {5021}, set()),
    "L10": ("Nordlicht", {5022}, set()),
    "L11": ("Nordlicht", set(), {"3004"}),
    "L12": ("Alpenblick", set(), {"4001"}),
    "L13": ("Alpenblick", {5031}, set()),
    "L14": ("Ostsee", {5041, 5042}, set()),
    "L15": ("Rhein", {5051}, set()),
    "L16": ("Rhein", {5052}, set()),
    "L17": ("Rhein", set(), {"6002"}),
    "L18": ("Cobalt", {5004}, set()),
}
UNPROVABLE = {"U1", "U2", "U3", "U4", "U5", "U6", "U7", "U8"}


def number(short: str) -> str:
    return f"RE-2026-{short}"


@pytest.fixture
def sample_ledger():
    de = bank.de_marketplace()
    operations: dict[int, Operation] = {}
    resellers = {}
    for name, (invoices, ops) in LEDGER.items():
        reseller = bank.reseller(de, name, iban=IBANS.get(name))
        resellers[name] = reseller
        documents = {
            short: factories.post(reseller, "invoice", total, number=number(short))
            for short, total in invoices.items()
        }
        for ref_id, shorts in ops.items():
            operation = bank.awaiting(reseller, [documents[s] for s in shorts], ref_id)
            if ref_id in LEGACY:
                operation.payment.transfer_reference = LEGACY[ref_id]
                operation.payment.save(update_fields=["transfer_reference"])
            operations[ref_id] = operation
    return resellers, operations


def test_sample_statement_match_rate_and_no_wrong_application(sample_ledger):
    resellers, operations = sample_ledger
    result = bank.import_fixture("sample_realistic_de.xml")
    assert result.lines == len(PROVABLE) + len(UNPROVABLE)

    lines = {
        line.entry_reference.removeprefix("SMPL-20260310-"): line
        for line in BankLine.objects.select_related("reseller", "payment")
    }
    applied_right, wrong = [], []
    for key, line in lines.items():
        if line.state != BankLine.State.APPLIED:
            continue
        expected = PROVABLE.get(key)
        if expected is None:
            wrong.append((key, "applied but proves nothing"))
            continue
        name, ref_ids, shorts = expected
        paid = set(
            Allocation.objects.filter(credit=line.payment).values_list(
                "debit__number", flat=True
            )
        )
        wanted = {number(s) for s in shorts}
        for ref_id in ref_ids:
            wanted |= set(
                Document.objects.filter(
                    payment_selections__payment=operations[ref_id].pk
                ).values_list("number", flat=True)
            )
        if line.reseller != resellers[name] or not paid or not paid <= wanted:
            wrong.append((key, line.reseller.name, sorted(paid), sorted(wanted)))
        else:
            applied_right.append(key)

    assert wrong == []
    rate = Decimal(len(applied_right)) / len(PROVABLE)
    assert rate >= Decimal("0.95"), sorted(set(PROVABLE) - set(applied_right))
    assert {k for k, line in lines.items() if line.state == "queued"} >= UNPROVABLE


def test_sample_statement_partial_and_combined_payments(sample_ledger):
    _resellers, operations = sample_ledger
    bank.import_fixture("sample_realistic_de.xml")
    partial = Operation.objects.get(pk=operations[5021].pk)
    assert partial.status == Operation.Status.PARTLY_PAID
    assert partial.payment.amount_left_open == Decimal("500.00")
    for ref_id in (5022, 5041, 5042, 5052):
        assert Operation.objects.get(pk=operations[ref_id].pk).status == "completed"
    overpaid = BankLine.objects.get(entry_reference="SMPL-20260310-L16")
    assert overpaid.payment.open_amount == Decimal("101.00")
    assert (
        creditor_reference(5001)
        in BankLine.objects.get(entry_reference="SMPL-20260310-U6").match_detail
    )
