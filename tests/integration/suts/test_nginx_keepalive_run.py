"""A full ``retry-harness run`` of ``scenarios/nginx-keepalive.yaml`` against real nginx 1.22.

The issue's keepalive example: one server, ``keepalive 16``, ``proxy_next_upstream error timeout
http_502 http_503 http_504``, ``proxy_next_upstream_tries 3``; resets, 503s, GET and POST.
The verdict must be INCONCLUSIVE for the right reason, so this test checks the breakdown, not
only the exit code:

* judged and passed: no 503 is retried (one peer), no POST is retried (no non_idempotent),
  nothing follows a success, the faults were delivered;
* not judged, naming the keepalive line: every check that depends on the retry count or the
  upstream of a retry;
* the journals show what the adapter's note claims: GETs reset on a reused connection were
  retried, on the one server, after resets only. (That the count can exceed what tries allows
  is shown deterministically in ``test_nginx_behaviour.py``; in this run it depends on which
  connections nginx reused.)
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from tests.integration.cli.helpers import REPO, assert_nothing_left, kill_leftovers, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCENARIO = REPO / "scenarios" / "nginx-keepalive.yaml"
NOT_JUDGED = {
    "attempts_bound",
    "retry_when_due",
    "success_rate",
    "attempt_distribution",
    "client_agreement",
}
PASSED = {"stop_on_success", "non_retryable_status", "non_retryable_method", "fault_audit"}


def _journal(run: Path) -> dict[str, list[dict[str, Any]]]:
    by_request: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for path in run.glob("journal-r*.ndjson"):
        if path.name.endswith(".raw.ndjson"):
            continue
        for line in path.read_text().splitlines():
            record = json.loads(line)
            by_request[record["request_id"]].append(record)
    for attempts in by_request.values():
        attempts.sort(key=lambda r: r["attempt"])
    return by_request


def test_keepalive_scenario_is_inconclusive_for_the_right_reason(tmp_path: Path) -> None:
    if shutil.which("nginx") is None:
        pytest.skip("nginx not installed (apt-get install -y nginx-light)")
    report = tmp_path / "report"
    try:
        result = run_cli("run", SCENARIO, "--report-dir", report, "--quiet", timeout=300)
        assert_nothing_left(str(tmp_path))
    finally:
        kill_leftovers(str(tmp_path))
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 3, result.stderr[-3000:]
    verdict = json.loads((report / "verdict.json").read_text())
    assert verdict["outcome"] == "inconclusive"
    outcomes = {c["name"]: c for c in verdict["checks"]}
    for name in NOT_JUDGED:
        check = outcomes[name]
        assert check["outcome"] == "not_judged", (name, check["summary"])
        assert "keepalive 16" in check["summary"], check["summary"]
    for name in PASSED:
        assert outcomes[name]["outcome"] == "pass", (name, outcomes[name]["summary"])
    # nothing else is inconclusive: the only reason for the verdict is what is not judged
    others = {n: c["outcome"] for n, c in outcomes.items() if n not in NOT_JUDGED | PASSED}
    assert set(others.values()) <= {"not_applicable"}, others

    requests = _journal(report / "run")
    assert len(requests) == 900
    retried = [a for a in requests.values() if len(a) > 1]
    assert retried, "no request was retried: the single-server keepalive retry is not shown"
    for attempts in retried:
        # a retry follows only a reset (an error on a connection), never a 503, and only a GET
        assert attempts[0]["method"] == "GET", attempts[0]
        assert all(a["fault"] == "reset" for a in attempts[:-1]), attempts
        assert {a["replica"] for a in attempts} == {"r0"}
