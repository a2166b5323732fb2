"""Real HAProxy 2.6.12 shows the HAProxy adapter's remaining behavioural notes.

* ``tune.bufsize``: a POST whose body does not fit in one buffer is not retried at layer 7, even
  with ``option http-buffer-request``; the same POST with a small body is. Told the load's body
  size, the adapter's policy retries POST exactly where HAProxy does (default buffer).
* The 2.6.0 off-by-one (``retries - 1`` retries): the installed 2.6.12 makes every declared
  retry, at layer 7 and for connections (the note names the versions it concerns).
* ``retry-on none``: nothing is retried, whatever ``retries`` says.
* ``option redispatch``: not set, every retry stays on the first server; set, every retry,
  layer-7 or connection, moves to another server at once whatever the interval (even 0,
  documented as disabling redispatch), with ``balance roundrobin`` and with ``leastconn`` (a
  finding: the documented interval is not what 2.6.12 does).
* One server with redispatch: every retry stays on it.
* ``http-request disable-l7-retry``: a connection failure is still retried for POST, and not at
  all for any method when ``retry-on`` lacks ``conn-failure``.
* ``timeout server`` not set: HAProxy warns about the missing timeout.
* ``check``: a server whose health check fails is marked DOWN and HAProxy answers 503 itself,
  after no attempt, although the declared policy would retry (why it is not judged).
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from contextlib import AbstractContextManager as ContextManager
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests

from harness.adapters import haproxy
from harness.adapters.base import AdapterContext
from harness.policy.model import Aspect
from harness.suts.network import free_port
from harness.suts.spec import HaproxySut
from tests.integration.suts.live_sut import running_config
from tests.integration.suts.upstream import Upstream, running_upstream

pytestmark = pytest.mark.integration

_RETRIES_FIELD = re.compile(r" \d+/\d+/\d+/\d+/\+?(\d+) \d+/\d+ ")


def _haproxy(tmp: Path, text: str, upstreams: list[str]) -> ContextManager[tuple[str, Path | None]]:
    return running_config(HaproxySut, tmp, text, upstreams)


def _post(url: str, rid: str, body: bytes) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    head = (
        f"POST /p HTTP/1.1\r\nHost: t\r\nX-Request-ID: {rid}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(head + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


def _get(url: str, rid: str) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=15) as s:
        head = f"GET /g HTTP/1.1\r\nHost: t\r\nX-Request-ID: {rid}\r\nConnection: close\r\n\r\n"
        s.sendall(head.encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


BUFSIZE = """\
global
    tune.bufsize 4096
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe
    bind {{listen}}
    default_backend be
backend be
    retries 2
    retry-on conn-failure 503
    option http-buffer-request
    server s{{upstream_index}} {{upstream_hostport}}
