"""Helpers shared by the HAProxy, nginx and Caddy adapter tests: where the example files are,
and writing a config text to a temporary file (usable inside hypothesis tests)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from harness.adapters.base import AdaptedPolicy, AdapterContext

DATA = Path(__file__).parent / "data" / "proxies"
SHIPPED = Path(__file__).resolve().parents[3] / "scenarios" / "configs"


def load_text(
    load: Callable[[Path, AdapterContext], AdaptedPolicy],
    text: str,
    *,
    name: str = "config",
    upstream_servers: int | None = None,
) -> AdaptedPolicy:
    """Write ``text`` to a temporary file called ``name`` and load it with the adapter."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_text(text, encoding="utf-8")
        return load(path, AdapterContext(upstream_servers=upstream_servers))


def fields(adapted: AdaptedPolicy, kind: str) -> set[str]:
    """The native fields of the notes of one kind ('default' or 'quirk')."""
    return {n.field for n in adapted.notes if n.kind == kind}
