"""A small, correct retrying reverse proxy (test code), with injectable defects.

It is the material the verdict is tried on: a system under test the harness has never been
tuned for, whose declared policy is known exactly, run once as written (it must always pass) and
once per injected defect (each must be caught). It runs as a real process on 127.0.0.1 in front
of the fake backends (``sut.kind: command``).

Declared policy, one source of truth: the proxy reads the canonical retry policy from the
``policy.inline`` section of the scenario file that starts it (``--scenario FILE``), or from a
JSON file holding a canonical policy (``--policy FILE``), so the harness and the proxy can never
disagree about what is declared. Supported parts of :class:`harness.policy.model.RetryPolicy`:

- ``max_retries``; ``retry_on`` statuses, ``reset`` (connection closed with no answer),
  ``connect_failure``, ``per_try_timeout``;
- ``methods.retryable`` (null: every method) and ``methods.idempotency_key_header``; a connect
  failure is retried for any method when ``methods.connect_failure_any_method``;
- ``backoff``: nominal delay of retry k is ``min(base_s * multiplier**(k-1), cap_s)`` with
  jitter ``none``, ``full`` (U[0, d)) or ``equal`` (d/2 + U[0, d/2)); ``first_retry_waits``;
- ``per_try_timeout_s`` (an attempt is abandoned after it) and ``deadline_s`` (no attempt
  starts later than that after the request came in; attempts are cut to the time left);
- ``retry_after``: on an answer in ``retry_after.statuses`` with ``Retry-After: <seconds>`` the
  next delay is the header value (clamped to ``max_s``), or ``max(backoff, it)`` when
  ``replaces_backoff`` is false; ``makes_retryable``;
- ``budget``: ``ratio`` and ``min_per_s`` over a sliding ``window_s``: a retry may be sent when
  the retries sent in the last window stay within ``max(ratio * requests, min_per_s * window_s)``
  (requests: those received in the window). Checked when the retry is about to be sent, so the
  count is the one a backend sees. ``max_concurrent_retries`` is refused (not implemented).

Retries go to the next upstream in round-robin order. When the proxy stops retrying it returns
the last answer; after a reset, connect failure or timeout with nothing to return it answers 502
(504 for a timeout). Every request header is forwarded, ``X-Request-ID`` included.

Defects (``--defect NAME``, repeatable), each a single well-known way to get retries wrong:
``no_jitter``, ``wait_half``, ``no_backoff``, ``no_cap``, ``linear``, ``extra_retry``,
``fewer_retries``, ``retry_non_retryable``, ``retry_post``, ``ignore_retry_after``,
``ignore_deadline``,
``ignore_budget``, ``ignore_per_try_timeout``, ``no_retry_reset``.

Usage::

    python tests/support/retrying_proxy.py --listen 127.0.0.1:8080 \\
        --upstreams http://127.0.0.1:9001,http://127.0.0.1:9002 --scenario scenario.yaml \\
        [--defect no_jitter]
"""

from __future__ import annotations

import argparse
import collections
import http.client
import json
import random
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fake_backends.http_headers import HOP_BY_HOP

DEFECTS = {
    "no_jitter": "waits the nominal delay exactly (declared: full jitter)",
    "wait_half": "waits half of the jittered delay",
    "no_backoff": "does not wait at all before a retry",
    "no_cap": "ignores the backoff cap",
    "linear": "grows the delay linearly (base * k) instead of exponentially",
    "extra_retry": "makes one retry more than max_retries",
    "fewer_retries": "makes one retry less than max_retries",
    "retry_non_retryable": "also retries 500 (not in retry_on.statuses)",
    "retry_post": "retries POST and PATCH whatever the method rule says",
    "ignore_retry_after": "uses its backoff and ignores Retry-After",
    "ignore_deadline": "ignores the overall deadline",
    "ignore_budget": "ignores the retry budget",
    "ignore_per_try_timeout": "waits for an attempt as long as the deadline allows",
    "no_retry_reset": "does not retry a connection reset",
}
"""Injectable defects and what each does."""

_HOP_BY_HOP = HOP_BY_HOP  # never forwarded (RFC 9110 section 7.6.1)
_SET_HERE = frozenset({"content-length", "date", "server"})
_DEFAULT_TRY_TIMEOUT_S = 30.0


