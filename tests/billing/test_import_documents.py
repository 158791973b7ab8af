"""Importing AR documents from upstream CSV and JSON-lines files."""

import json
from datetime import date
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from billing.models import AuditEvent, Document, DocumentKind, PaymentModel, Source
from tests import factories

HEADER = (
    "marketplace,reseller,kind,number,issue_date,due_date,total,currency,description"
)


@pytest.fixture
def us(db):
    return factories.MarketplaceFactory(code="US", currency="USD")


@pytest.fixture
def acme(us):
    return factories.ResellerFactory(marketplace=us, name="Acme Cloud")


@pytest.fixture
def de(db):
    return factories.MarketplaceFactory(code="DE", currency="EUR")


@pytest.fixture
def cobalt(de):
    return factories.ResellerFactory(marketplace=de, name="Cobalt Systems")


def run(path, *args: str) -> tuple[bool, str, str]:
    """Run the import; return (succeeded, stdout, stderr)."""
    out, err = StringIO(), StringIO()
    try:
        call_command("import_documents", str(path), *args, stdout=out, stderr=err)
    except CommandError as exc:
        err.write(f"CommandError: {exc}\n")
        return False, out.getvalue(), err.getvalue()
    return True, out.getvalue(), err.getvalue()


def write_csv(tmp_path, *rows: str, name: str = "documents.csv"):
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def ledger_state() -> list[tuple]:
    return sorted(
        Document.objects.values_list("number", "total", "open_amount", "description")
    )


GOOD_INVOICE = "US,Acme Cloud,invoice,INV-1,2026-03-01,2026-03-31,1200.50,USD,Cloud"


def test_good_csv_rows_are_posted_as_imports(tmp_path, acme, cobalt):
    path = write_csv(
        tmp_path,
        GOOD_INVOICE,
        f"US,{acme.pk},debit_memo,DM-1,2026-03-02,,40,usd,",
        "DE,Cobalt Systems,credit memo,CN-1,2026-03-03,,99.99,EUR,Gutschrift",
        "de,Cobalt Systems,Payment,PAY-1,2026-03-04,,10.00,,Überweisung",
    )

    succeeded, out, err = run(path)

    assert succeeded, err
    assert "written 4, unchanged 0, refused 0" in out
    invoice = Document.objects.get(number="INV-1")
    assert (invoice.reseller, invoice.kind, invoice.source) == (
        acme,
        DocumentKind.INVOICE,
        Source.IMPORT,
    )
    assert (invoice.issue_date, invoice.due_date) == (
        date(2026, 3, 1),
        date(2026, 3, 31),
    )
    assert (invoice.total, invoice.open_amount) == (
        Decimal("1200.50"),
        Decimal("1200.50"),
    )
    assert Document.objects.get(number="DM-1").total == Decimal("40.00")
    assert Document.objects.get(number="CN-1").kind == DocumentKind.CREDIT_MEMO
    assert Document.objects.get(number="PAY-1").description == "Überweisung"
    assert AuditEvent.objects.filter(source=Source.IMPORT).count() == 4


