"""A full ``retry-harness run`` of nginx 1.22 whose upstream holds a server that is not one of
the harness's backends: a literal ``server 127.0.0.1:1 max_fails=0 backup;`` (nothing listens
there) next to the per-replica line, ``proxy_next_upstream error timeout http_503``,
``proxy_next_upstream_tries 4``, two replicas answering 503 to 40 % of attempts.

nginx does what its config says: once both replicas answered 503 it passes the request to the
backup, the connection is refused, and the client gets nginx's 502. No journal sees that try.
Before the adapter named such lines, the verdict was a client_agreement FAIL ("503->502") for a
correct nginx (tester5's my-nginx3.yaml). Now the checks that rest on the retry count, the
upstream and the backoff are not judged, naming the line, and nothing fails; the journals and
client records show the unseen try the adapter's reason describes.
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from tests.integration.cli.helpers import assert_nothing_left, kill_leftovers, run_cli

pytestmark = pytest.mark.integration

CONF = """\
worker_processes 1;
pid nginx.pid;
error_log stderr notice;
events { worker_connections 256; }
http {
    access_log off;
    client_body_temp_path cbt;
    proxy_temp_path pt;
    fastcgi_temp_path ft;
    uwsgi_temp_path ut;
    scgi_temp_path st;
    upstream ups {
        server {{upstream_hostport}} max_fails=0;
        server 127.0.0.1:1 max_fails=0 backup;
    }
    server {
        listen {{listen}};
        location / {
            proxy_pass http://ups;
            proxy_next_upstream error timeout http_503;
            proxy_next_upstream_tries 4;
            proxy_connect_timeout 1s;
            proxy_read_timeout 3s;
        }
    }
}
"""
BACKUP_LINE = 14
NOT_JUDGED = {
    "attempts_bound",
    "retry_when_due",
    "success_rate",
    "attempt_distribution",
    "client_agreement",
    "backoff_window",
}


def test_a_backup_that_is_no_harness_backend_gives_no_false_violation(tmp_path: Path) -> None:
    if shutil.which("nginx") is None:
        pytest.skip("nginx not installed (apt-get install -y nginx-light)")
    (tmp_path / "nginx.conf").write_text(CONF)
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(
        yaml.safe_dump(
            {
                "name": "nginx-foreign-backup",
                "seed": 5,
                "backends": {
                    "replicas": 2,
                    "workers": 1,
                    "profile": {"failure_rate": 0.4, "failure_status": {503: 1}},
                },
                "sut": {"kind": "nginx", "config": "nginx.conf"},
                "policy": {"source": {"system": "nginx"}},
                "load": {"users": 4, "spawn_rate": 4, "requests": 120, "request_timeout_s": 10},
                "checks": {"skip": ["fault_audit"]},
            },
            sort_keys=False,
        )
    )
    report = tmp_path / "report"
    try:
        result = run_cli("run", scenario, "--report-dir", report, "--quiet", timeout=180)
        assert_nothing_left(str(tmp_path))
    finally:
        kill_leftovers(str(tmp_path))
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode != 1, result.stdout[-3000:]
    verdict = json.loads((report / "verdict.json").read_text())
    assert verdict["outcome"] != "fail"
    checks = {c["name"]: c for c in verdict["checks"]}
    for name in NOT_JUDGED:
        assert checks[name]["outcome"] == "not_judged", (name, checks[name]["summary"])
        assert f"nginx.conf:{BACKUP_LINE}" in checks[name]["summary"], checks[name]["summary"]
    for name in ("stop_on_success", "non_retryable_status"):
        assert checks[name]["outcome"] != "fail", checks[name]["summary"]

    # what the reason says happened: requests whose journaled attempts all got 503 from the
    # two replicas, and whose client got 502, from the unseen try to 127.0.0.1:1
    run = report / "run"
    statuses: dict[str, list[int]] = defaultdict(list)
    for path in run.glob("journal-r*.ndjson"):
        if path.name.endswith(".raw.ndjson"):
            continue
        for line in path.read_text().splitlines():
            record = json.loads(line)
            statuses[record["request_id"]].append(record["status"])
    unseen = [
        rec["request_id"]
        for rec in map(json.loads, (run / "client-records.ndjson").read_text().splitlines())
        if rec["status"] == 502 and statuses.get(rec["request_id"]) == [503, 503]
    ]
    assert unseen, "no request reached the backup; the run did not show the case"
