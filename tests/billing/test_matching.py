"""The matcher, as a table: line text and payer in, decision and reason out."""

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
from billing.references import creditor_reference, format_reference

COBALT, DELTA, DOLLAR = 1, 2, 3
REF_A = creditor_reference(4711)  # RF71000000004711, cobalt, 119.00 open
REF_B = creditor_reference(4712)  # RF44000000004712, cobalt, 200.00 open
REF_D = creditor_reference(4713)  # RF17000000004713, delta


def context() -> MatchContext:
    return MatchContext.build(
        currencies={COBALT: "EUR", DELTA: "EUR", DOLLAR: "USD"},
        operations=[
            OperationFact(11, COBALT, REF_A, Decimal("119.00")),
            OperationFact(12, COBALT, REF_B, Decimal("200.00")),
            OperationFact(13, DELTA, REF_D, Decimal("50.00")),
            OperationFact(14, COBALT, "TR-DE-1-00000014", Decimal("70.00")),
            OperationFact(15, DOLLAR, creditor_reference(4720), Decimal("10.00")),
        ],
        documents=[
            DocumentFact(21, COBALT, "DE-INV-2026-0107", Decimal("360.50")),
            DocumentFact(22, COBALT, "DE-INV-2026-0108", Decimal("500.00")),
            DocumentFact(23, DELTA, "DE-INV-2026-0200", Decimal("360.00")),
        ],
        accounts=[
            ("DE02120300000000202051", COBALT),
            ("DE02500105170137075030", DELTA),
        ],
    )


def line(text, amount="119.00", currency="EUR", payer=""):
    return LineFacts(Decimal(amount), currency, text, payer)


def spaced(reference: str) -> str:
    return format_reference(reference)


CASES = [
    # (case, line, reseller, method, operations, documents, reason)
    ("exact reference", line(REF_A), COBALT, Method.REFERENCE, (11,), (), ""),
    (
        "reference in groups, lower case, inside a sentence",
        line(f"thanks for invoice, pay ref {spaced(REF_A).lower()} regards"),
        COBALT,
        Method.REFERENCE,
        (11,),
        (),
        "",
    ),
    (
        "reference broken over two lines",
        line("Zahlung RF71 0000 00\n00 4711"),
        COBALT,
        Method.REFERENCE,
        (11,),
        (),
        "",
    ),
    (
        "reference run into the next word",
        line(f"{REF_A}DANKE"),
        COBALT,
        Method.REFERENCE,
        (11,),
        (),
        "",
    ),
    (
        "one wrong character: check digits fail, queued",
        line("RF71 0000 0000 4712"),
        None,
        "",
        (),
        (),
        Reason.BAD_REFERENCE,
    ),
    (
        "two references of one reseller",
        line(f"{spaced(REF_A)} and {spaced(REF_B)}", "400.00"),
        COBALT,
        Method.REFERENCE,
        (11, 12),
        (),
        "",
    ),
    (
        "references of two resellers prove nothing",
        line(f"{REF_A} {REF_D}"),
        None,
        "",
        (),
        (),
        Reason.AMBIGUOUS,
    ),
    (
        "old TR reference without hyphens",
        line("tr de 1 00000014", "70.00"),
        COBALT,
        Method.REFERENCE,
        (14,),
        (),
        "",
    ),
    (
        "document numbers instead of a reference",
        line("Rechnung de-inv-2026-0107 und DE INV 2026 0108", "860.50"),
        COBALT,
        Method.DOCUMENTS,
        (),
        (21, 22),
        "",
    ),
    (
        "payer IBAN and the exact amount of an awaiting operation",
        line("Ausgleich", "200.00", payer="DE02 1203 0000 0000 2020 51"),
        COBALT,
        Method.ACCOUNT,
        (12,),
        (),
        "",
    ),
    (
        "payer IBAN and the exact amount of one open document",
        line("Ausgleich", "360.00", payer="DE02500105170137075030"),
        DELTA,
        Method.ACCOUNT,
        (),
        (23,),
        "",
    ),
    (
        "payer IBAN but no amount that fits",
        line("Ausgleich", "1.00", payer="DE02120300000000202051"),
        None,
        "",
        (),
        (),
        Reason.ACCOUNT_NO_AMOUNT,
    ),
    (
        "line in another currency than the reseller's",
        line(REF_A, currency="USD"),
        None,
        "",
        (),
        (),
        Reason.CURRENCY,
    ),
    (
        "valid reference nobody here issued (another marketplace)",
        line(creditor_reference(999999)),
        None,
        "",
        (),
        (),
        Reason.UNKNOWN_REFERENCE,
    ),
    ("nothing at all", line("Spende"), None, "", (), (), Reason.NO_REFERENCE),
]


@pytest.mark.parametrize(
    ("facts", "reseller", "method", "operations", "documents", "reason"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_match_line(facts, reseller, method, operations, documents, reason):
    decision = match_line(facts, context())
    assert decision.reseller_id == reseller
    assert decision.method == method
    assert decision.operation_ids == operations
    assert decision.document_ids == documents
    assert decision.reason == reason
    assert decision.applies is (reseller is not None)


def test_every_single_character_typo_of_a_reference_is_refused():
    ctx = context()
    alphabet = "0123456789"
    for position in range(4, len(REF_A)):
        for char in alphabet:
            if char == REF_A[position]:
                continue
            typo = REF_A[:position] + char + REF_A[position + 1 :]
            decision = match_line(line(typo), ctx)
            assert not decision.applies, typo