BAD_ROWS = [
    ("XX,Acme Cloud,invoice,B-1,2026-03-01,,10.00,USD,", "unknown marketplace 'XX'"),
    (
        "US,Nobody,invoice,B-2,2026-03-01,,10.00,USD,",
        "unknown reseller 'Nobody' in marketplace US",
    ),
    ("US,Acme Cloud,bill,B-3,2026-03-01,,10.00,USD,", "bad kind 'bill'"),
    ("US,Acme Cloud,invoice,B-4,2026-02-30,,10.00,USD,", "bad issue date"),
    ("US,Acme Cloud,invoice,B-5,01/03/2026,,10.00,USD,", "bad issue date"),
    ("US,Acme Cloud,invoice,B-6,2026-03-01,soon,10.00,USD,", "bad due date"),
    ("US,Acme Cloud,invoice,B-7,2026-03-01,,10.005,USD,", "at most 2 decimals"),
    ("US,Acme Cloud,invoice,B-8,2026-03-01,,ten,USD,", "bad amount 'ten'"),
    ("US,Acme Cloud,invoice,B-9,2026-03-01,,1e3,USD,", "bad amount '1e3'"),
    ("US,Acme Cloud,invoice,B-10,2026-03-01,,-5.00,USD,", "greater than zero"),
    ("US,Acme Cloud,invoice,B-11,2026-03-01,,0,USD,", "greater than zero"),
    (
        "US,Acme Cloud,invoice,B-12,2026-03-01,,10.00,EUR,",
        "currency 'EUR' is not the reseller's (USD)",
    ),
    (
        "US,Acme Cloud,invoice,B-13,2026-03-10,2026-03-09,10.00,USD,",
        "due date 2026-03-09 is before issue date 2026-03-10",
    ),
    ("US,Acme Cloud,payment,B-14,2026-03-01,2026-03-09,10.00,USD,", "no due date"),
    ("US,Acme Cloud,invoice,,2026-03-01,,10.00,USD,", "missing number"),
    ("US,Acme Cloud,invoice,B-16", "too few fields"),
    ("US,Acme Cloud,invoice,B-17,2026-03-01,,10.00,USD,x,extra", "too many fields"),
]


@pytest.mark.parametrize(("row", "reason"), BAD_ROWS)
def test_bad_row_is_reported_with_its_line_and_partial_keeps_good_rows(
    tmp_path, acme, row, reason
):
    path = write_csv(
        tmp_path,
        GOOD_INVOICE,
        row,
        "US,Acme Cloud,invoice,INV-2,2026-03-05,2026-04-04,10.00,USD,",
    )

    succeeded, out, err = run(path, "--partial")

    assert not succeeded
    assert "written 2, unchanged 0, refused 1 (line(s) 3)" in out
    (line,) = [text for text in err.splitlines() if text.startswith("line ")]
    assert line.startswith("line 3: ")
    assert reason in line
    assert sorted(Document.objects.values_list("number", flat=True)) == [
        "INV-1",
        "INV-2",
    ]


def test_every_bad_row_of_a_file_is_reported(tmp_path, acme):
    path = write_csv(tmp_path, *(row for row, _reason in BAD_ROWS))

    succeeded, out, err = run(path)

    assert not succeeded
    assert f"written 0, unchanged 0, refused {len(BAD_ROWS)}" in out
    for line, (_row, reason) in enumerate(BAD_ROWS, start=2):
        assert f"line {line}: " in err
        assert reason in err
    assert Document.objects.count() == 0


@pytest.mark.parametrize(
    ("currency", "total", "accepted"),
    [
        ("USD", "10.01", True),
        ("USD", "10.001", False),
        ("JPY", "1500", True),
        ("JPY", "1500.5", False),
        ("KWD", "1.125", True),
        ("KWD", "1.1255", False),
    ],
)
def test_amounts_with_more_decimals_than_the_currency_are_refused(
    tmp_path, db, currency, total, accepted
):
    marketplace = factories.MarketplaceFactory(code="M", currency=currency)
    factories.ResellerFactory(marketplace=marketplace, name="R")
    path = write_csv(tmp_path, f"M,R,invoice,INV-1,2026-03-01,,{total},{currency},")

    succeeded, _out, err = run(path)

    assert succeeded is accepted
    assert Document.objects.filter(number="INV-1").exists() is accepted
    if not accepted:
        assert f"{currency} amounts have at most" in err


def test_rerunning_a_file_changes_nothing(tmp_path, acme):
    path = write_csv(
        tmp_path,
        GOOD_INVOICE,
        "US,Acme Cloud,payment,PAY-1,2026-03-02,,100.00,USD,Wire",
    )
    assert run(path)[0]
    before = (ledger_state(), AuditEvent.objects.count())

    succeeded, out, err = run(path)

    assert succeeded, err
    assert "written 0, unchanged 2, refused 0" in out
    assert (ledger_state(), AuditEvent.objects.count()) == before


