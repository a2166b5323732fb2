"""``retry-harness ui --workers 2``: the Retries tab fills from every worker's records.

In distributed mode Locust's request events fire only on the workers; the workers ship their
client records to the master with ``send_message`` and the master writes them, so the live
judge sees them all. Driven over HTTP as the web UI's start form does (``POST /swarm``).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
import requests

ROOT = Path(__file__).resolve().parents[3]
SCENARIO = ROOT / "scenarios" / "haproxy.yaml"

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is missing")
def test_two_workers_fill_the_tab(tmp_path: Path) -> None:
    port = _free_port()
    folder = tmp_path / "session"
    url = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    cmd = [sys.executable, "-m", "harness.cli", "ui", str(SCENARIO), "--port", str(port)]
    with (tmp_path / "ui.log").open("wb") as log:
        proc = subprocess.Popen(
            [*cmd, "--workers", "2", "--dir", str(folder)], stdout=log, stderr=log, env=env
        )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, (tmp_path / "ui.log").read_text()
            assert time.monotonic() < deadline
            try:
                stats = requests.get(url + "stats/requests", timeout=2).json()
                if stats.get("worker_count") == 2:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        sut = orjson.loads((folder / "session.json").read_bytes())["sut_url"]
        form = {"user_count": 8, "spawn_rate": 8, "host": sut, "rh_requests": 600}
        requests.post(url + "swarm", data=form, timeout=10).raise_for_status()

        def judged() -> int:
            live = requests.get(url + "retries/live.json", timeout=5).json()
            return int(live.get("share", {}).get("judged", 0))

        deadline = time.monotonic() + 120
        while judged() < 600:  # the budget spent, every record shipped and judged
            assert time.monotonic() < deadline, f"judged {judged()} of 600"
            time.sleep(1)
        rows = requests.get(url + "stats/requests", timeout=5).json()["extended_stats"][0]["data"]
        assert any(r["item"] == "Attempts bound" and r["state"] == "pass" for r in rows)
        run = next((folder / "epochs").glob("epoch-*/run"))
        ids = [
            orjson.loads(line)["request_id"] for line in (run / "client-records.ndjson").open("rb")
        ]
        assert len(ids) == 600
        assert {rid.split("-")[1] for rid in ids} == {"0", "1"}  # both workers' records
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=90) == 0
