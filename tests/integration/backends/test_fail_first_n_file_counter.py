"""FAIL_FIRST_N is exact across two replicas sharing one ``file://`` (mmap) attempt counter."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import pytest

from fake_backends.ports import free_ports
from harness.processes.backends import start_backend
from tests.integration.backends.test_fail_first_n import _check_exact

pytestmark = pytest.mark.integration


@pytest.mark.slow
def test_exact_with_two_replicas_sharing_a_file_counter(tmp_path: Path) -> None:
    counter = f"file://{tmp_path / 'shared-counter.bin'}?slots=4096"
    ports = free_ports(4)
    with ExitStack() as stack:
        handles = [
            stack.enter_context(
                start_backend(ports[2 * k], ports[2 * k + 1], replica=f"f{k}", counter_url=counter)
            )
            for k in range(2)
        ]
        _check_exact(handles, "file")
