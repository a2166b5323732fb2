"""Helpers shared by the gateway/mesh adapter tests (Envoy Gateway, HTTPRoute, Istio, Kong,
Traefik): where the example files are, loading a text through an adapter from a temporary
file (usable inside hypothesis tests), catching BadInput, and finding a key's line."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.adapters.base import AdaptedPolicy, AdapterContext
from harness.errors import BadInput

DATA = Path(__file__).parent / "data" / "gateways"

Load = Callable[[Path, AdapterContext], AdaptedPolicy]


def load_example(load: Load, name: str, *, upstream_servers: int | None = None) -> AdaptedPolicy:
    return load(DATA / name, AdapterContext(upstream_servers=upstream_servers))


def load_text(
    load: Load, text: str, *, name: str = "config.yaml", upstream_servers: int | None = None
) -> AdaptedPolicy:
    """Write ``text`` to a temporary file called ``name`` and load it with the adapter."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_text(text, encoding="utf-8")
        return load(path, AdapterContext(upstream_servers=upstream_servers))


def bad_input(load: Load, text: str, *, name: str = "config.yaml") -> BadInput:
    """The BadInput the adapter raises for ``text`` (the test fails if it raises none)."""
    with pytest.raises(BadInput) as caught:
        load_text(load, text, name=name)
    return caught.value


def dump(*docs: Any) -> str:
    return yaml.safe_dump_all(list(docs), sort_keys=False)


def line_of(text: str, needle: str, *, after: str | None = None) -> int:
    """1-based line of the first line containing ``needle`` (after the line holding ``after``)."""
    lines = text.splitlines()
    start = 0
    if after is not None:
        start = next(i for i, line in enumerate(lines) if after in line) + 1
    for i in range(start, len(lines)):
        if needle in lines[i]:
            return i + 1
    raise AssertionError(f"{needle!r} not in text")


def note_fields(adapted: AdaptedPolicy, kind: str) -> set[str]:
    return {n.field for n in adapted.notes if n.kind == kind}


def note_text(adapted: AdaptedPolicy, kind: str) -> str:
    return "\n".join(n.text for n in adapted.notes if n.kind == kind)
