"""Ctrl-C at random moments of a docker run (10 tries, seeded): the CLI exits 130 (or finishes)
and no container, network, volume or process of the run is left."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.container.conftest import objects_of
from tests.integration.cli.helpers import (
    CLI,
    REPO,
    assert_nothing_left,
    tiny_scenario,
    write_scenario,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TRIES = 10


def test_ctrl_c_at_random_moments_leaves_nothing(docker_client: Any, tmp_path: Path) -> None:
    rng = random.Random(20261130)
    data = tiny_scenario(
        "docker-interrupt",
        backends={"replicas": 2, "profile": {"failure_rate": 0.3, "failure_status": {503: 1}}},
        load={"users": 4, "spawn_rate": 4, "duration_s": 4, "request_timeout_s": 5},
    )
    scenario = write_scenario(tmp_path, data)
    codes = []
    for attempt in range(TRIES):
        folder = tmp_path / f"try{attempt}"
        delay = rng.uniform(0.3, 9.0)
        cli = subprocess.Popen(
            [
                *CLI,
                "run",
                str(scenario),
                "--quiet",
                "--substrate",
                "docker",
                "--report-dir",
                str(folder),
            ],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own group, as a terminal's foreground job
        )
        time.sleep(delay)
        if cli.poll() is None:
            os.killpg(cli.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
        try:
            _, err = cli.communicate(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(cli.pid, signal.SIGKILL)
            raise
        # 130: interrupted and torn down (harness.entry: also while the modules load, never
        # death by SIGINT)
        assert cli.returncode in (0, 130), (
            f"try {attempt} at {delay:.1f} s: exit {cli.returncode}: {err.decode()}"
        )
        assert b"Traceback" not in err, err.decode()
        codes.append((round(delay, 1), cli.returncode))
        assert objects_of(docker_client, folder) == [], f"try {attempt} at {delay:.1f} s"
        assert_nothing_left(str(folder))
    assert any(code != 0 for _, code in codes), codes  # at least some tries were interrupted
