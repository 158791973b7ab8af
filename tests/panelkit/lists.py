"""What the list tests of both panels read from a rendered page."""

import re


def filter_fields(html: str) -> dict[str, str]:
    """Return the markup of each filter field, by name: its label, its input
    and whatever is said beside it."""
    blocks = re.findall(r'<div class="filter[ "].*?</div>', html, re.S)
    return {re.search(r'name="(\w+)"', block)[1]: block for block in blocks}


def assert_bad_value_reported_beside(html: str, name: str, message: str) -> None:
    """Assert that ``message`` stands beside the field ``name`` and no other
    filter field reports anything."""
    fields = filter_fields(html)
    field = fields.pop(name)
    assert f'aria-describedby="id_{name}_error"' in field
    assert f'id="id_{name}_error">{message}<' in field
    assert fields and not [other for other in fields.values() if "_error" in other]
