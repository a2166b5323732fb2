"""Render a kit scenario into the files the kind substrate applies (no cluster needed).

``render(scenario, kit, out)`` writes into ``out``::

    kind-cluster.yaml         kind Cluster config: extraPortMappings on 127.0.0.1 for the SUT's
                              NodePort and every replica's admin NodePort
    kustomization.yaml        the whole deployment: namespace, harness/, kits/<kit>
    namespace.yaml
    base/                     copies of harness/substrates/kind_manifests/base (our bases)
    harness/                  backends, traffic Service, counter, admin-token Secret, image tag
    replicas/r<i>/            one overlay per backend replica (name suffix, FAULT_PROFILE, ports)
    kits/                     copies of the kits (a kit may build on a sibling's folder)
    locust/                   Locust master + workers for in-cluster load (applied on demand)
    prometheus/               with ``telemetry:``: the run's Prometheus, its config and the user's
                              rules (harness/telemetry/in_cluster.py)
    prometheus-sut/           with ``telemetry:`` and a kit that says where its proxies' metrics
                              are: a headless Service over them, in the gateway's namespace
    install.sh                every command the substrate runs, in order (for reading/replaying)

``kubectl kustomize out`` builds it offline. In the cluster the replicas always share the redis
attempt counter of ``base/counter`` (``backends.counter`` of the scenario is for one host). The
admin token is written to the rendered Secret generator only (``harness/admin-token``); it
protects the admin API of a throwaway cluster.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import BadInput
from harness.scenario import Scenario, load_config_dict
from harness.substrates.images import BACKEND_IMAGE, BACKEND_TAG, PROMETHEUS_IMAGE
from harness.substrates.kind_kit import Kit, entry_host_port
from harness.telemetry.in_cluster import (
    PROMETHEUS_NODE_PORT,
    render_prometheus,
    render_sut_metrics,
)

NAMESPACE = "retry-harness"
"""Every namespaced object the harness and the kits create lives here (one delete cleans up)."""

DATA_PORT, ADMIN_PORT = 8080, 9090
ADMIN_NODE_PORT_BASE = 30100
PROBE_NODE_PORT = 30099
MAX_KIND_REPLICAS = 16
"""Admin NodePorts 30100..30115 are mapped at cluster creation, so a reused cluster fits any
scenario with up to this many replicas."""

MANIFESTS = Path(__file__).resolve().parent / "kind_manifests"
KITS_ROOT = Path(__file__).resolve().parents[2] / "scenarios" / "kits"

KIND_CONFIG_API = "kind.x-k8s.io/v1alpha4"
KUSTOMIZE_API = "kustomize.config.k8s.io/v1beta1"


@dataclass(frozen=True)
class Rendered:
    """What :func:`render` wrote, and the addresses the substrate uses."""

    root: Path
    cluster_config: Path
    locust: Path
    install_script: Path
    entry_url: str
    admin_urls: list[str]
    probe_url: str
    commands: list[list[str]] = field(default_factory=list)
    prometheus: Path | None = None  # the rendered Prometheus folder (scenarios with telemetry:)


def admin_node_port(index: int) -> int:
    return ADMIN_NODE_PORT_BASE + index


def cluster_config(entry_node_port: int, entry_host_port: int) -> dict[str, Any]:
    """The kind Cluster config: one node, NodePorts published on 127.0.0.1 only.

    kind docs, "Extra Port Mappings" (https://kind.sigs.k8s.io/docs/user/configuration/).
    """
    mappings = [
        {
            "containerPort": entry_node_port,
            "hostPort": entry_host_port,
            "listenAddress": "127.0.0.1",
            "protocol": "TCP",
        }
    ]
    mappings += [
        {
            "containerPort": port,
            "hostPort": port,
            "listenAddress": "127.0.0.1",
            "protocol": "TCP",
        }
        for port in [
            PROBE_NODE_PORT,
            PROMETHEUS_NODE_PORT,
            *map(admin_node_port, range(MAX_KIND_REPLICAS)),
        ]
    ]
    return {
        "kind": "Cluster",
        "apiVersion": KIND_CONFIG_API,
        "nodes": [{"role": "control-plane", "extraPortMappings": mappings}],
    }


def _dump(path: Path, data: Any, header: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(data, sort_keys=False, width=100)
    path.write_text((f"# {header}\n" if header else "") + text, encoding="utf-8")


def _replica(out: Path, scenario: Scenario, index: int) -> None:
    backends = scenario.backends
    profile = backends.profile.model_dump_json(exclude_none=True)
    _dump(
        out / "replicas" / f"r{index}" / "kustomization.yaml",
        {
            "apiVersion": KUSTOMIZE_API,
            "kind": "Kustomization",
            "resources": ["../../base/backend"],
            "nameSuffix": f"-r{index}",
            "labels": [{"pairs": {"retry-harness/replica": f"r{index}"}, "includeSelectors": True}],
            "configMapGenerator": [
                {
                    "name": "backend-faults",
                    "literals": [
                        f"FAULT_PROFILE={profile}",
                        f"REPLICA=r{index}",
                        f"WORKERS={backends.workers}",
                        f"THREADS={backends.threads}",
                    ],
                }
            ],
            "patches": [
                {
                    "target": {"kind": "Service", "name": "backend-admin"},
                    "patch": yaml.safe_dump(
                        [
                            {
                                "op": "replace",
                                "path": "/spec/ports/0/nodePort",
                                "value": admin_node_port(index),
                            }
                        ]
                    ),
                }
            ],
        },
        f"backend replica r{index} of scenario {scenario.name}",
    )


def _harness(out: Path, scenario: Scenario, kit: Kit, token: str) -> None:
    replicas = scenario.backends.replicas
    patches: list[dict[str, Any]] = []
    for name in kit.spec.backend_patches:
        target = out / "harness" / "patches" / f"{kit.name}-{Path(name).name}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(kit.dir / name, target)
        patches.append(
            {
                "path": f"patches/{target.name}",
                "target": {
                    "kind": "Deployment",
                    "labelSelector": "app.kubernetes.io/name=retry-harness-backend",
                },
            }
        )
    (out / "harness").mkdir(parents=True, exist_ok=True)
    _write_secret(out / "harness" / "admin-token", token)
    data: dict[str, Any] = {
        "apiVersion": KUSTOMIZE_API,
        "kind": "Kustomization",
        "namespace": NAMESPACE,
        "resources": [
            "../base/traffic",
            "../base/counter",
            *[f"../replicas/r{i}" for i in range(replicas)],
        ],
        "secretGenerator": [
            {
                "name": "backend-admin",
                "files": ["token=admin-token"],
                "options": {"disableNameSuffixHash": True},
            }
        ],
        "images": [{"name": BACKEND_IMAGE, "newTag": BACKEND_TAG}],
    }
    if patches:
        data["patches"] = patches
    _dump(out / "harness" / "kustomization.yaml", data, f"harness side of {scenario.name}")


def _locust(out: Path, scenario: Scenario, entry_url_in_cluster: str, workers: int) -> None:
    load = scenario.load
    (out / "locust").mkdir(parents=True, exist_ok=True)
    (out / "locust" / "load.json").write_text(
        json.dumps(load_config_dict(scenario), indent=2) + "\n", encoding="utf-8"
    )
    locustfile = Path(load.locustfile).name
    master_args = [
        "--master",
        "--headless",
        "--only-summary",
        "--exit-code-on-error",
        "0",
        "--expect-workers",
        str(workers),
        "-u",
        str(load.users),
        "-r",
        str(load.spawn_rate),
        "--run-time",
        f"{max(1, int(load.time_cap_s + 0.999))}s",
        "--host",
        entry_url_in_cluster,
    ]
    # the image carries the shipped locustfiles in the installed `scenarios` package
    find = 'import pathlib, scenarios; print(pathlib.Path(scenarios.__file__).parent / "%s")'
    shell = 'exec python -m locust -f "$(python -c \'%s\')" "$@"' % (find % locustfile)
    patches = [
        {
            "target": {"kind": "Job", "name": "locust-master"},
            "patch": yaml.safe_dump(
                [
                    {
                        "op": "replace",
                        "path": "/spec/template/spec/containers/0/command",
                        "value": ["sh", "-c", shell, "locust"],
                    },
                    {
                        "op": "replace",
                        "path": "/spec/template/spec/containers/0/args",
                        "value": master_args,
                    },
                ]
            ),
        },
        {
            "target": {"kind": "Deployment", "name": "locust-worker"},
            "patch": yaml.safe_dump(
                [
                    {
                        "op": "replace",
                        "path": "/spec/template/spec/containers/0/command",
                        "value": ["sh", "-c", shell, "locust"],
                    },
                    {"op": "replace", "path": "/spec/replicas", "value": workers},
                ]
            ),
        },
    ]
    _dump(
        out / "locust" / "kustomization.yaml",
        {
            "apiVersion": KUSTOMIZE_API,
            "kind": "Kustomization",
            "namespace": NAMESPACE,
            "resources": ["../base/locust"],
            "configMapGenerator": [{"name": "locust-load", "files": ["load.json"]}],
            "images": [{"name": BACKEND_IMAGE, "newTag": BACKEND_TAG}],
            "patches": patches,
        },
        f"in-cluster Locust for {scenario.name}: kubectl apply -k locust/",
    )


def _write_secret(path: Path, text: str) -> None:
    """Write ``text`` readable by its owner only (mode 0600, also when the file existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def kit_folders(kit_dir: Path) -> list[Path]:
    """The kit's own folder and every sibling kit folder its kustomizations build on (a
    ``resources``/``bases``/``components`` entry such as ``../envoy_gateway/gateway``), sorted:
    what ``--render`` copies into ``kits/``, and nothing else of the kit's parent folder (a
    user's kit may sit among unrelated files, or hold the render folder itself)."""
    root = kit_dir.parent.resolve()
    seen: set[Path] = set()
    todo = [kit_dir.resolve()]
    while todo:
        folder = todo.pop()
        if folder in seen:
            continue
        seen.add(folder)
        for k in sorted(folder.rglob("kustomization.yaml")):
            try:
                doc = yaml.safe_load(k.read_text(encoding="utf-8")) or {}
            except (OSError, yaml.YAMLError):
                continue  # the kit's own validation reports it
            refs = [
                r
                for key in ("resources", "bases", "components")
                for r in (doc.get(key) or [] if isinstance(doc, dict) else [])
                if isinstance(r, str) and "://" not in r
            ]
            for ref in refs:
                target = (k.parent / ref).resolve()
                if target == root or root not in target.parents:
                    continue
                sibling = root / target.relative_to(root).parts[0]
                if sibling.is_dir():
                    todo.append(sibling)
    return sorted(seen)


def render(
    scenario: Scenario,
    kit: Kit,
    out: Path,
    *,
    token: str,
    workers: int = 2,
    kubectl: str = "kubectl",
) -> Rendered:
    """Write every manifest, the kind cluster config and the command list into ``out``."""
    out = out.resolve()
    folders = kit_folders(kit.dir)
    for folder in folders:
        if out == folder.resolve() or folder.resolve() in out.parents:
            raise BadInput(
                f"{out} is inside the kit folder {folder} that is copied into it; give a folder "
                "outside it",
                field="--render",
            )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(
            f"cannot write the manifests to {out}: {exc.strerror or exc} (give a folder)",
            field="--render",
        ) from None
    for sub in ("base", "kits", "replicas", "harness", "locust", "prometheus", "prometheus-sut"):
        shutil.rmtree(out / sub, ignore_errors=True)
    shutil.copytree(MANIFESTS / "base", out / "base")
    for folder in folders:
        shutil.copytree(
            folder,
            out / "kits" / folder.name,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "README.md"),
        )
    host_port = entry_host_port(scenario)
    cluster = cluster_config(kit.spec.entry.node_port, host_port)
    _dump(out / "kind-cluster.yaml", cluster, f"kind cluster for {scenario.name}")
    _dump(
        out / "namespace.yaml",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}},
    )
    for i in range(scenario.backends.replicas):
        _replica(out, scenario, i)
    _harness(out, scenario, kit, token)
    prometheus = render_prometheus(out, scenario, kit, namespace=NAMESPACE, image_tag=BACKEND_TAG)
    sut_metrics = render_sut_metrics(out, kit) if prometheus is not None else None
    _dump(
        out / "kustomization.yaml",
        {
            "apiVersion": KUSTOMIZE_API,
            "kind": "Kustomization",
            "resources": [
                "namespace.yaml",
                "harness",
                f"kits/{kit.name}",
                *(["prometheus"] if prometheus is not None else []),
                *(["prometheus-sut"] if sut_metrics is not None else []),
            ],
        },
        f"{scenario.name}: kubectl apply -k . (after the install steps of kits/{kit.name})",
    )
    # in the cluster the SUT's NodePort is reached on the node's address (NODE_IP, see base)
    _locust(out, scenario, f"http://$(NODE_IP):{kit.spec.entry.node_port}", workers)
    # install steps name the rendered copy of the kit ({kit}): the folder is self-contained
    commands = apply_commands(
        scenario, Kit(spec=kit.spec, dir=out / "kits" / kit.name), out, kubectl=kubectl
    )
    script = out / "install.sh"
    lines = [
        "#!/bin/sh",
        f"# What `retry-harness run {scenario.source_file} --substrate kind` runs once the kind",
        "# cluster is up (kind create cluster --config kind-cluster.yaml) and the image loaded",
        f"# (kind load docker-image {BACKEND_IMAGE}:{BACKEND_TAG}"
        + (f" {PROMETHEUS_IMAGE}:{BACKEND_TAG}" if prometheus is not None else "")
        + "). Pinned versions: "
        + ", ".join(f"{k} {v}" for k, v in kit.spec.versions.items()),
        "set -eu",
        'cd "$(dirname "$0")"',
        *[shlex.join(script_command(c, out)) for c in commands],
    ]
    script.write_text("\n".join(lines) + "\n", encoding="utf-8")
    script.chmod(0o755)
    return Rendered(
        root=out,
        cluster_config=out / "kind-cluster.yaml",
        locust=out / "locust",
        install_script=script,
        entry_url=f"http://127.0.0.1:{host_port}",
        probe_url=f"http://127.0.0.1:{PROBE_NODE_PORT}",
        admin_urls=[
            f"http://127.0.0.1:{admin_node_port(i)}" for i in range(scenario.backends.replicas)
        ],
        commands=commands,
        prometheus=prometheus,
    )


