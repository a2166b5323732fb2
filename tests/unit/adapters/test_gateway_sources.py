"""Every note of the gateway/mesh adapters cites public source or documentation (issue 7).

A note's ``source`` is a URL (a file in the system's repository at a commit or tag, or a
documentation page), never a file users do not have such as a research note."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.adapters import AdaptedPolicy, load_adapted
from harness.adapters.base import AdapterContext
from harness.errors import BadInput

from ._gateway_files import DATA

SYSTEMS = {
    "eg-": "envoy-gateway",
    "httproute-": "httproute",
    "istio-": "istio",
    "kong-": "kong",
    "traefik-": "traefik",
    "kuberay-": "kuberay",
}
_PINNED = re.compile(
    r"^https://(github\.com/[^/]+/[^/]+/(blob/[^/]+/|commit/[0-9a-f]{40})"
    r"|www\.envoyproxy\.io/docs/|gateway-api\.sigs\.k8s\.io/|nginx\.org/en/docs/"
    r"|docs\.konghq\.com/|gateway\.envoyproxy\.io/)"
    r"|^README\.md#"  # the harness's own selection rule, documented in this repository
)


def _examples() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(DATA.iterdir()):
        system = next((s for prefix, s in SYSTEMS.items() if path.name.startswith(prefix)), None)
        if system is not None:
            out.append((system, path))
    return out


def _adapted(system: str, path: Path, servers: int | None) -> AdaptedPolicy | None:
    try:
        return load_adapted(system, path, AdapterContext(upstream_servers=servers))
    except BadInput:
        return None  # a refused example (a guide's field the API lacks) has no notes


@pytest.mark.parametrize(("system", "path"), _examples(), ids=lambda v: getattr(v, "name", v))
def test_every_note_cites_a_public_source(system: str, path: Path) -> None:
    for servers in (None, 1, 3):
        adapted = _adapted(system, path, servers)
        if adapted is None:
            continue
        for note in adapted.notes:
            assert note.source is not None, f"{note.field}: {note.text}"
            for part in note.source.split("; "):
                assert _PINNED.match(part), f"{note.field}: source {note.source!r}"
            assert "retry-semantics" not in note.text + note.source
            assert ".md §" not in note.text + note.source


def test_refused_examples_exist_and_the_rest_load() -> None:
    """The example set holds both kinds: the guides' refused fields and readable configs."""
    loaded = [_adapted(s, p, None) for s, p in _examples()]
    assert sum(a is None for a in loaded) >= 5  # four EG guide fields + the KongPlugin
    assert sum(a is not None for a in loaded) >= 15
