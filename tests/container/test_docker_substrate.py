"""The docker substrate end to end: a run gets the verdict the local substrate gets, chaos
through docker works, and a run leaves no container, network or volume behind."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.container.conftest import objects_of
from tests.integration.cli.helpers import run_cli, tiny_scenario, write_scenario

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _outcome(report_dir: Path) -> str:
    return str(json.loads((report_dir / "verdict.json").read_text())["outcome"])


def test_same_verdict_as_local_and_nothing_left(docker_client: Any, tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, tiny_scenario("docker-tiny"))
    local = run_cli("run", scenario, "--quiet", "--report-dir", tmp_path / "local", timeout=300)
    docker = run_cli(
        "run",
        scenario,
        "--quiet",
        "--substrate",
        "docker",
        "--report-dir",
        tmp_path / "docker",
        timeout=300,
    )
    assert local.returncode == 0, local.stderr
    assert docker.returncode == local.returncode, docker.stderr
    assert _outcome(tmp_path / "docker") == _outcome(tmp_path / "local") == "pass"
    run = tmp_path / "docker" / "run"
    traces = sum(1 for _ in (run / "client-records.ndjson").open())
    assert traces == 100
    assert objects_of(docker_client, tmp_path) == []


def test_kill_and_pause_through_docker(docker_client: Any, tmp_path: Path) -> None:
    """kill leaves the replica's address (the SUT's connections are refused, it retries on the
    other replica), pause freezes it for a while; every invariant still holds."""
    data = tiny_scenario(
        "docker-chaos",
        backends={
            "replicas": 2,
            "workers": 1,
            "profile": {"failure_rate": 0.2, "failure_status": {503: 1}},
        },
        load={"users": 4, "spawn_rate": 4, "duration_s": 5, "request_timeout_s": 10},
        chaos=[
            {"at_s": 1, "action": "pause", "replica": 0, "duration_s": 1},
            {"at_s": 2.5, "action": "kill", "replica": 1, "duration_s": 1.5},
        ],
    )
    scenario = write_scenario(tmp_path, data)
    done = run_cli(
        "run", scenario, "--quiet", "--substrate", "docker", "--report-dir", tmp_path / "r"
    )
    assert done.returncode in (0, 3), done.stdout + done.stderr
    notes = json.loads((tmp_path / "r" / "verdict.json").read_text())["notes"]
    chaos = [n for n in notes if n.startswith("chaos: t=")]
    assert len(chaos) == 4 and not any("FAILED" in n for n in chaos), chaos
    assert objects_of(docker_client, tmp_path) == []


def test_keep_leaves_the_run_up_and_says_how_to_remove_it(
    docker_client: Any, tmp_path: Path
) -> None:
    scenario = write_scenario(tmp_path, tiny_scenario("docker-keep"))
    done = run_cli("run", scenario, "--substrate", "docker", "--keep", "--report-dir", tmp_path)
    assert done.returncode == 0, done.stderr
    left = objects_of(docker_client, tmp_path)
    assert any(x.startswith("network") for x in left), left
    assert sum(x.startswith("container") for x in left) == 3, left  # infra, backend, SUT
    assert "docker rm -f" in done.stderr


def test_locust_workers_on_the_docker_substrate(docker_client: Any, tmp_path: Path) -> None:
    """A master and 2 workers against the SUT container: every client record reaches the oracle."""
    scenario = write_scenario(tmp_path, tiny_scenario("docker-workers"))
    done = run_cli(
        "run",
        scenario,
        "--quiet",
        "--substrate",
        "docker",
        "--workers",
        "2",
        "--report-dir",
        tmp_path / "r",
    )
    assert done.returncode == 0, done.stderr
    verdict = json.loads((tmp_path / "r" / "verdict.json").read_text())
    assert verdict["outcome"] == "pass"
    assert verdict["client_records"] == verdict["traces"] == 100
    lines = (tmp_path / "r" / "run" / "client-records.ndjson").read_text().splitlines()
    ids = [json.loads(line)["request_id"] for line in lines]
    assert len(set(ids)) == len(ids) == 100
    assert objects_of(docker_client, tmp_path) == []