def test_existing_document_with_other_values_is_a_conflict(tmp_path, acme):
    factories.post(
        acme, "invoice", "999.00", number="INV-1", issue_date=date(2026, 3, 1)
    )
    before = ledger_state()
    path = write_csv(tmp_path, GOOD_INVOICE)

    succeeded, out, err = run(path)

    assert not succeeded
    assert "written 0, unchanged 0, refused 1 (line(s) 2)" in out
    assert "line 2: INV-1: conflicts with the document already in the ledger" in err
    assert "(differs in total, description)" in err
    assert ledger_state() == before


def test_same_number_in_another_marketplace_is_another_document(tmp_path, acme, cobalt):
    path = write_csv(
        tmp_path,
        GOOD_INVOICE,
        "DE,Cobalt Systems,invoice,INV-1,2026-03-01,,5.00,EUR,",
    )

    succeeded, out, _err = run(path)

    assert succeeded
    assert Document.objects.filter(number="INV-1").count() == 2


def test_duplicate_number_within_the_file(tmp_path, acme):
    path = write_csv(
        tmp_path,
        GOOD_INVOICE,
        GOOD_INVOICE,
        GOOD_INVOICE.replace("1200.50", "1200.51"),
    )

    succeeded, out, err = run(path, "--partial")

    assert not succeeded
    assert "written 1, unchanged 1, refused 1 (line(s) 4)" in out
    assert "line 4: INV-1: conflicts with line 2 of this file" in err


def test_ambiguous_reseller_name_asks_for_the_id(tmp_path, acme):
    factories.ResellerFactory(marketplace=acme.marketplace, name="Acme Cloud")

    succeeded, _out, err = run(write_csv(tmp_path, GOOD_INVOICE))

    assert not succeeded
    assert "reseller name 'Acme Cloud' is ambiguous in marketplace US" in err


def test_reseller_id_of_another_marketplace_is_unknown(tmp_path, acme, cobalt):
    path = write_csv(tmp_path, f"US,{cobalt.pk},invoice,X-1,2026-03-01,,5,USD,")

    succeeded, _out, err = run(path)

    assert not succeeded
    assert f"unknown reseller '{cobalt.pk}' in marketplace US" in err


def test_dry_run_validates_without_writing(tmp_path, acme):
    factories.post(acme, "invoice", "5.00", number="OLD-1")
    before = (ledger_state(), AuditEvent.objects.count())
    path = write_csv(
        tmp_path,
        GOOD_INVOICE,
        GOOD_INVOICE,
        "US,Acme Cloud,invoice,INV-2,2026-03-01,,10.001,USD,",
    )

    succeeded, out, err = run(path, "--dry-run")

    assert not succeeded
    assert (
        "would write 1, unchanged 1, refused 1 (line(s) 4) "
        "(dry run: nothing was written)" in out
    )
    assert "line 4: INV-2: bad amount" in err
    assert (ledger_state(), AuditEvent.objects.count()) == before


def test_jsonl_rows_keep_exact_amounts_and_line_numbers(tmp_path, acme):
    rows = [
        {
            "marketplace": "US",
            "reseller": "Acme Cloud",
            "kind": "invoice",
            "number": "INV-1",
            "issue_date": "2026-03-01",
            "due_date": "2026-03-31",
            "total": 0.1,
            "currency": "USD",
            "description": "JSON number",
        },
        {
            "marketplace": "US",
            "reseller": acme.pk,
            "kind": "debit_memo",
            "number": "DM-1",
            "issue_date": "2026-03-02",
            "due_date": None,
            "total": "2.20",
            "currency": "USD",
        },
        {"marketplace": "US", "reseller": "Acme Cloud", "number": "X-1"},
    ]
    lines = [json.dumps(rows[0]), "", json.dumps(rows[1]), "{not json", "[1, 2]"]
    lines.append(json.dumps(rows[2]))
    path = tmp_path / "documents.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    succeeded, out, err = run(path, "--partial")

    assert not succeeded
    assert "written 2, unchanged 0, refused 3 (line(s) 4, 5, 6)" in out
    assert Document.objects.get(number="INV-1").total == Decimal("0.10")
    assert Document.objects.get(number="DM-1").due_date is None
    assert "line 4: invalid JSON" in err
    assert "line 5: a JSON object is expected" in err
    assert "line 6: missing kind, issue_date, total" in err


