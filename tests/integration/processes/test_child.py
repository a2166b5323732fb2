"""The one process lifecycle (``harness.processes.child``) on real processes: readiness, exit
before readiness, teardown of the whole tree (a grandchild that left the process group too),
SIGTERM then SIGKILL, and bounded waiting."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.errors import RunFailed
from harness.processes import timeouts
from harness.processes.child import pid_alive, running, spawn, wait_until

pytestmark = pytest.mark.integration

PY = sys.executable


def test_running_yields_when_ready_and_stops_the_tree(tmp_path: Path) -> None:
    """A grandchild in a session of its own escapes a process-group signal; psutil finds it."""
    ready = tmp_path / "ready"
    pids = tmp_path / "pids"
    script = (
        "import os, subprocess, sys, time\n"
        "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
        " start_new_session=True)\n"
        f"open({str(pids)!r}, 'w').write(str(g.pid))\n"
        f"open({str(ready)!r}, 'w').write('ok')\n"
        "time.sleep(60)\n"
    )
    with running(
        [PY, "-c", script],
        name="tree",
        log_path=tmp_path / "log",
        ready=lambda: ready.exists() and pids.exists(),
        ready_timeout_s=15,
    ) as child:
        grandchild = int(pids.read_text())
        assert child.alive() and pid_alive(grandchild)
        assert os.getpgid(grandchild) != child.pid  # not reachable by killpg
    assert not child.alive()
    assert wait_until(lambda: not pid_alive(grandchild), timeout_s=5)


def test_exit_before_readiness_names_the_code_and_the_log_tail(tmp_path: Path) -> None:
    started = time.monotonic()
    with (
        pytest.raises(RunFailed, match=r"(?s)quitter \(.*\) exited with code 4.*no config"),
        running(
            [PY, "-c", "import sys; print('no config'); sys.exit(4)"],
            name="quitter",
            log_path=tmp_path / "log",
            ready=lambda: False,
            ready_timeout_s=30,
        ),
    ):
        pytest.fail("must not be ready")
    assert time.monotonic() - started < 10  # noticed the exit, did not wait for the bound


def test_sigterm_ignored_means_sigkill_after_the_grace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        timeouts, "TIMEOUTS", timeouts.TIMEOUTS.model_copy(update={"term_grace_s": 0.5})
    )
    ready = tmp_path / "ready"
    script = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"open({str(ready)!r}, 'w').write('ok')\n"
        "time.sleep(60)\n"
    )
    child = spawn([PY, "-c", script], name="stubborn", log_path=None)
    try:
        assert wait_until(ready.exists, timeout_s=15)
        started = time.monotonic()
        child.stop()
        assert 0.4 < time.monotonic() - started < 5
        assert not child.alive() and child.returncode == -9
        child.stop()  # idempotent
    finally:
        child.kill()


def test_cannot_start_is_run_failed(tmp_path: Path) -> None:
    with pytest.raises(RunFailed, match="missing: cannot start /nonexistent/program"):
        spawn(["/nonexistent/program"], name="missing", log_path=tmp_path / "log")


def test_wait_until_is_bounded_and_gives_up_early() -> None:
    started = time.monotonic()
    assert not wait_until(lambda: False, timeout_s=0.3, interval_s=0.05)
    assert 0.25 < time.monotonic() - started < 2
    started = time.monotonic()
    assert not wait_until(lambda: False, timeout_s=30, give_up=lambda: True)
    assert time.monotonic() - started < 1
    calls: list[int] = []
    assert wait_until(lambda: calls.append(1) or len(calls) == 3, timeout_s=5, interval_s=0.01)


def test_pause_and_resume_stop_the_group(tmp_path: Path) -> None:
    child = spawn([PY, "-c", "import time; time.sleep(60)"], name="sleeper", log_path=None)
    try:
        child.pause()
        assert wait_until(
            lambda: psutil.Process(child.pid).status() == psutil.STATUS_STOPPED, timeout_s=5
        )
        child.resume()
        assert wait_until(
            lambda: psutil.Process(child.pid).status() != psutil.STATUS_STOPPED, timeout_s=5
        )
        child.pause()
    finally:
        child.stop()  # a paused child is resumed, then terminated
    assert not child.alive()
