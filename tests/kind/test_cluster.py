"""Each kit end to end in a real kind cluster: the verdict the kit's scenario expects.

Needs kind, kubectl, helm and docker (and the backend image, ``nox -s image``); each missing
program skips with "<tool> not on PATH". kind cannot run on this project's development machines
(no node image, no container registry), so these run in the CI conformance workflow and on
laptops."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.scenario import load_scenario
from harness.substrates.kind_tools import find_tool
from tests.kind.conftest import KIT_IDS, KIT_SCENARIOS

pytestmark = [pytest.mark.kind, pytest.mark.slow]

EXPECTED_EXIT = {"conformant": 0, "violation": 1, "inconclusive": 3}


def _need_cluster_tools() -> None:
    for tool in ("kind", "kubectl", "helm", "docker"):
        if find_tool(tool) is None:
            pytest.skip(f"{tool} not on PATH")
    docker = subprocess.run(
        [str(find_tool("docker")), "info"], capture_output=True, text=True, timeout=30
    )
    if docker.returncode != 0:
        pytest.skip("the docker daemon does not answer (kind runs its nodes in docker)")


def _expected(path: Path) -> str:
    return load_scenario(path).expect


@pytest.mark.parametrize("scenario", KIT_SCENARIOS, ids=KIT_IDS)
def test_kit_in_kind(scenario: Path, tmp_path: Path) -> None:
    _need_cluster_tools()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.cli",
            "run",
            str(scenario),
            "--substrate",
            "kind",
            "--report-dir",
            str(tmp_path / "reports"),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert done.returncode == EXPECTED_EXIT[_expected(scenario)], done.stderr[-2000:]
    assert (tmp_path / "reports" / "run" / "run.json").is_file()
