"""Fixtures: real replicas (gunicorn, 2 workers) on free 127.0.0.1 ports, always torn down."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fake_backends.ports import free_ports
from fake_backends.profile import FaultProfile
from harness.processes.backends import BackendHandle, start_backend


@pytest.fixture(scope="module")
def backend() -> Iterator[BackendHandle]:
    """One replica shared by a test module; tests set their profile and clear the journal."""
    port, admin_port = free_ports(2)
    with start_backend(port, admin_port, workers=2, replica="m0") as handle:
        yield handle


@pytest.fixture
def fresh(backend: BackendHandle) -> Iterator[BackendHandle]:
    """The module's replica with no faults and an empty journal."""
    backend.admin.put_faults(FaultProfile())
    backend.admin.clear_journal()
    yield backend
    assert backend.alive(), backend.log_text()
