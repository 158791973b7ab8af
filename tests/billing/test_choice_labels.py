"""``get_FOO_display()`` of the ledger's models: Django's labels, made once."""

import pytest
from django.apps import apps
from django.db import models
from django.utils import translation

from billing.models import ChoiceLabels

FIELDS = [
    (model, field)
    for model in apps.get_app_config("billing").get_models()
    if issubclass(model, ChoiceLabels)
    for field in model._meta.concrete_fields
    if field.choices
]


def test_the_panels_models_have_their_labels_kept():
    names = {model.__name__ for model, _ in FIELDS}
    assert names >= {"Document", "Operation", "AuditEvent", "Reseller"}


@pytest.mark.parametrize("language", ["en", "de"])
@pytest.mark.parametrize(
    ("model", "field"),
    FIELDS,
    ids=lambda f: getattr(f, "name", getattr(f, "__name__", "")),
)
def test_every_value_reads_as_djangos_label(model, field, language):
    values = [value for value, _ in field.flatchoices] + ["not-a-choice", None, ""]
    with translation.override(language):
        for value in values:
            obj = model(**{field.attname: value})
            display = getattr(obj, f"get_{field.name}_display")()
            assert display == models.Model._get_FIELD_display(obj, field), value
            assert isinstance(display, str) or display is None