class Policy:
    """The parts of a canonical retry policy (a JSON-like dict) the proxy acts on."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.max_retries = int(raw["max_retries"])
        on = raw.get("retry_on") or {}
        self.statuses = {int(s) for s in on.get("statuses", [])}
        self.retry_connect = bool(on.get("connect_failure", False))
        self.retry_reset = bool(on.get("reset", False))
        self.retry_timeout = bool(on.get("per_try_timeout", False))
        methods = raw.get("methods") or {}
        retryable = methods.get("retryable")
        self.methods = None if retryable is None else {m.upper() for m in retryable}
        self.idempotency_header = methods.get("idempotency_key_header")
        self.connect_any_method = bool(methods.get("connect_failure_any_method", True))
        b = raw.get("backoff") or {}
        self.base_s = float(b.get("base_s", 0.0))
        self.multiplier = float(b.get("multiplier", 2.0))
        self.cap_s = None if b.get("cap_s") is None else float(b["cap_s"])
        self.jitter = str(b.get("jitter", "none"))
        if self.jitter not in ("none", "full", "equal"):
            raise SystemExit(f"retrying_proxy: jitter {self.jitter!r} not implemented")
        self.first_retry_waits = bool(b.get("first_retry_waits", True))
        self.per_try_timeout_s = raw.get("per_try_timeout_s")
        self.deadline_s = raw.get("deadline_s")
        ra = raw.get("retry_after") or {}
        self.ra_honoured = bool(ra.get("honoured", False))
        self.ra_statuses = {int(s) for s in ra.get("statuses", [429, 503])}
        self.ra_max_s = None if ra.get("max_s") is None else float(ra["max_s"])
        self.ra_replaces = bool(ra.get("replaces_backoff", True))
        self.ra_makes_retryable = bool(ra.get("makes_retryable", False))
        budget = raw.get("budget")
        self.budget_ratio: float | None = None
        self.budget_floor = 0.0
        self.budget_window_s = 10.0
        if budget:
            if budget.get("max_concurrent_retries") is not None:
                raise SystemExit("retrying_proxy: budget.max_concurrent_retries not implemented")
            self.budget_ratio = None if budget.get("ratio") is None else float(budget["ratio"])
            self.budget_window_s = float(budget.get("window_s", 10.0))
            self.budget_floor = float(budget.get("min_per_s", 0.0)) * self.budget_window_s
        self.has_budget = self.budget_ratio is not None or self.budget_floor > 0


def load_policy(scenario: Path | None, policy_file: Path | None) -> dict[str, Any]:
    """The canonical policy dict from a scenario's ``policy.inline`` or a JSON file."""
    if policy_file is not None:
        data: dict[str, Any] = json.loads(policy_file.read_text(encoding="utf-8"))
        return data
    assert scenario is not None
    import yaml

    doc = yaml.safe_load(scenario.read_text(encoding="utf-8"))
    inline = ((doc or {}).get("policy") or {}).get("inline")
    if not isinstance(inline, dict):
        raise SystemExit(f"retrying_proxy: {scenario} has no policy.inline section")
    return inline


class Budget:
    """Sliding-window retry budget: requests received and retries sent in the last window."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.lock = threading.Lock()
        self.requests: collections.deque[float] = collections.deque()
        self.retries: collections.deque[float] = collections.deque()

    def _trim(self, now: float) -> None:
        edge = now - self.policy.budget_window_s
        for q in (self.requests, self.retries):
            while q and q[0] <= edge:
                q.popleft()

    def request(self) -> None:
        with self.lock:
            now = time.monotonic()
            self._trim(now)
            self.requests.append(now)

    def take_retry(self) -> bool:
        """Whether one more retry may be sent now (and count it if so)."""
        p = self.policy
        with self.lock:
            now = time.monotonic()
            self._trim(now)
            ratio = p.budget_ratio or 0.0
            allowed = max(ratio * len(self.requests), p.budget_floor)
            if len(self.retries) + 1 > allowed:
                return False
            self.retries.append(now)
            return True


class Outcome:
    """One attempt's result: an answer, or a failure kind with no answer."""

    def __init__(
        self,
        status: int | None = None,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        failure: str | None = None,
    ) -> None:
        self.status = status
        self.headers = headers or []
        self.body = body
        self.failure = failure  # "reset", "connect", "timeout" or None

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None


