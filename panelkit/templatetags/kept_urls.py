"""``{% url %}`` keeping each address it reversed, for every template.

A page reverses a dozen addresses or more (a list, one or two per row), and
Django reverses each anew on every render: about a fifth of the time it takes
to render the pay preview. An address depends only on the view's name, its
arguments and the state ``reverse`` reads (the URLconf, the script prefix,
the current application and, for translated patterns, the language), so this
tag keeps the last few thousand it reversed under all of those. It is
Django's ``url`` tag otherwise: the same arguments, ``as``, errors and
escaping.

Installed as a template builtin (``TEMPLATES`` ``OPTIONS["builtins"]``), so
it replaces Django's tag in every template without a ``{% load %}``.
"""

from __future__ import annotations

from functools import lru_cache

from django import template
from django.core.signals import setting_changed
from django.template.defaulttags import URLNode, url
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils.html import conditional_escape
from django.utils.translation import get_language

register = template.Library()


@lru_cache(maxsize=4096)
def _reversed(view_name, args, kwargs, current_app, urlconf, prefix, language):
    # ``prefix`` and ``language`` only key the address: reverse reads them.
    return reverse(
        view_name,
        urlconf=urlconf,
        args=args,
        kwargs=dict(kwargs),
        current_app=current_app,
    )


def kept_reverse(view_name, args: tuple, kwargs: tuple, current_app) -> str:
    """Return ``reverse(…)`` of these arguments, kept once reversed."""
    key = (view_name, args, kwargs, current_app, get_urlconf())
    try:
        hash(key)
    except TypeError:  # an argument that cannot key the address
        return reverse(
            view_name, args=args, kwargs=dict(kwargs), current_app=current_app
        )
    return _reversed(*key, get_script_prefix(), get_language())


def _forget_addresses(setting: str, **kwargs) -> None:
    if setting == "ROOT_URLCONF":
        _reversed.cache_clear()


setting_changed.connect(_forget_addresses, dispatch_uid="kept_urls.root_urlconf")


class KeptURLNode(URLNode):
    def render(self, context) -> str:
        args = tuple(arg.resolve(context) for arg in self.args)
        kwargs = tuple(
            sorted(
                (name, value.resolve(context)) for name, value in self.kwargs.items()
            )
        )
        view_name = self.view_name.resolve(context)
        try:
            current_app = context.request.current_app
        except AttributeError:
            try:
                current_app = context.request.resolver_match.namespace
            except AttributeError:
                current_app = None
        address = ""
        try:
            address = kept_reverse(view_name, args, kwargs, current_app)
        except NoReverseMatch:
            if self.asvar is None:
                raise
        if self.asvar:
            context[self.asvar] = address
            return ""
        return conditional_escape(address) if context.autoescape else address


@register.tag("url")
def kept_url(parser, token) -> KeptURLNode:
    node = url(parser, token)
    return KeptURLNode(node.view_name, node.args, node.kwargs, node.asvar)
