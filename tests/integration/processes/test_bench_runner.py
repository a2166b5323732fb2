"""The bench scripts' one runner of a harness run (bench/seed_sweep.py ``run_cli``): a run that
outlives its bound is stopped as a user would stop it (SIGTERM: the CLI tears down everything it
started), and killed with everything it started only when it does not go; nothing is left."""

from __future__ import annotations

import shutil
import sys
import textwrap
from pathlib import Path

import pytest

from tests.integration.cli.helpers import REPO, assert_nothing_left, kill_leftovers

sys.path.insert(0, str(REPO / "bench"))
import seed_sweep

pytestmark = pytest.mark.integration


def test_a_run_past_its_bound_is_torn_down_by_the_cli_itself(tmp_path: Path) -> None:
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy not installed (apt-get install -y haproxy)")
    report = tmp_path / "report"
    cmd = [sys.executable, "-m", "harness.cli", "run", str(REPO / "scenarios" / "haproxy.yaml")]
    cmd += ["--quiet", "--report-dir", str(report)]
    try:
        # 8 s: backends, HAProxy and Locust are up (the run alone takes longer than that)
        code, said = seed_sweep.run_cli(cmd, timeout_s=8, grace_s=60)
        assert code == -15, said
        assert said.startswith("timed out after 8 s (torn down"), said
        assert_nothing_left(str(tmp_path))
    finally:
        kill_leftovers(str(tmp_path))


def test_a_run_that_ignores_sigterm_is_killed_with_what_it_started(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    stubborn = textwrap.dedent(
        f"""
        import signal, subprocess, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        # a child in a session of its own, as the harness starts its backends and SUTs
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "{marker}"],
                         start_new_session=True)
        time.sleep(120)
        """
    )
    try:
        code, said = seed_sweep.run_cli([sys.executable, "-c", stubborn], timeout_s=2, grace_s=1)
        assert code == -9, said
        assert "killed: still running 1 s after SIGTERM" in said, said
        assert "1 leftover process(es) killed" in said, said
        assert_nothing_left(str(marker))
    finally:
        kill_leftovers(str(marker))


def test_a_run_in_its_bound_gives_its_exit_code_and_output() -> None:
    code, said = seed_sweep.run_cli(
        [sys.executable, "-c", "import sys; sys.exit('bad scenario')"], timeout_s=30
    )
    assert (code, said.strip()) == (1, "bad scenario")
