"""Django admin for operators: reference data editable, the ledger read-only."""

import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from billing import services
from billing.models import (
    Allocation,
    AuditEvent,
    Document,
    Marketplace,
    Operation,
    PaymentModel,
    Reseller,
    ResellerMembership,
    Reversal,
)
from billing.money import format_money
from tests import factories

LEDGER_MODELS = [Document, Allocation, Reversal, Operation, AuditEvent]
REFERENCE_MODELS = [Marketplace, Reseller]
ALL_MODELS = [*REFERENCE_MODELS, *LEDGER_MODELS]


def admin_url(model, view: str, *args) -> str:
    meta = model._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=args)


@pytest.fixture
def operator(db):
    return get_user_model().objects.create_superuser(
        "operator", "ops@example.com", "pw"
    )


@pytest.fixture
def admin_client(client, operator):
    client.force_login(operator)
    return client


def add_activity(reseller: Reseller, operator, n: int = 1) -> None:
    """Post, link and unlink ``n`` rounds of documents for the reseller."""
    for _ in range(n):
        invoice = factories.post(reseller, "invoice", "100.00")
        payment = factories.post(reseller, "payment", "60.00")
        link = services.link_documents(
            credit=payment, debit=invoice, amount="40.00", actor=operator, reason="r"
        )
        services.unlink_allocation(allocation=link, actor=operator, reason="undo")
        services.link_documents(
            credit=payment, debit=invoice, amount="25.00", actor=operator, reason="r"
        )


@pytest.fixture
def ledger(reseller, operator):
    factories.MembershipFactory(reseller=reseller, user__username="acme-user")
    prepaid = factories.ResellerFactory(
        marketplace=reseller.marketplace, payment_model=PaymentModel.PREPAID
    )
    factories.post(prepaid, "payment", "10.00", number="PAY-PRE-1")
    factories.post(prepaid, "invoice", "25.00", number="INV-PRE-1")
    add_activity(reseller, operator)
    return reseller


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_operator_opens_every_changelist_and_detail_page(admin_client, ledger, model):
    changelist = admin_client.get(admin_url(model, "changelist"))
    obj = model.objects.order_by("pk").first()
    detail = admin_client.get(admin_url(model, "change", obj.pk))

    assert changelist.status_code == 200
    assert changelist.context["cl"].result_count >= 1
    assert detail.status_code == 200


@pytest.mark.parametrize("name", ["user", "group"])
def test_operator_opens_user_and_group_changelists(admin_client, ledger, name):
    response = admin_client.get(reverse(f"admin:auth_{name}_changelist"))

    assert response.status_code == 200


