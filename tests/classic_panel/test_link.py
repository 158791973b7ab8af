"""Link a credit to a debit document: review, confirm once, refuse bad input."""

import re
from decimal import Decimal

import pytest
from django.urls import reverse

from billing import services
from billing.models import Allocation, AuditEvent, Operation
from tests import factories
from tests.classic_panel.conftest import fresh
from tests.classic_panel.helpers import ledger_state
from tests.html_forms import submit


def link_url(world, step="link"):
    return reverse(f"classic:{step}", args=[world.de_reseller.pk])


def payload(world, **overrides):
    data = {
        "credit": world.credit_memo.pk,
        "debit": world.invoice.pk,
        "amount": "25.00",
        "reason": "Reseller asked to apply part of the memo",
    }
    data.update(overrides)
    return data


def review(client, world, **overrides):
    response = client.post(link_url(world), payload(world, **overrides))
    assert response.status_code == 200
    return response


def confirm(client, review_page, **extra):
    """Press "Confirm link" on the rendered review page."""
    return submit(client, review_page, button="Confirm link", **extra)


def test_link_form_preselects_and_prefills_the_most_possible_amount(world, agent):
    url = link_url(world) + f"?debit={world.invoice.pk}"
    html = agent.get(url).content.decode()
    assert f'<option value="{world.credit_memo.pk}" selected>' in html
    assert f'<option value="{world.invoice.pk}" selected>' in html
    assert 'name="amount" value="60.00"' in html
    assert "DE-CM-1 · Credit memo · €60.00 open of €60.00" in html


def test_review_shows_the_effect_and_changes_nothing(world, agent):
    before = ledger_state()
    html = review(agent, world).content.decode()
    assert "Link €25.00 of DE-CM-1 to DE-INV-1?" in html
    # before → after for both documents
    assert re.search(
        r"DE-CM-1</td>\s*<td[^>]*>€60.00</td>\s*<td[^>]*>€25.00</td>"
        r"\s*<td[^>]*><strong>€35.00</strong>",
        html,
    )
    assert re.search(
        r"DE-INV-1</td>\s*<td[^>]*>€100.00</td>\s*<td[^>]*>€25.00</td>"
        r"\s*<td[^>]*><strong>€75.00</strong>",
        html,
    )
    assert ledger_state() == before


def test_confirm_links_once_and_redirects_with_a_message(world, agent):
    response = confirm(agent, review(agent, world), follow=True)
    assert response.redirect_chain[-1][0] == reverse(
        "classic:document", args=[world.de_reseller.pk, world.invoice.pk]
    )
    html = response.content.decode()
    assert "Linked €25.00 of DE-CM-1 to DE-INV-1." in html
    assert fresh(world.invoice).open_amount == Decimal("75.00")
    assert fresh(world.credit_memo).open_amount == Decimal("35.00")
    allocation = Allocation.objects.get()
    assert allocation.created_by == world.support_de
    assert allocation.operation.kind == Operation.Kind.LINK
    assert allocation.operation.reason == "Reseller asked to apply part of the memo"
    event = AuditEvent.objects.get(action=AuditEvent.Action.DOCUMENTS_LINKED)
    assert event.actor == world.support_de and event.source == "classic_panel"


def test_double_submitted_confirmation_links_once(world, agent):
    page = review(agent, world)
    first = confirm(agent, page)
    assert first.status_code == 302
    state = ledger_state()
    second = confirm(agent, page)
    # The replay lands where the first confirm did, and links nothing more.
    assert second.status_code == 302
    assert second["Location"] == first["Location"]
    assert ledger_state() == state
    assert Allocation.objects.count() == 1
    assert fresh(world.invoice).open_amount == Decimal("75.00")


def test_confirming_a_link_again_shows_the_first_result(world, agent):
    """The first confirm used the whole credit memo: it is no longer a valid
    choice today, yet the replay must show the link that succeeded."""
    page = review(agent, world, amount="60.00")
    first = confirm(agent, page)
    assert first.status_code == 302
    state = ledger_state()
    again = confirm(agent, page, follow=True)
    html = again.content.decode()
    assert again.redirect_chain[-1][0] == first["Location"]
    assert "Select a valid choice" not in html
    assert "Linked €60.00 of DE-CM-1 to DE-INV-1." in html
    assert ledger_state() == state


def test_confirm_without_a_token_links_nothing(world, agent):
    before = ledger_state()
    response = agent.post(link_url(world, "link_confirm"), payload(world), follow=True)
    assert "missing its one-time key" in response.content.decode()
    assert ledger_state() == before


def test_empty_amount_links_the_most_possible(world, agent):
    html = review(agent, world, amount="").content.decode()
    assert "Link €60.00 of DE-CM-1 to DE-INV-1?" in html
    assert 'name="amount" value="60.00"' in html


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("60.01", "The amount is more than the open amount of DE-CM-1."),
        ("0", "The amount must be greater than zero."),
        ("0.00", "The amount must be greater than zero."),
        ("-5.00", "The amount must be greater than zero."),
        ("10.005", "EUR amounts have at most 2 decimals."),
        ("ten", "Enter a valid amount."),
        ("1e3", "Enter a valid amount."),
    ],
)
def test_bad_amounts_are_refused_with_a_clear_message(world, agent, amount, message):
    before = ledger_state()
    for step in ("link", "link_confirm"):
        response = agent.post(link_url(world, step), payload(world, amount=amount))
        assert response.status_code == 200
        assert message in response.content.decode(), (step, amount)
    assert ledger_state() == before


