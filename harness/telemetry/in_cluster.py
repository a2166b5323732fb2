"""The run's Prometheus as a pod in the kind cluster: its rendered config, and how the harness
reaches it.

``render_prometheus(out, scenario, kit)`` writes, applied with the rest of the rendered folder:

* ``out/prometheus/``: a kustomization over ``base/prometheus`` (Deployment of our
  ``retry-harness-prometheus`` image, Debian's prometheus 2.42, and a NodePort Service) and the
  ``prometheus-config`` ConfigMap made from ``prometheus.yml`` (1 s scrapes and rule evaluation,
  like the local Prometheus of harness/telemetry/prometheus.py) and ``alert-rules.yaml`` (the
  scenario's rules file as Prometheus loads it: its groups);
* ``out/prometheus-sut/``: for a kit with ``telemetry:`` (kit.yaml), a headless Service in the
  gateway's namespace selecting its proxy pods, so that DNS gives one address per pod.

Jobs: ``backends`` scrapes every replica's admin Service (``backend-admin-r<i>:9090/metrics``,
the admin token as a bearer credentials file); ``sut`` finds the proxy pods with
``dns_sd_configs`` (type A) on that headless Service and scrapes the kit's port and path
(https://prometheus.io/docs/prometheus/2.42/configuration/configuration/#dns_sd_config).
Not ``kubernetes_sd_configs``: Debian's prometheus package is built without the Kubernetes
discovery (its promtool refuses the field), and DNS discovery needs no API access.

At the end the harness queries it from the host at ``http://127.0.0.1:30090`` (the Service's
NodePort, mapped by kind's ``extraPortMappings``), through the same HTTP API calls as the local
one. Nothing here needs a cluster; the kind substrate applies it (harness/substrates/kind.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness.scenario import Scenario
from harness.substrates.kind_kit import Kit
from harness.telemetry.prometheus import SCRAPE_INTERVAL_S
from harness.telemetry.rules import read_rules
from harness.telemetry.session import InClusterPrometheus

PROMETHEUS_NODE_PORT = 30090
ADMIN_PORT = 9090
TOKEN_FILE = "/etc/retry-harness/token"  # the backend-admin Secret, mounted by base/prometheus
RULES_FILE = "/etc/prometheus/alert-rules.yaml"
SUT_METRICS_SERVICE = "retry-harness-sut-metrics"
KUSTOMIZE_API = "kustomize.config.k8s.io/v1beta1"


def prometheus_config(
    scenario: Scenario, kit: Kit, namespace: str, *, rules: bool
) -> dict[str, Any]:
    """The ``prometheus.yml`` of the run's in-cluster Prometheus (see the module docstring)."""
    replicas = scenario.backends.replicas
    config: dict[str, Any] = {
        "global": {
            "scrape_interval": f"{SCRAPE_INTERVAL_S:g}s",
            "scrape_timeout": f"{int(SCRAPE_INTERVAL_S * 900)}ms",
            "evaluation_interval": f"{SCRAPE_INTERVAL_S:g}s",
        },
        "rule_files": [RULES_FILE] if rules else [],
        "scrape_configs": [
            {
                "job_name": "backends",
                "metrics_path": "/metrics",
                "authorization": {"type": "Bearer", "credentials_file": TOKEN_FILE},
                "static_configs": [
                    {
                        "targets": [
                            f"backend-admin-r{i}.{namespace}.svc:{ADMIN_PORT}"
                            for i in range(replicas)
                        ]
                    }
                ],
            }
        ],
    }
    sut = kit.spec.telemetry
    if sut is not None:
        config["scrape_configs"].append(
            {
                "job_name": "sut",
                "metrics_path": sut.path,
                "dns_sd_configs": [
                    {
                        "names": [f"{SUT_METRICS_SERVICE}.{sut.namespace}.svc.cluster.local"],
                        "type": "A",
                        "port": sut.port,
                        "refresh_interval": "5s",
                    }
                ],
            }
        )
    return config


def render_prometheus(
    out: Path, scenario: Scenario, kit: Kit, *, namespace: str, image_tag: str
) -> Path | None:
    """Write ``out/prometheus/`` for a scenario with ``telemetry:``; None without it."""
    telemetry = scenario.telemetry
    if telemetry is None:
        return None
    folder = out / "prometheus"
    folder.mkdir(parents=True, exist_ok=True)
    files = ["prometheus.yml"]
    rules_text = None
    if telemetry.rules is not None:
        path = telemetry.rules
        if not path.is_absolute():
            path = (scenario.base_dir or Path.cwd()) / path
        _, rules_text, _ = read_rules(path)
        (folder / "alert-rules.yaml").write_text(rules_text, encoding="utf-8")
        files.append("alert-rules.yaml")
    config = prometheus_config(scenario, kit, namespace, rules=rules_text is not None)
    (folder / "prometheus.yml").write_text(
        yaml.safe_dump(config, sort_keys=False), encoding="utf-8"
    )
    from harness.substrates.images import PROMETHEUS_IMAGE

    kustomization = {
        "apiVersion": KUSTOMIZE_API,
        "kind": "Kustomization",
        "namespace": namespace,
        "resources": ["../base/prometheus"],
        "configMapGenerator": [{"name": "prometheus-config", "files": files}],
        "images": [{"name": PROMETHEUS_IMAGE, "newTag": image_tag}],
    }
    (folder / "kustomization.yaml").write_text(
        f"# the run's Prometheus for {scenario.name} (harness/telemetry/in_cluster.py)\n"
        + yaml.safe_dump(kustomization, sort_keys=False),
        encoding="utf-8",
    )
    return folder


def render_sut_metrics(out: Path, kit: Kit) -> Path | None:
    """Write ``out/prometheus-sut/``: the headless Service over the kit's proxy pods, in their
    own namespace (so no namespace transformer touches it); None for a kit without telemetry."""
    sut = kit.spec.telemetry
    if sut is None:
        return None
    folder = out / "prometheus-sut"
    folder.mkdir(parents=True, exist_ok=True)
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": SUT_METRICS_SERVICE,
            "namespace": sut.namespace,
            "labels": {"app.kubernetes.io/name": "retry-harness-prometheus"},
        },
        "spec": {
            "clusterIP": "None",
            "selector": dict(sut.pod_labels),
            "ports": [{"name": "metrics", "port": sut.port, "targetPort": sut.port}],
        },
    }
    (folder / "service.yaml").write_text(
        f"# {kit.name}'s proxy pods for the run's Prometheus (DNS: one address per pod); "
        f"{sut.source}\n" + yaml.safe_dump(service, sort_keys=False),
        encoding="utf-8",
    )
    (folder / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {"apiVersion": KUSTOMIZE_API, "kind": "Kustomization", "resources": ["service.yaml"]},
            sort_keys=False,
        ),
        encoding="utf-8",
    )
    return folder


def in_cluster_prometheus(scenario: Scenario, kit: Kit) -> InClusterPrometheus:
    """How the harness reaches the run's Prometheus from the host, and what it scrapes."""
    jobs: dict[str, int | None] = {"backends": scenario.backends.replicas}
    if kit.spec.telemetry is not None:
        jobs["sut"] = None  # discovered pods: at least one
    return InClusterPrometheus(url=f"http://127.0.0.1:{PROMETHEUS_NODE_PORT}", jobs=jobs)
