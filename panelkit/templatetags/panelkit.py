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


@register.inclusion_tag("panelkit/list_foot.html", takes_context=True)
def list_foot(context, page, empty: str) -> dict:
    """Render what follows a paged list: the links to the first, previous,
    next and last pages (keeping the list's filters and sort), or ``empty``
    when the list has no rows."""
    params = context["request"].GET.copy()
    params.pop("page", None)
    return {"page": page, "query": params.urlencode(), "empty": empty}


@register.inclusion_tag("panelkit/document_columns.html", takes_context=True)
def document_columns(context, open_sortable: bool = True) -> dict:
    """Render the headers of a document list's columns, each sortable but
    the kind; the caller adds what its panel shows besides.

    A list that hides some open amounts (a reseller's credit memos) must not
    sort by them, or the order would tell what the cells do not.
    """
    return {"request": context["request"], "open_sortable": open_sortable}


@register.inclusion_tag("panelkit/filter_actions.html", takes_context=True)
def filter_actions(context, label: str, button_class: str = "secondary") -> dict:
    """Render the end of a list's filter form: the current sort carried on,
    the submit button called ``label``, and a link back to the whole list."""
    request = context["request"]
    return {
        "label": label,
        "button_class": button_class,
        "sort": request.GET.get("sort", ""),
        "filtered": bool(request.GET),
        "whole_list": request.path,
    }


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
