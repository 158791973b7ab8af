"""Submit a rendered page's form the way a browser does.

A confirm step is tested with exactly what its review page holds: every
input of the form (hidden ones included), the options selected, the boxes
checked, and the name of the button pressed — never a payload a test builds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Form:
    action: str
    method: str
    attrs: dict
    fields: list[tuple[str, str]] = field(default_factory=list)
    # name, value, formaction of each submit button
    buttons: list[tuple[str, str, str, str]] = field(default_factory=list)
    # every named control, whatever its state: name, type, value
    controls: list[tuple[str, str, str]] = field(default_factory=list)

    def names(self) -> set[str]:
        return {name for name, _type, _value in self.controls}


class _Parser(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._select: tuple[str, list] | None = None
        self._option: dict | None = None
        self._textarea: list | None = None
        self._button: list | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self._form = Form(a.get("action", ""), a.get("method", "get"), a)
            self.forms.append(self._form)
            return
        form = self._form
        if form is None:
            return
        name = a.get("name")
        if tag == "input":
            kind = a.get("type", "text").lower()
            if name:
                form.controls.append((name, kind, a.get("value", "")))
            if not name or "disabled" in a:
                return
            if kind in ("submit", "image"):
                form.buttons.append(
                    (a.get("value", ""), name, a.get("value", ""), a.get("formaction"))
                )
            elif kind in ("checkbox", "radio"):
                if "checked" in a:
                    form.fields.append((name, a.get("value", "on")))
            elif kind not in ("button", "reset", "file"):
                form.fields.append((name, a.get("value", "")))
        elif tag == "button":
            kind = a.get("type", "submit").lower()
            if kind == "submit":
                self._button = [a, []]
        elif tag == "select" and name:
            form.controls.append((name, "select", ""))
            self._select = (name, [], "disabled" in a)
        elif tag == "option" and self._select is not None:
            self._option = {"value": a.get("value"), "selected": "selected" in a}
            self._option_text = []
            self._select[1].append(self._option)
        elif tag == "textarea" and name:
            form.controls.append((name, "textarea", ""))
            self._textarea = [name, []]

    def handle_data(self, data):
        if self._textarea is not None:
            self._textarea[1].append(data)
        if self._option is not None and self._option["value"] is None:
            self._option.setdefault("text", []).append(data)
        if self._button is not None:
            self._button[1].append(data)

    def handle_endtag(self, tag):
        form = self._form
        if tag == "form":
            self._form = None
        elif tag == "option":
            self._option = None
        elif tag == "select" and self._select is not None and form is not None:
            name, options, disabled = self._select
            chosen = [o for o in options if o["selected"]] or options[:1]
            if not disabled:
                for option in chosen:
                    value = option["value"]
                    if value is None:
                        value = "".join(option.get("text", [])).strip()
                    form.fields.append((name, value))
            self._select = None
        elif tag == "textarea" and self._textarea is not None and form is not None:
            name, text = self._textarea
            value = "".join(text)
            form.fields.append((name, value[1:] if value.startswith("\n") else value))
            self._textarea = None
        elif tag == "button" and self._button is not None:
            a, text = self._button
            if form is not None:
                label = " ".join("".join(text).split())
                name = a.get("name", "")
                if name:
                    form.controls.append((name, "submit", a.get("value", "")))
                form.buttons.append(
                    (label, name, a.get("value", ""), a.get("formaction"))
                )
            self._button = None


def forms_of(response) -> list[Form]:
    """Return every form of a rendered page, as a browser would submit it."""
    if response.streaming or "html" not in response.get("Content-Type", ""):
        return []
    parser = _Parser()
    parser.feed(response.content.decode())
    return parser.forms


# Forms of the shared layout, on every page: never the one a test means.
LAYOUT_ACTIONS = ("/logout/", "/i18n/setlang/")


def find_form(response, action: str | None = None, button: str | None = None) -> Form:
    """Return the page's POST form posting to ``action`` or holding ``button``
    (the only one besides the layout's sign-out and language forms if None)."""
    candidates = [
        form
        for form in forms_of(response)
        if form.method.lower() == "post"
        and (action is None or form.action == action)
        and (button is None or any(b[0] == button for b in form.buttons))
        and (action or button or not form.action.endswith(LAYOUT_ACTIONS))
    ]
    assert len(candidates) == 1, (action, [f.action for f in forms_of(response)])
    return candidates[0]


def submit(
    client,
    response,
    *,
    action: str | None = None,
    button: str | None = None,
    fill: dict | None = None,
    **extra,
):
    """Submit the rendered form posting to ``action``, pressing ``button``.

    ``fill`` sets what a person types into visible fields; hidden fields are
    sent exactly as the page holds them. ``button`` is the label of the
    submit button pressed (the first one if None).
    """
    form = find_form(response, action, button)
    data: dict[str, list[str]] = {}
    typed = dict(fill or {})
    for name, value in form.fields:
        if name in typed:
            continue
        data.setdefault(name, []).append(value)
    for name, value in typed.items():
        assert name in form.names(), f"the form has no field {name!r}"
        data[name] = [value] if isinstance(value, str) else list(value)
    target = form.action or response.wsgi_request.path
    if form.buttons:
        pressed = form.buttons[0]
        if button is not None:
            matches = [b for b in form.buttons if b[0] == button]
            assert matches, f"no button {button!r} in {form.buttons}"
            pressed = matches[0]
        _label, name, value, formaction = pressed
        if name:
            data.setdefault(name, []).append(value)
        if formaction:
            target = formaction
    return client.post(target, data, **extra)
