"""Cash application end to end: statement files in, payments applied."""

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from billing.matching import Method, Reason
from billing.models import (
    Allocation,
    AuditEvent,
    BankLine,
    BankLineEvent,
    BankStatement,
    Document,
    Operation,
    Source,
)
from billing.references import creditor_reference
from billing.services.cash_application import (
    BankLineKeyReused,
    BankLineNotQueued,
    NotYourBankAccount,
    UnknownBankAccount,
    WrongCurrency,
    WrongMarketplace,
    assign_bank_line,
    return_bank_line,
)
from tests import factories
from tests.billing import bank

pytestmark = pytest.mark.django_db


def fresh(obj):
    return type(obj).objects.get(pk=obj.pk)


def line(ref: str) -> BankLine:
    return BankLine.objects.get(entry_reference=ref)


def ledger_rows():
    return (
        Document.objects.count(),
        Allocation.objects.count(),
        Operation.objects.count(),
        BankLine.objects.count(),
        BankStatement.objects.count(),
    )


@pytest.fixture
def de():
    return bank.de_marketplace()


def test_camt053_pays_the_operation_whose_reference_it_quotes(de):
    cobalt = bank.reseller(de, "Cobalt Systems GmbH")
    invoice = factories.post(cobalt, "invoice", "119.00", number="DE-INV-2026-0001")
    operation = bank.awaiting(cobalt, [invoice], 4711)
    delta = bank.reseller(de, "Delta Tech AG")
    delta_invoice = factories.post(delta, "invoice", "500.00")
    delta_operation = bank.awaiting(delta, [delta_invoice], 4712)
    nordlicht = bank.reseller(de, "Nordlicht IT")
    first = factories.post(nordlicht, "invoice", "360.50", number="DE-INV-2026-0107")
    second = factories.post(nordlicht, "invoice", "500.00", number="DE-INV-2026-0108")

    result = bank.import_fixture("camt053_v02.xml")

    assert (result.lines, result.new, result.applied, result.queued) == (4, 4, 3, 1)
    assert fresh(invoice).open_amount == 0
    operation = fresh(operation)
    assert operation.status == Operation.Status.COMPLETED
    assert operation.payment.amount_left_open == 0
    applied = line("2026030200001234")
    assert applied.state == BankLine.State.APPLIED
    assert applied.match_method == Method.REFERENCE
    assert applied.match_detail == "RF71000000004711"
    payment = applied.payment
    assert payment.number == f"BANK-{applied.pk:08d}"
    assert payment.source == Source.BANK
    assert payment.reseller == cobalt and payment.total == Decimal("119.00")
    assert AuditEvent.objects.filter(
        reseller=cobalt, action=AuditEvent.Action.BANK_TRANSFER_APPLIED
    ).exists()
    assert fresh(delta_operation).status == Operation.Status.COMPLETED
    assert fresh(first).open_amount == 0 and fresh(second).open_amount == 0
    assert line("2026030200001235-2").match_method == Method.DOCUMENTS
    queued = line("2026030200001235-3")
    assert queued.state == BankLine.State.QUEUED
    assert queued.unmatched_reason == Reason.NO_REFERENCE
    assert queued.events.get().action == BankLineEvent.Action.QUEUED
    call_command("check_ledger", stdout=None)


def test_importing_the_same_statement_twice_adds_nothing(de):
    cobalt = bank.reseller(de, "Cobalt")
    bank.awaiting(cobalt, [factories.post(cobalt, "invoice", "119.00")], 4711)
    bank.import_fixture("camt053_v02.xml")
    before = ledger_rows()
    result = bank.import_fixture("camt053_v02.xml")
    assert (result.new, result.applied) == (0, 0)
    assert ledger_rows()[:4] == before[:4]


