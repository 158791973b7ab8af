"""Every library the product installs is held below its next major release.

``make install`` on a fresh machine takes the newest release each bound
allows; a library without an upper bound can bring a release that removed
what the product uses (sentry-sdk 3 did: start-up failed with Sentry set).
"""

import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


def requirements() -> list[str]:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    extras = project.get("optional-dependencies", {})
    return [*project["dependencies"], *(r for group in extras.values() for r in group)]


def upper_bounded(text: str) -> bool:
    specifiers = Requirement(text).specifier
    return any(spec.operator in ("<", "<=", "==", "~=") for spec in specifiers)


@pytest.mark.parametrize("text", requirements())
def test_each_dependency_has_an_upper_bound(text):
    assert upper_bounded(text), f"{text} has no upper bound"


def test_the_check_tells_bounded_from_open():
    assert upper_bounded("sentry-sdk>=2.0,<3")
    assert upper_bounded("ruff~=0.17.0")
    assert not upper_bounded("sentry-sdk>=2.0")
    assert not upper_bounded("django-csp")
