"""Docker missing, the daemon down, an image missing, a SUT that cannot run in a container:
exit 2, one line naming the fix, before anything is started (no run folder, no container)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.container.conftest import objects_of
from tests.integration.cli.helpers import REPO, error_line, tiny_scenario, write_scenario

pytestmark = pytest.mark.integration


def _run(scenario: Path, report: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "run",
            str(scenario),
            "--substrate",
            "docker",
            "--report-dir",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, **env},
    )


def test_docker_not_installed(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, tiny_scenario("bad"))
    done = _run(
        scenario,
        tmp_path / "r",
        PATH=str(Path(sys.executable).parent),
        DOCKER_HOST=f"unix://{tmp_path}/none.sock",
    )
    assert done.returncode == 2
    line = error_line(done)
    assert "docker is not installed" in line and "apt-get install -y docker.io" in line, line
    assert not (tmp_path / "r").exists()


def test_daemon_down(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, tiny_scenario("bad"))
    done = _run(scenario, tmp_path / "r", DOCKER_HOST=f"unix://{tmp_path}/none.sock")
    assert done.returncode == 2
    line = error_line(done)
    assert "docker daemon does not answer" in line and "dockerd" in line, line
    assert not (tmp_path / "r").exists()


def test_image_missing(docker_client: Any, tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path, tiny_scenario("bad"))
    done = _run(scenario, tmp_path / "r", RETRY_HARNESS_IMAGE_TAG="not-built")
    assert done.returncode == 2
    line = error_line(done)
    assert "retry-harness-backend:not-built not found" in line, line
    assert "nox -s image" in line, line
    assert not (tmp_path / "r").exists()
    assert objects_of(docker_client, tmp_path) == []


def test_sut_kind_that_does_not_run_in_a_container(docker_client: Any, tmp_path: Path) -> None:
    data = tiny_scenario(
        "bad",
        sut={"kind": "command", "command": "true {listen}"},
        policy={"source": {"system": "haproxy", "file": "haproxy.cfg"}},
    )
    scenario = write_scenario(tmp_path, data)
    done = _run(scenario, tmp_path / "r")
    assert done.returncode == 2
    line = error_line(done)
    assert "sut.kind" in line and "haproxy, nginx, caddy, urllib3_client" in line, line
    assert str(scenario) in line
    assert objects_of(docker_client, tmp_path) == []
