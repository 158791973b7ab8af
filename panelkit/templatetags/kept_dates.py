"""The ``date`` filter, keeping the text of each calendar date it formatted.

List pages format a date or two a row through ``|date:"DATE_FORMAT"``, and
Django formats each anew (the format looked up, parsed and applied: ~16 µs a
date). A calendar date's text depends only on the date, the format asked for
and the language, so this filter keeps the last few thousand it made. Times
and date-times, whose text also depends on the time zone, are Django's own.

Installed as a template builtin (``TEMPLATES`` ``OPTIONS["builtins"]``), so
it replaces Django's filter in every template without a ``{% load %}``.
"""

from __future__ import annotations

from datetime import date as calendar_date
from functools import lru_cache

from django import template
from django.template import defaultfilters
from django.utils.translation import get_language

register = template.Library()


@lru_cache(maxsize=4096)
def _date_text(value: calendar_date, arg, language: str | None) -> str:
    # ``language`` only keys the text: Django's filter reads it.
    return defaultfilters.date(value, arg)


@register.filter(expects_localtime=True, is_safe=False)
def date(value, arg=None) -> str:
    """Format a date as Django's ``date`` filter does."""
    if type(value) is calendar_date:
        return _date_text(value, arg, get_language())
    return defaultfilters.date(value, arg)
