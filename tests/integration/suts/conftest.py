"""Fixtures for SUT driver integration tests: upstreams, a free listen address, a workdir."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from harness.suts.network import free_port
from tests.integration.suts.upstream import Upstream, running_upstream

DATA = Path(__file__).parent / "data"


@pytest.fixture
def upstreams() -> Iterator[list[Upstream]]:
    """Two journaling upstream replicas that always answer 200."""
    with ExitStack() as stack:
        yield [stack.enter_context(running_upstream(f"up{i}")) for i in range(2)]


@pytest.fixture
def listen() -> tuple[str, int]:
    return ("127.0.0.1", free_port())


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path / "work"
