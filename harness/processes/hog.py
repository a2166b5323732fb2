"""A CPU hog for measurements on a loaded machine: ``stress-ng --cpu N`` as a :class:`Child`.

The guide's loaded machine is ``stress-ng --cpu 2`` (one busy worker per core of this machine).
:func:`cpu_hog` starts it in its own process group, bounded by stress-ng's own ``--timeout``,
waits until its N workers run (not a fixed sleep), and always stops the whole tree
(:meth:`Child.stop`). Used by the bench scripts and by tests that run under load.
https://manpages.debian.org/bookworm/stress-ng/stress-ng.1.en.html (``--cpu``, ``--timeout``)
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator

import psutil

from harness.errors import BadInput
from harness.processes.child import Child, spawn, wait_ready

HOG_READY_S = 10.0
"""How long stress-ng may take to start its workers."""


def _workers_running(child_pid: int, cpus: int) -> bool:
    try:
        return len(psutil.Process(child_pid).children(recursive=True)) >= cpus
    except psutil.Error:
        return False


@contextlib.contextmanager
def cpu_hog(seconds: float, *, cpus: int = 2) -> Iterator[Child]:
    """``stress-ng --cpu cpus`` for at most ``seconds`` while the block runs.

    BadInput when stress-ng is not installed (``apt-get install stress-ng``); RunFailed when it
    exits or its workers do not start within ``HOG_READY_S``.
    """
    binary = shutil.which("stress-ng")
    if binary is None:
        raise BadInput("a CPU hog needs stress-ng: apt-get install -y stress-ng")
    argv = [binary, "--cpu", str(cpus), "--timeout", f"{max(1, round(seconds))}s", "--quiet"]
    started: list[Child] = []
    try:
        child = spawn(argv, name="stress-ng", log_path=None, on_started=started.append)
        wait_ready(child, lambda: _workers_running(child.pid, cpus), timeout_s=HOG_READY_S)
        yield child
    finally:
        for hog in started:
            hog.stop()
