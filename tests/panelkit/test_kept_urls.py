"""``{% url %}`` keeps the addresses it reversed, and is Django's tag otherwise."""

from unittest import mock

import pytest
from django.template import Context, Engine, engines
from django.test import RequestFactory, override_settings
from django.urls import NoReverseMatch, set_script_prefix, set_urlconf

from panelkit.templatetags import kept_urls

DJANGO = Engine()  # Django's own builtins: its {% url %}
PROJECT = engines["django"].engine
MOVED = "tests.panelkit.moved_urls"

CASES = [
    "{% url 'home' %}",
    "{% url 'document' 5 %}",
    "{% url 'document' pk %}",
    "{% url 'document' document_id=pk %}",
    "{% url 'receipt' operation_id=7 %}",
    "{% url 'classic:reseller' 3 %}",
    "{% url name %}",
    "{% url name as address %}[{{ address }}]",
    "{% url 'no-such-page' as address %}[{{ address }}]",
    "{% for pk in pks %}{% url 'document' pk %} {% endfor %}",
]
CONTEXT = {"pk": 12, "pks": [1, 2, 1], "name": "payments"}


def render(engine: Engine, source: str, *, autoescape=True, request=None) -> str:
    context = Context(CONTEXT, autoescape=autoescape)
    context.request = request
    return engine.from_string(source).render(context)


@pytest.mark.parametrize("autoescape", [True, False])
@pytest.mark.parametrize("source", CASES)
def test_every_form_renders_as_djangos_own_tag(source, autoescape):
    expected = render(DJANGO, source, autoescape=autoescape)
    assert "/" in expected or expected == "[]"  # Django's tag reversed it (or not)
    for _ in range(2):  # reversed, then kept
        assert render(PROJECT, source, autoescape=autoescape) == expected


def test_a_missing_page_is_an_error_as_with_django():
    for engine in (DJANGO, PROJECT):
        with pytest.raises(NoReverseMatch):
            render(engine, "{% url 'no-such-page' %}")


def test_an_address_is_reversed_once_then_kept():
    template = PROJECT.from_string("{% url 'document' 4242 %}")
    with mock.patch.object(kept_urls, "reverse", wraps=kept_urls.reverse) as reverse:
        first = [template.render(Context()) for _ in range(3)]
    assert first == ["/documents/4242/"] * 3
    assert reverse.call_count <= 1  # none when an earlier test kept it


def test_the_script_prefix_and_the_urlconf_key_the_address():
    template = PROJECT.from_string("{% url 'home' %}")
    assert template.render(Context()) == "/"
    set_script_prefix("/billing/")
    try:
        assert template.render(Context()) == "/billing/"
    finally:
        set_script_prefix("/")
    set_urlconf(MOVED)  # a request's own URLconf (request.urlconf)
    try:
        assert template.render(Context()) == "/moved/"
    finally:
        set_urlconf(None)
    assert template.render(Context()) == "/"


@pytest.mark.parametrize("autoescape", [True, False])
def test_an_address_with_markup_is_escaped_as_django_escapes_it(autoescape):
    source = "{% url 'file' 'Q3 & Q4 <draft>' %}"
    set_urlconf(MOVED)
    try:
        expected = render(DJANGO, source, autoescape=autoescape)
        assert ("&amp;" in expected) is autoescape
        for _ in range(2):
            assert render(PROJECT, source, autoescape=autoescape) == expected
    finally:
        set_urlconf(None)


def test_a_changed_root_urlconf_forgets_the_kept_addresses():
    template = PROJECT.from_string("{% url 'home' %}")
    assert template.render(Context()) == "/"
    with override_settings(ROOT_URLCONF=MOVED):
        assert template.render(Context()) == "/moved/"
    assert template.render(Context()) == "/"


def test_the_current_application_keys_the_address():
    request = RequestFactory().get("/")
    request.current_app = "classic"
    source = "{% url 'classic:reseller' 3 %}"
    assert render(PROJECT, source, request=request) == render(
        DJANGO, source, request=request
    )
