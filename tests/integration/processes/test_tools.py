"""External commands the harness runs to completion (pip download, mmdebstrap, go mod download)
end in one line when they hang or cannot start: ``RunFailed``, never a traceback or BadInput."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from harness.errors import BadInput, RunFailed
from harness.processes.child import wait_until
from harness.processes.tools import run_tool
from harness.substrates import images, kind_validate
from harness.substrates.kind_kit import CrdSource

pytestmark = pytest.mark.integration


def test_a_command_that_outlives_its_bound_is_stopped_and_one_line() -> None:
    marker = f"sleep-{time.monotonic_ns()}"
    argv = [sys.executable, "-c", f"import time; time.sleep(60)  # {marker}"]
    with pytest.raises(RunFailed) as caught:
        run_tool(argv, timeout_s=0.5, what="the sleeper")
    assert str(caught.value).startswith("the sleeper did not finish within 0.5 s")
    assert "\n" not in str(caught.value)
    left = [
        p for p in psutil.process_iter(["cmdline"]) if marker in " ".join(p.info["cmdline"] or [])
    ]
    assert left == []


def _left(marker: str) -> list[psutil.Process]:
    return [
        p
        for p in psutil.process_iter(["cmdline"])
        if marker in " ".join(p.info["cmdline"] or []) and p.pid != os.getpid()
    ]


def _tree_argv(marker: str) -> list[str]:
    """A shell whose own child (the tool's helper: apt under mmdebstrap, git under go) sleeps."""
    grandchild = f"{sys.executable} -c 'import time; time.sleep(60)' {marker}"
    return ["sh", "-c", f"{grandchild} & wait"]


def test_a_timeout_stops_the_commands_whole_tree_not_only_the_command() -> None:
    marker = f"tree-{time.monotonic_ns()}"
    with pytest.raises(RunFailed, match="did not finish within 1 s"):
        run_tool(_tree_argv(marker), timeout_s=1, what="the tree")
    assert wait_until(lambda: not _left(marker), timeout_s=10), _left(marker)


def test_ctrl_c_stops_the_commands_whole_tree_and_goes_on() -> None:
    marker = f"ctrlc-{time.monotonic_ns()}"
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_tool(_tree_argv(marker), timeout_s=30, what="the tree")
    finally:
        timer.cancel()
    assert wait_until(lambda: not _left(marker), timeout_s=10), _left(marker)


def test_output_and_exit_status_are_kept() -> None:
    done = run_tool(["sh", "-c", "echo out; echo err >&2; exit 3"], timeout_s=30)
    assert (done.returncode, done.stdout, done.stderr) == (3, "out\n", "err\n")


def test_a_command_that_cannot_start_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(RunFailed, match=r"^nothing-here could not be started: No such file"):
        run_tool([str(tmp_path / "nothing-here")], timeout_s=5)


def test_pip_download_that_hangs_is_an_environment_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(images, "PIP_DOWNLOAD_TIMEOUT_S", 0.2)  # pip cannot even start in it
    with pytest.raises(RunFailed, match=r"^pip download of the backend's wheels did not finish"):
        images._download_wheels(tmp_path, ["flask==3.0.0"], lambda text: None)


def test_go_mod_download_without_a_working_go_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    go = tmp_path / "go"
    go.write_text("#!/nonexistent/interpreter\n")
    go.chmod(0o755)
    monkeypatch.setattr(kind_validate, "find_go", lambda: str(go))
    source = CrdSource(module="example.com/m", version="v1.0.0", files=["*.yaml"])
    with pytest.raises(RunFailed, match=r"^go mod download example.com/m@v1.0.0 could not be"):
        kind_validate.module_dir(source)
    assert not issubclass(RunFailed, BadInput)
