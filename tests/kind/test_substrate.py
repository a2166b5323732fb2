"""The kind substrate's command lines, cluster config and cleanup order, against pytest-kind's
real ``KindCluster`` driving recording stand-ins of kind, kubectl and helm (tests/kind/fake_tools).
No cluster exists here; what kind and the cluster would do is not tested by these."""

from __future__ import annotations

import http.server
import json
import shutil
import subprocess
import sys
import threading
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from fake_backends.ports import free_port
from harness.errors import BadInput, RunFailed
from harness.scenario import load_scenario
from harness.substrates.images import PROMETHEUS_IMAGE, backend_image_ref, image_ref
from harness.substrates.kind import KindSubstrate
from harness.substrates.kind_kit import kit_of
from harness.substrates.kind_render import KITS_ROOT, NAMESPACE
from harness.substrates.kind_tools import require_tools
from tests.kind import fake_tools


@pytest.fixture
def sut_port() -> Iterator[int]:
    """Something answering HTTP on 127.0.0.1, standing in for the SUT's NodePort."""
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield port
    server.shutdown()
    server.server_close()


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fake tools first on PATH; returns the call log."""
    fake_tools.install(tmp_path / "bin")
    log = tmp_path / "calls.ndjson"
    (tmp_path / "state").mkdir()
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{Path(sys.executable).parent}:/usr/bin:/bin")
    monkeypatch.setenv("FAKE_TOOLS_LOG", str(log))
    monkeypatch.setenv("FAKE_TOOLS_STATE", str(tmp_path / "state"))
    for var in ("KIND", "KUBECTL", "HELM", "DOCKER"):
        monkeypatch.delenv(var, raising=False)

    def no_download(*args: object, **kw: object) -> None:
        raise AssertionError(f"KindCluster tried to download: {args}")

    import pytest_kind.cluster

    monkeypatch.setattr(pytest_kind.cluster, "requests", types.SimpleNamespace(get=no_download))
    return log


def _calls(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _argv(call: dict[str, Any]) -> str:
    return " ".join([call["tool"], *call["argv"]])


def _kit_copy(tmp_path: Path, port: int, name: str = "envoy_gateway") -> Path:
    kits = tmp_path / "kits"
    shutil.copytree(KITS_ROOT, kits)
    scenario = kits / name / "scenario.yaml"
    text = scenario.read_text().replace("http://127.0.0.1:30080", f"http://127.0.0.1:{port}")
    scenario.write_text(text.replace("ready_timeout_s: 120", "ready_timeout_s: 5"))
    return scenario


def _substrate(path: Path, workdir: Path, **kw: Any) -> KindSubstrate:
    scenario = load_scenario(path)
    kit = kit_of(scenario)
    tools = require_tools([*kit.tools(), "docker"])
    return KindSubstrate(scenario, workdir, kit=kit, tools=tools, **kw)


def test_new_cluster_command_lines_and_cleanup(env: Path, tmp_path: Path, sut_port: int) -> None:
    path = _kit_copy(tmp_path, sut_port)
    work = tmp_path / "run"
    with _substrate(path, work, cluster_name="rh-test") as sub:
        assert sub.created_cluster
        kubeconfig = str(work / "kubeconfig")
        calls = _calls(env)
    lines = [_argv(c) for c in calls]
    config = work / "manifests" / "kind-cluster.yaml"
    assert lines[:6] == [
        "kind get clusters",
        "kind get clusters",  # KindCluster.create checks again before creating
        f"kind create cluster --name=rh-test --kubeconfig={kubeconfig} --config {config}",
        "kubectl wait --for=condition=Ready nodes --all --timeout=300s",
        f"kind load docker-image --name rh-test {backend_image_ref()}",
        # the kit scenario has telemetry: the run's Prometheus runs as a pod of our image
        f"kind load docker-image --name rh-test {image_ref(PROMETHEUS_IMAGE)}",
    ]
    assert lines[6].startswith("helm upgrade --install eg oci://docker.io/envoyproxy/gateway-helm")
    apply = lines.index(f"kubectl apply --server-side --force-conflicts -k {work / 'manifests'}")
    assert apply > 6
    assert lines[apply + 1 : apply + 4] == [
        f"kubectl rollout status -n {NAMESPACE} deployment/counter --timeout=300s",
        f"kubectl rollout status -n {NAMESPACE} deployment/backend-r0 --timeout=300s",
        f"kubectl rollout status -n {NAMESPACE} deployment/backend-r1 --timeout=300s",
    ]
    # every kubectl and helm call targets the run's own kubeconfig, never the user's
    assert {c["kubeconfig"] for c in calls if c["tool"] in ("kubectl", "helm")} == {kubeconfig}
    after = [_argv(c) for c in _calls(env)][len(lines) :]
    assert after == [f"kind delete cluster --name=rh-test --kubeconfig={kubeconfig}"]
    assert sub.teardown == ["kind delete cluster"]
    assert not (tmp_path / ".pytest-kind").exists()  # KindCluster's folder is in the run folder
    assert (work / ".pytest-kind" / "rh-test").is_dir()


def test_reused_cluster_is_kept_and_only_the_runs_objects_are_deleted(
    env: Path, tmp_path: Path, sut_port: int
) -> None:
    (tmp_path / "state" / "clusters").write_text("rh-test\n")
    path = _kit_copy(tmp_path, sut_port)
    work = tmp_path / "run"
    with _substrate(path, work, cluster_name="rh-test") as sub:
        assert not sub.created_cluster
    lines = [_argv(c) for c in _calls(env)]
    assert lines[1] == f"kind export kubeconfig --name rh-test --kubeconfig {work / 'kubeconfig'}"
    assert not any(line.startswith("kind create") for line in lines)
    assert lines[-1] == (
        f"kubectl delete -k {work / 'manifests'} --ignore-not-found --wait=true --timeout=120s"
    )
    assert not any(line.startswith("kind delete") for line in lines)
    assert sub.teardown == ["kubectl delete -k"]


def test_keep_cluster_keeps_a_new_cluster(env: Path, tmp_path: Path, sut_port: int) -> None:
    path = _kit_copy(tmp_path, sut_port)
    with _substrate(path, tmp_path / "run", cluster_name="rh-test", keep_cluster=True) as sub:
        pass
    lines = [_argv(c) for c in _calls(env)]
    assert not any(line.startswith("kind delete") for line in lines)
    assert lines[-1].startswith("kubectl delete -k ")
    assert sub.teardown == ["kubectl delete -k"]
    assert "rh-test" in (tmp_path / "state" / "clusters").read_text()


def test_a_failed_install_step_is_one_line_and_the_cluster_is_deleted(
    env: Path, tmp_path: Path, sut_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_TOOLS_FAIL", "helm upgrade")
    path = _kit_copy(tmp_path, sut_port)
    with (
        pytest.raises(RunFailed) as info,
        _substrate(path, tmp_path / "run", cluster_name="rh-test"),
    ):
        raise AssertionError("must not get here")
    message = str(info.value)
    assert "\n" not in message
    assert "helm upgrade --install eg" in message and "simulated failure" in message
    lines = [_argv(c) for c in _calls(env)]
    assert lines[-1].startswith("kind delete cluster --name=rh-test")
    assert not any(" apply " in line for line in lines)


def test_interrupt_during_create_still_deletes_the_cluster(
    env: Path, tmp_path: Path, sut_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _kit_copy(tmp_path, sut_port)
    import pytest_kind.cluster

    real_create = pytest_kind.cluster.KindCluster.create

    def interrupted(self: Any, config_file: Any = None) -> None:
        real_create(self, config_file)
        raise KeyboardInterrupt

    monkeypatch.setattr(pytest_kind.cluster.KindCluster, "create", interrupted)
    with (
        pytest.raises(KeyboardInterrupt),
        _substrate(path, tmp_path / "run", cluster_name="rh-test"),
    ):
        pass
    lines = [_argv(c) for c in _calls(env)]
    assert lines[-1].startswith("kind delete cluster --name=rh-test")
    assert (tmp_path / "state" / "clusters").read_text().split() == []


def test_sut_that_never_answers_fails_after_its_ready_timeout(env: Path, tmp_path: Path) -> None:
    path = _kit_copy(tmp_path, free_port())
    never = r"did not answer on http://127\.0\.0\.1:\d+ within 5 s"
    with (
        pytest.raises(RunFailed, match=never),
        _substrate(path, tmp_path / "run", cluster_name="rh-test"),
    ):
        pass
    assert _argv(_calls(env)[-1]).startswith("kind delete cluster")


def test_pause_chaos_is_refused_before_anything_starts(env: Path, tmp_path: Path) -> None:
    path = _kit_copy(tmp_path, 30080)
    data = yaml.safe_load(path.read_text())
    data["chaos"] = [{"at_s": 1, "action": "pause", "replica": 0, "duration_s": 1}]
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(BadInput, match=r"chaos\[0\]\.action: pause has no Kubernetes equivalent"):
        _substrate(path, tmp_path / "run")
    assert _calls(env) == []


def test_tools_come_from_env_vars_as_absolute_paths(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "elsewhere"
    fake_tools.install(other, ("kind",))
    monkeypatch.setenv("KIND", str(other / "kind"))
    tools = require_tools(["helm"])
    assert tools.kind == (other / "kind").resolve() and tools.kind.is_absolute()
    assert tools.kubectl == (tmp_path / "bin" / "kubectl").resolve()
    assert tools.path("helm") == (tmp_path / "bin" / "helm").resolve()


def _cli(*args: str, path_env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args],
        capture_output=True,
        text=True,
        env={"PATH": path_env, "HOME": "/tmp"},
        timeout=60,
    )


@pytest.mark.parametrize("command", ["run", "conformance"])
def test_refusal_without_kind_is_one_line_exit_2(tmp_path: Path, command: str) -> None:
    target = [str(KITS_ROOT / "envoy_gateway" / "scenario.yaml")] if command == "run" else []
    done = _cli(command, *target, "--substrate", "kind", path_env=str(tmp_path))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("error: --substrate kind: kind not on PATH (nor $KIND): ")
    assert "go install sigs.k8s.io/kind@" in done.stderr


def test_missing_helm_is_named_too(env: Path, tmp_path: Path) -> None:
    (tmp_path / "bin" / "helm").unlink()
    done = _cli(
        "run",
        str(KITS_ROOT / "istio" / "scenario.yaml"),
        "--substrate",
        "kind",
        path_env=f"{tmp_path / 'bin'}:/usr/bin:/bin",
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "helm not on PATH (nor $HELM)" in done.stderr


def test_render_mode_needs_no_tools(tmp_path: Path) -> None:
    out = tmp_path / "rendered"
    done = _cli(
        "run",
        str(KITS_ROOT / "traefik" / "scenario.yaml"),
        "--substrate",
        "kind",
        "--render",
        str(out),
        path_env=str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    assert (out / "kind-cluster.yaml").is_file() and (out / "kustomization.yaml").is_file()
    assert (out / "install.sh").is_file() and (out / "locust" / "kustomization.yaml").is_file()


def test_a_kit_scenario_on_the_local_substrate_is_refused(tmp_path: Path) -> None:
    done = _cli("run", str(KITS_ROOT / "kong" / "scenario.yaml"), path_env=str(tmp_path))
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "run it with --substrate kind" in done.stderr


def test_kill_is_scale_to_zero_and_pod_deletion_and_its_undo_scales_back(
    env: Path, tmp_path: Path, sut_port: int
) -> None:
    path = _kit_copy(tmp_path, sut_port)
    with _substrate(path, tmp_path / "run", cluster_name="rh-test") as sub:
        before = len(_calls(env))
        sub.kill_replica(1)
        (window,) = sub._down
        assert window.replica == "r1" and window.kind == "kill" and window.end_us is None
        sub.restart_replica(1)
        lines = [_argv(c) for c in _calls(env)][before:]
    assert lines == [
        f"kubectl scale -n {NAMESPACE} deployment/backend-r1 --replicas=0",
        f"kubectl delete pod -n {NAMESPACE} -l retry-harness/replica=r1 --grace-period=0 "
        "--force --wait=false",
        f"kubectl scale -n {NAMESPACE} deployment/backend-r1 --replicas=1",
        f"kubectl rollout status -n {NAMESPACE} deployment/backend-r1 --timeout=120s",
    ]
    (window,) = sub._down
    assert window.end_us is not None and window.end_us >= window.start_us


def test_locust_workers_are_refused_on_kind_before_anything_starts(
    env: Path, tmp_path: Path
) -> None:
    path = _kit_copy(tmp_path, 30080)
    data = yaml.safe_load(path.read_text())
    data["load"]["workers"] = 2
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(BadInput, match=r"load\.workers: Locust workers are not supported"):
        _substrate(path, tmp_path / "run")
    assert _calls(env) == []


def test_a_failed_cleanup_is_logged_with_the_command_that_finishes_it(
    env: Path, tmp_path: Path, sut_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _kit_copy(tmp_path, sut_port)
    said: list[str] = []
    sub = _substrate(path, tmp_path / "run", cluster_name="rh-test", log=said.append)
    with sub:
        monkeypatch.setenv("FAKE_TOOLS_FAIL", "kind delete")
    assert sub.teardown[0].startswith("kind delete cluster FAILED")
    assert said[-1].startswith("cleanup: kind delete cluster failed")
    assert said[-1].endswith("finish it with: kind delete cluster --name rh-test")


@pytest.mark.parametrize(("given", "expected"), [(None, 2), ("3", 3)])
def test_render_takes_workers_and_keeps_the_admin_token_private(
    tmp_path: Path, given: str | None, expected: int
) -> None:
    out = tmp_path / "rendered"
    extra = ["--workers", given] if given else []
    done = _cli(
        "run",
        str(KITS_ROOT / "traefik" / "scenario.yaml"),
        "--substrate",
        "kind",
        "--render",
        str(out),
        *extra,
        path_env=str(tmp_path),
    )
    assert done.returncode == 0, done.stderr
    patches = [
        yaml.safe_load(p["patch"])
        for p in yaml.safe_load((out / "locust" / "kustomization.yaml").read_text())["patches"]
    ]
    ops = [op for patch in patches for op in patch]
    master_args = next(op["value"] for op in ops if op["path"].endswith("/args"))
    assert master_args[master_args.index("--expect-workers") + 1] == str(expected)
    assert {"op": "replace", "path": "/spec/replicas", "value": expected} in ops
    assert (out / "harness" / "admin-token").stat().st_mode & 0o777 == 0o600


def test_render_refuses_zero_workers(tmp_path: Path) -> None:
    done = _cli(
        "run",
        str(KITS_ROOT / "traefik" / "scenario.yaml"),
        "--substrate",
        "kind",
        "--render",
        str(tmp_path / "rendered"),
        "--workers",
        "0",
        path_env=str(tmp_path),
    )
    assert done.returncode == 2 and done.stderr.count("\n") == 1
    assert "--workers" in done.stderr
