"""Every test here cleans up after itself, even when it fails: leftovers of a run are killed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.cli.helpers import kill_leftovers


@pytest.fixture(autouse=True)
def _no_leftovers(tmp_path: Path) -> Iterator[None]:
    yield
    kill_leftovers(str(tmp_path))
