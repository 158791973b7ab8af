"""What staff see: documents with real statuses, details, activity, CSV."""

import csv
import io
import re
from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone, translation

from billing import services
from tests import factories
from tests.classic_panel.conftest import client_for
from tests.panelkit.lists import assert_bad_value_reported_beside


@pytest.fixture
def documents(world):
    """The DE reseller's documents in every status, one of them overdue."""
    reseller = world.de_reseller
    today = timezone.localdate()
    overdue = factories.post(
        reseller,
        "invoice",
        "70.00",
        number="DE-INV-OLD",
        issue_date=today - timedelta(days=90),
        due_in_days=30,
    )
    partly = factories.post(reseller, "debit_memo", "20.00", number="DE-DM-1")
    paid = factories.post(reseller, "invoice", "15.00", number="DE-INV-PAID")
    payment = factories.post(reseller, "payment", "20.00", number="DE-PAY-1")
    factories.post(reseller, "invoice", "5.00", number="DE-INV-NEW", issue_date=today)
    for debit, amount in ((partly, "5.00"), (paid, "15.00")):
        services.link_documents(
            credit=payment,
            debit=debit,
            amount=amount,
            actor=world.support_de,
            reason="setup",
        )
    return {"overdue": overdue, "partly": partly, "paid": paid, "payment": payment}


def page_html(client, url, **params) -> str:
    response = client.get(url, params)
    assert response.status_code == 200
    return response.content.decode()


def row_of(html: str, number: str) -> str:
    start = html.index(f">{number}</a>")
    return html[start : html.index("</tr>", start)]


def test_documents_show_real_statuses_totals_and_overdue(world, agent, documents):
    url = reverse("classic:reseller", args=[world.de_reseller.pk])
    html = page_html(agent, url)
    assert "Partly paid" in row_of(html, "DE-DM-1")
    assert "€15.00</td>" in row_of(html, "DE-DM-1")
    assert "badge-paid" in row_of(html, "DE-INV-PAID")
    assert "badge-applied" in row_of(html, "DE-PAY-1")
    assert "badge-unapplied" in row_of(html, "DE-CM-1")
    assert "badge-open" in row_of(html, "DE-INV-1")
    assert "badge-overdue" in row_of(html, "DE-INV-OLD")
    assert "badge-overdue" not in row_of(html, "DE-INV-NEW")
    # Owed: 100 + 70 + 15 + 5 open; credit balance: the 60.00 memo.
    assert 'data-testid="total-owed">€190.00<' in html
    assert 'data-testid="credit-balance">€60.00<' in html
    assert "€185.00" in html.split('id="overdue-h"')[1].split("</section>")[0]


@pytest.mark.parametrize(
    ("params", "shown", "hidden"),
    [
        ({"status": "partly_paid"}, ["DE-DM-1"], ["DE-INV-1", "DE-INV-PAID"]),
        ({"kind": "credit_memo"}, ["DE-CM-1"], ["DE-PAY-1", "DE-INV-1"]),
        ({"q": "paid"}, ["DE-INV-PAID"], ["DE-DM-1", "DE-CM-1"]),
        ({"overdue": "on"}, ["DE-INV-OLD", "DE-INV-1"], ["DE-INV-NEW", "DE-INV-PAID"]),
        ({"status": "applied"}, ["DE-PAY-1"], ["DE-CM-1"]),
    ],
)
def test_document_filters(world, agent, documents, params, shown, hidden):
    html = page_html(
        agent, reverse("classic:reseller", args=[world.de_reseller.pk]), **params
    )
    for number in shown:
        assert f">{number}</a>" in html
    for number in hidden:
        assert f">{number}</a>" not in html


def test_documents_sort_and_paginate(world, agent):
    reseller = factories.ResellerFactory(marketplace=world.de, name="Many GmbH")
    for n in range(30):
        factories.post(
            reseller,
            "invoice",
            f"{n + 1}.00",
            number=f"MANY-{n:03d}",
            issue_date=date(2026, 1, 1) + timedelta(days=n),
        )
    url = reverse("classic:reseller", args=[reseller.pk])
    first = page_html(agent, url)
    assert ">MANY-000</a>" in first and ">MANY-029</a>" not in first
    assert "Page 1 of 2" in first
    second = page_html(agent, url, page=2)
    assert ">MANY-029</a>" in second and ">MANY-000</a>" not in second
    newest = page_html(agent, url, sort="-total")
    assert newest.index(">MANY-029</a>") < newest.index(">MANY-028</a>")
    assert 'aria-sort="descending"' in newest
    # Pagination links keep the filters and the sort.
    assert "sort=-total&amp;page=2" in newest


def test_document_detail_lists_every_allocation_with_its_source(
    world, agent, documents
):
    url = reverse(
        "classic:document", args=[world.de_reseller.pk, documents["payment"].pk]
    )
    html = page_html(agent, url)
    for number in ("DE-DM-1", "DE-INV-PAID"):
        row = row_of(html, number)
        assert "Manual link" in row and "support-de" in row and "OP-" in row
        assert "Unlink" in row
    assert "€5.00" in row_of(html, "DE-DM-1")


def test_document_detail_shows_automatic_applications_as_system(world, agent):
    prepaid = factories.ResellerFactory(
        marketplace=world.de, name="Prepaid GmbH", payment_model="prepaid"
    )
    factories.post(prepaid, "payment", "10.00", number="PRE-PAY-1")
    invoice = factories.post(prepaid, "invoice", "8.00", number="PRE-INV-1")
    html = page_html(agent, reverse("classic:document", args=[prepaid.pk, invoice.pk]))
    row = row_of(html, "PRE-PAY-1")
    assert "Automatic application" in row and "System" in row