def test_an_overlapping_statement_with_another_id_adds_nothing_twice(de):
    bank.import_fixture("camt053_v02.xml")
    data = (bank.FIXTURES / "camt053_v02.xml").read_bytes()
    again = data.replace(b"<Id>0532013000-2026-03-02</Id>", b"<Id>OTHER</Id>")
    result = bank.import_bytes(again)
    assert (result.lines, result.new) == (4, 0)
    assert BankLine.objects.count() == 4


def test_two_references_in_one_line_split_by_the_operations_amounts(de):
    cobalt = bank.reseller(de, "Cobalt", iban=bank.COBALT_IBAN)
    older = factories.post(cobalt, "invoice", "200.00")
    newer = factories.post(cobalt, "invoice", "150.00")
    first = bank.awaiting(cobalt, [older], 4712)
    second = bank.awaiting(cobalt, [newer], 4713)
    delta = bank.reseller(de, "Delta", iban=bank.DELTA_IBAN)
    delta_invoice = factories.post(delta, "invoice", "360.00")

    result = bank.import_fixture("camt053_v08.xml")

    assert (result.new, result.applied, result.queued) == (3, 2, 1)
    split = line("20260303-7781001-01")
    assert fresh(older).open_amount == 0 and fresh(newer).open_amount == 0
    assert fresh(first).status == fresh(second).status == Operation.Status.COMPLETED
    assert fresh(split.payment).open_amount == Decimal("50.00")  # rest is credit
    assert set(
        Allocation.objects.filter(credit=split.payment).values_list(
            "operation_id", "amount"
        )
    ) == {(first.pk, Decimal("200.00")), (second.pk, Decimal("150.00"))}
    typo = line("20260303-7781001-02")  # RF71 0000 0000 4712: one digit wrong
    assert typo.state == BankLine.State.QUEUED
    assert typo.unmatched_reason in (Reason.BAD_REFERENCE, Reason.UNKNOWN_REFERENCE)
    by_account = line("20260303-7781002")
    assert by_account.match_method == Method.ACCOUNT
    assert fresh(delta_invoice).open_amount == 0


def test_overpayment_stays_as_credit_of_a_term_account(de):
    cobalt = bank.reseller(de, "Cobalt")
    invoice = factories.post(cobalt, "invoice", "100.00")
    bank.awaiting(cobalt, [invoice], 4711)
    bank.import_bytes(csv_line("119.00", "RF71 0000 0000 4711"))
    assert fresh(invoice).open_amount == 0
    assert line("L1").payment.open_amount == Decimal("19.00")


def test_overpayment_of_a_prepaid_account_is_applied_at_once(de):
    delta = bank.reseller(de, "Delta", prepaid=True)
    invoice = factories.post(delta, "invoice", "100.00")
    other = factories.post(delta, "invoice", "50.00", issue_date=invoice.issue_date)
    bank.awaiting(delta, [invoice], 4711)
    bank.import_bytes(csv_line("119.00", "RF71 0000 0000 4711"))
    assert fresh(invoice).open_amount == 0
    assert fresh(other).open_amount == Decimal("31.00")
    assert line("L1").payment.open_amount == 0


def test_underpayment_pays_the_oldest_first_and_leaves_the_rest_open(de):
    from datetime import date

    cobalt = bank.reseller(de, "Cobalt")
    old = factories.post(cobalt, "invoice", "100.00", issue_date=date(2026, 1, 1))
    new = factories.post(cobalt, "invoice", "50.00", issue_date=date(2026, 2, 1))
    operation = bank.awaiting(cobalt, [new, old], 4711)
    bank.import_bytes(csv_line("120.00", "RF71000000004711"))
    assert fresh(old).open_amount == 0
    assert fresh(new).open_amount == Decimal("30.00")
    operation = fresh(operation)
    assert operation.status == Operation.Status.PARTLY_PAID
    assert operation.payment.amount_left_open == Decimal("30.00")


