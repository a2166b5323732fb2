"""The zero-delay gap prober: a small process of its own that sends back-to-back request pairs.

Run by :class:`harness.substrates.calibration.TimingProbe` as
``python -m harness.substrates.gap_probe URL --id-prefix P --header K:V ... --pairs N
--interval S --max-seconds T`` while a run's load goes on. Each pair is two ``GET``s with one
request id on one kept-alive connection (stdlib ``http.client``): the second request is written
the moment the first answer has been read, so the backend journals what a retry with zero delay
looks like on this machine now (``arrival(1) - end(0)``, :func:`~harness.substrates.calibration.
zero_delay_gaps`).

Why a process of its own: a prober thread inside the harness shares the harness's GIL and its
other threads (chaos, journal pulls), and ``requests`` adds a few hundred microseconds of Python
per request; both landed in ε (3–10× the kernel-stamped floor measured by
``bench/stamp_clocks.py``). Here only the stdlib is imported (this module must not import the
harness, pydantic or numpy: start-up stays short), the request bytes are built once per pair and
the process runs at the default priority, as any SUT does: the gap it measures is the one a SUT's
own zero-delay retry would show, not a privileged one.

Bounded in count (``--pairs``) and time (``--max-seconds``). Ends at SIGTERM (after the pair in
flight) or when its parent is gone. Prints one line at the end: ``pairs sent: N``. A request that
fails (refused, reset, timed out) is dropped and the connection opened again: a lost pair only
means one gap fewer.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import sys
import time
import urllib.parse


def _parse_header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"a header is NAME:VALUE (got {text!r})")
    return name.strip(), value.strip()


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="gap_probe", description=__doc__.splitlines()[0])
    p.add_argument("url", help="the backend's base URL, http://host:port")
    p.add_argument("--path", default="/__calibrate", help="the path requested")
    p.add_argument("--id-prefix", required=True, help="request ids are PREFIX<n>")
    p.add_argument("--id-header", default="X-Request-ID", help="the request id header")
    p.add_argument("--header", type=_parse_header, action="append", default=[], help="NAME:VALUE")
    p.add_argument("--pairs", type=int, default=1000, help="at most this many pairs")
    p.add_argument("--interval", type=float, default=0.01, help="seconds between pairs")
    p.add_argument("--max-seconds", type=float, default=600.0, help="at most this long")
    p.add_argument("--timeout", type=float, default=2.0, help="per request, seconds")
    return p.parse_args(argv)


class _Stop:
    """Set by SIGTERM/SIGINT; checked between pairs."""

    def __init__(self) -> None:
        self.now = False
        self.parent = os.getppid()

    def __call__(self, signum: int, frame: object) -> None:
        self.now = True

    def due(self) -> bool:
        return self.now or os.getppid() != self.parent


def send_pair(conn: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> int:
    """Two ``GET path`` with ``headers`` on ``conn``, the second written the moment the first
    answer is read; the client's own turnaround in ns (first answer read -> second request
    sent: the floor a zero-delay gap can approach). Raises ``OSError`` or
    ``http.client.HTTPException`` as ``http.client`` does."""
    conn.request("GET", path, headers=headers)
    conn.getresponse().read()
    t0 = time.perf_counter_ns()
    conn.request("GET", path, headers=headers)
    t1 = time.perf_counter_ns()
    conn.getresponse().read()
    return t1 - t0


def main(argv: list[str] | None = None) -> int:
    args = _args(argv)
    url = urllib.parse.urlsplit(args.url)
    if url.scheme != "http" or url.hostname is None:
        print(f"gap_probe: an http:// URL with a host is needed (got {args.url!r})", flush=True)
        return 2
    stop = _Stop()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    fixed = dict(args.header)
    deadline = time.monotonic() + args.max_seconds
    conn = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=args.timeout)
    sent = 0
    try:
        while sent < args.pairs and not stop.due() and time.monotonic() < deadline:
            headers = {**fixed, args.id_header: f"{args.id_prefix}{sent}"}
            try:
                send_pair(conn, args.path, headers)
            except (OSError, http.client.HTTPException):
                conn.close()  # reopened by the next request
            sent += 1
            time.sleep(args.interval)
    finally:
        conn.close()
        print(f"pairs sent: {sent}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
