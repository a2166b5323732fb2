"""Offline validation of every rendered kit: core kinds (kubernetes-validate, strict) and the
custom resources against their CRDs' own schemas at the versions the kits pin (Go modules)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from harness.substrates.kind_validate import kustomize_build, validate_objects
from tests.kind.conftest import KIT_IDS, kit_crd_schemas, kit_scenario, need_kustomize, render_kit


@pytest.mark.parametrize("name", KIT_IDS)
def test_rendered_kit_is_valid_offline(name: str, tmp_path: Path) -> None:
    need_kustomize()
    _, kit = kit_scenario(name)
    rendered = render_kit(name, tmp_path / "out")
    objects = kustomize_build(rendered.root) + kustomize_build(rendered.locust)
    assert validate_objects(objects, kit_crd_schemas(kit)) == []


def _one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (obj,) = [o for o in objects if o["kind"] == kind]
    return copy.deepcopy(obj)


@pytest.fixture(scope="module")
def envoy_objects(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    need_kustomize()
    return kustomize_build(render_kit("envoy_gateway", tmp_path_factory.mktemp("eg")).root)


def test_a_misspelled_crd_field_is_caught(envoy_objects: list[dict[str, Any]]) -> None:
    _, kit = kit_scenario("envoy_gateway")
    btp = _one(envoy_objects, "BackendTrafficPolicy")
    btp["spec"]["retry"]["numRetrys"] = btp["spec"]["retry"].pop("numRetries")
    problems = validate_objects([btp], kit_crd_schemas(kit))
    assert len(problems) == 1 and "numRetrys" in problems[0], problems


def test_a_wrongly_typed_crd_field_is_caught(envoy_objects: list[dict[str, Any]]) -> None:
    _, kit = kit_scenario("envoy_gateway")
    btp = _one(envoy_objects, "BackendTrafficPolicy")
    btp["spec"]["retry"]["retryOn"]["triggers"] = ["five-hundreds"]  # not in the CRD's enum
    problems = validate_objects([btp], kit_crd_schemas(kit))
    assert problems and "spec.retry.retryOn.triggers.0" in problems[0], problems


def test_traefik_middleware_schema_is_the_pinned_one() -> None:
    _, kit = kit_scenario("traefik")
    schemas = kit_crd_schemas(kit)
    middleware = {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "Middleware",
        "metadata": {"name": "m"},
        "spec": {"retry": {"attempts": 2, "initialInterval": "100ms", "attemps": 3}},
    }
    problems = validate_objects([middleware], schemas)
    assert problems == [
        "Middleware/m: spec.retry: Additional properties are not allowed ('attemps' was unexpected)"
    ]


def test_a_bad_core_object_is_caught(envoy_objects: list[dict[str, Any]]) -> None:
    dep = _one([o for o in envoy_objects if o["metadata"]["name"] == "backend-r0"], "Deployment")
    dep["spec"]["replicas"] = "two"
    assert validate_objects([dep], {}) != []
    svc = _one([o for o in envoy_objects if o["metadata"]["name"] == "backend"], "Service")
    svc["spec"]["portz"] = svc["spec"].pop("ports")
    assert any("portz" in p for p in validate_objects([svc], {}))


def test_a_custom_resource_without_its_crd_is_reported() -> None:
    obj = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert validate_objects([obj], {}) == [
        "Widget/w: no schema for example.com/v1 Widget (no CRD of the kit)"
    ]
