"""The container images of retry-harness: their names, how they are built, and checks before a run.

Three images, tagged with the package version:

- ``BACKEND_IMAGE`` (``retry-harness-backend``): ``fake_backends`` under gunicorn as user 10001,
  a ``HEALTHCHECK`` on the admin port, the fault profile from environment variables
  (``FAULT_PROFILE``, ``FAILURE_RATE``, ...; see ``fake_backends.settings``). The harness
  sources, the shipped locustfiles and Locust are in it too, so the same image runs the urllib3
  client SUT and Locust workers (``--entrypoint python -m locust``).
- ``SUT_IMAGE`` (``retry-harness-sut``): Debian's HAProxy, nginx-light and Caddy.
- ``PROMETHEUS_IMAGE`` (``retry-harness-prometheus``): Debian's ``prometheus`` (2.42 on bookworm)
  as user ``nobody``, the run's Prometheus in a kind cluster (harness/telemetry/in_cluster.py).

Two ways to get a base (``build_images(offline=...)``):

- default: the official ``python:3.11-slim-bookworm`` and ``debian:bookworm-slim`` images, pulled
  from a registry;
- offline (``nox -s image -- --offline-base``): bases made from the machine's apt sources with
  ``mmdebstrap`` and ``docker import`` (https://manpages.debian.org/bookworm/mmdebstrap/mmdebstrap.1.en.html,
  https://docs.docker.com/reference/cli/docker/image/import/), kept as ``OFFLINE_BASE`` tags.

In both modes the Python packages come from wheels that ``pip download`` fetches on the host,
pinned to the versions installed here, and the backend build runs with ``--network none``.

Everything is driven through the docker SDK (https://docker-py.readthedocs.io/). A missing docker,
a daemon that does not answer or a missing image is a ``BadInput`` naming the command that fixes
it, raised before anything is started. A ``pip download`` or ``mmdebstrap`` that fails or outlives
its bound is a ``RunFailed`` in one line (the environment failed, not the input).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import __version__
from harness.errors import BadInput, RunFailed
from harness.processes.tools import run_tool

if TYPE_CHECKING:
    import docker

BACKEND_IMAGE = "retry-harness-backend"
SUT_IMAGE = "retry-harness-sut"
PROMETHEUS_IMAGE = "retry-harness-prometheus"
OFFLINE_BASE = "retry-harness-base"
# The package version; RETRY_HARNESS_IMAGE_TAG picks another build of the images.
IMAGE_TAG = os.environ.get("RETRY_HARNESS_IMAGE_TAG") or __version__
BACKEND_TAG = IMAGE_TAG

DEFAULT_BASES = {
    BACKEND_IMAGE: "python:3.11-slim-bookworm",
    SUT_IMAGE: "debian:bookworm-slim",
    PROMETHEUS_IMAGE: "debian:bookworm-slim",
}
# One offline base for both images (one mmdebstrap run, the slow step of a cold build: it costs
# the backend image the SUT packages, about 45 MB, on offline builds only).
OFFLINE_BASE_REF = f"{OFFLINE_BASE}:bookworm"
# Prometheus has a base of its own (its package and web assets are ~100 MB the others do not need)
OFFLINE_PROMETHEUS_BASE_REF = f"{OFFLINE_BASE}:bookworm-prometheus"
OFFLINE_BASES = {
    BACKEND_IMAGE: OFFLINE_BASE_REF,
    SUT_IMAGE: OFFLINE_BASE_REF,
    PROMETHEUS_IMAGE: OFFLINE_PROMETHEUS_BASE_REF,
}
OFFLINE_PACKAGES = (
    "python3",
    "python3-venv",
    "passwd",
    # the SUTs (the packages .ci/bootstrap installs on the host)
    "haproxy",
    "nginx-light",
    "caddy",
    "ca-certificates",
)
OFFLINE_BASE_PACKAGES = {
    OFFLINE_BASE_REF: OFFLINE_PACKAGES,
    OFFLINE_PROMETHEUS_BASE_REF: ("prometheus", "ca-certificates"),
}
_MMDEBSTRAP_SLIM = (
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
    "--dpkgopt=path-include=/usr/share/locale/locale.alias",
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
)

# What the backend, the urllib3 client SUT and Locust import at run time; pinned to the
# installed versions.
BACKEND_DISTRIBUTIONS = (
    "flask",
    "gunicorn",
    "pydantic",
    "pydantic-settings",
    "orjson",
    "prometheus-client",
    "redis",
    "requests",
    "urllib3",
    "pyyaml",
    "tenacity",  # fake_backends.admin waits for journal records with it
    "locust",  # the same image runs Locust workers
)
# Wheels some pinned distribution needs only on an older Python than the host's (the offline base
# has Debian's Python 3.11.2: redis wants async-timeout below 3.11.3).
EXTRA_WHEELS = ("async-timeout>=4.0.3",)
_PACKAGES = ("fake_backends", "harness", "scenarios")  # copied into /app of the backend image

LABEL = "io.retry-harness"  # every image, container, network and volume the harness makes
HERE = Path(__file__).resolve().parent / "image"
START_DOCKERD = ".ci/dockerd start (or: dockerd >/var/log/dockerd.log 2>&1 &)"

Log = Callable[[str], None]
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def image_ref(name: str) -> str:
    """``name:tag`` of one of our images at this package version."""
    return f"{name}:{IMAGE_TAG}"


def backend_image_ref() -> str:
    """``retry-harness-backend:<package version>``: never ``latest`` (kind would try to pull it)."""
    return image_ref(BACKEND_IMAGE)


def docker_client() -> docker.DockerClient:
    """A client of the local docker daemon, or ``BadInput`` with the command that fixes it."""
    try:
        import docker
        import docker.errors
    except ImportError:
        raise BadInput(
            "the docker SDK for Python is missing; install it with: pip install docker",
            field="--substrate",
        ) from None
    if shutil.which("dockerd") is None and shutil.which("docker") is None:
        raise BadInput(
            "docker is not installed; install it with: apt-get install -y docker.io",
            field="--substrate",
        )
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except (docker.errors.DockerException, OSError, ValueError) as exc:  # requests' errors too
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BadInput(
            f"the docker daemon does not answer ({reason[:120]}); start it with: {START_DOCKERD}",
            field="--substrate",
        ) from None
    return client


def require_images(client: docker.DockerClient, names: Sequence[str]) -> None:
    """``BadInput`` naming the build command when one of our images is not in the daemon."""
    import docker.errors

    for name in names:
        try:
            client.images.get(image_ref(name))
        except docker.errors.ImageNotFound:
            raise BadInput(
                f"image {image_ref(name)} not found; build it with: nox -s image -- --offline-base "
                "(or without --offline-base where a registry is reachable)",
                field="--substrate",
            ) from None


# -- building ---------------------------------------------------------------------------------


def _pins() -> list[str]:
    pins = []
    for dist in BACKEND_DISTRIBUTIONS:
        try:
            pins.append(f"{dist}=={importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            continue  # not a dependency of this version of the package
    return pins


def _download_wheels(dest: Path, pins: list[str], log: Log) -> None:
    log(f"downloading wheels on the host: {', '.join(pins)}")
    done = run_tool(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--only-binary=:all:",
            "-d",
            str(dest),
            *pins,
            *EXTRA_WHEELS,
        ],
        timeout_s=PIP_DOWNLOAD_TIMEOUT_S,
        what="pip download of the backend's wheels",
    )
    if done.returncode != 0:  # the index is unreachable or lacks a pin: the environment
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        raise RunFailed(f"pip download of the backend's wheels failed: {tail}")


PIP_DOWNLOAD_TIMEOUT_S = 900.0
"""Bound of the host's ``pip download`` of the backend's wheels (a slow index: minutes)."""
MMDEBSTRAP_TIMEOUT_S = 1800.0
"""Bound of one ``mmdebstrap`` run (a Debian minbase from the apt sources: minutes)."""

SOURCES_LABEL = f"{LABEL}.sources"  # the hash of the packages copied into the backend image


def _package_roots() -> dict[str, Path]:
    import importlib

    return {name: Path(importlib.import_module(name).__file__ or "").parent for name in _PACKAGES}


def image_files(roots: dict[str, Path] | None = None) -> list[tuple[str, Path]]:
    """What the backend image carries, as (path under /app, file on the host), sorted: every
    file of ``fake_backends`` and ``harness`` (code and their data), and only the Python files
    of ``scenarios`` (the locustfiles and their support, what Locust in the image runs): a
    user's scenario, config or notes under scenarios/ stay out of the image and of its hash."""
    out: list[tuple[str, Path]] = []
    for name, root in (roots or _package_roots()).items():
        for file in sorted(root.rglob("*")):
            if not file.is_file() or "__pycache__" in file.parts or file.suffix == ".pyc":
                continue
            if name == "scenarios" and file.suffix != ".py":
                continue
            out.append((f"{name}/{file.relative_to(root).as_posix()}", file))
    return sorted(out)


