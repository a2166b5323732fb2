"""Render every shipped kit and build it with kustomize, offline (no cluster)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from fake_backends.profile import FaultProfile
from harness.substrates.images import BACKEND_IMAGE, BACKEND_TAG
from harness.substrates.kind_kit import entry_host_port
from harness.substrates.kind_render import (
    ADMIN_NODE_PORT_BASE,
    DATA_PORT,
    NAMESPACE,
    PROBE_NODE_PORT,
)
from harness.substrates.kind_validate import kustomize_build
from harness.telemetry.in_cluster import SUT_METRICS_SERVICE
from tests.kind.conftest import KIT_IDS, by_kind, kit_scenario, need_kustomize, render_kit

DOCKERFILE = (
    Path(__file__).resolve().parents[2] / "harness" / "substrates" / "image" / "Dockerfile.backend"
).read_text()
CLUSTER_SCOPED = {"Namespace", "GatewayClass", "ClusterRole", "ClusterRoleBinding"}


def test_every_seed_system_has_a_kit() -> None:
    assert sorted(KIT_IDS) == sorted(
        ["envoy_gateway", "httproute", "istio", "kong", "traefik", "kuberay_apiserver"]
    )


@pytest.mark.parametrize("name", KIT_IDS)
def test_kit_renders_and_builds(name: str, tmp_path: Path) -> None:
    need_kustomize()
    scenario, kit = kit_scenario(name)
    rendered = render_kit(name, tmp_path / "out")
    objects = kustomize_build(rendered.root)
    kinds = {o["kind"] for o in objects}
    assert {"Namespace", "Deployment", "Service", "Secret", "ConfigMap"} <= kinds
    for obj in objects:  # one namespace holds everything the run creates (one delete)
        if obj["metadata"]["name"] == SUT_METRICS_SERVICE:
            # but for the headless Service over the gateway's proxies (telemetry), which must be
            # in their namespace; `kubectl delete -k` of the rendered folder removes it too
            assert obj["metadata"]["namespace"] == kit.spec.telemetry.namespace  # type: ignore[union-attr]
        elif obj["kind"] not in CLUSTER_SCOPED:
            assert obj["metadata"].get("namespace") == NAMESPACE, obj["metadata"]
    deployments = {d["metadata"]["name"]: d for d in by_kind(objects, "Deployment")}
    replicas = scenario.backends.replicas
    for i in range(replicas):
        dep = deployments[f"backend-r{i}"]
        (container,) = dep["spec"]["template"]["spec"]["containers"]
        assert container["image"] == f"{BACKEND_IMAGE}:{BACKEND_TAG}"
        assert container["imagePullPolicy"] == "Never"  # loaded by kind, never pulled
        probe = container["readinessProbe"]["exec"]["command"]
        assert f"COPY healthcheck.py {probe[-1]}" in DOCKERFILE  # the image's own health check
        assert "args" in container and "command" not in container  # the image's entrypoint
        env = {e["name"]: e for e in container["env"]}
        assert env["CHAOS_ADMIN_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "backend-admin"
        cm_name = container["envFrom"][0]["configMapRef"]["name"]
        (cm,) = [c for c in by_kind(objects, "ConfigMap") if c["metadata"]["name"] == cm_name]
        # the fault profile reaches the replica unchanged, as FAULT_PROFILE
        assert FaultProfile.model_validate_json(cm["data"]["FAULT_PROFILE"]) == (
            scenario.backends.profile
        )
        assert cm["data"]["REPLICA"] == f"r{i}"
    (secret,) = by_kind(objects, "Secret")
    assert secret["metadata"]["name"] == "backend-admin"
    services = {s["metadata"]["name"]: s for s in by_kind(objects, "Service")}
    traffic = services["backend"]
    assert [p["port"] for p in traffic["spec"]["ports"]] == [DATA_PORT]  # no admin port
    for i in range(replicas):
        admin = services[f"backend-admin-r{i}"]
        assert admin["spec"]["selector"]["retry-harness/replica"] == f"r{i}"
        assert admin["spec"]["ports"][0]["nodePort"] == ADMIN_NODE_PORT_BASE + i
    del kit


def _sut_backend_refs(obj: dict[str, Any]) -> list[tuple[str, int]]:
    """(service, port) every route/config of the SUT sends traffic to."""
    refs: list[tuple[str, int]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "backendRefs" in node:
                refs.extend((r["name"], r["port"]) for r in node["backendRefs"])
            if "destination" in node and "host" in node["destination"]:
                d = node["destination"]
                refs.append((d["host"].split(".")[0], d["port"]["number"]))
            if "services" in node and isinstance(node["services"], list):
                refs.extend((s["name"], s["port"]) for s in node["services"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(obj)
    return refs


@pytest.mark.parametrize("name", ["envoy_gateway", "httproute", "istio", "traefik"])
def test_sut_routes_to_the_traffic_service_never_the_admin_api(name: str, tmp_path: Path) -> None:
    need_kustomize()
    objects = kustomize_build(render_kit(name, tmp_path / "out").root)
    refs = [r for o in objects for r in _sut_backend_refs(o)]
    assert refs and set(refs) == {("backend", DATA_PORT)}


@pytest.mark.parametrize("name", KIT_IDS)
def test_what_is_verified_is_what_is_deployed(name: str, tmp_path: Path) -> None:
    """Every document of the policy file the adapter reads is in the build, unchanged."""
    need_kustomize()
    scenario, _ = kit_scenario(name)
    policy_file = scenario.policy_file
    assert policy_file is not None
    objects = kustomize_build(render_kit(name, tmp_path / "out").root)
    text = policy_file.read_text(encoding="utf-8")
    docs = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
    if "_format_version" in docs[0]:  # Kong's declarative config: the ConfigMap Kong loads
        data = [c["data"] for c in by_kind(objects, "ConfigMap") if "kong.yml" in c["data"]]
        assert data == [{"kong.yml": text}]
        return
    for doc in docs:
        assert doc in objects, f"{doc['kind']}/{doc['metadata']['name']} not deployed as read"


@pytest.mark.parametrize("name", KIT_IDS)
def test_cluster_config_publishes_only_on_loopback(name: str, tmp_path: Path) -> None:
    scenario, kit = kit_scenario(name)
    rendered = render_kit(name, tmp_path / "out")
    config = yaml.safe_load(rendered.cluster_config.read_text())
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4" and config["kind"] == "Cluster"
    (node,) = config["nodes"]
    mappings = node["extraPortMappings"]
    assert {m["listenAddress"] for m in mappings} == {"127.0.0.1"}
    entry = mappings[0]
    assert entry["containerPort"] == kit.spec.entry.node_port
    assert entry["hostPort"] == entry_host_port(scenario)
    assert rendered.entry_url == scenario.sut.url  # type: ignore[union-attr]
    ports = {m["containerPort"] for m in mappings}
    assert PROBE_NODE_PORT in ports
    assert {ADMIN_NODE_PORT_BASE + i for i in range(scenario.backends.replicas)} <= ports


def test_install_script_lists_every_step_in_order(tmp_path: Path) -> None:
    rendered = render_kit("envoy_gateway", tmp_path / "out")
    lines = [ln for ln in rendered.install_script.read_text().splitlines() if ln[:1] not in "#"]
    commands = [ln for ln in lines if not ln.startswith(("set ", "cd "))]
    assert commands[0].startswith(
        "helm upgrade --install eg oci://docker.io/envoyproxy/gateway-helm"
    )
    assert "--version v1.9.1" in commands[0]
    apply = next(i for i, c in enumerate(commands) if " apply " in c and " -k " in c)
    rollouts = [i for i, c in enumerate(commands) if "rollout status" in c]
    assert rollouts and min(rollouts) > apply
    assert "condition=Programmed" in commands[-1]


def test_locust_master_and_workers_render(tmp_path: Path) -> None:
    need_kustomize()
    scenario, _ = kit_scenario("envoy_gateway")
    rendered = render_kit("envoy_gateway", tmp_path / "out")
    objects = kustomize_build(rendered.locust)
    (job,) = by_kind(objects, "Job")
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--expect-workers") + 1] == "2"
    assert args[args.index("-u") + 1] == str(scenario.load.users)
    (workers,) = by_kind(objects, "Deployment")
    assert workers["spec"]["replicas"] == 2
    (cm,) = by_kind(objects, "ConfigMap")
    load = json.loads(cm["data"]["load.json"])
    assert load["load"]["requests"] == scenario.load.requests and load["seed"] == scenario.seed


def test_install_steps_name_the_rendered_copy_of_the_kit(tmp_path: Path) -> None:
    rendered = render_kit("istio", tmp_path / "out")
    values = [c for c in rendered.commands if "--values" in c]
    assert values and values[0][values[0].index("--values") + 1] == str(
        rendered.root / "kits" / "istio" / "gateway-values.yaml"
    )
    assert (rendered.root / "kits" / "istio" / "gateway-values.yaml").is_file()


def _kind_binary() -> str:
    import shutil

    from harness.substrates.kind_tools import find_tool

    off_path = Path.home() / ".cache" / "retry-harness" / "go-tools" / "kind"  # .ci/bootstrap
    found = find_tool("kind") or shutil.which(str(off_path))
    if found is None:
        pytest.skip(f"kind not on PATH nor at {off_path} (.ci/bootstrap installs it there)")
    return str(found)


def _kind_reads(config: Path, tmp_path: Path) -> str:
    """kind's own config decoder on ``config``: ``kind create cluster`` with no container
    runtime reachable (docker forced, its socket absent) decodes the config first, then stops
    at the runtime; nothing is created."""
    import os
    import subprocess

    env = {
        **os.environ,
        "KIND_EXPERIMENTAL_PROVIDER": "docker",
        "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock",
    }
    done = subprocess.run(
        [
            _kind_binary(),
            "create",
            "cluster",
            "--name",
            "rh-config-check",
            "--config",
            str(config),
            "--kubeconfig",
            str(tmp_path / "kubeconfig"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode != 0  # never a cluster here
    return done.stdout + done.stderr


@pytest.mark.parametrize("name", KIT_IDS)
def test_kind_decodes_the_cluster_config(name: str, tmp_path: Path) -> None:
    rendered = render_kit(name, tmp_path / "out")
    out = _kind_reads(rendered.cluster_config, tmp_path)
    assert "unable to decode config" not in out and "docker" in out, out


def test_kind_rejects_a_broken_cluster_config(tmp_path: Path) -> None:
    rendered = render_kit("kong", tmp_path / "out")
    bad = tmp_path / "bad.yaml"
    bad.write_text(rendered.cluster_config.read_text().replace("listenAddress", "listenAdress"))
    assert "unable to decode config" in _kind_reads(bad, tmp_path)


@pytest.mark.parametrize("name", KIT_IDS)
def test_install_script_refers_only_to_the_folder_it_is_in(name: str, tmp_path: Path) -> None:
    """A new user's finding: install.sh applied the absolute render path, so a rendered folder
    moved or copied to another machine applied nothing (or an old copy)."""
    import os
    import shlex

    rendered = render_kit(name, tmp_path / "out")
    moved = tmp_path / "elsewhere" / "copy"
    moved.parent.mkdir()
    rendered.root.rename(moved)
    text = (moved / "install.sh").read_text()
    assert str(tmp_path) not in text
    commands = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert commands[:2] == ["set -eu", 'cd "$(dirname "$0")"']
    applies = 0
    for line in commands[2:]:
        words = shlex.split(line)
        assert not os.path.isabs(words[0]), line  # the program by its name
        for word in words[1:]:
            path = word.split("=", 1)[-1]
            assert not os.path.isabs(path), line
            if path == "." or path.startswith("./"):
                assert (moved / path).exists(), f"{path} is not in the moved folder: {line}"
        applies += words[1:2] == ["apply"] and "-k" in words and words[words.index("-k") + 1] == "."
    assert applies == 1
