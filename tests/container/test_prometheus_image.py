"""The retry-harness-prometheus image (Debian's prometheus) runs the config the kind substrate
renders, scrapes a backend container with the admin token, and answers queries.

This is the in-cluster Prometheus of harness/telemetry/in_cluster.py without the cluster: the
rendered ``prometheus.yml`` and ``alert-rules.yaml`` of the envoy_gateway kit, mounted where the
pod mounts its ConfigMap, with the backends job pointed at a backend container on a docker
network of the test's own (the Service DNS names exist only in a cluster). The ``sut`` job's
DNS name does not resolve here, so that job has no target.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from harness.substrates.docker import WORKDIR_LABEL, _published
from harness.substrates.images import BACKEND_IMAGE, PROMETHEUS_IMAGE, image_ref
from harness.telemetry.in_cluster import RULES_FILE, TOKEN_FILE
from harness.telemetry.prometheus import PrometheusApi
from tests.kind.conftest import render_kit

TOKEN = "prom-test-token"
REQUESTS = 25


def _need_images(client: Any) -> None:
    import docker.errors

    for name in (PROMETHEUS_IMAGE, BACKEND_IMAGE):
        try:
            client.images.get(image_ref(name))
        except docker.errors.ImageNotFound:
            pytest.skip(f"image {image_ref(name)} missing: nox -s image -- --offline-base")


def _wait(what: str, check: Any, timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (requests.RequestException, KeyError, IndexError, ValueError):
            pass
        time.sleep(0.5)
    raise AssertionError(f"{what} not within {timeout_s:g} s (last: {last!r})")


def test_prometheus_image_scrapes_a_backend_and_answers(docker_client: Any, tmp_path: Path) -> None:
    _need_images(docker_client)
    labels = {WORKDIR_LABEL: str(tmp_path)}  # removed by the container tests' cleanup fixture
    rendered = render_kit("envoy_gateway", tmp_path / "out").root / "prometheus"
    config = yaml.safe_load((rendered / "prometheus.yml").read_text())
    backends = next(j for j in config["scrape_configs"] if j["job_name"] == "backends")
    backends["static_configs"] = [{"targets": ["backend:9001"]}]
    mounted = tmp_path / "etc-prometheus"
    mounted.mkdir()
    (mounted / "prometheus.yml").write_text(yaml.safe_dump(config))
    (mounted / "alert-rules.yaml").write_text((rendered / "alert-rules.yaml").read_text())
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "token").write_text(TOKEN)
    for path in (mounted, secret, *mounted.iterdir(), *secret.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)  # read by the image's user nobody

    network = docker_client.networks.create(f"rh-prom-{tmp_path.name[-20:]}", labels=labels)
    backend = docker_client.containers.run(
        image_ref(BACKEND_IMAGE),
        command=["--host", "0.0.0.0", "--port", "8000", "--admin-port", "9001", "--workers", "1"],
        environment={"CHAOS_ADMIN_TOKEN": TOKEN, "FAULT_PROFILE": '{"failure_rate": 0.0}'},
        network=network.name,
        hostname="backend",
        name=f"rh-prom-backend-{tmp_path.name[-20:]}",
        ports={"8000/tcp": ("127.0.0.1", None), "9001/tcp": ("127.0.0.1", None)},
        labels=labels,
        detach=True,
    )
    prometheus = docker_client.containers.run(
        image_ref(PROMETHEUS_IMAGE),
        network=network.name,
        name=f"rh-prom-{tmp_path.name[-20:]}",
        ports={"9090/tcp": ("127.0.0.1", None)},
        volumes={
            str(mounted): {"bind": str(Path(RULES_FILE).parent), "mode": "ro"},
            str(secret): {"bind": str(Path(TOKEN_FILE).parent), "mode": "ro"},
        },
        labels=labels,
        detach=True,
    )
    data = f"http://127.0.0.1:{_published(backend, 8000)}"
    web = f"http://127.0.0.1:{_published(prometheus, 9090)}"
    _wait("the backend answering", lambda: requests.get(f"{data}/", timeout=2).status_code == 200)
    _wait("Prometheus ready", lambda: requests.get(f"{web}/-/ready", timeout=2).ok)
    api = PrometheusApi(web)
    assert api.wait_for_scrape_after("backends", 1, time.time(), 60), prometheus.logs()[-2000:]
    before = api.scalar("sum(fake_backend_attempts_total)", time.time()) or 0.0
    with requests.Session() as session:
        for i in range(REQUESTS):
            session.get(f"{data}/t", headers={"X-Request-ID": f"prom-{i}"}, timeout=5)
    sent = time.time()
    assert api.wait_for_scrape_after("backends", 1, sent, 60)
    after = api.scalar("sum(fake_backend_attempts_total)", time.time())
    assert after == before + REQUESTS, (before, after)
    # the user's rules are loaded from the mounted ConfigMap path
    groups = api.rules()
    assert [r["name"] for g in groups for r in g["rules"]] == ["HighRetryRate"]
    # the scrape authenticated with the mounted token: without it the admin port refuses
    admin = f"http://127.0.0.1:{_published(backend, 9001)}/metrics"
    assert requests.get(admin, timeout=5).status_code == 401
    assert api.instant('up{job="backends"}', time.time())[0]["value"][1] == "1"
