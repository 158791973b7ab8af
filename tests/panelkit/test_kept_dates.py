"""``|date`` keeps each calendar date's text, and is Django's filter otherwise."""

import re
from datetime import UTC, date, datetime
from unittest import mock

import pytest
from django.template import Context, Engine, defaultfilters, engines
from django.utils import timezone, translation

from panelkit.templatetags import kept_dates

DJANGO = Engine()  # Django's own builtins: its |date
PROJECT = engines["django"].engine
FORMATS = [
    None,
    "DATE_FORMAT",
    "SHORT_DATE_FORMAT",
    "Y-m-d",
    "j. F Y, l",
    "DATETIME_FORMAT",
]
VALUES = [
    date(2026, 11, 28),
    date(2024, 2, 29),
    datetime(2026, 11, 28, 23, 30, tzinfo=UTC),  # the 29th in Berlin
    None,
    "",
]


def render(engine: Engine, value, fmt) -> str:
    source = "{{ value|date }}" if fmt is None else f'{{{{ value|date:"{fmt}" }}}}'
    return engine.from_string(source).render(Context({"value": value}))


@pytest.mark.parametrize("language", ["en", "de"])
@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_every_value_formats_as_with_djangos_filter(value, fmt, language):
    with translation.override(language), timezone.override("Europe/Berlin"):
        try:
            expected = render(DJANGO, value, fmt)
        except TypeError as refused:  # a time format for a calendar date
            for _ in range(2):
                with pytest.raises(TypeError, match=re.escape(str(refused))):
                    render(PROJECT, value, fmt)
            return
        for _ in range(2):  # made, then kept
            assert render(PROJECT, value, fmt) == expected


def test_a_date_is_formatted_once_per_format_and_language():
    day = date(2031, 1, 2)
    with mock.patch.object(
        kept_dates.defaultfilters, "date", wraps=defaultfilters.date
    ) as django_date:
        texts = {}
        for language in ("en", "de", "en", "de"):
            with translation.override(language):
                texts.setdefault(language, set()).add(
                    render(PROJECT, day, "DATE_FORMAT")
                )
        assert django_date.call_count == 2
        moment = datetime(2031, 1, 2, 12, tzinfo=UTC)
        for _ in range(2):
            render(PROJECT, moment, "DATE_FORMAT")
        assert django_date.call_count == 4  # a date-time is formatted each time
    assert texts == {"en": {"Jan. 2, 2031"}, "de": {"2. Januar 2031"}}
