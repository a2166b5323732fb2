"""Each shipped locustfile, run by the real Locust CLI in a subprocess, against a flaky upstream.

The upstream (threads in this process) fails 30 % of requests with 503, drops 5 % of connections
without an answer, and logs every X-Request-ID it sees. Locust is never imported here.
"""

from __future__ import annotations

import http.server
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.oracle.records import ClientRecord

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
SCENARIOS = ROOT / "scenarios"
HARNESS_BROKEN = 3


@dataclass
class Seen:
    method: str
    path: str
    status: int | None
    idempotency_key: str | None


@dataclass
class Upstream:
    port: int
    seen: dict[str, list[Seen]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _handler(upstream: Upstream) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            rid = self.headers.get("X-Request-ID") or ""
            u = random.Random(rid).random()
            status: int | None
            if self.path == "/slow":
                status = 200
            elif u < 0.05:
                status = None  # drop the connection without an answer
            elif u < 0.35:
                status = 503
            else:
                status = 200
            with upstream.lock:
                upstream.seen.setdefault(rid, []).append(
                    Seen(self.command, self.path, status, self.headers.get("Idempotency-Key"))
                )
            if status is None:
                self.close_connection = True
                return
            if self.path == "/slow":
                time.sleep(1.5)
            body = b"ok\n"
            try:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    state = Upstream(port=0)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class Run:
    code: int
    output: str
    records: list[dict[str, Any]]
    summary: dict[str, Any] | None
    t0_us: int
    t1_us: int


def run_locust(
    tmp_path: Path,
    locustfile: str,
    host: str,
    load: dict[str, Any] | None,
    seed: int = 7,
    extra: tuple[str, ...] = (),
    records: Path | None = None,
) -> Run:
    env = dict(os.environ)
    if load is not None:
        load_file = tmp_path / "load.json"
        load_file.write_text(json.dumps({"version": 1, "seed": seed, "load": load}), "utf-8")
        env["RETRY_HARNESS_LOAD"] = str(load_file)
    records = records or tmp_path / "client.ndjson"
    summary = tmp_path / "summary.json"
    env["RETRY_HARNESS_CLIENT_RECORDS"] = str(records)
    env["RETRY_HARNESS_SUMMARY"] = str(summary)
    argv = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(SCENARIOS / locustfile),
        "--headless",
        "-u",
        "4",
        "-r",
        "4",
        "-t",
        "20s",
        "--host",
        host,
        "--exit-code-on-error",
        "1",
        "--only-summary",
        *extra,
    ]
    t0 = time.time_ns() // 1000
    proc = subprocess.run(
        argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False
    )
    t1 = time.time_ns() // 1000
    lines = records.read_text("utf-8").splitlines() if records.exists() else []
    return Run(
        code=proc.returncode,
        output=proc.stdout[-20000:] + proc.stderr[-20000:],
        records=[json.loads(line) for line in lines],
        summary=json.loads(summary.read_text("utf-8")) if summary.exists() else None,
        t0_us=t0,
        t1_us=t1,
    )


def check_records_against_upstream(run: Run, upstream: Upstream, expected: int) -> None:
    assert run.code == 0, run.output
    assert len(run.records) == expected, run.output
    ids = [r["request_id"] for r in run.records]
    assert len(set(ids)) == expected
    fields = set(ClientRecord.model_fields)
    for r in run.records:
        assert set(r) == fields
        rec = ClientRecord.model_validate(r)
        assert run.t0_us <= rec.start_us <= rec.end_us <= run.t1_us
        seen = upstream.seen.get(rec.request_id)
        assert seen is not None, f"{rec.request_id} never reached the upstream"
        assert len(seen) == 1, f"{rec.request_id} was sent {len(seen)} times (client retried)"
        (attempt,) = seen
        assert (attempt.method, attempt.path) == (rec.method, rec.path)
        assert attempt.idempotency_key == rec.idempotency_key
        if rec.status is not None:
            assert rec.status == attempt.status
            assert rec.error is None
        else:
            assert rec.error, r
            assert attempt.status is None or rec.path == "/slow"
    assert set(upstream.seen) == set(ids), "the upstream saw requests without a client record"
    assert run.summary is not None
    assert run.summary["requests_sent"] == run.summary["records_written"] == expected
    assert run.summary["harness_errors"] == []
    statuses = {r["status"] for r in run.records}
    assert {200, 503, None} <= statuses, "the flaky upstream's outcomes should all show up"


