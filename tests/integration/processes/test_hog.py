"""The CPU hog of bench scripts and loaded-machine tests: its workers run, then nothing is left."""

from __future__ import annotations

import shutil

import psutil
import pytest

from harness.processes.hog import cpu_hog

pytestmark = pytest.mark.skipif(shutil.which("stress-ng") is None, reason="stress-ng not installed")


def test_workers_run_inside_the_block_and_are_gone_after() -> None:
    with cpu_hog(30, cpus=2) as hog:
        tree = psutil.Process(hog.pid).children(recursive=True)
        assert len(tree) >= 2  # ready means its workers run, not "some time passed"
        assert hog.alive()
    assert not hog.alive()
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in tree)