def sources_digest(roots: dict[str, Path] | None = None) -> str:
    """A hash of what :func:`image_files` puts into the backend image (as installed here)."""
    import hashlib

    digest = hashlib.sha256()
    for rel, file in image_files(roots):
        digest.update(rel.encode() + b"\0")
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def stale_backend_image(client: docker.DockerClient) -> str | None:
    """A warning when the backend image was built from other sources than the running ones."""
    labels = client.images.get(image_ref(BACKEND_IMAGE)).labels or {}
    built = labels.get(SOURCES_LABEL)
    if built is None or built == sources_digest():
        return None
    return (
        f"{image_ref(BACKEND_IMAGE)} was built from other sources than this harness (its "
        "backends and urllib3 client SUT run the code in the image); rebuild it with: "
        "nox -s image -- --offline-base"
    )


def _copy_packages(dest: Path) -> None:
    """Copy :func:`image_files` under ``dest`` (the image's /app)."""
    for rel, file in image_files():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(file, target)


def _offline_base(client: docker.DockerClient, image: str, rebuild: bool, log: Log) -> str:
    """The offline base of ``image``, made with mmdebstrap + docker import unless present."""
    import docker.errors

    ref = OFFLINE_BASES[image]
    if not rebuild:
        try:
            client.images.get(ref)
            log(f"offline base {ref} present (rebuild with --rebuild-base)")
            return ref
        except docker.errors.ImageNotFound:
            pass
    if shutil.which("mmdebstrap") is None:
        raise BadInput(
            "the offline base needs mmdebstrap; install it with: apt-get install -y mmdebstrap",
            field="--offline-base",
        )
    packages = ",".join(OFFLINE_BASE_PACKAGES[ref])
    with tempfile.TemporaryDirectory(prefix="retry-harness-rootfs-") as tmp:
        tar = Path(tmp) / "rootfs.tar"
        log(f"mmdebstrap: Debian bookworm minbase + {packages} (from this machine's apt sources)")
        t0 = time.monotonic()
        done = run_tool(
            [
                "mmdebstrap",
                "--quiet",
                "--variant=minbase",
                f"--include={packages}",
                *_MMDEBSTRAP_SLIM,
                "bookworm",
                str(tar),
            ],
            timeout_s=MMDEBSTRAP_TIMEOUT_S,
            what="mmdebstrap",
        )
        if done.returncode != 0:  # apt sources unreachable, disk full: the environment
            tail = " | ".join(done.stderr.strip().splitlines()[-3:])
            raise RunFailed(f"mmdebstrap failed: {tail}")
        log(f"rootfs made in {time.monotonic() - t0:.1f} s; docker import as {ref}")
        repo, tag = ref.split(":")
        client.api.import_image_from_file(
            str(tar),
            repository=repo,
            tag=tag,
            changes=[
                "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                f"LABEL {LABEL}=base",
                'CMD ["/bin/bash"]',
            ],
        )
    return ref


