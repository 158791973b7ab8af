"""No URL of the reseller panel changes the ledger except through pay_documents,
every POST needs a CSRF token, and pages cost the same queries at any size."""

import ast
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, reverse

from api.keys import issue_api_key
from billing.models import Allocation, AuditEvent, Document, Operation, Reversal
from reseller_panel import urls as panel_urls
from tests import factories
from tests.reseller_panel.conftest import days_ago, signed_in_client

PANEL = Path(panel_urls.__file__).resolve().parent
ALLOWED_VIEW_MODULES = {
    "reseller_panel.views.browse",
    "reseller_panel.views.pay",
    "reseller_panel.api_keys",
    "django.contrib.auth.views",
}
LEDGER_WRITES = {
    "link_documents",
    "unlink_allocation",
    "revert_operation",
    "issue_credit_memo",
    "post_document",
    "auto_apply",
    "apply_allocations",
    "reverse_allocations",
    "allocate",
    "allocate_operations",
    "insert_allocations",
    "store_open_amounts",
    "store_amounts",
    "lock_reseller",
    "lock_and_replay",
}
ORM_WRITES = {
    "save",
    "create",
    "update",
    "delete",
    "bulk_create",
    "bulk_update",
    "get_or_create",
    "update_or_create",
}


def concrete_urls(ids):
    """Return one URL per pattern of the panel, with real ids filled in."""
    urls = []
    for pattern in panel_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        kwargs = {key: ids[key] for key in pattern.pattern.converters}
        urls.append(reverse(pattern.name, kwargs=kwargs))
    return urls


def ledger_snapshot(reseller):
    return (
        sorted(
            Document.objects.filter(reseller=reseller).values_list("pk", "open_amount")
        ),
        Allocation.objects.count(),
        Reversal.objects.count(),
        Operation.objects.count(),
        AuditEvent.objects.count(),
    )


def test_every_url_is_a_panel_view_or_sign_in_or_out():
    for pattern in panel_urls.urlpatterns:
        callback = pattern.callback
        view = getattr(callback, "view_class", callback)
        assert view.__module__ in ALLOWED_VIEW_MODULES, pattern.name


def test_panel_code_writes_only_through_pay_documents():
    called = set()
    imported = set()
    for path in PANEL.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom | ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else None
                name = name or (func.id if isinstance(func, ast.Name) else None)
                called.add(name)
    assert "pay_documents" in called
    assert not (imported | called) & LEDGER_WRITES
    assert not called & ORM_WRITES


@pytest.fixture
def world(db, term_reseller):
    invoice = factories.post(term_reseller, "invoice", "100.00", issue_date=days_ago(9))
    later = factories.post(term_reseller, "invoice", "50.00", issue_date=days_ago(3))
    memo = factories.post(term_reseller, "credit_memo", "30.00")
    operation = factories.pay(term_reseller, [invoice])
    return {
        "reseller": term_reseller,
        "invoice": invoice,
        "later": later,
        "memo": memo,
        "operation_id": operation.pk,
        "document_id": later.pk,
        # Another user's API key: revoking it answers 404.
        "key_id": issue_api_key(
            user=factories.reseller_user(term_reseller),
            reseller=term_reseller,
            name="k",
        )[0].pk,
    }


def test_every_post_requires_a_csrf_token(world):
    client = signed_in_client(world["reseller"], enforce_csrf_checks=True)
    anonymous = Client(enforce_csrf_checks=True)
    before = ledger_snapshot(world["reseller"])
    urls = concrete_urls(world)
    data = {
        "document": [world["later"].pk],
        "payment_method": "bank_transfer",
        "idempotency_key": "b" * 32,
        "fingerprint": "0" * 64,
    }
    for url in urls:
        assert client.post(url, data).status_code == 403, url
        assert anonymous.post(url, data).status_code == 403, url
    assert ledger_snapshot(world["reseller"]) == before
    assert client.get(reverse("home")).status_code == 200  # still signed in


JUNK = [
    {},
    {"document": ["x"], "use_credit": "1"},
    {"document": ["1", "2"], "credit": "3", "debit": "1", "amount": "10.00"},
    {"allocation": "1", "operation": "1", "reason": "revert", "action": "unlink"},
    {"document": ["-1"], "payment_method": "wire", "idempotency_key": "' OR 1=1"},
    {"document": ["99999999"], "fingerprint": "0" * 64, "idempotency_key": "c" * 32},
]


@pytest.mark.parametrize("junk", JUNK)
def test_junk_posts_to_every_url_change_nothing(world, junk):
    client = signed_in_client(world["reseller"])
    before = ledger_snapshot(world["reseller"])
    for url in concrete_urls(world):
        if url == reverse("logout"):
            continue
        response = client.post(url, junk)
        # The sign-in page answers a bad form with its errors (200).
        expected = {200} if url == reverse("login") else {400, 404, 405}
        assert response.status_code in expected, (url, response.status_code)
    assert ledger_snapshot(world["reseller"]) == before


def build_account(reseller, documents: int):
    """Post ``documents`` invoices, a credit memo, and pay them all with credit."""
    invoices = [
        factories.post(reseller, "invoice", "10.00", issue_date=days_ago(40 + i))
        for i in range(documents)
    ]
    factories.post(reseller, "credit_memo", "15.00")
    factories.post(reseller, "payment", "5.00")
    operation = factories.pay(reseller, invoices[: documents - 1])
    return invoices, operation


def page_urls(invoices, operation):
    unpaid = Document.objects.filter(
        pk__in=[doc.pk for doc in invoices], open_amount__gt=0
    ).values_list("pk", flat=True)
    open_ids = "&".join(f"document={pk}" for pk in sorted(unpaid)[:25])
    return {
        "home": reverse("home"),
        "unpaid": reverse("unpaid_documents"),
        "unpaid filtered": reverse("unpaid_documents") + "?overdue=on&sort=-due_date",
        "pay": f"{reverse('pay')}?{open_ids}&use_credit=1",
        "documents": reverse("documents") + "?status=closed",
        "all documents": reverse("documents"),
        # The oldest invoice paid: the credit reaches it at either size, so
        # both pages show an allocation.
        "document": reverse("document", kwargs={"document_id": invoices[-2].pk}),
        "payments": reverse("payments"),
        "receipt": reverse("receipt", kwargs={"operation_id": operation.pk}),
        "help": reverse("help_paying"),
    }


def count_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(queries)


def test_page_query_counts_do_not_grow_with_documents(
    db, django_assert_max_num_queries
):
    from tests.reseller_panel.conftest import make_reseller

    counts = {}
    for size in (3, 40):
        reseller = make_reseller()
        invoices, operation = build_account(reseller, size)
        # The last invoice stays unpaid, so every page has something to show.
        assert Document.objects.get(pk=invoices[-1].pk).open_amount == Decimal("10.00")
        client = signed_in_client(reseller)
        counts[size] = {
            name: count_queries(client, url)
            for name, url in page_urls(invoices, operation).items()
        }
    assert counts[3] == counts[40]
    for url in page_urls(invoices, operation).values():
        with django_assert_max_num_queries(10):
            client.get(url)