def test_amount_above_the_debit_open_amount_is_refused(world, agent):
    big_credit = factories.post(world.de_reseller, "payment", "500.00", number="P-9")
    before = ledger_state()
    response = agent.post(
        link_url(world), payload(world, credit=big_credit.pk, amount="100.01")
    )
    assert "The amount is more than the open amount of DE-INV-1." in (
        response.content.decode()
    )
    assert ledger_state() == before


def test_amount_above_the_open_amount_at_confirm_time_is_refused(world, agent):
    """The review said 60 was possible; meanwhile 50 was applied elsewhere."""
    page = review(agent, world, amount="60.00")
    other = factories.post(world.de_reseller, "invoice", "50.00", number="DE-INV-2")
    services.link_documents(
        credit=world.credit_memo,
        debit=other,
        amount="50.00",
        actor=world.support_de,
        reason="elsewhere",
    )
    before = ledger_state()
    response = confirm(agent, page)
    assert "The amount is more than the open amount of DE-CM-1." in (
        response.content.decode()
    )
    assert ledger_state() == before


def test_reason_is_required(world, agent):
    before = ledger_state()
    for step in ("link", "link_confirm"):
        response = agent.post(link_url(world, step), payload(world, reason="  "))
        assert "Give a reason: it is kept in the audit trail." in (
            response.content.decode()
        )
    assert ledger_state() == before


@pytest.mark.parametrize("side", ["credit", "debit"])
def test_a_document_of_another_reseller_is_refused(world, agent, side):
    """A US document posted by id to the DE reseller's link form."""
    foreign = world.us_credit if side == "credit" else world.us_invoice
    before = ledger_state()
    for step in ("link", "link_confirm"):
        response = agent.post(
            link_url(world, step), payload(world, amount="5.00", **{side: foreign.pk})
        )
        assert "Select a valid choice" in response.content.decode()
    assert ledger_state() == before


def test_a_second_de_reseller_document_is_refused_too(world, agent):
    other = factories.ResellerFactory(marketplace=world.de, name="Zweite GmbH")
    foreign = factories.post(other, "credit_memo", "40.00", number="DE2-CM-1")
    before = ledger_state()
    response = agent.post(link_url(world), payload(world, credit=foreign.pk))
    assert "Select a valid choice" in response.content.decode()
    assert ledger_state() == before


def test_wrong_kinds_and_closed_documents_are_refused(world, agent):
    paid_off = factories.post(world.de_reseller, "invoice", "10.00", number="DE-INV-3")
    before = ledger_state()
    # An invoice offered as the credit, and a credit memo offered as the debit.
    response = agent.post(
        link_url(world),
        payload(world, credit=world.invoice.pk, debit=world.credit_memo.pk),
    )
    assert response.content.decode().count("Select a valid choice") == 2
    assert ledger_state() == before
    confirm(agent, review(agent, world, debit=paid_off.pk, amount="10.00"))
    assert fresh(paid_off).open_amount == 0
    before = ledger_state()
    response = agent.post(link_url(world), payload(world, debit=paid_off.pk))
    assert "Select a valid choice" in response.content.decode()
    assert ledger_state() == before


def test_a_long_list_of_open_documents_says_how_to_reach_the_rest(
    world, agent, monkeypatch
):
    monkeypatch.setattr("classic_panel.forms.CHOICES_LIMIT", 2)
    newer = [
        factories.post(world.de_reseller, "invoice", "10.00", number=f"DE-INV-N{n}")
        for n in range(2)
    ]

    html = agent.get(link_url(world)).content.decode()

    debit_select = re.search(r'<select name="debit".*?</select>', html, re.S)[0]
    assert len(re.findall(r'<option value="\d+"', debit_select)) == 2
    assert "DE-INV-N1" not in debit_select
    assert "Only the 2 oldest are listed." in html
    credit_select = re.search(r'<select name="credit".*?</select>', html, re.S)[0]
    assert len(re.findall(r'<option value="\d+"', credit_select)) == 1

    # Chosen from its own page, a newer document is listed and selected.
    html = agent.get(link_url(world) + f"?debit={newer[1].pk}").content.decode()
    assert f'<option value="{newer[1].pk}" selected>' in html
    response = agent.post(link_url(world), payload(world, amount="-1"))
    assert "Only the 2 oldest are listed." in response.content.decode()


def test_a_used_confirmation_with_edited_values_changes_nothing_more(world, agent):
    """The ledger, not the page, decides what a replay is: the same key with
    another amount is refused, and the first link stays the only one."""
    page = review(agent, world, amount="25.00")
    assert confirm(agent, page).status_code == 302
    state = ledger_state()

    edited = submit(agent, page, button="Confirm link", fill={"amount": "30.00"})

    html = edited.content.decode()
    assert "already used with other values" in html
    assert ledger_state() == state