def test_jsonl_rerun_is_idempotent(tmp_path, acme):
    row = {
        "marketplace": "US",
        "reseller": "Acme Cloud",
        "kind": "credit_memo",
        "number": "CN-1",
        "issue_date": "2026-03-01",
        "total": "15.00",
        "currency": "USD",
        "description": "Credit",
    }
    path = tmp_path / "documents.ndjson"
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")

    first = run(path)
    second = run(path)

    assert first[0] and second[0]
    assert "written 1, unchanged 0, refused 0" in first[1]
    assert "written 0, unchanged 1, refused 0" in second[1]
    assert Document.objects.count() == 1


def test_format_option_overrides_the_extension(tmp_path, acme):
    path = write_csv(tmp_path, GOOD_INVOICE, name="export.txt")

    with pytest.raises(CommandError, match="Cannot tell the format"):
        call_command("import_documents", str(path), stdout=StringIO())
    succeeded, out, _err = run(path, "--format", "csv")

    assert succeeded
    assert "written 1" in out


def test_header_without_required_columns_is_refused(tmp_path, acme):
    path = tmp_path / "documents.csv"
    path.write_text("number,total\nINV-1,10.00\n", encoding="utf-8")

    succeeded, _out, err = run(path)

    assert not succeeded
    assert "the header lacks column(s) marketplace, reseller, kind, issue_date" in err
    assert Document.objects.count() == 0


def test_missing_file_is_an_error(tmp_path, db):
    succeeded, _out, err = run(tmp_path / "absent.csv")

    assert not succeeded
    assert "Cannot read" in err


def test_progress_is_printed_to_stderr(tmp_path, acme):
    rows = [f"US,Acme Cloud,invoice,INV-{n},2026-03-01,,1.00,USD," for n in range(1, 6)]

    succeeded, out, err = run(write_csv(tmp_path, *rows), "--progress-every", "2")

    assert succeeded
    assert "… line 2 checked, 0 refused so far" in err
    assert "… line 4 checked, 0 refused so far" in err
    assert "checked:" not in out


def test_prepaid_import_applies_credit_automatically(tmp_path, us):
    factories.ResellerFactory(
        marketplace=us, name="Bolt IT", payment_model=PaymentModel.PREPAID
    )
    path = write_csv(
        tmp_path,
        "US,Bolt IT,payment,PAY-1,2026-03-01,,50.00,USD,",
        "US,Bolt IT,invoice,INV-1,2026-03-02,,80.00,USD,",
    )

    assert run(path)[0]

    assert Document.objects.get(number="INV-1").open_amount == Decimal("30.00")
    out = StringIO()
    call_command("check_ledger", stdout=out)
    assert "Ledger consistent: 2 documents, 1 allocations checked" in out.getvalue()


def test_an_imported_document_is_audited_and_counted_like_a_posted_one(tmp_path, acme):
    posted = factories.post(
        acme, "invoice", "1200.50", number="POSTED-1", source=Source.IMPORT
    )
    path = write_csv(tmp_path, GOOD_INVOICE)

    assert run(path)[0]

    imported = Document.objects.get(number="INV-1")
    by_service = AuditEvent.objects.get(document=posted)
    by_import = AuditEvent.objects.get(document=imported)
    assert by_import.summary == by_service.summary.replace("POSTED-1", "INV-1")
    assert by_import.summary == "Invoice INV-1 posted for $1,200.50"
    assert by_import.facts == {**by_service.facts, "number": "INV-1"}
    assert (by_import.action, by_import.amount, by_import.reseller) == (
        by_service.action,
        Decimal("1200.50"),
        acme,
    )
    assert (by_import.actor, by_import.source, by_import.operation) == (
        None,
        Source.IMPORT,
        None,
    )
    acme.refresh_from_db()
    assert acme.document_count == 2


