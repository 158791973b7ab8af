"""``{% load translations %}``: Django's i18n tags, constant texts kept per language."""

import re
from pathlib import Path
from unittest import mock

import pytest
from django.conf import settings
from django.template import Context, Template
from django.templatetags import i18n
from django.utils import translation
from django.utils.autoreload import file_changed

ROOT = Path(settings.BASE_DIR)

# Every form the tag takes, constants and not, with text that needs care.
CASES = [
    '{% translate "Pay" %}',
    '{% trans "Pay" %}',
    "{% translate 'Confirm payment' %}",
    '{% translate "Not in any catalogue: <b>5 &amp; 6</b>" %}',
    '{% translate "50% off, 100%% sure" %}',
    '{% translate "Pay" noop %}',
    '{% translate "Pay" as label %}[{{ label }}]',
    '{% translate "May" context "month name" %}',
    '{% translate "Pay"|upper %}',
    "{% translate name %}",
    "{% translate markup %}",
    '{% language "de" %}{% translate "Pay" %}{% endlanguage %}',
    "{% blocktranslate with n=count %}{{ n }} to pay{% endblocktranslate %}",
    "{% get_current_language as code %}{{ code }}",
    "{{ code|language_name_local }}",
]
CONTEXT = {"name": "Pay", "markup": "<i>Pay</i>", "count": 3, "code": "de"}


def render(library: str, source: str, *, autoescape: bool = True) -> str:
    template = Template(f"{{% load {library} %}}{source}")
    return template.render(Context(CONTEXT, autoescape=autoescape))


@pytest.mark.parametrize("autoescape", [True, False])
@pytest.mark.parametrize("language", ["en", "de"])
@pytest.mark.parametrize("source", CASES)
def test_every_form_renders_as_djangos_own_tag(source, language, autoescape):
    template = Template(f"{{% load translations %}}{source}")
    with translation.override(language):
        expected = render("i18n", source, autoescape=autoescape)
        # Twice from one compiled template: made, then kept.
        for _ in range(2):
            context = Context(CONTEXT, autoescape=autoescape)
            assert template.render(context) == expected


def test_a_constant_is_translated_once_per_language_and_kept():
    template = Template('{% load translations %}{% translate "Pay" %}')
    translated = mock.patch.object(
        i18n.TranslateNode,
        "render",
        autospec=True,
        side_effect=i18n.TranslateNode.render,
    )
    with translated as django_render:
        pages = []
        for language in ("en", "de", "en", "de"):
            with translation.override(language):
                pages.append(template.render(Context()))
        assert django_render.call_count == 2  # English once, German once

        # A compiled catalogue changed under the development server.
        file_changed.send(sender=None, file_path=Path("locale/de/django.mo"))
        with translation.override("de"):
            assert template.render(Context()) == pages[1]
        assert django_render.call_count == 3
        file_changed.send(sender=None, file_path=Path("templates/base.html"))
        with translation.override("de"):
            template.render(Context())
        assert django_render.call_count == 3

    assert pages[0] == pages[2] == "Pay"
    assert pages[1] == pages[3] != "Pay"


def test_a_variable_is_translated_on_every_render():
    template = Template("{% load translations %}{% translate name %}")
    with translation.override("de"):
        first = template.render(Context({"name": "Pay"}))
        second = template.render(Context({"name": "Confirm payment"}))
    assert first != second


def project_templates() -> list[Path]:
    found = []
    for folder in ("templates", "reseller_panel", "classic_panel", "panelkit"):
        found += [p for p in (ROOT / folder).rglob("*.html") if "templates" in p.parts]
    return found


def test_the_project_templates_load_translations_and_never_i18n_itself():
    """A template loading ``i18n`` would still work, only without kept texts."""
    templates = project_templates()
    assert len(templates) > 40
    for path in templates:
        source = path.read_text()
        loads = " ".join(re.findall(r"{% load ([^%]+)%}", source)).split()
        assert "i18n" not in loads, path
        if re.search(r"{% (translate|trans|blocktranslate|blocktrans) ", source):
            assert "translations" in loads, path