def _build(
    client: docker.DockerClient,
    context: Path,
    dockerfile: str,
    name: str,
    base: str,
    *,
    network: str | None,
    log: Log,
    labels: dict[str, str] | None = None,
) -> Any:
    import docker.errors

    log(f"building {image_ref(name)} from {base}" + (f" (network {network})" if network else ""))
    t0 = time.monotonic()
    try:
        image, _ = client.images.build(
            path=str(context),
            dockerfile=dockerfile,
            tag=image_ref(name),
            buildargs={"BASE": base, "VERSION": IMAGE_TAG},
            labels={LABEL: name, **(labels or {})},
            network_mode=network,
            rm=True,
            forcerm=True,
            pull=False,
        )
    except docker.errors.BuildError as exc:
        lines = [
            _ANSI.sub("", str(c.get("stream", c.get("error", "")))).strip() for c in exc.build_log
        ]
        tail = " | ".join([line for line in lines if line][-3:])
        hint = ""
        if "pull access denied" in tail or "no such host" in tail or "not found" in tail:
            hint = "; without a registry build with: nox -s image -- --offline-base"
        raise BadInput(f"building {image_ref(name)} failed: {tail}{hint}", field="image") from None
    except docker.errors.APIError as exc:
        raise BadInput(
            f"building {image_ref(name)} failed: {exc.explanation or exc}"
            + "; without a registry build with: nox -s image -- --offline-base",
            field="image",
        ) from None
    log(f"built {image_ref(name)} in {time.monotonic() - t0:.1f} s")
    return image