@pytest.mark.parametrize("model", LEDGER_MODELS, ids=lambda m: m.__name__)
def test_ledger_cannot_be_added_changed_or_deleted(admin_client, ledger, model):
    obj = model.objects.order_by("pk").first()
    changelist = admin_client.get(admin_url(model, "changelist"))
    detail = admin_client.get(admin_url(model, "change", obj.pk))
    before = model.objects.count()

    add = admin_client.post(admin_url(model, "add"), {})
    delete = admin_client.post(admin_url(model, "delete", obj.pk), {"post": "yes"})
    bulk_delete = admin_client.post(
        admin_url(model, "changelist"),
        {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"},
    )

    assert add.status_code == 403
    assert delete.status_code == 403
    assert changelist.context["action_form"] is None  # no bulk delete
    assert bulk_delete.status_code in (200, 302)
    assert model.objects.count() == before
    assert admin_url(model, "add") not in changelist.content.decode()
    assert b'name="_save"' not in detail.content
    assert b"deletelink" not in detail.content


def test_posting_a_changed_document_is_refused(admin_client, ledger):
    document = Document.objects.get(number="INV-PRE-1")

    response = admin_client.post(
        admin_url(Document, "change", document.pk),
        {"open_amount": "0", "total": "25.00"},
    )

    document.refresh_from_db()
    assert response.status_code == 403
    assert document.open_amount == document.total - 10


def test_reference_data_is_editable(admin_client, ledger):
    marketplace = ledger.marketplace
    changelist = admin_client.get(admin_url(Marketplace, "changelist"))
    detail = admin_client.get(admin_url(Marketplace, "change", marketplace.pk))

    assert admin_url(Marketplace, "add") in changelist.content.decode()
    assert b'name="_save"' in detail.content


def test_reseller_marketplace_and_currency_are_fixed_once_created(admin_client, ledger):
    response = admin_client.get(admin_url(Reseller, "change", ledger.pk))

    form = response.context["adminform"].form
    assert "marketplace" not in form.fields
    assert "currency" not in form.fields
    assert "document_count" not in form.fields
    assert "payment_model" in form.fields


def test_reseller_can_be_added_with_a_supported_currency_only(admin_client, ledger):
    url = admin_url(Reseller, "add")
    data = {
        "marketplace": ledger.marketplace.pk,
        "name": "New Reseller",
        "payment_model": PaymentModel.TERM,
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }

    refused = admin_client.post(url, {**data, "currency": "XYZ"})
    added = admin_client.post(url, {**data, "currency": "usd"})

    assert refused.status_code == 200
    assert "currency" in refused.context["adminform"].form.errors
    assert added.status_code == 302
    assert Reseller.objects.get(name="New Reseller").currency == "USD"


def test_membership_inline_uses_user_autocomplete(admin_client, ledger, operator):
    user = get_user_model().objects.create_user("bolt-user", password="x")
    detail = admin_client.get(admin_url(Reseller, "change", ledger.pk))
    autocomplete = admin_client.get(
        reverse("admin:autocomplete"),
        {
            "app_label": "billing",
            "model_name": "resellermembership",
            "field_name": "user",
            "term": "bolt",
        },
    )

    assert detail.status_code == 200
    assert b"admin-autocomplete" in detail.content
    assert autocomplete.status_code == 200
    results = autocomplete.json()["results"]
    assert results == [{"id": str(user.pk), "text": "bolt-user"}]


def test_membership_can_be_added_inline(admin_client, ledger):
    user = get_user_model().objects.create_user("new-user", password="x")
    memberships = ledger.memberships.order_by("pk")
    data = {
        "name": ledger.name,
        "payment_model": ledger.payment_model,
        "memberships-TOTAL_FORMS": "2",
        "memberships-INITIAL_FORMS": "1",
        "memberships-0-id": memberships[0].pk,
        "memberships-0-reseller": ledger.pk,
        "memberships-0-user": memberships[0].user_id,
        "memberships-1-reseller": ledger.pk,
        "memberships-1-user": user.pk,
    }

    response = admin_client.post(admin_url(Reseller, "change", ledger.pk), data)

    assert response.status_code == 302, response.context["errors"]
    assert ResellerMembership.objects.get(user=user).reseller == ledger


@pytest.mark.parametrize(
    ("model", "query", "expected"),
    [
        (Document, {"q": "INV-PRE-1"}, 1),
        (Document, {"q": "no-such-number"}, 0),
        (Document, {"kind__exact": "payment"}, 2),
        (Document, {"kind__exact": "invoice", "q": "INV-PRE"}, 1),
        (Reseller, {"q": "Reseller"}, 2),
        (Reseller, {"payment_model__exact": "prepaid"}, 1),
        (Marketplace, {"q": "M"}, 1),
        (Allocation, {"q": "PAY-PRE-1"}, 1),
        (Allocation, {"operation__kind__exact": "link"}, 2),
        (Operation, {"kind__exact": "unlink"}, 1),
        (Operation, {"q": "Reseller"}, 4),
        (Reversal, {"q": "undo"}, 1),
        (AuditEvent, {"action__exact": "documents_linked"}, 2),
        (AuditEvent, {"q": "INV-PRE-1"}, 1),
    ],
)
def test_search_and_filters(admin_client, ledger, model, query, expected):
    response = admin_client.get(admin_url(model, "changelist"), query)

    assert response.status_code == 200
    assert "e" not in response.context["cl"].params  # no invalid-lookup error
    assert response.context["cl"].result_count == expected


def test_amounts_are_shown_in_the_reseller_currency(admin_client, ledger):
    response = admin_client.get(admin_url(Document, "changelist"), {"q": "INV-PRE"})

    assert "$25.00" in response.content.decode()
    assert "$15.00" in response.content.decode()


def test_a_document_page_shows_amounts_in_its_currency(admin_client, ledger):
    document = Document.objects.get(number="INV-PRE-1")

    response = admin_client.get(admin_url(Document, "change", document.pk))

    content = response.content.decode()
    assert response.status_code == 200
    assert "$25.00" in content
    assert "$15.00" in content
    assert "25.000" not in content
    assert "15.000" not in content


@pytest.mark.parametrize("model", LEDGER_MODELS, ids=lambda m: m.__name__)
def test_every_ledger_row_page_shows_amounts_with_a_currency(
    admin_client, ledger, model
):
    row = model.objects.order_by("pk").last()

    response = admin_client.get(admin_url(model, "change", row.pk))

    assert response.status_code == 200
    shown = re.findall(
        r'<div class="readonly">(.*?)</div>', response.content.decode(), re.S
    )
    assert shown
    assert [value for value in shown if re.search(r"\d\.\d{3}\b", value)] == []


@pytest.mark.parametrize("model", ALL_MODELS, ids=lambda m: m.__name__)
def test_changelist_queries_do_not_grow_with_rows(
    admin_client, ledger, operator, model
):
    url = admin_url(model, "changelist")
    admin_client.get(url)  # warm caches (content types, sessions)

    with CaptureQueriesContext(connection) as few:
        admin_client.get(url)
    other = factories.ResellerFactory(marketplace=ledger.marketplace)
    add_activity(other, operator, n=4)
    factories.MarketplaceFactory.create_batch(3)
    with CaptureQueriesContext(connection) as many:
        response = admin_client.get(url)

    assert response.context["cl"].result_count > 1
    assert len(many) == len(few), [q["sql"] for q in many.captured_queries]


def test_editing_a_reseller_keeps_a_count_posted_meanwhile(
    admin_client, ledger, monkeypatch
):
    from django.db.models import F

    from billing.admin import ResellerAdmin

    counted = Reseller.objects.get(pk=ledger.pk).document_count
    load = ResellerAdmin.get_object

    def load_then_post(self, request, object_id, from_field=None):
        reseller = load(self, request, object_id, from_field)
        # A posting elsewhere counts its document after the page loaded the
        # row and before it saves (what ``create_document`` does).
        Reseller.objects.filter(pk=ledger.pk).update(
            document_count=F("document_count") + 1
        )
        return reseller

    monkeypatch.setattr(ResellerAdmin, "get_object", load_then_post)
    membership = ledger.memberships.get()
    data = {
        "name": "Renamed Cloud",
        "payment_model": ledger.payment_model,
        "memberships-TOTAL_FORMS": "1",
        "memberships-INITIAL_FORMS": "1",
        "memberships-0-id": membership.pk,
        "memberships-0-reseller": ledger.pk,
        "memberships-0-user": membership.user_id,
    }

    response = admin_client.post(admin_url(Reseller, "change", ledger.pk), data)

    assert response.status_code == 302, response.context["errors"]
    saved = Reseller.objects.get(pk=ledger.pk)
    assert saved.name == "Renamed Cloud"
    assert saved.document_count == counted + 1


def test_a_payment_operation_shows_its_payment_record(admin_client, reseller):
    invoice = factories.post(reseller, "invoice", "90.00")
    factories.post(reseller, "credit_memo", "30.00")
    operation = factories.pay(reseller, [invoice])

    changelist = admin_client.get(admin_url(Operation, "changelist"))
    detail = admin_client.get(admin_url(Operation, "change", operation.pk))

    row = changelist.context["cl"].result_list[0]
    assert row.pk == operation.pk
    html = detail.content.decode()
    assert "Bank transfer" in changelist.content.decode()
    assert operation.payment.transfer_reference in html
    assert format_money(Decimal("30.00"), reseller.currency) in html
    assert format_money(Decimal("60.00"), reseller.currency) in html
    # Shown, not a form to change.
    assert 'name="payment-0-credit_applied"' not in html
    assert 'name="payment-0-message"' not in html