def test_partial_import_skips_numbers_already_in_the_ledger(tmp_path, acme):
    factories.post(
        acme, "invoice", "999.00", number="INV-1", issue_date=date(2026, 3, 1)
    )
    assert run(write_csv(tmp_path, "US,Acme Cloud,payment,PAY-1,2026-03-02,,1,USD,"))[0]
    before = ledger_state()
    path = write_csv(
        tmp_path,
        GOOD_INVOICE,
        "US,Acme Cloud,payment,PAY-1,2026-03-02,,1,USD,",
        "US,Acme Cloud,invoice,INV-2,2026-03-05,,10.00,USD,",
        "US,Acme Cloud,invoice,INV-2,2026-03-05,,10.00,USD,",
        name="second.csv",
    )

    succeeded, out, err = run(path, "--partial")

    assert not succeeded
    assert "written 1, unchanged 2, refused 1 (line(s) 2)" in out
    assert "line 2: INV-1: conflicts with the document already in the ledger" in err
    assert ledger_state() == sorted(
        [*before, ("INV-2", Decimal("10.00"), Decimal("10.00"), "")]
    )
    acme.refresh_from_db()
    assert acme.document_count == 3


def test_a_file_for_several_resellers_posts_each_ones_documents(tmp_path, us):
    first = factories.ResellerFactory(marketplace=us, name="First")
    prepaid = factories.ResellerFactory(
        marketplace=us, name="Second", payment_model=PaymentModel.PREPAID
    )
    factories.post(prepaid, "credit_memo", "15.00", number="CN-0")
    path = write_csv(
        tmp_path,
        *(
            f"US,{name},invoice,INV-{name}-{n},2026-03-0{n},,10.00,USD,"
            for n in (1, 2)
            for name in ("First", "Second")
        ),
    )

    assert run(path)[0]

    assert sorted(first.documents.values_list("number", flat=True)) == [
        "INV-First-1",
        "INV-First-2",
    ]
    open_amounts = dict(prepaid.documents.values_list("number", "open_amount"))
    assert open_amounts == {
        "CN-0": Decimal("0.00"),
        "INV-Second-1": Decimal("0.00"),
        "INV-Second-2": Decimal("5.00"),
    }
    first.refresh_from_db()
    prepaid.refresh_from_db()
    assert (first.document_count, prepaid.document_count) == (2, 3)


def test_descriptions_with_tabs_backslashes_and_newlines_survive(tmp_path, acme):
    description = 'Tab\there, back\\slash \\N, "quoted",\nnext line'
    quoted = description.replace('"', '""')
    path = write_csv(
        tmp_path, f'US,Acme Cloud,invoice,INV-1,2026-03-01,,10.00,USD,"{quoted}"'
    )

    succeeded, out, err = run(path)

    assert succeeded, err
    assert Document.objects.get(number="INV-1").description == description
    assert "written 0, unchanged 1, refused 0" in run(path)[1]


def test_repeats_and_ledger_matches_are_found_across_pages(tmp_path, acme, monkeypatch):
    monkeypatch.setattr("billing.services.imports.FETCH_ROWS", 1)
    factories.post(
        acme,
        "invoice",
        "1200.50",
        number="INV-3",
        issue_date=date(2026, 3, 1),
        description="Cloud",
    )
    rows = [GOOD_INVOICE.replace("INV-1", f"INV-{n}") for n in range(1, 6)]
    path = write_csv(tmp_path, *rows, rows[0], rows[1].removesuffix("Cloud") + "Other")

    succeeded, out, err = run(path, "--partial")

    assert not succeeded
    assert "written 4, unchanged 2, refused 1 (line(s) 8)" in out
    assert "line 8: INV-2: conflicts with line 3 of this file" in err


