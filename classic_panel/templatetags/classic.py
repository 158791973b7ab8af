"""Template helpers of the classic panel."""

from django import template

register = template.Library()


@register.inclusion_tag("classic_panel/_sort_th.html", takes_context=True)
def sort_th(context, key: str, label: str, numeric: bool = False) -> dict:
    """Render a column header that sorts the list by ``key`` (click again: desc)."""
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
        aria_sort = ""
    return {
        "label": label,
        "query": params.urlencode(),
        "aria_sort": aria_sort,
        "numeric": numeric,
    }
