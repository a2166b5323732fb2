"""Kernel attempt stamps on a real replica: each lies inside the client's own send/receive
window, on the right side of the app's stamp, and the journal says which clock stamped it."""

from __future__ import annotations

import http.client
import select
import socket
import time

import orjson

from fake_backends import kernel_stamps
from fake_backends.ports import free_ports
from fake_backends.profile import FaultProfile
from harness.processes.backends import BackendHandle, start_backend


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


def test_the_app_clock_alone_when_asked() -> None:
    """STAMP_CLOCK=app: plain gthread, every record stamped and labelled by the app (the
    throughput bench's middle reference)."""
    port, admin_port = free_ports(2)
    with start_backend(port, admin_port, replica="a0", extra_env={"STAMP_CLOCK": "app"}) as b:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        for i in range(5):
            conn.request("GET", "/a", headers={"X-Request-ID": f"app-{i}"})
            conn.getresponse().read()
        conn.close()
        recs = _records(b, 5)
    assert len(recs) == 5
    for rec in recs:
        assert (rec["arrival_clock"], rec["end_clock"]) == ("app", "app"), rec
        assert rec["arrival_us"] == rec["app_arrival_us"] and rec["end_us"] == rec["app_end_us"]


def test_a_listener_hands_its_stamps_down_to_accepted_sockets() -> None:
    """The worker sets the option once per listener and relies on accept() inheriting it."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert kernel_stamps.enable(listener)
        with socket.create_connection(listener.getsockname()) as client:
            accepted, _ = listener.accept()
            with accepted:
                assert kernel_stamps.enabled(accepted)
                sent = time.time_ns()
                client.sendall(b"GET / HTTP/1.1\r\n\r\n")
                select.select([accepted], [], [], 5)
                arrival = kernel_stamps.peek_arrival_ns(accepted)
                assert arrival is not None and sent <= arrival <= time.time_ns()
                accepted.sendall(b"HTTP/1.1 200 OK\r\n")
                accepted.sendall(b"Content-Length: 0\r\n\r\n")
                before = time.time_ns()
                end = kernel_stamps.sent_end_ns(accepted)
                assert end is not None and arrival <= end <= before
                assert kernel_stamps.sent_end_ns(accepted) is None  # the queue was emptied


def _answer(client: socket.socket) -> bytes:
    """One whole HTTP answer (head, then Content-Length bytes of body) from ``client``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(4096)
        assert chunk, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
    while len(body) < length:
        chunk = client.recv(4096)
        assert chunk, data
        body += chunk
    return head


def test_a_stalled_body_is_still_bounded_on_a_stamped_connection(fresh: BackendHandle) -> None:
    """gunicorn drains a body the app did not read before keeping the connection alive, bounded
    by its worker data timeout (5 s) through the reader's socket timeout. From the second request
    on, the reader is the stamping one: it must pass that bound on, or a client that stops
    sending mid-body holds a worker thread for as long as it likes."""
    port = int(fresh.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=20) as client:
        client.sendall(b"GET /first HTTP/1.1\r\nHost: x\r\nX-Request-ID: stall-0\r\n\r\n")
        assert b"200 OK" in _answer(client)
        client.sendall(
            b"POST /second HTTP/1.1\r\nHost: x\r\nX-Request-ID: stall-1\r\n"
            b"Content-Length: 100\r\n\r\n" + b"x" * 10
        )
        assert b"200 OK" in _answer(client)
        started = time.monotonic()
        rest = client.recv(4096)  # the drain gives up after 5 s: gunicorn closes the connection
        assert rest == b"", rest
        assert time.monotonic() - started < 15


def test_pipelined_requests_on_a_kept_alive_connection(fresh: BackendHandle) -> None:
    """Two requests in one packet after a first one: the worker's read takes both, gunicorn
    parses them from its buffer, and both are answered and kernel-stamped by that read."""
    port = int(fresh.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
        client.sendall(b"GET /p0 HTTP/1.1\r\nHost: x\r\nX-Request-ID: pipe-0\r\n\r\n")
        assert b"200 OK" in _answer(client)
        sent = time.time_ns() // 1000
        client.sendall(
            b"GET /p1 HTTP/1.1\r\nHost: x\r\nX-Request-ID: pipe-1\r\n\r\n"
            b"GET /p2 HTTP/1.1\r\nHost: x\r\nX-Request-ID: pipe-2\r\n\r\n"
        )
        data = b""
        while data.count(b"200 OK") < 2 and (chunk := client.recv(65536)):
            data += chunk
    assert data.count(b"200 OK") == 2, data
    recs = {str(r["request_id"]): r for r in _records(fresh, 3)}
    assert sorted(recs) == ["pipe-0", "pipe-1", "pipe-2"]
    for rid in ("pipe-1", "pipe-2"):
        assert recs[rid]["arrival_clock"] == "kernel", recs[rid]
        assert sent <= int(recs[rid]["arrival_us"]), recs[rid]  # type: ignore[call-overload]
