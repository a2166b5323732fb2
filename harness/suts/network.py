"""Loopback-only networking helpers for SUT drivers: URLs, the busy-port check, readiness probes.

Readiness means: a TCP connection to the SUT's address succeeds *and* an HTTP request on it gets
an answer with any status. The harness's own traffic must not change the SUT unseen
(:mod:`harness.traffic`): each probe carries the harness probe header, which the backends answer
with 200 and no fault (so a SUT never retries a probe, spends budget on it or marks a backend
down for it), and its own ``X-Request-ID`` (``harness-ready-…``), so every attempt it causes is
journaled, split out of the judged journals and counted in the run's notes.
"""

from __future__ import annotations

import errno
import http.client
import ipaddress
import socket

from fake_backends.settings import DEFAULT_REQUEST_ID_HEADER
from harness.errors import BadInput
from harness.processes import timeouts
from harness.processes.child import wait_until
from harness.suts.templating import hostport
from harness.traffic import PROBE_HEADERS, readiness_id


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and any loopback IP address (127.0.0.0/8, ::1)."""
    host = host.strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def base_url(listen: tuple[str, int]) -> str:
    """``http://host:port`` for a listen address."""
    return "http://" + hostport(*listen)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def ensure_port_free(listen: tuple[str, int], *, field: str = "listen") -> None:
    """Raise ``BadInput`` when something already listens on ``listen``.

    The check binds with ``SO_REUSEADDR`` like servers do, so leftover TIME_WAIT connections of
    an earlier run do not count as busy; only a live listener does.
    """
    host, port = listen
    if not is_loopback(host):
        raise BadInput(
            f"the SUT must listen on loopback (127.0.0.1, localhost or ::1), got {host!r}",
            field=field,
        )
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise BadInput(
                    f"port {port} on {host} is already in use; stop what listens there or "
                    "choose another port",
                    field=field,
                ) from None
            raise BadInput(f"cannot bind {hostport(host, port)}: {exc}", field=field) from None


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS reports free right now on ``host`` (may race with other processes)."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def probe_once(host: str, port: int, path: str, timeout_s: float) -> int | None:
    """One readiness probe: the HTTP status (never 0), or None if no connection or answer."""
    conn = http.client.HTTPConnection(host, port, timeout=max(timeout_s, 0.05))
    try:
        headers = {**PROBE_HEADERS, DEFAULT_REQUEST_ID_HEADER: readiness_id()}
        conn.request("GET", path, headers=headers)
        return conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def tcp_connects(host: str, port: int, timeout_s: float) -> bool:
    """Whether a TCP connection to ``host:port`` succeeds within ``timeout_s``."""
    try:
        with socket.create_connection((host, port), timeout=max(timeout_s, 0.05)):
            return True
    except OSError:
        return False


def http_ready(host: str, port: int, path: str) -> bool:
    """One readiness check: TCP connects (bounded by ``TIMEOUTS.connect_s``) and an HTTP
    request on ``path`` gets any answer (bounded by ``TIMEOUTS.probe_s``)."""
    t = timeouts.TIMEOUTS
    return tcp_connects(host, port, t.connect_s) and bool(probe_once(host, port, path, t.probe_s))


def wait_until_ready(host: str, port: int, path: str, timeout_s: float) -> bool:
    """Poll :func:`http_ready` until it holds (True) or ``timeout_s`` passes (False)."""
    return wait_until(lambda: http_ready(host, port, path), timeout_s=timeout_s)
