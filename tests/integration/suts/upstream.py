"""A tiny journaling upstream for SUT driver tests (independent of fake_backends).

A threaded ``http.server`` on a free loopback port that records every arrival (monotonic time,
method, path with query, headers, body) and can fail the first ``fail_first`` attempts of each
``X-Request-ID`` with ``fail_status`` (never the harness's readiness probes, as the real backends).
"""

from __future__ import annotations

import contextlib
import socketserver
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from fake_backends.records import HARNESS_PROBE_HEADER


@dataclass(frozen=True)
class Arrival:
    at: float  # time.monotonic() when the request line was read
    done: float  # time.monotonic() just before the answer was sent
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class Upstream:
    name: str
    fail_first: int = 0
    fail_status: int = 503
    url: str = ""
    arrivals: list[Arrival] = field(default_factory=list)
    _seen: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def decide(self, request_id: str | None) -> int:
        with self._lock:
            if request_id is None:
                return 200
            index = self._seen[request_id]
            self._seen[request_id] += 1
        return self.fail_status if index < self.fail_first else 200

    def record(self, arrival: Arrival) -> None:
        with self._lock:
            self.arrivals.append(arrival)

    def of(self, request_id: str) -> list[Arrival]:
        """Arrivals carrying this X-Request-ID, in arrival order."""
        with self._lock:
            found = [a for a in self.arrivals if a.headers.get("x-request-id") == request_id]
        return sorted(found, key=lambda a: a.at)

    def probes(self) -> list[Arrival]:
        """The harness's own readiness probes (marked with its probe header, or no request id)."""
        with self._lock:
            return [
                a
                for a in self.arrivals
                if HARNESS_PROBE_HEADER.lower() in a.headers or "x-request-id" not in a.headers
            ]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 drops connections under a burst


def _handler(upstream: Upstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            at = time.monotonic()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            probe = HARNESS_PROBE_HEADER.lower() in headers  # the harness's own: no fault
            status = 200 if probe else upstream.decide(headers.get("x-request-id"))
            payload = f"{upstream.name} {status} {self.command} {self.path}\n".encode()
            # Journal before answering, so a caller that has its answer always sees the arrival.
            upstream.record(
                Arrival(at, time.monotonic(), self.command, self.path, headers, body, status)
            )
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("X-Upstream", upstream.name)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            self.wfile.flush()

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextlib.contextmanager
def serving(server: socketserver.BaseServer) -> Iterator[None]:
    """Serve ``server`` in a thread for the ``with`` block; then shut it down and close it."""
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextlib.contextmanager
def running_upstream(
    name: str = "up0", *, fail_first: int = 0, fail_status: int = 503
) -> Iterator[Upstream]:
    """Serve an Upstream on 127.0.0.1:<free port> in a thread; shut it down afterwards."""
    upstream = Upstream(name=name, fail_first=fail_first, fail_status=fail_status)
    server = _Server(("127.0.0.1", 0), _handler(upstream))
    upstream.url = f"http://127.0.0.1:{server.server_address[1]}"
    with serving(server):
        yield upstream


@contextlib.contextmanager
def running_slow_upstream(
    delay_s: float, slow: Callable[[str, str | None], bool]
) -> Iterator[tuple[str, list[float]]]:
    """Answers 200, after ``delay_s`` for the requests ``slow(path, request id)`` picks (not the
    harness's probes); yields (url, arrival times of the slow requests)."""
    seen: list[float] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            if slow(self.path, self.headers.get("X-Request-ID")):
                seen.append(time.monotonic())
                time.sleep(delay_s)
            try:
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:
                pass

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    with serving(server):
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
