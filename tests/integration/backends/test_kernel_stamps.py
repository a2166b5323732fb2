"""Kernel attempt stamps on a real replica: each lies inside the client's own send/receive
window, on the right side of the app's stamp, and the journal says which clock stamped it."""

from __future__ import annotations

import http.client
import time

import orjson

from fake_backends.profile import FaultProfile
from harness.processes.backends import BackendHandle


def _records(backend: BackendHandle, n: int) -> list[dict[str, object]]:
    deadline = time.monotonic() + 10
    while True:
        lines = backend.journal_path.read_bytes().splitlines()
        if len(lines) >= n or time.monotonic() > deadline:
            return [orjson.loads(line) for line in lines]
        time.sleep(0.05)


def test_kernel_stamps_lie_inside_the_clients_window(fresh: BackendHandle) -> None:
    port = int(fresh.url.rsplit(":", 1)[1])
    windows: dict[str, tuple[int, int]] = {}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    fresh_conn = 0
    for i in range(60):
        if i % 20 == 0:  # new connections too: the first request of each is peeked before parse
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            fresh_conn += 1
        rid = f"ks-{i}"
        sent = time.time_ns() // 1000
        conn.request("GET", "/k", headers={"X-Request-ID": rid})
        conn.getresponse().read()
        windows[rid] = (sent, time.time_ns() // 1000)
    conn.close()
    recs = _records(fresh, len(windows))
    assert len(recs) == len(windows)
    for rec in recs:
        sent, got = windows[str(rec["request_id"])]
        assert rec["arrival_clock"] == "kernel", rec
        assert rec["end_clock"] == "kernel", rec
        arrival, end = int(rec["arrival_us"]), int(rec["end_us"])  # type: ignore[call-overload]
        assert sent <= arrival <= int(rec["app_arrival_us"]), rec  # type: ignore[call-overload]
        assert int(rec["app_end_us"]) <= end <= got, rec  # type: ignore[call-overload]
        assert arrival <= end


def test_a_reset_keeps_the_app_stamp_for_its_end(fresh: BackendHandle) -> None:
    fresh.admin.put_faults(FaultProfile(reset_rate=1.0))
    port = int(fresh.url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/r", headers={"X-Request-ID": "ks-reset"})
        conn.getresponse()
    except (ConnectionError, http.client.HTTPException):
        pass
    finally:
        conn.close()
    (rec,) = _records(fresh, 1)
    assert rec["fault"] == "reset"
    assert rec["arrival_clock"] == "kernel"
    assert rec["end_clock"] == "app"
    assert rec["end_us"] == rec["app_end_us"]
