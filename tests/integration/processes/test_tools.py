"""External commands the harness runs to completion (pip download, mmdebstrap, go mod download)
end in one line when they hang or cannot start: ``RunFailed``, never a traceback or BadInput."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.errors import BadInput, RunFailed
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