class Proxy:
    """Retry logic, shared by the handler threads."""

    def __init__(self, policy: Policy, upstreams: list[str], defects: set[str]) -> None:
        self.p = policy
        self.defects = defects
        self.upstreams = [urlsplit(u) for u in upstreams]
        self.rr = 0
        self.rr_lock = threading.Lock()
        self.budget = Budget(policy)
        self.rng = random.Random()

    def next_upstream(self) -> Any:
        with self.rr_lock:
            u = self.upstreams[self.rr % len(self.upstreams)]
            self.rr += 1
            return u

    # -- one attempt ------------------------------------------------------------------------

    def attempt(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes, timeout: float
    ) -> Outcome:
        u = self.next_upstream()
        ends = time.monotonic() + max(timeout, 0.001)  # the per-try timeout bounds the whole try
        conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=max(timeout, 0.001))
        try:
            try:
                conn.connect()
            except OSError:  # refused, unreachable or timed out
                return Outcome(failure="connect")
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for k, v in headers:
                conn.putheader(k, v)
            conn.endheaders(body if body else None)
            assert conn.sock is not None
            conn.sock.settimeout(max(ends - time.monotonic(), 0.001))
            resp = conn.getresponse()
            data = resp.read()
            return Outcome(status=resp.status, headers=resp.getheaders(), body=data)
        except TimeoutError:
            return Outcome(failure="timeout")
        except (ConnectionError, http.client.HTTPException, OSError):
            return Outcome(failure="reset")
        finally:
            conn.close()

    # -- the retry rules --------------------------------------------------------------------

    def retryable(self, out: Outcome, method: str, headers: list[tuple[str, str]]) -> bool:
        p, d = self.p, self.defects
        if out.failure == "connect":
            if not p.retry_connect:
                return False
            if p.connect_any_method:
                return True
        elif out.failure == "reset":
            if not p.retry_reset or "no_retry_reset" in d:
                return False
        elif out.failure == "timeout":
            if not p.retry_timeout:
                return False
        else:
            assert out.status is not None
            ok = out.status in p.statuses
            ok |= "retry_non_retryable" in d and out.status == 500
            ok |= (
                p.ra_makes_retryable
                and out.status in p.ra_statuses
                and out.header("Retry-After") is not None
            )
            if not ok:
                return False
        if "retry_post" in d and method in ("POST", "PATCH"):
            return True
        if p.methods is None or method in p.methods:
            return True
        key = p.idempotency_header
        return key is not None and any(k.lower() == key.lower() for k, _ in headers)

    def max_retries(self) -> int:
        n = self.p.max_retries
        if "extra_retry" in self.defects:
            n += 1
        if "fewer_retries" in self.defects:
            n = max(0, n - 1)
        return n

    def backoff(self, k: int) -> float:
        """The delay before retry k (k >= 1), jitter included."""
        p, d = self.p, self.defects
        if (not p.first_retry_waits and k == 1) or "no_backoff" in d:
            return 0.0
        nominal = p.base_s * (k if "linear" in d else p.multiplier ** (k - 1))
        if p.cap_s is not None and "no_cap" not in d:
            nominal = min(nominal, p.cap_s)
        if p.jitter == "none" or "no_jitter" in d:
            delay = nominal
        elif p.jitter == "full":
            delay = self.rng.uniform(0.0, nominal)
        else:  # equal
            delay = nominal / 2 + self.rng.uniform(0.0, nominal / 2)
        if "wait_half" in d:
            delay /= 2
        return delay

    def retry_after_s(self, out: Outcome) -> float | None:
        p = self.p
        if not p.ra_honoured or "ignore_retry_after" in self.defects:
            return None
        if out.status not in p.ra_statuses:
            return None
        value = out.header("Retry-After")
        if value is None or not value.strip().isdigit():
            return None  # an HTTP-date is not used by the backends here
        s = float(int(value.strip()))
        return min(s, p.ra_max_s) if p.ra_max_s is not None else s

    def handle(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> Outcome:
        p, d = self.p, self.defects
        self.budget.request()
        start = time.monotonic()
        deadline = None
        if p.deadline_s is not None and "ignore_deadline" not in d:
            deadline = start + float(p.deadline_s)
        retries = 0
        while True:
            per_try = _DEFAULT_TRY_TIMEOUT_S
            if p.per_try_timeout_s is not None and "ignore_per_try_timeout" not in d:
                per_try = float(p.per_try_timeout_s)
            if deadline is not None:
                per_try = min(per_try, deadline - time.monotonic())
            out = self.attempt(method, path, headers, body, per_try)
            if out.failure is None and out.status is not None and out.status < 400:
                return out
            if retries >= self.max_retries() or not self.retryable(out, method, headers):
                return out
            k = retries + 1
            delay = self.backoff(k)
            ra = self.retry_after_s(out)
            if ra is not None:
                delay = ra if p.ra_replaces else max(delay, ra)
            if deadline is not None and time.monotonic() + delay >= deadline:
                return out  # the retry would start after the deadline
            time.sleep(delay)
            if deadline is not None and time.monotonic() >= deadline:
                return out  # woke up late (a loaded machine): the deadline has passed meanwhile
            if p.has_budget and "ignore_budget" not in d and not self.budget.take_retry():
                return out
            retries = k


def make_handler(proxy: Proxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "retrying-proxy/1"

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _proxy(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
            headers = [(k, v) for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP]
            out = proxy.handle(self.command, self.path, headers, body)
            if out.status is None:
                status = 504 if out.failure == "timeout" else 502
                data = f"retrying-proxy: upstream {out.failure}\n".encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            self.send_response(out.status)
            for k, v in out.headers:
                if k.lower() not in _HOP_BY_HOP and k.lower() not in (
                    "content-length",
                    "date",
                    "server",
                ):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(out.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(out.body)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _proxy

    return Handler


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", required=True, help="HOST:PORT (loopback)")
    ap.add_argument("--upstreams", required=True, help="comma-separated base URLs")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--scenario", type=Path, help="scenario YAML holding policy.inline")
    src.add_argument("--policy", type=Path, help="JSON file holding a canonical policy")
    ap.add_argument("--defect", action="append", default=[], choices=sorted(DEFECTS))
    args = ap.parse_args(argv)
    policy = Policy(load_policy(args.scenario, args.policy))
    host, _, port = args.listen.rpartition(":")
    upstreams = [u.strip() for u in args.upstreams.split(",") if u.strip()]
    proxy = Proxy(policy, upstreams, set(args.defect))
    server = _Server((host.strip("[]"), int(port)), make_handler(proxy))
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    defects = ", ".join(args.defect) or "none"
    print(f"retrying-proxy on {args.listen} -> {upstreams}; defects: {defects}", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
