"""The data plane: what one attempt on the data port goes through (plain WSGI, no routing).

Order of work for each attempt, any method and path:

1. stamp ``arrival_us`` (wall clock) before anything else: the kernel's receive stamp of the
   request's first byte when the worker took one (:mod:`fake_backends.kernel_stamps`), else the
   app's clock now; the record says which (``arrival_clock``, ``end_clock``);
2. take the replica's arrival sequence number (journal cap, key of requests without an id);
3. take the attempt index from the shared counter (requests with a request id only);
4. decide the fault (:func:`fake_backends.decision.decide`; none for the harness's own traffic,
   marked with ``HARNESS_PROBE_HEADER``), sleep the injected latency;
5. answer: a small JSON body naming replica and attempt, an injected failure status (with
   Retry-After on 429/503 when configured), a pass-through answer from ``UPSTREAM_URL``, a
   connection reset (``SO_LINGER 0`` then close: the client gets a TCP RST and no bytes), or a
   hang (the connection is held, watching the client socket, until the client leaves or the
   bound passes; then it is closed with no response);
6. journal exactly one record when the answer is fully sent (the WSGI iterable's ``close``,
   which gunicorn always calls), or when the reset/hang ended.

The data plane is mounted in front of the Flask app (``app.wsgi_app``); it hands admin-port
requests to Flask. Which port a request came in on is read from the accepted socket itself
(``getsockname``), never from headers, so the admin API cannot be reached via the data port.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from typing import Any

import orjson

from fake_backends import kernel_stamps, metrics, process_id
from fake_backends.counter import AttemptCounter
from fake_backends.decision import Decision, decide
from fake_backends.http_headers import HOP_BY_HOP
from fake_backends.journal import Journal
from fake_backends.records import HARNESS_PROBE_HEADER, JOURNAL_FORMAT_VERSION, FaultKind
from fake_backends.shared_state import SharedState

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
StartResponse = Callable[..., Any]

PLANE_ENVIRON_KEY = "fake_backends.plane"  # "admin" or "data"; only for in-process test clients
_HANG_POLL_S = 0.05
_PROBE_KEY = "HTTP_" + HARNESS_PROBE_HEADER.upper().replace("-", "_")
_NO_FAULT = Decision(FaultKind.NONE, None, None, 0.0, 0.0)
_LINGER_ZERO = struct.pack("ii", 1, 0)
# hop-by-hop fields, and those this data plane sets itself (length, encoding, host)
_HOP_BY_HOP = HOP_BY_HOP | {"content-length", "content-encoding", "host"}

# Set by the gunicorn post_fork hook: lets hangs end early when the worker is stopping.
CURRENT_WORKER: Any = None


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Error"


_STATUS_LINES = {s: _status_line(s) for s in range(100, 600)}


def now_us() -> int:
    return time.time_ns() // 1000


class _JournaledBody:
    """A WSGI body that stamps the end of the attempt and journals it on ``close``.

    With kernel stamps on (:mod:`fake_backends.kernel_stamps`), ``close`` (called by gunicorn
    after it wrote the whole answer) reads when the answer's last byte left the socket. The app
    stamp, the fallback, is taken just before the response is handed to the server for sending,
    never after: a thread that is descheduled between the last write and the stamp would
    otherwise stamp the end late, and the delay to the next attempt would look shorter than it
    was. An end stamped a little early can only make a delay look longer.
    """

    __slots__ = ("_body", "_end_us", "_finish", "_record", "_sock")

    def __init__(
        self,
        body: bytes,
        finish: Callable[[int | None], None],
        record: dict[str, Any] | None = None,
        sock: Any = None,
    ) -> None:
        self._body = body
        self._finish = finish
        self._end_us: int | None = None
        self._record = record
        self._sock = sock

    def __iter__(self) -> Iterator[bytes]:
        self._end_us = now_us()
        yield self._body

    def close(self) -> None:
        end_us = self._end_us
        if self._record is not None and end_us is not None:
            self._record["app_end_us"] = end_us
            ns = kernel_stamps.end_ns(self._sock)
            if ns is not None and ns // 1000 >= end_us:
                end_us = ns // 1000
                self._record["end_clock"] = kernel_stamps.KERNEL
        self._finish(end_us)


class DataPlane:
    """WSGI callable that serves attempts and passes admin-port requests to ``admin_app``."""

    def __init__(
        self,
        admin_app: WSGIApp,
        *,
        state: SharedState,
        journal: Journal,
        counter: AttemptCounter,
        replica: str,
        request_id_header: str,
        admin_port: int | None,
    ) -> None:
        self.admin_app = admin_app
        self.state = state
        self.journal = journal
        self.counter = counter
        self.replica = replica
        self.admin_port = admin_port
        self._rid_key = "HTTP_" + request_id_header.upper().replace("-", "_")
        self._local = threading.local()

    # -- dispatch -------------------------------------------------------------------------

    def _is_admin(self, environ: dict[str, Any]) -> bool:
        sock = environ.get("gunicorn.socket")
        if sock is not None and self.admin_port is not None:
            local = self._local
            if getattr(local, "sock", None) is sock:  # the same connection as this thread's last
                return bool(local.admin)
            try:
                admin = sock.getsockname()[1] == self.admin_port
            except OSError:
                return False
            local.sock, local.admin = sock, admin
            return bool(admin)
        return environ.get(PLANE_ENVIRON_KEY) == "admin"

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        arrival_us = now_us()
        kernel_ns = kernel_stamps.take_arrival_ns()
        if self._is_admin(environ):
            return self.admin_app(environ, start_response)
        return self.attempt(environ, start_response, arrival_us, kernel_ns)

    # -- one attempt ------------------------------------------------------------------------

    def attempt(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        arrival_us: int,
        kernel_arrival_ns: int | None = None,
    ) -> Iterable[bytes]:
        seq = self.journal.reserve()
        profile = self.state.profile()
        method: str = environ["REQUEST_METHOD"]
        path: str = environ.get("PATH_INFO") or "/"
        request_id: str | None = environ.get(self._rid_key)
        attempt = self.counter.next_attempt(request_id) if request_id is not None else 0
        if profile.routes:
            route, faults = profile.faults_for(method, path)
        else:
            route, faults = None, profile
        if _PROBE_KEY in environ:  # the harness's own traffic: never a fault (see records)
            decision = _NO_FAULT
        else:
            decision = decide(
                faults,
                profile.seed,
                self.replica,
                request_id,
                attempt,
                now_s=arrival_us / 1e6,
                anon_seq=seq,
            )
        envoy_count = environ.get("HTTP_X_ENVOY_ATTEMPT_COUNT")
        record: dict[str, Any] = {
            "v": JOURNAL_FORMAT_VERSION,
            "request_id": request_id,
            "method": method,
            "path": path,
            "replica": self.replica,
            "worker": process_id.current(),
            "attempt": attempt,
            "arrival_us": arrival_us,
            "end_us": 0,
            "arrival_clock": kernel_stamps.APP,
            "end_clock": kernel_stamps.APP,
            "app_arrival_us": arrival_us,
            "app_end_us": None,
            "status": decision.status,
            "fault": decision.fault.value,
            "retry_after": decision.retry_after,
            "latency_ms": round(decision.latency_ms, 3),
            "client_gone": False,
            "draw": decision.draw,
            "route": route,
            "envoy_attempt_count": int(envoy_count)
            if envoy_count and envoy_count.isdigit()
            else None,
            "idempotency_key": environ.get("HTTP_IDEMPOTENCY_KEY"),
            "upstream_status": None,
        }
        if kernel_arrival_ns is not None and kernel_arrival_ns // 1000 <= arrival_us:
            record["arrival_us"] = kernel_arrival_ns // 1000
            record["arrival_clock"] = kernel_stamps.KERNEL

        def finish(end_us: int | None = None) -> None:
            record["end_us"] = end_us if end_us is not None else now_us()
            if record["app_end_us"] is None:
                record["app_end_us"] = record["end_us"]
            self.journal.write(seq, record)
            metrics.count_attempt(
                self.replica, record["status"], record["fault"], route, decision.latency_ms
            )

        if decision.fault is FaultKind.HANG:
            self._hang(environ, decision, record, finish)
        if decision.latency_ms > 0:
            time.sleep(decision.latency_ms / 1000.0)
        if decision.fault is FaultKind.RESET:
            self._reset(environ, finish)
        if decision.fault is FaultKind.NONE and profile.upstream_url:
            return self._forward(environ, start_response, profile.upstream_url, record, finish)

        headers = [("Content-Type", "application/json")]
        info: dict[str, Any] = {
            "replica": self.replica,
            "attempt": attempt,
            "request_id": request_id,
            "worker": record["worker"],
        }
        if decision.fault is not FaultKind.NONE:
            info["fault"] = decision.fault.value
            info["status"] = decision.status
            if decision.retry_after is not None:
                headers.append(("Retry-After", decision.retry_after))
        body = orjson.dumps(info)
        headers.append(("Content-Length", str(len(body))))
        headers.append(("X-Backend-Replica", self.replica))
        headers.append(("X-Backend-Attempt", str(attempt)))
        start_response(_STATUS_LINES[decision.status or 200], headers)
        return _JournaledBody(body, finish, record, environ.get("gunicorn.socket"))

    # -- faults without a response -----------------------------------------------------------

    @staticmethod
    def _reset(environ: dict[str, Any], finish: Callable[[int | None], None]) -> None:
        """Send a TCP RST: SO_LINGER 0, then drop the connection's last descriptor.

        ``dup2`` of a fresh, unconnected socket over the client's descriptor closes the
        connection (RST, since linger is 0) while the server's socket object stays valid, so
        gunicorn's own close later is a quiet no-op. The ``ECONNRESET`` raised afterwards makes
        gunicorn skip the response and log only at debug level.
        """
        sock = environ.get("gunicorn.socket")
        end_us = now_us()  # stamped before the RST leaves (see _JournaledBody)
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
                with socket.socket(sock.family, socket.SOCK_STREAM) as spare:
                    os.dup2(spare.fileno(), sock.fileno())
            except OSError:
                pass
        finish(end_us)
        raise ConnectionResetError(errno.ECONNRESET, "injected connection reset")

    @staticmethod
    def _hang(
        environ: dict[str, Any],
        decision: Decision,
        record: dict[str, Any],
        finish: Callable[[int | None], None],
    ) -> None:
        """Hold the connection until the client leaves, the bound passes or the worker stops."""
        sock = environ.get("gunicorn.socket")
        deadline = time.monotonic() + decision.hang_s
        gone = False
        while not gone:
            remaining = deadline - time.monotonic()
            worker = CURRENT_WORKER
            if remaining <= 0 or (worker is not None and not worker.alive):
                break
            if sock is None:
                time.sleep(min(_HANG_POLL_S, remaining))
                continue
            try:
                readable, _, _ = select.select([sock], [], [], min(_HANG_POLL_S, remaining))
                if readable:
                    peek = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
                    if peek == b"":
                        gone = True
                    else:  # pipelined bytes, not a goodbye: keep waiting without spinning
                        time.sleep(min(_HANG_POLL_S, max(0.0, remaining)))
            except BlockingIOError:
                continue
            except OSError:
                gone = True
        record["client_gone"] = gone
        finish(None)
        if gone:
            raise ConnectionResetError(errno.ECONNRESET, "client left during an injected hang")
        raise BrokenPipeError(errno.EPIPE, "injected hang ended; closing without a response")

    # -- pass-through ---------------------------------------------------------------------------

    def _session(self) -> Any:
        session = getattr(self._local, "session", None)
        if session is None:
            import requests

            session = requests.Session()
            self._local.session = session
        return session

    def _forward(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        upstream: str,
        record: dict[str, Any],
        finish: Callable[[int | None], None],
    ) -> Iterable[bytes]:
        import requests

        query = environ.get("QUERY_STRING")
        url = upstream + (environ.get("PATH_INFO") or "/") + (f"?{query}" if query else "")
        headers = {
            key[5:].replace("_", "-").title(): value
            for key, value in environ.items()
            if key.startswith("HTTP_") and key[5:].replace("_", "-").lower() not in _HOP_BY_HOP
        }
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        data = environ["wsgi.input"].read(length) if length > 0 else None
        try:
            answer = self._session().request(
                environ["REQUEST_METHOD"],
                url,
                headers=headers,
                data=data,
                allow_redirects=False,
                timeout=(5.0, 60.0),
            )
        except requests.RequestException as err:
            record["status"] = 502
            record["fault"] = FaultKind.UPSTREAM_ERROR.value
            body = orjson.dumps({"replica": self.replica, "error": f"upstream: {err}"})
            start_response(
                _STATUS_LINES[502],
                [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
            )
            return _JournaledBody(body, finish, record, environ.get("gunicorn.socket"))
        record["status"] = answer.status_code
        record["upstream_status"] = answer.status_code
        content = answer.content
        out_headers = [(k, v) for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP]
        out_headers.append(("Content-Length", str(len(content))))
        out_headers.append(("X-Backend-Replica", self.replica))
        start_response(_STATUS_LINES.get(answer.status_code, _status_line(200)), out_headers)
        return _JournaledBody(content, finish, record, environ.get("gunicorn.socket"))