@pytest.mark.parametrize(
    ("kind", "number", "total", "due_date"),
    [
        ("payment", "CARD-00000001", "10.00", ""),
        ("credit_memo", "cm-US-2026-0001", "10.00", ""),
        ("invoice", "BANK-7", "10.00", ""),
        ("invoice", "INV-1", "10.005", ""),
        ("invoice", "INV-1", "0.00", ""),
        ("invoice", "INV-1", "-1", ""),
        ("invoice", "INV-1", "100000000000.01", ""),
        ("invoice", "INV-1", "NaN", ""),
        ("payment", "INV-1", "10.00", "2026-03-31"),
        ("invoice", "INV-1", "10.00", "2026-02-28"),
    ],
)
def test_the_import_refuses_what_posting_a_document_refuses(
    tmp_path, acme, kind, number, total, due_date
):
    """The import checks a row by the rules of ``clean_document``."""
    from billing.exceptions import BillingError
    from billing.services.documents import clean_document

    with pytest.raises(BillingError):
        clean_document(
            reseller=acme,
            kind=kind,
            number=number,
            total=total,
            issue_date=date(2026, 3, 1),
            due_date=date.fromisoformat(due_date) if due_date else None,
        )
    path = write_csv(
        tmp_path, f"US,Acme Cloud,{kind},{number},2026-03-01,{due_date},{total},USD,"
    )

    succeeded, out, err = run(path)

    assert not succeeded
    assert "refused 1 (line(s) 2)" in out
    assert f"line 2: {number}: " in err
    assert not Document.objects.exists()


def test_rows_with_other_than_ascii_text_are_checked_cell_by_cell(tmp_path, us):
    factories.ResellerFactory(marketplace=us, name="Société Générale Cloud")
    path = write_csv(
        tmp_path,
        "US,Société Générale Cloud,invoice,INV-1,2026-03-01,,10.00,USD,Grüße €",
        "US,Société Générale Cloud,invoice,INV-2,2026-03-01,,10.00,USD,ok\x00",
    )

    succeeded, out, err = run(path, "--partial")

    assert not succeeded
    assert "written 1, unchanged 0, refused 1 (line(s) 3)" in out
    assert "line 3: description contains a NUL character" in err
    assert Document.objects.get().description == "Grüße €"


def test_one_amount_text_is_parsed_per_currency_and_a_bad_one_stays_refused(
    tmp_path, acme
):
    jp = factories.MarketplaceFactory(code="JP", currency="JPY")
    factories.ResellerFactory(marketplace=jp, name="Kumo")
    path = write_csv(
        tmp_path,
        "US,Acme Cloud,invoice,INV-1,2026-03-01,,1500.5,USD,",
        "JP,Kumo,invoice,INV-1,2026-03-01,,1500.5,JPY,",
        "US,Acme Cloud,invoice,INV-2,2026-02-30,,10.00,USD,",
        "US,Acme Cloud,invoice,INV-3,2026-02-30,,10.00,USD,",
        "JP,Kumo,invoice,INV-2,2026-03-01,,1500,JPY,",
    )

    succeeded, out, err = run(path, "--partial")

    assert not succeeded
    assert "written 2, unchanged 0, refused 3 (line(s) 3, 4, 5)" in out
    assert "line 3: INV-1: bad amount '1500.5'" in err
    assert "line 4: INV-2: bad issue date '2026-02-30'" in err
    assert "line 5: INV-3: bad issue date '2026-02-30'" in err
    assert sorted(Document.objects.values_list("number", "total")) == [
        ("INV-1", Decimal("1500.50")),
        ("INV-2", Decimal("1500")),
    ]
