"""The layers of the code and which may import which (README, "How it is built").

``billing`` is the domain; ``panelkit`` is what both panels share; the two
panels and the reseller API sit side by side on top; ``config`` wires them
together. Every ``import`` in every module of a layer is read from its source
(relative imports resolved), so a forbidden one fails here before review.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
PANELS = {"reseller_panel", "classic_panel"}

# layer -> the project packages it must never import
FORBIDDEN = {
    "billing": {"panelkit", "api", *PANELS},
    "panelkit": {"api", *PANELS},
    # The reseller panel hosts the page where a reseller manages its API keys.
    "reseller_panel": {"classic_panel"},
    "classic_panel": {"reseller_panel", "api"},
    "api": PANELS,
}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path, root: Path) -> set[str]:
    """Return the absolute names of the modules ``path`` imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path, root)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def violations(layer: str, root: Path = ROOT) -> list[str]:
    """Return ``module imports package`` for every forbidden import of ``layer``."""
    found = []
    for path in sorted((root / layer).rglob("*.py")):
        for name in sorted(imported_modules(path, root)):
            top = name.split(".")[0]
            if top in FORBIDDEN[layer]:
                found.append(f"{module_name(path, root)} imports {name}")
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_imports_only_what_it_may(layer):
    assert (ROOT / layer).is_dir(), f"there is no {layer} package"
    assert list((ROOT / layer).rglob("*.py")), layer
    assert violations(layer) == []


@pytest.mark.parametrize(
    ("layer", "source", "culprit"),
    [
        ("billing", "from panelkit.paging import paginate\n", "panelkit.paging"),
        ("billing", "import classic_panel.views\n", "classic_panel.views"),
        ("panelkit", "from reseller_panel import views\n", "reseller_panel"),
        ("classic_panel", "from reseller_panel.forms import X\n", "reseller_panel"),
        ("api", "from classic_panel import access\n", "classic_panel"),
    ],
)
def test_a_forbidden_import_is_found(tmp_path, layer, source, culprit):
    package = tmp_path / layer / "sub"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "module.py").write_text(f"import os\nfrom . import other\n{source}")

    found = violations(layer, tmp_path)

    assert found and all(culprit in line for line in found), found
    assert not any(" imports os" in line or ".other" in line for line in found)


def test_relative_imports_are_resolved_against_their_package(tmp_path):
    package = tmp_path / "reseller_panel" / "views"
    package.mkdir(parents=True)
    module = package / "browse.py"
    module.write_text("from .. import forms\nfrom ..access import reseller_required\n")

    assert imported_modules(module, tmp_path) >= {
        "reseller_panel",
        "reseller_panel.forms",
        "reseller_panel.access",
    }
