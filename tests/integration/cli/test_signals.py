"""A signal at any moment of the CLI's life ends it with its exit code, never by the signal.

Ctrl-C is 130 and SIGTERM 143 (128 + the signal number), also when the signal lands while the
CLI's modules are still loading or after its work is done (harness.entry); a run that finished
first keeps its own code. No traceback either way. ``plan`` starts nothing, so only the signal
handling is under test here (teardown of a real run: test_bad_input.py).

Each delay counts from the moment the entry point has caught SIGTERM (``SigCgt`` in
/proc/PID/status): before that the interpreter itself is starting up (no code of ours has run)
and a signal has its default effect, which no program written in Python can change."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.cli.helpers import CLI, REPO

pytestmark = [pytest.mark.integration]

SCENARIO = REPO / "scenarios" / "haproxy.yaml"
DELAYS_S = (0.0, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.8)
EXPECTED = {signal.SIGINT: 130, signal.SIGTERM: 143}


def _wait_until_sigterm_is_caught(pid: int) -> None:
    status = Path(f"/proc/{pid}/status")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            caught = next(
                int(line.split()[1], 16)
                for line in status.read_text().splitlines()
                if line.startswith("SigCgt:")
            )
        except (OSError, StopIteration):
            return  # it has already exited
        if caught & (1 << (signal.SIGTERM - 1)):
            return
        time.sleep(0.001)
    raise AssertionError("the CLI never installed its SIGTERM handler")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_a_signal_at_any_moment_gives_the_exit_code(sig: signal.Signals) -> None:
    seen: list[tuple[float, int]] = []
    for delay in DELAYS_S:
        proc = subprocess.Popen(
            [*CLI, "plan", str(SCENARIO)],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _wait_until_sigterm_is_caught(proc.pid)
        time.sleep(delay)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        seen.append((delay, proc.returncode))
        assert proc.returncode in (0, EXPECTED[sig]), (delay, proc.returncode, err.decode())
        assert b"Traceback" not in err, err.decode()
    # the early signals land while the modules load: those must be the signal's code
    assert any(code == EXPECTED[sig] for _, code in seen), seen
