"""The harness's own traffic does not change the SUT unseen (issue 8, kind 1).

A retrying proxy with a retry budget (tests/support/retrying_proxy.py) stands in front of
backends that answer EVERY attempt of the load with 503. Before the fix the readiness probe went
through the proxy with no request id, met a 503 like everything else, was retried by the proxy
(spending budget the oracle never saw) and left attempts the journals could not attribute. Now
the probe must be one attempt, answered 200 without fault, journaled under its own
``harness-ready-`` id, split out of the judged journals, finished before the load began and
counted in the verdict's notes; the calibration probes never go through the SUT and meet no
fault either.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import orjson
import pytest
import yaml

from harness.traffic import CALIBRATION_PREFIX, READINESS_PREFIX
from tests.integration.cli.helpers import REPO, assert_nothing_left, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROXY = REPO / "tests" / "support" / "retrying_proxy.py"


def _records(paths: list[Path]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for path in paths:
        out += [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]
    return out


def test_readiness_probe_is_one_faultless_attempt_counted_before_the_load(
    tmp_path: Path,
) -> None:
    base = yaml.safe_load(
        (REPO / "tests" / "scenarios" / "retrying_proxy" / "limits.yaml").read_text()
    )
    base["name"] = "harness-traffic"
    base["backends"]["profile"] = {"failure_rate": 1.0, "failure_status": {503: 1}}
    scenario = tmp_path / "scenario.yaml"
    base["sut"]["command"] = (
        f"{{python}} {PROXY} --listen {{listen}} --upstreams {{upstreams}} --scenario {scenario}"
    )
    base["load"].update(requests=40, users=4, spawn_rate=4, methods={"GET": 1.0})
    base["checks"]["skip"] = ["fault_audit", "jitter_distribution"]
    scenario.write_text(yaml.safe_dump(base, sort_keys=False))
    result = run_cli("run", scenario, "--report-dir", tmp_path / "out", "--quiet", timeout=180)
    assert result.returncode in (0, 1, 3), result.stderr
    run_dir = tmp_path / "out" / "run"

    ready = _records(sorted(run_dir.glob("harness-traffic-r*.ndjson")))
    assert ready, "the readiness probe reached no backend through the proxy"
    assert all(str(r["request_id"]).startswith(READINESS_PREFIX) for r in ready)
    # every load attempt fails, yet the probe was answered at once and never retried
    assert [(r["attempt"], r["status"], r["fault"]) for r in ready] == [(0, None, "none")] * len(
        ready
    )
    clients = _records([run_dir / "client-records.ndjson"])
    assert max(int(str(r["end_us"])) for r in ready) < min(int(str(c["start_us"])) for c in clients)

    manifest = json.loads((run_dir / "run.json").read_text())
    judged = _records([run_dir / name for name in manifest["journals"]])
    assert judged and all(r["request_id"] is not None for r in judged)
    assert not any(str(r["request_id"]).startswith("harness-") for r in judged)
    assert {r["status"] for r in judged} == {503}  # the load itself met the faults

    calib = _records(sorted(run_dir.glob("calibration-r*.ndjson")))
    assert calib and all(str(r["request_id"]).startswith(CALIBRATION_PREFIX) for r in calib)
    assert {r["fault"] for r in calib} == {"none"}

    traffic = manifest["harness_traffic"]
    assert traffic["readiness_attempts"] == traffic["readiness_requests"] == len(ready)
    assert traffic["readiness_failed"] == 0
    verdict = json.loads((tmp_path / "out" / "verdict.json").read_text())
    assert any(
        n.startswith(f"harness traffic: {len(ready)} readiness probe") for n in verdict["notes"]
    )
    assert not any("WARNING" in n for n in verdict["notes"])
    assert_nothing_left(str(tmp_path))
    shutil.rmtree(tmp_path / "out", ignore_errors=True)
