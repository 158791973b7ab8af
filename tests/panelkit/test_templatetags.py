"""The pieces both panels' lists are drawn with."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.paginator import Paginator
from django.template import Context, Template
from django.test import RequestFactory
from django.utils import timezone

from billing.models import Document, DocumentKind


def render(source: str, query: str = "", **context) -> str:
    request = RequestFactory().get(f"/list/?{query}")
    template = Template("{% load panelkit %}" + source)
    return template.render(Context({"request": request, **context}))


@pytest.mark.parametrize(
    ("query", "state", "link"),
    [
        ("", "none", "sort=total"),
        ("sort=total&page=3", "ascending", "sort=-total"),
        ("sort=-total&kind=invoice", "descending", "sort=total&amp;kind=invoice"),
        ("sort=number", "none", "sort=total"),
    ],
)
def test_a_sort_header_toggles_its_direction_and_starts_at_page_one(query, state, link):
    html = render('{% sort_header "total" "Total" True %}', query)

    assert f'aria-sort="{state}"' in html
    assert f'href="?{link}"' in html
    assert 'class="num"' in html and "page=" not in html


def test_the_list_foot_says_what_an_empty_list_means():
    page = Paginator([], 25).get_page(1)

    html = render('{% list_foot page "Nothing here." %}', page=page)

    assert '<p class="empty">Nothing here.</p>' in html
    assert "pagination" not in html


def test_the_list_foot_pages_keep_the_filters_and_sort():
    page = Paginator(list(range(60)), 25).get_page(2)

    html = render(
        '{% list_foot page "Nothing here." %}', "q=7&sort=-total&page=2", page=page
    )

    assert "Page 2 of 3" in html and "Nothing here." not in html
    assert 'href="?q=7&amp;sort=-total&amp;page=1"' in html
    assert 'href="?q=7&amp;sort=-total&amp;page=3" rel="next"' in html
    assert 'href="?q=7&amp;sort=-total&amp;page=last"' in html


def test_filter_actions_carry_the_sort_and_offer_the_whole_list():
    assert render('{% filter_actions "Filter" %}').strip() == (
        '<button type="submit" class="secondary">Filter</button>'
    )

    html = render('{% filter_actions "Apply" "primary" %}', "sort=-total&q=1")

    assert '<input type="hidden" name="sort" value="-total">' in html
    assert '<button type="submit" class="primary">Apply</button>' in html
    assert '<a href="/list/">Clear filters</a>' in html


@pytest.mark.parametrize(
    ("kind", "open_amount", "due_in_days", "overdue"),
    [
        (DocumentKind.INVOICE, "5.00", -1, True),
        (DocumentKind.DEBIT_MEMO, "5.00", -1, True),
        (DocumentKind.INVOICE, "5.00", 0, False),
        (DocumentKind.INVOICE, "0.00", -1, False),
        (DocumentKind.INVOICE, "5.00", None, False),
        (DocumentKind.PAYMENT, "5.00", -1, False),
    ],
)
def test_the_overdue_badge_follows_the_ledgers_definition(
    kind, open_amount, due_in_days, overdue
):
    due = None if due_in_days is None else timezone.localdate() + timedelta(due_in_days)
    document = Document(kind=kind, open_amount=Decimal(open_amount), due_date=due)

    html = render("{% if document|overdue %}overdue{% endif %}", document=document)

    assert (html == "overdue") is overdue