MIX = {"GET": 0.6, "POST": 0.2, "PUT": 0.1, "DELETE": 0.1}
CASES: dict[str, dict[str, Any]] = {
    "steady.py": {"requests": 150, "methods": MIX, "idempotency_keys": 0.5},
    "non_retryable.py": {"requests": 150, "paths": ["/non-retryable/400", "/non-retryable/501"]},
    "post_idempotency.py": {
        "requests": 150,
        "methods": {"POST": 1.0},
        "idempotency_keys": 0.5,
        "body_bytes": 64,
    },
    "deadline.py": {"requests": 80, "paths": ["/", "/", "/", "/slow"], "request_timeout_s": 0.5},
    "retry_after.py": {"requests": 150},
    "retry_storm.py": {
        "requests": 200,
        "users": 2,
        "spawn_rate": 10,
        "shape": {"at_s": 0.0, "users": 8, "duration_s": 30},
    },
    "replica_loss.py": {"requests": 150},
}


@pytest.mark.parametrize("locustfile", sorted(CASES))
def test_locustfile_writes_one_exact_record_per_logical_request(
    tmp_path: Path, upstream: Upstream, locustfile: str
) -> None:
    load = CASES[locustfile]
    run = run_locust(tmp_path, locustfile, upstream.url, load)
    check_records_against_upstream(run, upstream, load["requests"])
    keyed = [r for r in run.records if r["idempotency_key"]]
    if load.get("idempotency_keys"):
        assert keyed and len(keyed) < len(run.records)  # a seeded fraction, not all or none
        assert {r["method"] for r in keyed} <= {"POST", "PATCH"}
    else:
        assert keyed == []
    if locustfile == "deadline.py":
        slow = [r for r in run.records if r["path"] == "/slow"]
        assert slow and all(r["status"] is None for r in slow)
        assert all(0.4e6 <= r["end_us"] - r["start_us"] <= 1.4e6 for r in slow)
    if locustfile == "retry_storm.py":
        assert "Ramping to 8 users" in run.output


def test_time_bound_run_drains_in_flight_requests(tmp_path: Path, upstream: Upstream) -> None:
    run = run_locust(tmp_path, "steady.py", upstream.url, {"duration_s": 1.5})
    assert run.code == 0, run.output
    assert run.summary is not None and run.summary["budget"] is None
    assert run.summary["requests_sent"] == len(run.records) > 20
    assert not [r for r in run.records if r["error"] == "GreenletExit"]
    assert set(upstream.seen) == {r["request_id"] for r in run.records}
    assert run.t1_us - run.t0_us < 15e6


def test_command_line_options_override_the_load_file(tmp_path: Path, upstream: Upstream) -> None:
    extra = ("--rh-requests", "40", "--rh-methods", "PUT:1", "--rh-seed", "255")
    run = run_locust(tmp_path, "steady.py", upstream.url, CASES["steady.py"], extra=extra)
    assert run.code == 0, run.output
    assert len(run.records) == 40
    assert {r["method"] for r in run.records} == {"PUT"}
    assert all(r["request_id"].startswith("ff-0-") for r in run.records)


def test_same_seed_same_requests(tmp_path: Path, upstream: Upstream) -> None:
    load = {"requests": 30, "methods": MIX, "paths": ["/a", "/b", "/c"], "idempotency_keys": 0.5}

    def plan(sub: str) -> set[tuple[Any, ...]]:
        (tmp_path / sub).mkdir()
        run = run_locust(tmp_path / sub, "steady.py", upstream.url, load, seed=99)
        assert run.code == 0, run.output
        return {
            (r["request_id"], r["method"], r["path"], r["idempotency_key"]) for r in run.records
        }

    first, second = plan("one"), plan("two")
    assert len(first) == 30
    assert first == second


def test_plain_locust_without_harness_files(tmp_path: Path, upstream: Upstream) -> None:
    extra = ("--rh-requests", "20")
    run = run_locust(tmp_path, "post_idempotency.py", upstream.url, None, extra=extra)
    assert run.code == 0, run.output
    assert len(run.records) == 20
    assert {r["method"] for r in run.records} == {"POST"}  # the locustfile's own defaults


def test_exit_code_says_when_the_harness_itself_broke(tmp_path: Path, upstream: Upstream) -> None:
    records = tmp_path / "missing-dir" / "client.ndjson"
    run = run_locust(tmp_path, "steady.py", upstream.url, {"requests": 10}, records=records)
    assert run.code == HARNESS_BROKEN, run.output
    assert run.summary is not None
    assert any("cannot open the client records file" in e for e in run.summary["harness_errors"])
