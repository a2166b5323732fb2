"""Shared helpers of the kind tests: the shipped kits, rendering, kustomize, the CRD schemas."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from harness.scenario import Scenario, load_scenario
from harness.substrates.kind_kit import Kit, kit_of
from harness.substrates.kind_render import Rendered, render
from harness.substrates.kind_run import kit_scenarios
from harness.substrates.kind_validate import Schemas, crd_files, crd_schemas, find_go

KIT_SCENARIOS = kit_scenarios()
KIT_IDS = [p.parent.name for p in KIT_SCENARIOS]


def kit_scenario(name: str) -> tuple[Scenario, Kit]:
    scenario = load_scenario(next(p for p in KIT_SCENARIOS if p.parent.name == name))
    return scenario, kit_of(scenario)


def render_kit(name: str, out: Path) -> Rendered:
    scenario, kit = kit_scenario(name)
    return render(scenario, kit, out, token="test-token")


def need_kustomize() -> None:
    if shutil.which("kubectl") is None and shutil.which("kustomize") is None:
        pytest.skip("neither kubectl nor kustomize on PATH (bash .ci/install-kind-tools)")


_SCHEMAS: dict[str, Schemas] = {}


def kit_crd_schemas(kit: Kit) -> Schemas:
    """The kit's CRD schemas from its pinned Go modules (cached per kit for the session)."""
    if kit.name not in _SCHEMAS:
        if kit.spec.crds and find_go() is None:
            pytest.skip("go not found: the CRDs come from Go modules (bash .ci/install-kind-tools)")
        _SCHEMAS[kit.name] = crd_schemas(crd_files(kit))
    return _SCHEMAS[kit.name]


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o.get("kind") == kind]
