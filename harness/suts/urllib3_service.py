"""The client-side SUT: a forwarding HTTP service whose ``requests``/``urllib3`` client retries.

This is the KubeRay-APIServer pattern: a service that calls another service through an HTTP
client configured with ``urllib3.Retry``. Every request it receives (method, path, query, body
and headers, including ``X-Request-ID`` and ``Idempotency-Key``) is sent to an upstream with one
shared ``requests.Session`` whose ``HTTPAdapter`` carries the configured ``Retry``; the
upstream's final status, headers and body are returned unchanged.

When the client gives up with an exception (status retries exhausted while
``raise_on_status`` is true, connection errors, timeouts) the service answers 502 with a JSON
body ``{"error": kind, "detail": ...}`` and the header ``X-Retry-Harness-Error: kind``. With
``raise_on_status: false`` urllib3 returns the last response instead, and so does the service.

Run: ``python -m harness.suts.urllib3_service --listen 127.0.0.1:8080 --upstream URL
--config FILE`` (``--upstream`` may repeat; requests go round-robin over upstreams).
``GET /__retry_harness__/ready`` is answered locally (readiness without touching a backend).
"""

from __future__ import annotations

import argparse
import http.cookiejar
import itertools
import json
import logging
import signal
import sys
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import requests
import urllib3
from requests.adapters import HTTPAdapter
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from fake_backends.http_headers import HOP_BY_HOP as HOP_BY_HOP_HEADERS
from harness.errors import BadInput
from harness.suts.urllib3_config import Urllib3ClientConfig, load_client_config

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

READY_PATH = "/__retry_harness__/ready"
#: urllib3's own record of each retry (``Retry.increment`` logs "Incremented Retry for (url=...)"
#: at DEBUG just before the retry is made), tagged with the request id being forwarded: the
#: client's telemetry, read by harness/telemetry/logs.py.
RETRY_LOG_FORMAT = "urllib3-retry request_id=%(request_id)s %(message)s"
_forwarding = threading.local()


class _RequestIdFilter(logging.Filter):
    """Adds the id of the request this thread is forwarding to every log record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = getattr(_forwarding, "request_id", None) or "-"
        return True


def log_urllib3_retries() -> None:
    """Send urllib3's retry records (logger ``urllib3.util.retry``) to stderr, one line each."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(RETRY_LOG_FORMAT))
    handler.addFilter(_RequestIdFilter())
    retry_log = logging.getLogger("urllib3.util.retry")
    retry_log.setLevel(logging.DEBUG)
    retry_log.addHandler(handler)
    retry_log.propagate = False


ERROR_HEADER = "X-Retry-Harness-Error"
POOL_MAXSIZE = 64
HOP_BY_HOP = HOP_BY_HOP_HEADERS | {"host", "content-length"}
"""Not passed on: the hop-by-hop headers, and what the service's own client sets itself."""


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """A forwarding service must not carry cookies from one caller's response to another."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


def make_session(config: Urllib3ClientConfig, pools: int) -> requests.Session:
    """One shared session: the configured Retry, no cookies, no proxies from the environment."""
    session = requests.Session()
    session.trust_env = False
    session.cookies.set_policy(_NoCookies())
    adapter = HTTPAdapter(
        max_retries=config.retry(), pool_connections=max(pools, 1), pool_maxsize=POOL_MAXSIZE
    )
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _forward_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {k: v for k, v in headers if k.lower() not in HOP_BY_HOP}


def error_kind(exc: Exception) -> str:
    """A short name for why the client gave up."""
    if isinstance(exc, requests.exceptions.RetryError):
        return "retries_exhausted"
    if isinstance(exc, requests.exceptions.Timeout | urllib3.exceptions.TimeoutError):
        return "timeout"
    if isinstance(exc, requests.exceptions.ConnectionError | urllib3.exceptions.ProtocolError):
        return "connection_error"
    return "client_error"


class ForwardingApp:
    """The WSGI app: forward each request upstream through the retrying session."""

    def __init__(self, upstreams: Sequence[str], config: Urllib3ClientConfig) -> None:
        if not upstreams:
            raise ValueError("at least one upstream is needed")
        self.config = config
        self.session = make_session(config, len(upstreams))
        self._next = itertools.cycle([u.rstrip("/") for u in upstreams])
        self._lock = threading.Lock()

    def _upstream(self) -> str:
        with self._lock:
            return next(self._next)

    def handle(self, request: Request) -> Response:
        if request.path == READY_PATH and request.method == "GET":
            return Response("ready\n", status=200, mimetype="text/plain")
        raw_uri = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
        target = raw_uri if isinstance(raw_uri, str) and raw_uri.startswith("/") else None
        if target is None:
            query = request.query_string.decode("latin-1")
            target = request.path + (f"?{query}" if query else "")
        url = self._upstream() + target
        _forwarding.request_id = request.headers.get("X-Request-ID")
        body = request.get_data()
        # requests passes a urllib3.Timeout through unchanged (its stubs only list floats).
        timeout: Any = self.config.urllib3_timeout()
        try:
            upstream = self.session.request(
                request.method,
                url,
                data=body or None,
                headers=_forward_headers(request.headers.items()),
                timeout=timeout,
                allow_redirects=False,
                stream=True,
            )
            try:
                content = upstream.raw.read(decode_content=False)
            finally:
                upstream.close()
        except (requests.RequestException, urllib3.exceptions.HTTPError) as exc:
            kind = error_kind(exc)
            payload = {"error": kind, "detail": str(exc)[:1000], "upstream": url}
            return Response(
                json.dumps(payload),
                status=502,
                mimetype="application/json",
                headers={ERROR_HEADER: kind},
            )
        response = Response(content, status=upstream.status_code)
        for key, value in upstream.raw.headers.items():
            if key.lower() not in HOP_BY_HOP:
                response.headers.add(key, value)
        response.headers["Content-Length"] = str(len(content))
        return response

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return self.handle(Request(environ))(environ, start_response)


def _parse_listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.suts.urllib3_service")
    parser.add_argument("--listen", type=_parse_listen, required=True, help="HOST:PORT")
    parser.add_argument("--upstream", action="append", required=True, help="base URL")
    parser.add_argument("--config", type=Path, required=True, help="YAML of Retry kwargs")
    parser.add_argument("--access-log", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not args.access_log:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    log_urllib3_retries()
    try:
        config = load_client_config(args.config)
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    host, port = args.listen
    server = make_server(host, port, ForwardingApp(args.upstream, config), threaded=True)

    def _stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, _stop)
    logging.getLogger(__name__).info(
        "listening on %s:%d, upstreams %s, retry %r, timeout %s",
        host,
        port,
        args.upstream,
        config.retry(),
        config.timeout,
    )
    try:
        server.serve_forever()
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
