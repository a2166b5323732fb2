"""A keep-alive upstream that can close a connection without answering, for SUT behaviour tests.

Each connection serves requests in a loop (HTTP/1.1 keep-alive, bodies by Content-Length). For
every request ``decide(request_id, index_on_connection, arrivals_of_that_id)`` says whether to
answer 200 or to close the connection with no response (what a server does when it drops an
idle keep-alive connection, or crashes). Every arrival is journaled.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from tests.integration.suts.upstream import serving


@dataclass(frozen=True)
class RawArrival:
    request_id: str | None
    method: str
    connection: int  # the connection's number, in accept order
    index_on_connection: int  # 0 for the first request on a connection
    closed: bool  # closed without an answer
    at: float = 0.0  # time.monotonic() when the request was read


Decide = Callable[[str | None, int, int], bool]
"""(request id, index on connection, earlier arrivals of that id) -> close without answering?"""
Hold = Callable[[str | None], float]
"""request id -> seconds to wait before answering or closing (keeps connections busy, or makes
an attempt fail late)"""


@dataclass
class RawUpstream:
    decide: Decide
    hold: Hold | None = None
    keep_alive: bool = True  # False: close every connection after its first answer
    url: str = ""
    arrivals: list[RawArrival] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _connections: int = 0

    def of(self, request_id: str) -> list[RawArrival]:
        with self._lock:
            return [a for a in self.arrivals if a.request_id == request_id]

    def _next_connection(self) -> int:
        with self._lock:
            self._connections += 1
            return self._connections

    def _record(self, rid: str | None, method: str, conn: int, index: int) -> bool:
        with self._lock:
            earlier = sum(1 for a in self.arrivals if a.request_id == rid)
            close = self.decide(rid, index, earlier)
            self.arrivals.append(RawArrival(rid, method, conn, index, close, time.monotonic()))
        return close


def _handler(upstream: RawUpstream) -> type[socketserver.BaseRequestHandler]:
    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            sock: socket.socket = self.request
            sock.settimeout(10)
            conn = upstream._next_connection()
            buf = b""
            index = 0
            while True:
                while b"\r\n\r\n" not in buf:
                    try:
                        chunk = sock.recv(65536)
                    except OSError:
                        return
                    if not chunk:
                        return
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                headers = {
                    k.strip().lower(): v.strip()
                    for k, _, v in (ln.partition(":") for ln in lines[1:])
                }
                length = int(headers.get("content-length", "0") or 0)
                while len(buf) < length:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                buf = buf[length:]
                method = lines[0].split(" ", 1)[0]
                close = upstream._record(headers.get("x-request-id"), method, conn, index)
                if upstream.hold is not None:  # before the answer or the close
                    time.sleep(upstream.hold(headers.get("x-request-id")))
                if close:
                    sock.close()
                    return
                if not upstream.keep_alive:
                    sock.sendall(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"
                    )
                    sock.close()
                    return
                sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
                index += 1

    return Handler


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextlib.contextmanager
def running_raw_upstream(
    decide: Decide, hold: Hold | None = None, *, keep_alive: bool = True
) -> Iterator[RawUpstream]:
    """Serve a RawUpstream on 127.0.0.1:<free port> in a thread; shut it down afterwards."""
    upstream = RawUpstream(decide, hold, keep_alive)
    server = _Server(("127.0.0.1", 0), _handler(upstream))
    upstream.url = f"http://127.0.0.1:{server.server_address[1]}"
    with serving(server):
        yield upstream
