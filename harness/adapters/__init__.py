"""The adapter registry: system name -> ``load(path, context) -> AdaptedPolicy``.

Adapter modules are imported lazily by module name, so a missing or broken adapter module only
fails when its system is asked for. Each module ``harness.adapters.<module>`` exposes
``SYSTEM: str`` and ``load(path: Path, context: AdapterContext) -> AdaptedPolicy``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from pathlib import Path

from harness.adapters.base import AdaptedPolicy, Adapter, AdapterContext, AdapterNote
from harness.errors import BadInput

ADAPTER_MODULES: dict[str, str] = {
    "inline": "harness.adapters._inline",
    "kuberay": "harness.adapters.kuberay",
    "urllib3": "harness.adapters.urllib3_retry",
    "envoy-gateway": "harness.adapters.envoy_gateway",
    "httproute": "harness.adapters.httproute",
    "istio": "harness.adapters.istio",
    "kong": "harness.adapters.kong",
    "traefik": "harness.adapters.traefik",
    "haproxy": "harness.adapters.haproxy",
    "nginx": "harness.adapters.nginx",
    "caddy": "harness.adapters.caddy",
}
"""System name -> module that implements it."""


class _LazyAdapters(Mapping[str, Adapter]):
    """``ADAPTERS[system]`` imports the module on first use and returns its ``load``."""

    def __getitem__(self, system: str) -> Adapter:
        module_name = ADAPTER_MODULES[system]
        module = importlib.import_module(module_name)
        declared = getattr(module, "SYSTEM", system)
        if declared != system:
            raise RuntimeError(f"{module_name}.SYSTEM is {declared!r}, registered as {system!r}")
        load: Adapter = module.load
        return load

    def __iter__(self) -> Iterator[str]:
        return iter(ADAPTER_MODULES)

    def __len__(self) -> int:
        return len(ADAPTER_MODULES)

    def __contains__(self, system: object) -> bool:
        return system in ADAPTER_MODULES


ADAPTERS: Mapping[str, Adapter] = _LazyAdapters()
"""Every known system; indexing imports the adapter module (ImportError if it is missing)."""


def known_systems() -> list[str]:
    return sorted(ADAPTER_MODULES)


def available_systems() -> list[str]:
    """Systems whose adapter module imports cleanly right now."""
    out = []
    for system in known_systems():
        try:
            ADAPTERS[system]
        except ImportError:
            continue
        out.append(system)
    return out


def load_adapted(system: str, path: Path, context: AdapterContext | None = None) -> AdaptedPolicy:
    """Read ``path`` with the adapter of ``system``.

    BadInput when the system is unknown (listing the known ones), when its adapter is not
    installed, or whatever the adapter finds wrong with the file.
    """
    if system not in ADAPTER_MODULES:
        raise BadInput(
            f"unknown system {system!r}; known: {', '.join(known_systems())}", field="system"
        )
    try:
        adapter = ADAPTERS[system]
    except ImportError as err:
        raise BadInput(
            f"the adapter for {system!r} is not available ({err})", field="system"
        ) from None
    return adapter(Path(path), context or AdapterContext())


__all__ = [
    "ADAPTERS",
    "ADAPTER_MODULES",
    "AdaptedPolicy",
    "Adapter",
    "AdapterContext",
    "AdapterNote",
    "available_systems",
    "known_systems",
    "load_adapted",
]