def test_a_line_in_another_currency_is_never_applied(de):
    cobalt = bank.reseller(de, "Cobalt")
    invoice = factories.post(cobalt, "invoice", "119.00")
    bank.awaiting(cobalt, [invoice], 4711)
    bank.import_bytes(csv_line("119.00", "RF71 0000 0000 4711", currency="USD"))
    queued = line("L1")
    assert queued.state == BankLine.State.QUEUED
    assert queued.unmatched_reason == Reason.CURRENCY
    assert fresh(invoice).open_amount == Decimal("119.00")


def test_a_reference_of_another_marketplace_is_not_applied(de):
    us = bank.us_marketplace()
    acme = bank.reseller(us, "Acme")
    invoice = factories.post(acme, "invoice", "119.00")
    bank.awaiting(acme, [invoice], 4711)
    bank.import_bytes(csv_line("119.00", "RF71 0000 0000 4711", currency="USD"))
    queued = line("L1")
    assert queued.state == BankLine.State.QUEUED
    assert queued.marketplace == de
    assert queued.unmatched_reason == Reason.UNKNOWN_REFERENCE
    assert fresh(invoice).open_amount == Decimal("119.00")


def test_an_old_tr_reference_keeps_matching(de):
    cobalt = bank.reseller(de, "Cobalt")
    invoice = factories.post(cobalt, "invoice", "70.00")
    operation = bank.awaiting(cobalt, [invoice])
    operation.payment.transfer_reference = f"TR-DE-{cobalt.pk}-{operation.pk:08d}"
    operation.payment.save(update_fields=["transfer_reference"])
    text = f"tr de {cobalt.pk} {operation.pk:08d}"
    bank.import_bytes(csv_line("70.00", text))
    assert fresh(invoice).open_amount == 0
    assert line("L1").match_method == Method.REFERENCE


def test_new_transfer_references_are_creditor_references(de):
    cobalt = bank.reseller(de, "Cobalt")
    operation = bank.awaiting(cobalt, [factories.post(cobalt, "invoice", "9.00")])
    assert operation.payment.transfer_reference == creditor_reference(operation.pk)
    assert operation.payment.transfer_reference.startswith("RF")


def test_bai2_statement_of_the_us_account():
    us = bank.us_marketplace()
    acme = bank.reseller(us, "Acme")
    acme_invoice = factories.post(acme, "invoice", "2500.00")
    bank.awaiting(acme, [acme_invoice], 4720)
    bolt = bank.reseller(us, "Bolt")
    bolt_invoice = factories.post(bolt, "invoice", "1200.00", number="US-INV-2026-0031")
    result = bank.import_fixture("bai2_us.bai")
    assert (result.new, result.applied, result.queued) == (4, 2, 2)
    assert fresh(acme_invoice).open_amount == 0
    assert fresh(bolt_invoice).open_amount == 0


def test_mt940_statement_names_the_account_by_its_domestic_number(de):
    cobalt = bank.reseller(de, "Cobalt")
    first = factories.post(cobalt, "invoice", "690.00", number="DE-INV-2026-0107")
    second = factories.post(cobalt, "invoice", "500.00", number="DE-INV-2026-0108")
    delta = bank.reseller(de, "Delta")
    delta_invoice = factories.post(delta, "invoice", "500.00")
    bank.awaiting(delta, [delta_invoice], 4712)
    result = bank.import_fixture("mt940_de.sta")
    assert (result.new, result.applied, result.queued) == (3, 2, 1)
    assert fresh(first).open_amount == fresh(second).open_amount == 0
    assert fresh(delta_invoice).open_amount == 0
    assert len(result.statements) == 2


def test_csv_line_without_bank_reference_is_keyed_by_a_stable_hash(de):
    result = bank.import_fixture("statement.csv")
    assert result.new == 3
    hashed = BankLine.objects.get(amount=Decimal("33.00"))
    assert hashed.entry_reference.startswith("H:")
    assert bank.import_fixture("statement.csv").new == 0


