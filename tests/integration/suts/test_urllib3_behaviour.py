"""Real urllib3 (the installed 2.x) over real HTTP shows what the urllib3 adapter claims.

* total runs out on a 429 retried only because it carried Retry-After: urlopen returns the 429,
  no MaxRetryError; the same status in status_forcelist ends in MaxRetryError.
* ``method_whitelist`` is not a Retry argument any more (TypeError); the adapter names
  ``allowed_methods``.
* allowed_methods: POST is not retried by default; ``[]`` retries every method; a lower-case
  name matches no request.
* connect errors are retried for any method, POST included.
"""

from __future__ import annotations

import ast
import contextlib
import threading
import time
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import urllib3
from urllib3.exceptions import MaxRetryError
from urllib3.util import Retry

from harness.adapters import urllib3_retry
from harness.errors import BadInput
from harness.suts.network import free_port

pytestmark = pytest.mark.integration


@contextlib.contextmanager
def _server(status: int, headers: dict[str, str]) -> Iterator[tuple[str, list[str]]]:
    """Answers every request with ``status`` and ``headers``; yields (url, methods seen)."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            seen.append(self.command)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = do_PUT = _serve

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _request(method: str, url: str, retry: Retry) -> Any:
    with urllib3.PoolManager(retries=retry, timeout=5) as pool:
        return pool.request(method, url, body=b"x" if method != "GET" else None)


def test_retry_after_status_returns_the_last_answer_when_total_runs_out(tmp_path: Path) -> None:
    adapted = urllib3_retry.adapt({"total": 2}, file=tmp_path / "r.yaml")
    assert (
        429 not in adapted.policy.retry_on.statuses and adapted.policy.retry_after.makes_retryable
    )
    assert any("urlopen RETURNS it" in n.text for n in adapted.quirks)
    with _server(429, {"Retry-After": "0"}) as (url, seen):
        answer = _request("GET", url, Retry(total=2))
    assert answer.status == 429  # returned, not raised
    assert seen == ["GET"] * 3  # two retries made, then the answer handed back


def test_forcelisted_status_raises_max_retry_error(tmp_path: Path) -> None:
    with _server(429, {"Retry-After": "0"}) as (url, seen), pytest.raises(MaxRetryError):
        _request("GET", url, Retry(total=2, status_forcelist=[429]))
    assert seen == ["GET"] * 3


def test_method_whitelist_is_gone_from_urllib3_and_refused_by_the_adapter(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="method_whitelist"):
        Retry(method_whitelist=["GET"])  # type: ignore[call-arg]
    with pytest.raises(BadInput, match="use allowed_methods"):
        urllib3_retry.adapt({"method_whitelist": ["GET"]}, file=tmp_path / "r.yaml")


@pytest.mark.parametrize(
    ("allowed", "method", "attempts"),
    [
        (None, "POST", 1),  # absent: the default set, POST excluded
        ([], "POST", 3),  # empty: every method
        (["get"], "GET", 1),  # lower case: matches no request
        (["GET"], "GET", 3),
    ],
)
def test_allowed_methods_as_urllib3_applies_them(
    tmp_path: Path, allowed: list[str] | None, method: str, attempts: int
) -> None:
    kwargs: dict[str, Any] = {"total": 2, "status_forcelist": [503]}
    if allowed is not None:
        kwargs["allowed_methods"] = allowed
    policy = urllib3_retry.adapt(kwargs, file=tmp_path / "r.yaml").policy
    retryable = policy.methods.retryable
    assert (retryable is None or method in retryable) == (attempts > 1)
    with _server(503, {}) as (url, seen), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # urllib3 2.x on allowed_methods=[]
        with contextlib.suppress(MaxRetryError):
            _request(method, url, Retry(**kwargs))
    assert len(seen) == attempts


def test_connect_errors_are_retried_for_post(tmp_path: Path) -> None:
    calls: list[str | None] = []

    class Counting(Retry):
        def increment(self, method: str | None = None, *args: Any, **kwargs: Any) -> Retry:
            calls.append(method)
            return super().increment(method, *args, **kwargs)

    policy = urllib3_retry.adapt({"total": 2}, file=tmp_path / "r.yaml").policy
    assert policy.methods.connect_failure_any_method
    assert policy.methods.retryable is not None and "POST" not in policy.methods.retryable
    closed = f"http://127.0.0.1:{free_port()}/"  # nothing listens there
    with pytest.raises(MaxRetryError):
        _request("POST", closed, Counting(total=2))
    assert calls == ["POST"] * 3  # two retries and the final, exhausting increment


def test_defaults_are_urllib3s_own(tmp_path: Path) -> None:
    """Every 'default' note names the value the installed urllib3's Retry() really has."""
    adapted = urllib3_retry.adapt({}, file=tmp_path / "r.yaml")
    real = Retry()
    values = {
        "total": real.total,
        "backoff_factor": real.backoff_factor,
        "backoff_max": real.backoff_max,
        "backoff_jitter": real.backoff_jitter,
        "allowed_methods": sorted(real.allowed_methods or ()),
        "status_forcelist": sorted(real.status_forcelist or ()) or None,
        "respect_retry_after_header": real.respect_retry_after_header,
        "retry_after_max": real.retry_after_max,
        "raise_on_status": real.raise_on_status,
    }
    defaults = {n.field: n.text for n in adapted.notes if n.kind == "default"}
    assert set(defaults) == set(values)
    for field, value in values.items():
        shown = defaults[field].split("documented default ", 1)[1].split(" used", 1)[0]
        assert ast.literal_eval(shown) == value, (field, defaults[field])


def test_a_looser_per_kind_counter_retries_more_than_the_folded_limit(tmp_path: Path) -> None:
    kwargs: dict[str, Any] = {"total": 3, "connect": 1, "status_forcelist": [503]}
    adapted = urllib3_retry.adapt(kwargs, file=tmp_path / "r.yaml")
    assert adapted.policy.max_retries == 1
    (note,) = [n for n in adapted.quirks if n.field == "total" and "folded" in n.text]
    assert "total" in note.text.split("counted by", 1)[1]
    with _server(503, {}) as (url, seen), pytest.raises(MaxRetryError):
        _request("GET", url, Retry(**kwargs))
    assert len(seen) == 4  # 3 status retries, more than the folded max_retries=1


@pytest.mark.parametrize(
    ("retry_after", "retry_after_max", "wait_s"),
    [
        ("1", None, 1.0),  # replaces the backoff (0 for retry 1, 0.05 s after)
        ("5", 0.3, 0.3),  # clamped to retry_after_max
        ("0", None, 0.0),  # 0: the backoff (0 before retry 1)
    ],
)
def test_retry_after_replaces_the_backoff_clamped_to_its_max(
    tmp_path: Path, retry_after: str, retry_after_max: float | None, wait_s: float
) -> None:
    kwargs: dict[str, Any] = {"total": 1, "status_forcelist": [503], "backoff_factor": 0.05}
    if retry_after_max is not None:
        kwargs["retry_after_max"] = retry_after_max
    adapted = urllib3_retry.adapt(kwargs, file=tmp_path / "r.yaml")
    assert any("Retry-After replaces the backoff" in n.text for n in adapted.quirks)
    with _server(503, {"Retry-After": retry_after}) as (url, seen):
        start = time.monotonic()
        with pytest.raises(MaxRetryError):
            _request("GET", url, Retry(**kwargs))
        took = time.monotonic() - start
    assert len(seen) == 2
    assert wait_s - 0.02 <= took < wait_s + 0.6, took
