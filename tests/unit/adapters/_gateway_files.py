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


def policy_show(
    capsys: pytest.CaptureFixture[str], system: str, name: str | Path
) -> tuple[int, str, str]:
    """``retry-harness policy show FILE --system NAME --json`` in-process: (exit, out, err).

    ``name`` is an example file under DATA or a path."""
    from harness.cli import main

    path = name if isinstance(name, Path) else DATA / name
    capsys.readouterr()
    code = main(["policy", "show", str(path), "--system", system, "--json"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def shown_policy(capsys: pytest.CaptureFixture[str], system: str, name: str | Path) -> Any:
    """The JSON ``policy show`` prints for a valid example (asserts exit 0)."""
    import json

    code, out, err = policy_show(capsys, system, name)
    assert code == 0, err
    return json.loads(out)


def refused(capsys: pytest.CaptureFixture[str], system: str, name: str | Path) -> str:
    """The one error line ``policy show`` prints for a refused example (asserts exit 2)."""
    code, out, err = policy_show(capsys, system, name)
    assert code == 2, out
    assert err.count("\n") == 1 and err.startswith("error: "), err
    return err