def test_unknown_account_is_refused_and_nothing_is_written(db):
    with pytest.raises(UnknownBankAccount):
        bank.import_fixture("camt053_v02.xml")
    assert BankStatement.objects.count() == 0


def test_staff_import_is_limited_to_their_marketplaces(de):
    other = factories.MarketplaceFactory()
    with pytest.raises(NotYourBankAccount):
        bank.import_fixture("camt053_v02.xml", marketplace_ids=[other.pk])
    assert BankLine.objects.count() == 0


def test_import_statement_command(de, capsys):
    path = str(bank.FIXTURES / "camt053_v02.xml")
    call_command("import_statement", path)
    assert "4 credit line(s), 4 new, 0 applied" in capsys.readouterr().out
    call_command("import_statement", path)
    assert "0 new" in capsys.readouterr().out
    with pytest.raises(CommandError):
        call_command("import_statement", str(bank.FIXTURES / "missing.xml"))


# --- the unmatched queue -----------------------------------------------------


@pytest.fixture
def queued(de):
    bank.import_bytes(csv_line("150.00", "Zahlung"))
    return line("L1")


def test_agent_assigns_a_queued_line_to_documents(queued, staff_user):
    cobalt = bank.reseller(queued.marketplace, "Cobalt")
    invoice = factories.post(cobalt, "invoice", "100.00")
    assign_bank_line(
        line=queued,
        reseller=cobalt,
        document_ids=[invoice.pk],
        reason="Customer called",
        actor=staff_user,
        idempotency_key="k1",
    )
    assigned = fresh(queued)
    assert assigned.state == BankLine.State.APPLIED
    assert assigned.match_method == Method.AGENT
    assert assigned.handled_by == staff_user
    assert fresh(invoice).open_amount == 0
    assert assigned.payment.open_amount == Decimal("50.00")
    # A replay of the same form post changes nothing.
    before = ledger_rows()
    assign_bank_line(
        line=queued,
        reseller=cobalt,
        document_ids=[invoice.pk],
        reason="Customer called",
        actor=staff_user,
        idempotency_key="k1",
    )
    assert ledger_rows() == before
    with pytest.raises(BankLineNotQueued):
        assign_bank_line(
            line=queued,
            reseller=cobalt,
            document_ids=[],
            reason="again",
            actor=staff_user,
            idempotency_key="k2",
        )


def test_agent_cannot_assign_to_another_marketplace_or_currency(queued, staff_user):
    us_reseller = bank.reseller(bank.us_marketplace(), "Acme")
    with pytest.raises(WrongMarketplace):
        assign_bank_line(
            line=queued,
            reseller=us_reseller,
            document_ids=[],
            reason="x",
            actor=staff_user,
            idempotency_key="k1",
        )
    dollar = bank.reseller(queued.marketplace, "Dollar", currency="USD")
    with pytest.raises(WrongCurrency):
        assign_bank_line(
            line=queued,
            reseller=dollar,
            document_ids=[],
            reason="x",
            actor=staff_user,
            idempotency_key="k2",
        )
    assert fresh(queued).state == BankLine.State.QUEUED


def test_a_key_used_in_one_marketplace_is_new_in_another(queued, staff_user):
    """A replay is looked up in the line's marketplace: the same key handles a
    line of another marketplace instead of answering with the first one."""
    return_bank_line(
        line=queued, reason="Not our customer", actor=staff_user, idempotency_key="k1"
    )
    us_line = bank.queued_line(bank.us_marketplace(), ref="US-1")
    returned = return_bank_line(
        line=us_line, reason="Unknown payer", actor=staff_user, idempotency_key="k1"
    )
    assert returned.pk == us_line.pk
    assert fresh(us_line).state == BankLine.State.RETURNED
    acme = bank.reseller(us_line.marketplace, "Acme")
    invoice = factories.post(acme, "invoice", "150.00")
    other = bank.queued_line(us_line.marketplace, ref="US-2")
    assigned = assign_bank_line(
        line=other,
        reseller=acme,
        document_ids=[invoice.pk],
        reason="Remittance advice",
        actor=staff_user,
        idempotency_key="r1",
    )
    assert assigned.pk == other.pk and fresh(invoice).open_amount == 0
    assert BankLineEvent.objects.filter(idempotency_key="k1").count() == 2


