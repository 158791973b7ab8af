"""Fixtures of the classic-panel tests: two marketplaces, staff with roles."""

from dataclasses import dataclass

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client

from billing.models import CreditPolicy, Document, PaymentModel, Reseller
from tests import factories

VIEW = "view_document"
LINK = "link_documents"
MEMO = "issue_credit_memo"


def grant(user, *codenames: str) -> None:
    """Give ``user`` billing permissions through a group, as operators do."""
    group, _ = Group.objects.get_or_create(name="classic " + "+".join(codenames))
    group.permissions.set(
        Permission.objects.filter(
            content_type__app_label="billing", codename__in=codenames
        )
    )
    user.groups.add(group)


def staff(username: str, marketplaces, *codenames: str):
    user = factories.UserFactory(username=username)
    grant(user, *codenames)
    for marketplace in marketplaces:
        marketplace.staff.add(user)
    return user


def client_for(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def fresh(document: Document) -> Document:
    return Document.objects.get(pk=document.pk)


@dataclass
class World:
    us: object
    de: object
    us_reseller: Reseller
    de_reseller: Reseller
    support_de: object
    viewer_de: object
    invoice: Document
    credit_memo: Document
    us_invoice: Document
    us_credit: Document


@pytest.fixture
def world(db) -> World:
    us = factories.MarketplaceFactory(code="US", currency="USD")
    de = factories.MarketplaceFactory(
        code="DE", currency="EUR", term_credit_policy=CreditPolicy.CONTACT_SUPPORT
    )
    us_reseller = factories.ResellerFactory(
        marketplace=us, name="Acme US", payment_model=PaymentModel.TERM
    )
    de_reseller = factories.ResellerFactory(
        marketplace=de, name="Kunde GmbH", payment_model=PaymentModel.TERM
    )
    return World(
        us=us,
        de=de,
        us_reseller=us_reseller,
        de_reseller=de_reseller,
        support_de=staff("support-de", [de], VIEW, LINK, MEMO),
        viewer_de=staff("viewer-de", [de], VIEW),
        invoice=factories.post(de_reseller, "invoice", "100.00", number="DE-INV-1"),
        credit_memo=factories.post(
            de_reseller, "credit_memo", "60.00", number="DE-CM-1"
        ),
        us_invoice=factories.post(us_reseller, "invoice", "50.00", number="US-INV-1"),
        us_credit=factories.post(us_reseller, "payment", "30.00", number="US-PAY-1"),
    )


@pytest.fixture
def agent(world) -> Client:
    return client_for(world.support_de)


@pytest.fixture
def viewer(world) -> Client:
    return client_for(world.viewer_de)


def reseller_panel_user(reseller: Reseller, username: str):
    """Return a named reseller-panel user of ``reseller``."""
    return factories.reseller_user(reseller, username)
