"""A time-bounded load ends by draining, never by killing requests the SUT is still retrying.

The retrying test proxy (tests/support/retrying_proxy.py) backs off up to 1 s before a retry
and most attempts fail, so at any moment some of the 12 users wait on a request that is
mid-backoff. Were they cut at the cap (``GreenletExit``), the proxy's retries that come
afterwards would be judged "a retry nobody waited for" and client_agreement would fail a
correct proxy. Every request of the run must have its answer. (Locust's ``--run-time`` is now
later than the drain, also with one process; before, it equalled the cap, and this test passed
then too because ``--stop-timeout`` let the users finish the request in hand: a review
suspected that path, this test shows it holds.)
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import yaml

from tests.integration.cli.helpers import REPO, assert_nothing_left, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROXY = REPO / "tests" / "support" / "retrying_proxy.py"


def test_duration_bound_run_with_backoff_drains_in_flight_retries(tmp_path: Path) -> None:
    base = yaml.safe_load(
        (REPO / "tests" / "scenarios" / "retrying_proxy" / "backoff.yaml").read_text()
    )
    base["name"] = "time-cap-drain"
    base["backends"]["profile"] = {"failure_rate": 0.7, "failure_status": {503: 1}}
    scenario = tmp_path / "scenario.yaml"
    base["sut"]["command"] = (
        f"{{python}} {PROXY} --listen {{listen}} --upstreams {{upstreams}} --scenario {scenario}"
    )
    base["load"].pop("requests")
    base["load"].update(duration_s=3, users=12, spawn_rate=12)
    base["checks"] = {"only": ["client_agreement", "attempts_bound", "stop_on_success"]}
    scenario.write_text(yaml.safe_dump(base, sort_keys=False))
    result = run_cli("run", scenario, "--report-dir", tmp_path / "out", "--quiet", timeout=180)
    assert result.returncode in (0, 3), result.stdout + result.stderr
    run_dir = tmp_path / "out" / "run"
    records = [
        orjson.loads(line)
        for line in (run_dir / "client-records.ndjson").read_bytes().splitlines()
        if line.strip()
    ]
    assert len(records) > 12
    assert [r for r in records if r["error"] is not None] == []  # nothing cut, nothing timed out
    verdict = orjson.loads((tmp_path / "out" / "verdict.json").read_bytes())
    agreement = next(c for c in verdict["checks"] if c["name"] == "client_agreement")
    assert agreement["outcome"] == "pass", agreement["summary"]
    assert_nothing_left(str(tmp_path))
