"""The run's Prometheus in kind (harness/telemetry/in_cluster.py), rendered and checked offline.

What needs a cluster (the pod scraping Envoy and the backends, the query through the NodePort)
cannot run here: see test_cluster.py for the kind runs, which skip with "kind not on PATH". The
image itself runs under docker in tests/container/test_prometheus_image.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.substrates.kind_render import NAMESPACE
from harness.substrates.kind_validate import kustomize_build, validate_objects
from harness.telemetry.in_cluster import PROMETHEUS_NODE_PORT, in_cluster_prometheus
from tests.kind.conftest import by_kind, kit_scenario, need_kustomize, render_kit

# where .ci/install-go-tools puts it: $GOBIN, else ~/go/bin
KUBECONFORM = (
    os.environ.get("KUBECONFORM")
    or shutil.which("kubeconform")
    or str(Path(os.environ.get("GOBIN") or Path.home() / "go" / "bin") / "kubeconform")
)


def _config(rendered_root: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(
        (rendered_root / "prometheus" / "prometheus.yml").read_text()
    )
    return loaded


def test_envoy_gateway_kit_renders_a_prometheus_scraping_envoy_and_the_backends(
    tmp_path: Path,
) -> None:
    rendered = render_kit("envoy_gateway", tmp_path)
    assert rendered.prometheus == rendered.root / "prometheus"
    config = _config(rendered.root)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["backends"]["static_configs"][0]["targets"] == [
        f"backend-admin-r{i}.{NAMESPACE}.svc:9090" for i in range(2)
    ]
    sut = jobs["sut"]
    assert sut["metrics_path"] == "/stats/prometheus"
    [sd] = sut["dns_sd_configs"]
    host = "retry-harness-sut-metrics.envoy-gateway-system.svc.cluster.local"
    assert sd == {"names": [host], "type": "A", "port": 19001, "refresh_interval": "5s"}
    # the headless Service behind that name selects the Gateway's proxy pods, in their namespace
    service = yaml.safe_load((rendered.root / "prometheus-sut" / "service.yaml").read_text())
    assert service["metadata"]["namespace"] == "envoy-gateway-system"
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"]["gateway.envoyproxy.io/owning-gateway-name"] == (
        "retry-harness"
    )
    # the user's rules travel in the ConfigMap, as Prometheus loads them
    assert config["rule_files"] == ["/etc/prometheus/alert-rules.yaml"]
    rules = yaml.safe_load((rendered.root / "prometheus" / "alert-rules.yaml").read_text())
    assert rules["groups"][0]["rules"][0]["alert"] == "HighRetryRate"
    # the NodePort is mapped to the host, the rollout is waited for, the image is the package's
    cluster = yaml.safe_load(rendered.cluster_config.read_text())
    ports = [m["containerPort"] for m in cluster["nodes"][0]["extraPortMappings"]]
    assert PROMETHEUS_NODE_PORT in ports
    assert any("deployment/prometheus" in c for c in rendered.commands)
    assert "retry-harness-prometheus:" in rendered.install_script.read_text()


def test_istio_kit_scrapes_the_envoy_only_port_with_retry_stats_included(tmp_path: Path) -> None:
    rendered = render_kit("istio", tmp_path)
    sut = {j["job_name"]: j for j in _config(rendered.root)["scrape_configs"]}["sut"]
    [sd] = sut["dns_sd_configs"]
    assert sd["names"] == ["retry-harness-sut-metrics.istio-ingress.svc.cluster.local"]
    assert sd["port"] == 15090
    values = yaml.safe_load((rendered.root / "kits" / "istio" / "gateway-values.yaml").read_text())
    matcher = yaml.safe_load(values["podAnnotations"]["proxy.istio.io/config"])
    assert ".*upstream_rq_retry.*" in matcher["proxyStatsMatcher"]["inclusionRegexps"]


def test_a_kit_without_telemetry_renders_no_prometheus(tmp_path: Path) -> None:
    rendered = render_kit("kong", tmp_path)
    assert rendered.prometheus is None and not (rendered.root / "prometheus").exists()
    top = yaml.safe_load((rendered.root / "kustomization.yaml").read_text())
    assert not {"prometheus", "prometheus-sut"} & set(top["resources"])


def test_the_harness_reaches_it_on_the_node_port() -> None:
    scenario, kit = kit_scenario("envoy_gateway")
    remote = in_cluster_prometheus(scenario, kit)
    assert remote.url == f"http://127.0.0.1:{PROMETHEUS_NODE_PORT}"
    assert remote.jobs == {"backends": 2, "sut": None}


def test_promtool_accepts_the_rendered_config(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed: apt-get install prometheus")
    rendered = render_kit("envoy_gateway", tmp_path)
    folder = rendered.root / "prometheus"
    config = _config(rendered.root)
    # the paths the pod mounts, pointed at the rendered files (promtool opens them)
    token = tmp_path / "token"
    token.write_text("t")
    config["rule_files"] = [str(folder / "alert-rules.yaml")]
    config["scrape_configs"][0]["authorization"]["credentials_file"] = str(token)
    assert "kubernetes_sd_configs" not in str(config)  # Debian's build has no Kubernetes SD
    checked = tmp_path / "prometheus.yml"
    checked.write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [promtool, "check", "config", str(checked)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _prometheus_objects(tmp_path: Path, kit: str) -> list[dict[str, Any]]:
    need_kustomize()
    rendered = render_kit(kit, tmp_path)
    return [
        o
        for o in kustomize_build(rendered.root)
        if "prometheus" in (o["metadata"].get("name") or "")
        or o["metadata"].get("labels", {}).get("app.kubernetes.io/name")
        == "retry-harness-prometheus"
    ]


def test_rendered_objects_pass_strict_schema_validation(tmp_path: Path) -> None:
    objects = _prometheus_objects(tmp_path, "envoy_gateway")
    kinds = sorted(o["kind"] for o in objects)
    assert kinds == ["ConfigMap", "Deployment", "Service", "Service"]
    assert validate_objects(objects, {}) == []
    [deployment] = by_kind(objects, "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"].startswith("retry-harness-prometheus:")
    assert container["imagePullPolicy"] == "Never"
    namespaces = {o["metadata"]["name"]: o["metadata"]["namespace"] for o in objects}
    assert namespaces["prometheus"] == NAMESPACE
    assert namespaces["retry-harness-sut-metrics"] == "envoy-gateway-system"


def test_rendered_objects_pass_kubeconform(tmp_path: Path) -> None:
    if not Path(KUBECONFORM).is_file():
        pytest.skip("kubeconform not built (bash .ci/install-go-tools)")
    import kubernetes_validate

    # kubeconform never downloads here: the strict Kubernetes 1.33 schemas shipped with
    # kubernetes-validate, each made standalone (its "/api/_definitions.json" $defs inlined)
    [shipped] = (Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema").glob(
        "v1.33.*-local-strict"
    )
    defs = json.loads((shipped / "_definitions.json").read_text())["$defs"]
    schemas = tmp_path / "schemas"
    schemas.mkdir()
    for name in ("configmap-v1", "service-v1", "deployment-apps-v1"):
        schema = {**json.loads((shipped / f"{name}.json").read_text()), "$defs": defs}
        text = json.dumps(schema).replace('"/api/_definitions.json#', '"#')
        (schemas / f"{name}.json").write_text(text)
    objects = _prometheus_objects(tmp_path, "envoy_gateway")
    manifest = tmp_path / "prometheus.yaml"
    manifest.write_text(yaml.safe_dump_all(objects))
    location = str(schemas / "{{ .ResourceKind }}{{ .KindSuffix }}.json")
    done = subprocess.run(
        [KUBECONFORM, "-strict", "-summary", "-schema-location", location, str(manifest)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Valid: 4" in done.stdout + done.stderr, done.stdout + done.stderr
    # and it can fail: a misspelt field of the Deployment is refused
    broken = [dict(o) for o in objects]
    dep = next(o for o in broken if o["kind"] == "Deployment")
    dep["spec"] = {**dep["spec"], "replica": 1}
    manifest.write_text(yaml.safe_dump_all(broken))
    bad = subprocess.run(
        [KUBECONFORM, "-strict", "-schema-location", location, str(manifest)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert bad.returncode != 0 and "replica" in bad.stdout + bad.stderr
