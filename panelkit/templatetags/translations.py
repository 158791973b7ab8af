"""Django's ``i18n`` tags, with each constant ``{% translate %}`` kept per language.

A page holds dozens of ``{% translate "…" %}`` tags of constant text. Django
resolves each anew on every render (a lazy string made, translated, checked
for escaping): about a fifth of the time it takes to render the pay preview.
The text of such a tag depends on nothing but the active language, so the tag
keeps what it rendered for each language. A tag that translates a variable,
filters its text, stores it (``as``) or names a ``context``, and every other
tag and filter of ``i18n``, are Django's own.

The project's templates load this library instead of ``i18n``
(``{% load translations %}``); ``makemessages`` finds the same tags.
"""

from __future__ import annotations

from django import template
from django.templatetags import i18n
from django.utils.autoreload import file_changed
from django.utils.translation import get_language

register = template.Library()
register.tags.update(i18n.register.tags)
register.filters.update(i18n.register.filters)

# Bumped when the development server sees a compiled catalog change (Django
# then reloads its translations without restarting): kept texts are made anew.
_catalogs = {"version": 0}


def _forget_kept_texts(sender, file_path, **kwargs) -> None:
    if file_path.suffix == ".mo":
        _catalogs["version"] += 1


file_changed.connect(_forget_kept_texts, dispatch_uid="translations.kept_texts")


class KeptTranslateNode(i18n.TranslateNode):
    """``{% translate %}``, keeping the text of a constant per language."""

    def __init__(self, filter_expression, noop, asvar=None, message_context=None):
        super().__init__(filter_expression, noop, asvar, message_context)
        variable = self.filter_expression.var
        self.constant = (
            variable.lookups is None
            and not self.filter_expression.filters
            and not noop
            and asvar is None
            and message_context is None
        )
        self.kept: dict[tuple[str | None, int], str] = {}

    def render(self, context) -> str:
        if not self.constant:
            return super().render(context)
        key = (get_language(), _catalogs["version"])
        text = self.kept.get(key)
        if text is None:
            # A constant's text is marked safe: neither escaping nor the
            # context's localization changes it, only the language.
            text = self.kept[key] = super().render(context)
        return text


@register.tag("translate")
@register.tag("trans")
def do_translate(parser, token) -> KeptTranslateNode:
    node = i18n.do_translate(parser, token)
    return KeptTranslateNode(
        node.filter_expression, node.noop, node.asvar, node.message_context
    )
