"""In-cluster SUT kits: the ``kit.yaml`` model, its loader and the kit's own consistency rules.

A kit is a folder under ``scenarios/kits/`` (or anywhere a scenario lives) holding ``kit.yaml``,
a ``kustomization.yaml`` of what it applies, the user's policy file and a scenario. The kind
substrate finds the kit next to the scenario file. Rules checked here, each a ``BadInput``
naming ``kit.yaml`` and the field, before anything is started:

- ``system`` is the scenario's ``policy.source.system`` (the adapter that reads the policy file);
- the policy file is applied by the kit: named in ``kustomization.yaml`` (``resources`` or a
  generator's ``files``) or in an install step (Helm ``--values``), so what is verified is what is
  deployed;
- the scenario's ``sut`` is ``kind: url`` on ``http://127.0.0.1:PORT``: kind's
  ``extraPortMappings`` expose the kit's NodePort ``entry.node_port`` there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.errors import BadInput
from harness.input_errors import (
    bad_input_from_validation,
    load_yaml_mapping,
    parse_yaml_documents,
    read_text,
)
from harness.scenario import Scenario

KIT_FILE = "kit.yaml"
KIT_PLACEHOLDER = "{kit}"
"""In install steps: the kit's folder (for Helm ``--values`` files the kit holds)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class CrdSource(_Frozen):
    """Where the CRDs of a kit's custom resources come from, for offline validation.

    ``go mod download -json MODULE@VERSION`` gives a ``Dir``; ``files`` are globs inside it.
    """

    module: str = Field(
        min_length=1, description="Go module path, e.g. github.com/envoyproxy/gateway"
    )
    version: str = Field(pattern=r"^v\d+\.\d+\.\d+", description="Pinned module version")
    files: list[str] = Field(min_length=1, description="Globs of CRD YAML files in the module")


class KitTelemetry(_Frozen):
    """Where the run's Prometheus (a pod, harness/telemetry/in_cluster.py) finds the SUT's own
    metrics: the pods with ``pod_labels`` in ``namespace``, port ``port``, path ``path``."""

    namespace: str = Field(min_length=1)
    pod_labels: dict[str, str] = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    path: str = Field(default="/metrics", pattern=r"^/")
    source: str = Field(default="", description="Public docs naming that port and path")


class Entry(_Frozen):
    """How load reaches the SUT: its NodePort, mapped to 127.0.0.1 on the host by kind."""

    node_port: int = Field(ge=30000, le=32767)


Argv = list[str]


class KitSpec(_Frozen):
    """``kit.yaml``."""

    system: str = Field(min_length=1, description="Adapter name of the policy file")
    versions: dict[str, str] = Field(min_length=1, description="Component -> pinned version")
    install: list[Argv] = Field(
        default_factory=list, description="Run in order once the cluster is up (helm, kubectl)"
    )
    uninstall: list[Argv] = Field(default_factory=list, description="Reverse of install")
    ready: list[Argv] = Field(
        default_factory=list, description="Waits after the kit's objects are applied"
    )
    entry: Entry
    crds: list[CrdSource] = Field(default_factory=list)
    backend_patches: list[str] = Field(
        default_factory=list,
        description="JSON6902 patch files (in the kit) applied to every backend Deployment",
    )
    telemetry: KitTelemetry | None = Field(
        default=None, description="Where the SUT's own metrics are scraped (None: not scraped)"
    )


@dataclass(frozen=True)
class Kit:
    """A loaded kit: its spec, folder and name (the folder's name)."""

    spec: KitSpec
    dir: Path

    @property
    def name(self) -> str:
        return self.dir.name

    @property
    def file(self) -> Path:
        return self.dir / KIT_FILE

    def argv(self, step: Argv) -> Argv:
        """An install/ready step with ``{kit}`` replaced by the kit's folder."""
        return [part.replace(KIT_PLACEHOLDER, str(self.dir)) for part in step]

    def tools(self) -> list[str]:
        """Programs the kit's steps run (``kubectl``, ``helm``), in first-use order."""
        seen: list[str] = []
        for step in [*self.spec.install, *self.spec.ready, *self.spec.uninstall]:
            if step and step[0] not in seen:
                seen.append(step[0])
        return seen


def load_kit_file(path: Path) -> KitSpec:
    """Read and validate ``kit.yaml``; one ``BadInput`` naming the field on any problem."""
    data, lines = load_yaml_mapping(path)
    try:
        return KitSpec.model_validate(data)
    except ValidationError as exc:
        raise bad_input_from_validation(exc, file=path, lines=lines, model=KitSpec) from None


def kit_of(scenario: Scenario) -> Kit:
    """The kit next to the scenario file, checked against the scenario (see module doc)."""
    base = scenario.base_dir
    if base is None or not (base / KIT_FILE).is_file():
        raise BadInput(
            f"not a kit scenario: no {KIT_FILE} beside it; the kind substrate runs the kits in "
            "scenarios/kits/<system>/ (or a folder of yours with a kit.yaml)",
            file=scenario.source_file,
        )
    kit = Kit(spec=load_kit_file(base / KIT_FILE), dir=base.resolve())
    source = scenario.policy.source
    if source is None or source.system != kit.spec.system:
        got = source.system if source is not None else "an inline policy"
        raise BadInput(
            f"the kit installs {kit.spec.system!r} but the scenario's policy is read as {got!r}; "
            f"use policy.source.system: {kit.spec.system}",
            file=scenario.source_file,
            field="policy.source.system",
        )
    policy_file = scenario.policy_file
    assert policy_file is not None  # a source policy on a url SUT always names its file
    if not applies(kit, policy_file):
        raise BadInput(
            f"the kit does not apply the policy file {policy_file.name}: name it in "
            "kustomization.yaml (resources, or a configMapGenerator's files) or in an install "
            "step, so that what is verified is what is deployed",
            file=kit.file,
        )
    entry_host_port(scenario)
    return kit


def entry_host_port(scenario: Scenario) -> int:
    """The host port of the scenario's ``sut.url`` (``http://127.0.0.1:PORT``)."""
    url = getattr(scenario.sut, "url", None)
    parts = urlsplit(url) if isinstance(url, str) else None
    if (
        parts is None
        or scenario.sut.kind != "url"
        or parts.scheme != "http"
        or parts.hostname != "127.0.0.1"
        or parts.port is None
    ):
        raise BadInput(
            "a kit scenario's SUT is {kind: url, url: http://127.0.0.1:PORT}: kind maps the "
            "kit's NodePort to that port on the host",
            file=scenario.source_file,
            field="sut.url",
        )
    return parts.port


def applies(kit: Kit, policy_file: Path) -> bool:
    """Whether the kit applies ``policy_file`` (kustomization resources/files, install steps)."""
    target = policy_file.resolve()
    kustomization = kit.dir / "kustomization.yaml"
    named: list[str] = []
    if kustomization.is_file():
        docs = parse_yaml_documents(read_text(kustomization), file=kustomization)
        data = docs[0][0] if docs and isinstance(docs[0][0], dict) else {}
        named += [str(r) for r in data.get("resources", [])]
        for generator in [*data.get("configMapGenerator", []), *data.get("secretGenerator", [])]:
            named += [str(f).split("=", 1)[-1] for f in generator.get("files", [])]
    for step in kit.spec.install:
        named += [p for p in kit.argv(step) if p.startswith(str(kit.dir))]
    return any((kit.dir / name).resolve() == target for name in named)
