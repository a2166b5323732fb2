"""Container tests: real dockerd, real images (``nox -s image -- --offline-base``).

Skipped, with the reason and the command that fixes it, when docker or the images are missing.
Every test removes what its run left (by the run folder label), even when it fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.errors import BadInput


def _client_or_skip() -> Any:
    from harness.substrates.docker import check_docker
    from harness.substrates.images import docker_client

    try:
        check_docker()
    except BadInput as exc:
        pytest.skip(f"docker substrate unavailable: {exc}")
    return docker_client()


@pytest.fixture(scope="session")
def docker_client() -> Any:
    return _client_or_skip()


def objects_of(client: Any, folder: Path) -> list[str]:
    """Names of containers, networks and volumes whose run folder is under ``folder``."""
    from harness.substrates.docker import WORKDIR_LABEL

    found: list[str] = []
    for c in client.containers.list(all=True, filters={"label": WORKDIR_LABEL}):
        if c.labels.get(WORKDIR_LABEL, "").startswith(str(folder)):
            found.append(f"container {c.name} ({c.status})")
    for n in client.networks.list(filters={"label": WORKDIR_LABEL}):
        if n.attrs.get("Labels", {}).get(WORKDIR_LABEL, "").startswith(str(folder)):
            found.append(f"network {n.name}")
    for v in client.volumes.list(filters={"label": WORKDIR_LABEL}):
        if (v.attrs.get("Labels") or {}).get(WORKDIR_LABEL, "").startswith(str(folder)):
            found.append(f"volume {v.name}")
    return found


@pytest.fixture(autouse=True)
def _no_leftovers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    yield
    if "docker_client" not in request.fixturenames:
        return
    client = request.getfixturevalue("docker_client")
    from harness.substrates.docker import WORKDIR_LABEL

    for c in client.containers.list(all=True, filters={"label": WORKDIR_LABEL}):
        if c.labels.get(WORKDIR_LABEL, "").startswith(str(tmp_path)):
            c.remove(force=True)
    for n in client.networks.list(filters={"label": WORKDIR_LABEL}):
        if n.attrs.get("Labels", {}).get(WORKDIR_LABEL, "").startswith(str(tmp_path)):
            n.remove()
