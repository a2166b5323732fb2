"""Ctrl-C during the shipped replica-loss scenario, after its kill: a correct nginx is never
judged a violation on the partial run.

scenarios/replica-loss.yaml (nginx over three replicas, r1 SIGKILLed 5 s into the load) runs
through the real CLI with its load made long enough (30 s) that the interruption lands after
the kill whatever the machine's load. The run folder must keep the kill's down window (closed
at the interruption), and ``retry-harness verify`` must exit 3 (INTERRUPTED, inconclusive),
never 1: an interrupted run used to lose its down windows, so the refused connects to r1 and
nginx's answers around them were judged blind to the kill.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from harness.oracle.records import DownWindow
from harness.processes.child import wait_until
from harness.run import RunManifest
from tests.integration.cli.helpers import (
    CLI,
    REPO,
    assert_nothing_left,
    kill_leftovers,
    run_cli,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCENARIOS = REPO / "scenarios"
KILL_LINE = "chaos: kill replica r1"


def _long_replica_loss(folder: Path) -> Path:
    data = yaml.safe_load((SCENARIOS / "replica-loss.yaml").read_text())
    data["sut"]["config"] = str(SCENARIOS / data["sut"]["config"])
    data["load"]["locustfile"] = str(SCENARIOS / data["load"]["locustfile"])
    data["load"]["duration_s"] = 30  # bounded; the interruption comes long before
    assert data["chaos"] == [{"at_s": 5, "action": "kill", "replica": 1}]
    path = folder / "replica-loss.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
def test_ctrl_c_after_the_kill_keeps_the_window_and_is_inconclusive(tmp_path: Path) -> None:
    scenario = _long_replica_loss(tmp_path)
    report = tmp_path / "report"
    run_dir = report / "run"
    stderr = tmp_path / "stderr.txt"
    with stderr.open("wb") as err:
        proc = subprocess.Popen(
            [*CLI, "run", str(scenario), "--report-dir", str(report)],
            stdout=subprocess.DEVNULL,
            stderr=err,
            stdin=subprocess.DEVNULL,
            cwd=REPO,
        )
    try:
        killed = wait_until(
            lambda: KILL_LINE in stderr.read_text(errors="replace"),
            timeout_s=120,
            interval_s=0.1,
            give_up=lambda: proc.poll() is not None,
        )
        assert killed, f"no kill (exit {proc.poll()}): {stderr.read_text(errors='replace')}"
        time.sleep(1.0)  # requests go on around the dead replica for a while
        sent_at_us = time.time_ns() // 1000
        proc.send_signal(signal.SIGINT)
        assert proc.wait(90) == 130, stderr.read_text(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        kill_leftovers(str(tmp_path))
    assert_nothing_left(str(tmp_path))
    manifest = RunManifest.model_validate_json((run_dir / "run.json").read_bytes())
    assert manifest.interrupted
    [window] = manifest.down_windows
    assert isinstance(window, DownWindow) and (window.replica, window.kind) == ("r1", "kill")
    # r1 stays dead: its window was still open at the interruption and closes there
    assert window.end_us is not None and window.start_us < window.end_us
    assert sent_at_us <= window.end_us <= time.time_ns() // 1000
    assert any(n.startswith("chaos: ") and "kill replica r1" in n for n in manifest.notes)
    verdict = run_cli("verify", run_dir, "--report-dir", tmp_path / "verified")
    out = verdict.stdout + verdict.stderr
    assert verdict.returncode == 3, out  # inconclusive, never 1 (a violation)
    assert "INTERRUPTED" in verdict.stdout
    assert "overlapped a down replica" in " ".join(out.split()), out