def test_a_key_used_for_another_line_is_refused(queued, staff_user):
    """A form's key is for one line and one action: reused for another line
    (or the other action) it is refused, and that line stays queued."""
    return_bank_line(
        line=queued, reason="Not our customer", actor=staff_user, idempotency_key="k1"
    )
    cobalt = bank.reseller(queued.marketplace, "Cobalt")
    other = bank.queued_line(queued.marketplace, ref="Q-2")
    before = ledger_rows()
    with pytest.raises(BankLineKeyReused):
        assign_bank_line(
            line=other,
            reseller=cobalt,
            document_ids=[],
            reason="Customer called",
            actor=staff_user,
            idempotency_key="k1",
        )
    with pytest.raises(BankLineKeyReused):
        return_bank_line(
            line=other, reason="Unknown", actor=staff_user, idempotency_key="k1"
        )
    assert fresh(other).state == BankLine.State.QUEUED
    assert ledger_rows() == before


def test_agent_returns_a_line_to_the_payer(queued, staff_user):
    return_bank_line(
        line=queued, reason="Not our customer", actor=staff_user, idempotency_key="r1"
    )
    returned = fresh(queued)
    assert returned.state == BankLine.State.RETURNED
    assert returned.handled_reason == "Not our customer"
    assert returned.events.last().action == BankLineEvent.Action.RETURNED
    with pytest.raises(BankLineNotQueued):
        return_bank_line(
            line=queued, reason="again", actor=staff_user, idempotency_key="r2"
        )


def csv_line(amount, text, *, currency="EUR", ref="L1"):
    return (
        f"# account: {bank.DE_IBAN}\n"
        "date,amount,currency,counterparty,remittance,reference\n"
        f'2026-03-06,{amount},{currency},Payer,"{text}",{ref}\n'
    ).encode()


def test_check_ledger_reports_a_bank_line_that_lost_its_payment(queued, capsys):
    call_command("check_ledger")
    BankLine.objects.filter(pk=queued.pk).update(state=BankLine.State.RETURNED)
    with pytest.raises(CommandError):
        call_command("check_ledger")
    assert f"BANK LINE #{queued.pk}" in capsys.readouterr().out


def test_seed_demo_fills_the_unmatched_queue_once(db):
    call_command("seed_demo", verbosity=0)
    call_command("seed_demo", verbosity=0)
    assert BankLine.objects.count() == 4
    assert set(BankLine.objects.values_list("state", flat=True)) == {"queued"}
    assert set(BankLine.objects.values_list("unmatched_reason", flat=True)) == {
        Reason.NO_REFERENCE,
        Reason.BAD_REFERENCE,
        Reason.ACCOUNT_NO_AMOUNT,
    }
    call_command("check_ledger", stdout=None)


def test_an_applied_transfer_reads_in_the_readers_language(de):
    from django.utils import translation

    cobalt = bank.reseller(de, "Cobalt Systems GmbH")
    invoice = factories.post(cobalt, "invoice", "119.00", number="DE-INV-2026-0001")
    bank.awaiting(cobalt, [invoice], 4711)

    bank.import_fixture("camt053_v02.xml")

    event = AuditEvent.objects.get(
        reseller=cobalt, action=AuditEvent.Action.BANK_TRANSFER_APPLIED
    )
    number = fresh(line("2026030200001234")).payment.number
    with translation.override("de"):
        sentence = event.description.replace("\xa0", " ")
    assert sentence == (
        f"Überweisung von 119,00 € (2026030200001234) als Zahlung {number} verbucht"
    )
