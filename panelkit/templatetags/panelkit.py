"""What both panels' lists draw: sortable headers, pages, filter fields.

``{% load panelkit %}``.
"""

from __future__ import annotations

from django import template
from django.forms import BoundField
from django.utils import timezone

from billing.models import Document
from billing.selectors import is_overdue

register = template.Library()


@register.inclusion_tag("panelkit/sort_header.html", takes_context=True)
def sort_header(context, key: str, label: str, numeric: bool = False) -> dict:
    """Render a column header that sorts the list by ``key``; a second click
    sorts descending. The page number is dropped: a new order starts at 1."""
    request = context["request"]
    current = request.GET.get("sort") or ""
    params = request.GET.copy()
    params.pop("page", None)
    params["sort"] = f"-{key}" if current == key else key
    if current == key:
        aria_sort = "ascending"
    elif current == f"-{key}":
        aria_sort = "descending"
    else:
        aria_sort = "none"
    return {
        "label": label,
        "query": params.urlencode(),
        "aria_sort": aria_sort,
        "numeric": numeric,
    }


@register.inclusion_tag("panelkit/pagination.html", takes_context=True)
def pagination(context, page) -> dict:
    """Render the links to the first, previous, next and last pages, keeping
    the list's filters and sort."""
    params = context["request"].GET.copy()
    params.pop("page", None)
    return {"page": page, "query": params.urlencode()}


@register.inclusion_tag("panelkit/filter_field.html")
def filter_field(field: BoundField, label: str = "") -> dict:
    """Render one field of a list's filters, with its error beside it."""
    attrs = {}
    if field.errors:
        attrs["aria-describedby"] = f"{field.auto_id}_error"
    return {
        "field": field,
        "label": label or field.label,
        "widget": field.as_widget(attrs=attrs),
        "checkbox": field.widget_type == "checkbox",
    }


@register.filter
def overdue(document: Document) -> bool:
    """Whether ``document`` is overdue today."""
    return is_overdue(document, today=timezone.localdate())
