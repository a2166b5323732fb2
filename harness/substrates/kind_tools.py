"""The programs the kind substrate drives, found without ever downloading anything.

``kind`` and ``kubectl`` come from ``$KIND`` / ``$KUBECTL`` (a path) or ``PATH``, and are handed
to pytest-kind's ``KindCluster`` as absolute, existing paths: given a path that does not exist,
``KindCluster`` downloads kind v0.17.0 / kubectl v1.25.3 from the internet (pytest-kind-ng 26.7.0,
``pytest_kind/cluster.py``, ``ensure_kind``/``ensure_kubectl``). A kit's install steps may also
need ``helm``; loading the backend image needs ``docker``. Anything missing is one line naming
the program and the command that installs it (exit status 2), before anything is started.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from harness.errors import BadInput

KIND_VERSION = "v0.30.0"
"""kind release the CI job installs (.ci/install-go-tools pins the same; its default node image
is pinned by digest in that release)."""

INSTALL_HINTS: dict[str, str] = {
    "kind": f"go install sigs.k8s.io/kind@{KIND_VERSION} (or: bash .ci/install-go-tools kind)",
    "kubectl": "see https://kubernetes.io/docs/tasks/tools/ (Debian: apt-get install kubectl "
    "from the Kubernetes apt repository)",
    "helm": "see https://helm.sh/docs/intro/install/",
    "docker": "apt-get install docker.io, and start dockerd",
}
ENV_VARS = {"kind": "KIND", "kubectl": "KUBECTL", "helm": "HELM", "docker": "DOCKER"}


@dataclass(frozen=True)
class Tools:
    """Absolute paths of the programs a kind run uses."""

    kind: Path
    kubectl: Path
    others: dict[str, Path]

    def path(self, name: str) -> Path:
        if name == "kind":
            return self.kind
        if name == "kubectl":
            return self.kubectl
        return self.others[name]


def find_tool(name: str, env: Mapping[str, str] | None = None) -> Path | None:
    """``$NAME`` (when set: must be an existing executable) else ``PATH``; absolute, or None."""
    env = os.environ if env is None else env
    var = ENV_VARS.get(name, name.upper())
    given = env.get(var)
    if given:
        found = shutil.which(given, path=env.get("PATH"))
        return Path(found).resolve() if found else None
    found = shutil.which(name, path=env.get("PATH"))
    return Path(found).resolve() if found else None


def missing_message(name: str) -> str:
    var = ENV_VARS.get(name, name.upper())
    return f"{name} not on PATH (nor ${var}): install it with {INSTALL_HINTS.get(name, name)}"


def require_tools(extra: Iterable[str] = (), env: Mapping[str, str] | None = None) -> Tools:
    """kind, kubectl and ``extra`` (e.g. helm, docker) or ``BadInput`` naming the first missing."""
    found: dict[str, Path] = {}
    for name in ["kind", "kubectl", *[e for e in extra if e not in ("kind", "kubectl")]]:
        path = find_tool(name, env)
        if path is None:
            raise BadInput(missing_message(name), field="--substrate kind")
        found[name] = path
    if importlib.util.find_spec("pytest_kind") is None:
        raise BadInput(
            "pytest-kind-ng is not installed: pip install 'retry-harness[kind]'",
            field="--substrate kind",
        )
    kind, kubectl = found.pop("kind"), found.pop("kubectl")
    return Tools(kind=kind, kubectl=kubectl, others=found)
