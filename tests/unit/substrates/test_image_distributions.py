"""The backend image carries every distribution ``fake_backends`` imports (a new import of
tenacity once passed every host test and broke every container: the image had no tenacity)."""

from __future__ import annotations

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

from harness.substrates.images import BACKEND_DISTRIBUTIONS

FAKE_BACKENDS = Path(__file__).resolve().parents[3] / "fake_backends"


def _third_party_modules() -> set[str]:
    found: set[str] = set()
    for path in FAKE_BACKENDS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m != "fake_backends"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _installed_with_the_image() -> set[str]:
    """The listed distributions and everything they require (pip downloads those too)."""
    todo = [_norm(d) for d in BACKEND_DISTRIBUTIONS]
    seen: set[str] = set()
    while todo:
        dist = todo.pop()
        if dist in seen:
            continue
        seen.add(dist)
        try:
            requires = metadata.requires(dist) or []
        except metadata.PackageNotFoundError:  # a requirement for another platform
            continue
        for req in requires:
            if "extra ==" in req:
                continue
            todo.append(_norm(re.split(r"[\s;<>=!~\[(]", req, maxsplit=1)[0]))
    return seen


def test_every_fake_backends_import_is_in_the_backend_image() -> None:
    providers = metadata.packages_distributions()
    carried = _installed_with_the_image()
    missing = {
        module: providers.get(module, ["?"])
        for module in _third_party_modules()
        if not {_norm(d) for d in providers.get(module, [])} & carried
    }
    assert not missing, f"imported by fake_backends but not in BACKEND_DISTRIBUTIONS: {missing}"