def test_activity_lists_every_change_with_actor_and_reason(world, agent, documents):
    html = page_html(agent, reverse("classic:activity", args=[world.de_reseller.pk]))
    assert "Documents linked" in html and "support-de" in html
    assert "Document posted" in html and "setup" in html


def test_home_finds_a_reseller_by_name_id_and_marketplace(world):
    admin = factories.UserFactory(username="root", is_superuser=True)
    client = client_for(admin)
    url = reverse("classic:home")
    assert "Kunde GmbH" in page_html(client, url, q="kunde")
    by_id = page_html(client, url, q=str(world.us_reseller.pk))
    assert "Acme US" in by_id and "Kunde GmbH" not in by_id
    by_marketplace = page_html(client, url, marketplace=world.de.pk)
    assert "Kunde GmbH" in by_marketplace and "Acme US" not in by_marketplace


def test_csv_export_streams_the_filtered_list_with_exact_amounts(
    world, agent, documents
):
    url = reverse("classic:documents_csv", args=[world.de_reseller.pk])
    response = agent.get(url, {"kind": "debit_memo"})
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment;" in response["Content-Disposition"]
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0][:3] == ["Number", "Kind", "Issue date"]
    assert rows[1:] == [
        [
            "DE-DM-1",
            "Debit memo",
            "2026-01-01",
            "2026-01-31",
            "EUR",
            "20.00",
            "15.00",
            "Partly paid",
            "yes",
        ]
    ]
    everything = agent.get(url)
    numbers = [
        r[0]
        for r in csv.reader(
            io.StringIO(b"".join(everything.streaming_content).decode())
        )
    ][1:]
    assert sorted(numbers) == sorted(
        [
            "DE-INV-1",
            "DE-CM-1",
            "DE-INV-OLD",
            "DE-DM-1",
            "DE-INV-PAID",
            "DE-PAY-1",
            "DE-INV-NEW",
        ]
    )


def test_csv_cells_cannot_become_spreadsheet_formulas(world, agent):
    factories.post(world.de_reseller, "invoice", "1.00", number="=HYPERLINK(1)")
    url = reverse("classic:documents_csv", args=[world.de_reseller.pk])
    body = b"".join(agent.get(url, {"q": "HYPER"}).streaming_content).decode()
    assert "'=HYPERLINK(1)" in body


def test_a_bad_filter_value_is_reported_beside_its_field_and_only_it_is_ignored(
    world, agent, documents
):
    url = reverse("classic:reseller", args=[world.de_reseller.pk])
    response = agent.get(url, {"kind": "credit_memo", "issued_from": "bogus"})

    page = response.context["page"]
    assert [doc.number for doc in page.object_list] == ["DE-CM-1"]
    assert (page.paginator.count, page.paginator.num_pages) == (1, 1)
    html = response.content.decode()
    assert ">1 document</caption>" in html
    assert_bad_value_reported_beside(html, "issued_from", "Enter a valid date.")


def cells_by_header(html: str, number: str) -> dict[str, str]:
    """Return the cells of the row holding ``number``, keyed by column header."""
    row_start = html.rindex("<tr", 0, html.index(f">{number}</a>"))
    table = html[html.rindex("<table", 0, row_start) : row_start]
    headers = [
        re.sub(r"<[^>]+>", "", header).strip()
        for header in re.findall(r"<th\b[^>]*>(.*?)</th>", table, re.S)
    ]
    row = html[row_start : html.index("</tr>", row_start)]
    cells = [
        re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", cell)).strip()
        for cell in re.findall(r"<td\b[^>]*>(.*?)</td>", row, re.S)
    ]
    return dict(zip(headers, cells, strict=False))


def test_source_columns_say_where_a_change_came_from(world, agent, documents):
    staff_link = page_html(
        agent,
        reverse(
            "classic:document", args=[world.de_reseller.pk, documents["payment"].pk]
        ),
    )
    prepaid = factories.ResellerFactory(marketplace=world.de, payment_model="prepaid")
    factories.post(prepaid, "payment", "10.00", number="PRE-PAY-1")
    invoice = factories.post(prepaid, "invoice", "8.00", number="PRE-INV-1")
    automatic = page_html(
        agent, reverse("classic:document", args=[prepaid.pk, invoice.pk])
    )
    operations = page_html(agent, reverse("classic:operations", args=[prepaid.pk]))

    assert cells_by_header(staff_link, "DE-DM-1")["Source"] == "Classic panel"
    assert cells_by_header(automatic, "PRE-PAY-1")["Source"] == "System"
    (reference,) = re.findall(r">(OP-\d+)</a>", operations)
    assert cells_by_header(operations, reference)["Source"] == "System"


def input_tag(html: str, name: str) -> str:
    return re.search(rf'<input\b[^>]*name="{name}"[^>]*>', html)[0]


@pytest.mark.parametrize(("language", "placeholder"), [("en", "YYYY"), ("de", "JJJJ")])
def test_date_filters_are_typed_and_shown_as_iso_dates(
    world, agent, documents, language, placeholder
):
    url = reverse("classic:reseller", args=[world.de_reseller.pk])
    try:
        response = agent.get(
            url, {"issued_from": "2026-01-02"}, HTTP_ACCEPT_LANGUAGE=language
        )
    finally:
        translation.deactivate()

    html = response.content.decode()
    field = input_tag(html, "issued_from")
    assert 'type="text"' in field and 'value="2026-01-02"' in field
    assert f'placeholder="{placeholder}-MM-' in field
    assert r'pattern="\d{4}-\d{2}-\d{2}"' in field
    assert 'type="text"' in input_tag(html, "issued_to")
    numbers = {doc.number for doc in response.context["page"].object_list}
    assert "DE-INV-NEW" in numbers and "DE-DM-1" not in numbers