def script_command(command: list[str], out: Path) -> list[str]:
    """``command`` as ``install.sh`` in ``out`` runs it from ``out`` itself: the rendered folder
    as ``.`` and paths in it as ``./...`` (also inside ``--values=...``), a program by its name,
    so the folder can be moved or copied to another machine."""
    root = str(out)
    program = os.path.basename(command[0]) if os.path.isabs(command[0]) else command[0]
    return [
        program,
        *["." if arg == root else arg.replace(root + os.sep, "." + os.sep) for arg in command[1:]],
    ]


def apply_commands(
    scenario: Scenario, kit: Kit, out: Path, *, kubectl: str = "kubectl"
) -> list[list[str]]:
    """The commands after cluster creation, in order: kit install, apply, rollout, kit ready."""

    def tool(step: list[str]) -> list[str]:
        return [kubectl, *step[1:]] if step and step[0] == "kubectl" else step

    cmds = [tool(kit.argv(step)) for step in kit.spec.install]
    cmds.append([kubectl, "apply", "--server-side", "--force-conflicts", "-k", str(out)])
    cmds.append(
        [kubectl, "rollout", "status", "-n", NAMESPACE, "deployment/counter", "--timeout=300s"]
    )
    cmds += [
        [
            kubectl,
            "rollout",
            "status",
            "-n",
            NAMESPACE,
            f"deployment/backend-r{i}",
            "--timeout=300s",
        ]
        for i in range(scenario.backends.replicas)
    ]
    if scenario.telemetry is not None:
        cmds.append(
            [
                kubectl,
                "rollout",
                "status",
                "-n",
                NAMESPACE,
                "deployment/prometheus",
                "--timeout=300s",
            ]
        )
    cmds += [tool(kit.argv(step)) for step in kit.spec.ready]
    return cmds
