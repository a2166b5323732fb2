"""A replica that could not journal: the local substrate counts its lost records as dropped and
keeps its note ("backend r1 could not journal N attempts (OSError [Errno 28] ...)") for
run.json, with real replicas (r1's arrival sequence file is ``/dev/full``: every write ENOSPC).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fake_backends.profile import FaultProfile
from harness.scenario import load_scenario
from harness.substrates.local import LocalSubstrate
from tests.integration.backends.load import fire
from tests.integration.cli.helpers import tiny_scenario, write_scenario

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full"),
]


def test_lost_records_are_dropped_and_named(tmp_path: Path) -> None:
    data = tiny_scenario("full-disk", backends={"replicas": 2, "workers": 1})
    sub: Any = LocalSubstrate(
        load_scenario(write_scenario(tmp_path / "sc", data)), tmp_path / "run"
    )
    sub.workdir.mkdir(parents=True)
    Path(sub.workdir / "journal-r1.raw.ndjson.seq").symlink_to("/dev/full")
    try:
        sub._start_replicas(2, FaultProfile())
        for index, handle in enumerate(sub.backends):
            outcomes = fire(handle.url, [f"r{index}-{i}" for i in range(12)], threads=2)
            assert outcomes == [200] * 12  # r1 answers as decided, journal or not
        journals, dropped, losses = sub._collect_journals()
        assert dropped == 12
        assert len(losses) == 1 and losses[0].startswith(
            "backend r1 could not journal 12 attempts (OSError [Errno 28]"
        )
        assert journals[0].read_bytes().count(b"\n") == 12
        assert journals[1].read_bytes() == b""
    finally:
        sub.down()