def build_images(
    *,
    offline: bool,
    rebuild_base: bool = False,
    log: Log | None = None,
    images: Sequence[str] = (BACKEND_IMAGE, SUT_IMAGE, PROMETHEUS_IMAGE),
) -> dict[str, int]:
    """Build our images; returns each image's size in bytes. Raises ``BadInput`` on failure."""
    say = log or (lambda text: None)
    client = docker_client()
    sizes: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="retry-harness-image-") as tmp:
        context = Path(tmp)
        for file in (
            "Dockerfile.backend",
            "Dockerfile.sut",
            "Dockerfile.prometheus",
            "healthcheck.py",
        ):
            shutil.copyfile(HERE / file, context / file)
        made: set[str] = set()  # offline bases made in this build (each only once)
        for name in images:
            base = DEFAULT_BASES[name]
            if offline:
                again = rebuild_base and OFFLINE_BASES[name] not in made
                base = _offline_base(client, name, again, say)
                made.add(base)
            if name == BACKEND_IMAGE:
                pins = _pins()
                (context / "requirements.txt").write_text("\n".join(pins) + "\n")
                _download_wheels(context / "wheels", pins, say)
                _copy_packages(context / "app")
                image = _build(
                    client,
                    context,
                    "Dockerfile.backend",
                    name,
                    base,
                    network="none",
                    log=say,
                    labels={SOURCES_LABEL: sources_digest()},
                )
            else:
                # Offline: the base already holds the SUTs (or Prometheus) and nothing is
                # fetched. From a registry base, apt needs the network.
                image = _build(
                    client,
                    context,
                    "Dockerfile.prometheus" if name == PROMETHEUS_IMAGE else "Dockerfile.sut",
                    name,
                    base,
                    network="none" if offline else None,
                    log=say,
                )
            sizes[name] = int(image.attrs.get("Size", 0))
    return sizes


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m harness.substrates.images [--offline-base] [--rebuild-base]`` (nox -s image)."""
    p = argparse.ArgumentParser(
        prog="nox -s image --", description="Build the retry-harness images."
    )
    p.add_argument(
        "--offline-base",
        action="store_true",
        help="base images from this machine's apt sources (mmdebstrap); no registry",
    )
    p.add_argument("--rebuild-base", action="store_true", help="make the offline bases again")
    args = p.parse_args(argv)

    def log(text: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} image: {text}", file=sys.stderr, flush=True)

    t0 = time.monotonic()
    try:
        sizes = build_images(offline=args.offline_base, rebuild_base=args.rebuild_base, log=log)
    except (BadInput, RunFailed) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name, size in sizes.items():
        print(f"{image_ref(name)}: {size / 1e6:.0f} MB")
    print(f"built in {time.monotonic() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