"""


@pytest.mark.parametrize(("size", "arrivals", "status"), [(1000, 2, b"200"), (12000, 1, b"503")])
def test_a_body_larger_than_the_buffer_gets_no_layer7_retry(
    tmp_path: Path, size: int, arrivals: int, status: bytes
) -> None:
    adapted = haproxy.load(_write(tmp_path, BUFSIZE), AdapterContext(upstream_servers=1))
    assert any(n.field == "retry-on" and "tune.bufsize" in n.text for n in adapted.quirks)
    with (
        running_upstream("up0", fail_first=1, fail_status=503) as up,
        _haproxy(tmp_path, BUFSIZE, [up.url]) as (url, _),
    ):
        answer = _post(url, "b1", b"x" * size)
    assert answer.startswith(b"HTTP/1.1 " + status), answer[:100]
    seen = up.of("b1")
    assert len(seen) == arrivals
    assert all(len(a.body) == size for a in seen)


DEFAULT_BUFFER = BUFSIZE.replace("    tune.bufsize 4096\n", "    maxconn 64\n")
USABLE = haproxy.DEFAULT_BUFSIZE - haproxy.DEFAULT_MAXREWRITE


def test_the_adapter_says_which_load_bodies_haproxy_retries(tmp_path: Path) -> None:
    """POSTs sent as the load sends them (python-requests, as Locust's HttpUser) through the
    default buffer: where the adapter, told the body size, judges the method (a size at most
    ``usable - REQUEST_HEAD_ALLOWANCE``, or above ``usable``), HAProxy retries exactly as the
    policy says; the sizes it leaves not judged hold the real boundary (14900 retried, 15300
    not: the request line, headers and HAProxy's overhead take the rest)."""
    judged = {USABLE - haproxy.REQUEST_HEAD_ALLOWANCE: True, USABLE + 1: False, 40000: False}
    unsure = {14900: True, 15300: False}
    path = _write(tmp_path, DEFAULT_BUFFER)
    for size in [*judged, *unsure]:
        ctx = AdapterContext(upstream_servers=1, body_bytes={"POST": size}, body_source="s:1")
        policy = haproxy.load(path, ctx).policy
        assert bool(policy.not_judged) == (size in unsure), size
        if size in judged:
            retryable = policy.methods.retryable
            assert (retryable is None or "POST" in retryable) == judged[size], size
    with (
        running_upstream("up0", fail_first=1, fail_status=503) as up,
        _haproxy(tmp_path, DEFAULT_BUFFER, [up.url]) as (url, _),
        requests.Session() as session,
    ):
        for size, retried in {**judged, **unsure}.items():
            rid = f"size-{size}"
            answer = session.post(
                url + "/", data=b"x" * size, headers={"X-Request-ID": rid}, timeout=10
            )
            assert answer.status_code == (200 if retried else 503), size
            assert len(up.of(rid)) == (2 if retried else 1), size


def _write(tmp: Path, text: str) -> Path:
    path = tmp / "adapt.cfg"
    path.write_text(text, encoding="utf-8")
    return path


RETRIES = """\
global
    log stderr format raw local0 info
defaults
    mode http
    log global
    option httplog
    timeout connect 200ms
    timeout client 10s
    timeout server 10s
frontend fe
    bind {{listen}}
    default_backend be
backend be
    retries 3
    retry-on conn-failure 503
    server s{{upstream_index}} {{upstream_hostport}}
"""


def test_2_6_12_makes_every_declared_retry(tmp_path: Path) -> None:
    """2.6.0-2.6.9 made retries-1 layer-7 retries, 2.6.0-2.6.2 retries-1 connection retries;
    the installed 2.6.12 makes all 3 of each."""
    version = subprocess.run(
        [shutil.which("haproxy") or "haproxy", "-v"], capture_output=True, text=True, check=False
    ).stdout
    adapted = haproxy.load(_write(tmp_path, RETRIES), AdapterContext(upstream_servers=1))
    assert adapted.policy.max_retries == 3
    (note,) = [n for n in adapted.quirks if n.field == "retries" and "2.6.0" in n.text]
    assert "2.6.3" in note.text and "2.6.10" in note.text
    with (
        running_upstream("up0", fail_first=10, fail_status=503) as up,
        _haproxy(tmp_path, RETRIES, [up.url]) as (url, _),
    ):
        answer = _get(url, "l7")
    assert answer.startswith(b"HTTP/1.1 503")
    assert len(up.of("l7")) == 4, version  # 1 + 3 layer-7 retries
    closed = f"http://127.0.0.1:{free_port()}"
    with _haproxy(tmp_path / "c", RETRIES, [closed]) as (url, log_path):
        answer = _get(url, "conn")
        time.sleep(0.3)  # let HAProxy write its log line
    assert answer.startswith(b"HTTP/1.1 503")
    assert log_path is not None
    retries = [int(m.group(1)) for m in _RETRIES_FIELD.finditer(log_path.read_text())]
    assert retries and retries[-1] == 3, version


def test_retry_on_none_retries_nothing(tmp_path: Path) -> None:
    text = RETRIES.replace("retry-on conn-failure 503", "retry-on none")
    adapted = haproxy.load(_write(tmp_path, text), AdapterContext(upstream_servers=1))
    assert any(n.field == "retry-on" and "'none'" in n.text for n in adapted.quirks)
    with (
        running_upstream("up0", fail_first=10, fail_status=503) as up,
        _haproxy(tmp_path, text, [up.url]) as (url, _),
    ):
        assert _get(url, "n1").startswith(b"HTTP/1.1 503")
    assert len(up.of("n1")) == 1
    closed = f"http://127.0.0.1:{free_port()}"
    with _haproxy(tmp_path / "c", text, [closed]) as (url, log_path):
        assert _get(url, "n2").startswith(b"HTTP/1.1 503")
        time.sleep(0.3)
    assert log_path is not None
    retries = [int(m.group(1)) for m in _RETRIES_FIELD.finditer(log_path.read_text())]
    assert retries and retries[-1] == 0


REDISPATCH = """\
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe
    bind {{{{listen}}}}
    default_backend be
backend be
    balance roundrobin
    retries 3
    retry-on 503
{option}    server s{{{{upstream_index}}}} {{{{upstream_hostport}}}}
"""


@pytest.mark.parametrize(
    ("balance", "option", "order"),
    [
        ("roundrobin", "", "aaaa"),
        ("leastconn", "", "aaaa"),
        # any redispatch moves every layer-7 retry, whatever the interval (even 0, documented
        # as disabling it) and whatever the algorithm
        ("roundrobin", "    option redispatch 0\n", "abab"),
        ("roundrobin", "    option redispatch\n", "abab"),
        ("roundrobin", "    option redispatch 2\n", "abab"),
        ("leastconn", "    option redispatch 0\n", "abab"),
        ("leastconn", "    option redispatch\n", "abab"),
        ("leastconn", "    option redispatch 2\n", "abab"),
    ],
)
def test_redispatch_moves_every_layer7_retry_whatever_the_interval(
    tmp_path: Path, balance: str, option: str, order: str
) -> None:
    with ExitStack() as stack:
        ups: list[Upstream] = [
            stack.enter_context(running_upstream(n, fail_first=10, fail_status=503)) for n in "ab"
        ]
        text = REDISPATCH.format(option=option).replace("balance roundrobin", f"balance {balance}")
        adapted = haproxy.load(_write(tmp_path, text), AdapterContext(upstream_servers=2))
        (note,) = [n for n in adapted.quirks if n.field == "option redispatch"]
        if order == "aaaa":
            assert "every retry stays on the server of the first attempt" in note.text
        else:
            assert "connection or layer-7" in note.text and "whatever the interval" in note.text
        assert adapted.policy.different_upstream is (order == "abab")
        with _haproxy(tmp_path, text, [u.url for u in ups]) as (url, _):
            for i in range(2):  # the first request may start on either server
                _get(url, f"r{i}")
        for i in range(2):
            seen = sorted((a.at, u.name) for u in ups for a in u.of(f"r{i}"))
            got = "".join(name for _, name in seen)
            first = got[0]
            other = "b" if first == "a" else "a"
            assert got == order.replace("a", "X").replace("b", other).replace("X", first), got


def test_one_server_keeps_every_retry_with_redispatch(tmp_path: Path) -> None:
    text = RETRIES.replace("retries 3\n", "retries 3\n    option redispatch 1\n")
    adapted = haproxy.load(_write(tmp_path, text), AdapterContext(upstream_servers=1))
    assert any(n.field == "server" and "nowhere else" in n.text for n in adapted.quirks)
    assert not adapted.policy.different_upstream
    with (
        running_upstream("up0", fail_first=2, fail_status=503) as up,
        _haproxy(tmp_path, text, [up.url]) as (url, _),
    ):
        assert _get(url, "o1").startswith(b"HTTP/1.1 200")
    assert len(up.of("o1")) == 3


def test_disable_l7_retry_still_retries_a_connection_failure_for_post(tmp_path: Path) -> None:
    text = RETRIES.replace(
        "    retry-on conn-failure 503\n",
        "    retry-on conn-failure 503\n    http-request disable-l7-retry if METH_POST\n",
    )
    adapted = haproxy.load(_write(tmp_path, text), AdapterContext(upstream_servers=1))
    assert adapted.policy.methods.connect_failure_any_method
    assert adapted.policy.methods.retryable is not None
    assert "POST" not in adapted.policy.methods.retryable
    closed = f"http://127.0.0.1:{free_port()}"
    with _haproxy(tmp_path, text, [closed]) as (url, log_path):
        assert _post(url, "p1", b"hello").startswith(b"HTTP/1.1 503")
        time.sleep(0.3)
    assert log_path is not None
    retries = [int(m.group(1)) for m in _RETRIES_FIELD.finditer(log_path.read_text())]
    assert retries and retries[-1] == 3


def test_without_conn_failure_a_connection_failure_is_not_retried(tmp_path: Path) -> None:
    """The note's other branch: retry-on without conn-failure (and disable-l7-retry) retries no
    failed connect at all, for any method (a new user's finding: the note said it did)."""
    text = RETRIES.replace(
        "    retry-on conn-failure 503\n",
        "    retry-on 503\n    http-request disable-l7-retry if !METH_GET !METH_HEAD\n",
    )
    adapted = haproxy.load(_write(tmp_path, text), AdapterContext(upstream_servers=1))
    assert not adapted.policy.retry_on.connect_failure
    assert any("not retried at all" in n.text for n in adapted.notes)
    closed = f"http://127.0.0.1:{free_port()}"
    with _haproxy(tmp_path, text, [closed]) as (url, log_path):
        assert _get(url, "g1").startswith(b"HTTP/1.1 503")
        time.sleep(0.3)
    assert log_path is not None
    retries = [int(m.group(1)) for m in _RETRIES_FIELD.finditer(log_path.read_text())]
    assert retries and retries[-1] == 0


def test_missing_timeout_server_is_warned_about(tmp_path: Path) -> None:
    text = (
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n"
        "frontend fe\n    bind 127.0.0.1:1\n    default_backend be\n"
        "backend be\n    server s0 127.0.0.1:2\n"
    )
    path = _write(tmp_path, text)
    adapted = haproxy.load(path, AdapterContext(upstream_servers=1))
    assert adapted.policy.per_try_timeout_s is None
    assert any(n.field == "timeout server" and "no timeout" in n.text for n in adapted.notes)
    binary = shutil.which("haproxy")
    if binary is None:
        pytest.skip("haproxy not installed (apt-get install -y haproxy)")
    done = subprocess.run(
        [binary, "-c", "-f", str(path)], capture_output=True, text=True, timeout=30, check=False
    )
    assert "missing timeouts" in done.stdout + done.stderr, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("backend", "arrivals"),
    [
        # retry-on not set: HAProxy's default conn-failure only, a 503 is not retried
        ("    retries 3\n", 1),
        # disable-l7-retry for every method: only conn-failure remains
        ("    retries 3\n    retry-on conn-failure 503\n    http-request disable-l7-retry\n", 1),
        # the control: the same 503 is retried with retry-on 503
        ("    retries 3\n    retry-on conn-failure 503\n", 2),
    ],
)
def test_only_connection_failures_are_retried_without_l7_retries(
    tmp_path: Path, backend: str, arrivals: int
) -> None:
    text = (
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 10s\n"
        "    timeout server 10s\nfrontend fe\n    bind {{listen}}\n    default_backend be\n"
        f"backend be\n{backend}    server s{{{{upstream_index}}}} {{{{upstream_hostport}}}}\n"
    )
    adapted = haproxy.load(_write(tmp_path, text), AdapterContext(upstream_servers=1))
    assert (503 in adapted.policy.retry_on.statuses) is (arrivals > 1)
    if "disable-l7-retry" in backend:
        assert any("only conn-failure remains" in n.text for n in adapted.quirks)
    if "retry-on" not in backend:
        assert any(n.field == "retry-on" and "'conn-failure'" in n.text for n in adapted.notes)
    with (
        running_upstream("up0", fail_first=1, fail_status=503) as up,
        _haproxy(tmp_path, text, [up.url]) as (url, _),
    ):
        _get(url, "c1")
    assert len(up.of("c1")) == arrivals


CONN_REDISPATCH = """\
defaults
    mode http
    timeout connect 200ms
    timeout client 10s
    timeout server 10s
frontend fe
    bind {{{{listen}}}}
    default_backend be
backend be
    balance {balance}
    retries 3
    retry-on conn-failure
{option}    server a 127.0.0.1:{closed}
    server b {{{{upstream_hostport}}}}
"""


@pytest.mark.parametrize("balance", ["roundrobin", "leastconn"])
@pytest.mark.parametrize("option", ["", "0", "-1", "2"])
def test_redispatch_moves_connection_retries_at_once_whatever_the_interval(
    tmp_path: Path, balance: str, option: str
) -> None:
    """Server a refuses connections, b answers. Without redispatch a request that starts on a
    is retried there 3 times, 200 ms apart (min(timeout connect, 1 s)), and fails; with any
    redispatch interval it goes to b at once."""
    line = "" if not option else f"    option redispatch {option}\n".replace(" -1\n", "\n")
    text = CONN_REDISPATCH.format(balance=balance, option=line, closed=free_port())
    adapted = haproxy.load(_write(tmp_path, text), AdapterContext(upstream_servers=2))
    assert adapted.policy.different_upstream is bool(option)
    with (
        running_upstream("b") as up,
        _haproxy(tmp_path, text, [up.url]) as (url, _),
    ):
        results = []
        for i in range(4):  # round robin / least connections: some start on a
            start = time.monotonic()
            answer = _get(url, f"c{i}")
            results.append((answer[9:12], time.monotonic() - start))
    if option:
        assert all(status == b"200" for status, _ in results), results
    else:
        failed = [took for status, took in results if status == b"503"]
        assert failed, results
        assert all(took >= 0.55 for took in failed), results  # 3 retries 200 ms apart


HEALTH = """\
defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 10s
frontend fe
    bind {{listen}}
    default_backend be
backend be
    retries 3
    retry-on conn-failure 503
    option httpchk
    http-check send meth GET uri /health hdr X-Request-ID hc
    server s{{upstream_index}} {{upstream_hostport}}{check}
"""


@pytest.mark.parametrize("check", [" check inter 100ms fall 1 rise 1", ""])
def test_a_server_down_by_its_health_check_gets_no_attempt(tmp_path: Path, check: str) -> None:
    """The upstream fails every health check (503 to X-Request-ID hc). With ``check`` HAProxy
    marks the only server DOWN and answers 503 itself: the request gets no attempt, not the
    1 + 3 the policy declares; the adapter says max_retries is not judged. Without ``check``
    the same config makes every declared attempt."""
    text = HEALTH.replace("{check}", check)
    adapted = haproxy.load(_write(tmp_path, text), AdapterContext(upstream_servers=1))
    checked = [u for u in adapted.policy.not_judged if u.native.startswith("server ")]
    assert [sorted(u.aspects) for u in checked] == ([[Aspect.MAX_RETRIES]] if check else [])
    with (
        running_upstream("up0", fail_first=10**6, fail_status=503) as up,
        _haproxy(tmp_path, text, [up.url]) as (url, _),
    ):
        deadline = time.monotonic() + 10
        rid, answer = "", b""
        for i in range(100):  # until the check has marked the server DOWN (bounded: 10 s)
            rid = f"h{i}"
            answer = _get(url, rid)
            if not check or not up.of(rid) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert answer.startswith(b"HTTP/1.1 503"), answer[:100]
    if check:
        assert up.of("hc"), "HAProxy sent no health check"
        assert up.of(rid) == [], "the server was never marked DOWN"
    else:
        assert len(up.of(rid)) == 4  # 1 + 3 layer-7 retries


SPARE = """\
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
frontend fe
    bind {{{{listen}}}}
    default_backend be
backend be
    balance roundrobin
    retries 2
    retry-on 503
    option redispatch
    server s{{{{upstream_index}}}} {{{{upstream_hostport}}}}
    server spare 127.0.0.1:{closed}{backup}
"""


@pytest.mark.parametrize("backup", [" backup", ""])
def test_a_literal_server_gets_attempts_unless_it_is_an_unused_backup(
    tmp_path: Path, backup: str
) -> None:
    """``server spare 127.0.0.1:<closed>`` next to the harness's server, which answers 503 to
    everything. As a ``backup`` (no health checks, so the active server is always available)
    HAProxy never uses it: every request makes its 1 + 2 attempts at the harness's server, and
    the adapter leaves it judged with a note. Without ``backup`` round robin sends requests to
    it: they reach the harness's server fewer times (none when the first try went to the closed
    port: a refused connection, not retried without conn-failure), so the adapter makes retry
    count, upstream and backoff not judged."""
    text = SPARE.format(closed=free_port(), backup=backup)
    adapted = haproxy.load(_write(tmp_path, text), AdapterContext(upstream_servers=1))
    foreign = [u for u in adapted.policy.not_judged if "spare" in u.native]
    if backup:
        assert foreign == []
        assert any("HAProxy never uses it" in n.text for n in adapted.quirks)
    else:
        (u,) = foreign
        assert u.aspects == frozenset({Aspect.MAX_RETRIES, Aspect.UPSTREAM, Aspect.BACKOFF})
        assert u.location is not None and u.location.endswith("adapt.cfg:15")
    with (
        running_upstream("up0", fail_first=10**6, fail_status=503) as up,
        _haproxy(tmp_path, text, [up.url]) as (url, _),
    ):
        rids = [f"sp{i}" for i in range(4)]
        for rid in rids:
            requests.get(url + "/", headers={"X-Request-ID": rid}, timeout=10)
    arrivals = [len(up.of(rid)) for rid in rids]
    if backup:
        assert arrivals == [3, 3, 3, 3]
    else:
        assert min(arrivals) < 3, arrivals
