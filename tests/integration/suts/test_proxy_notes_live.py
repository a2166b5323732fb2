"""Behavioural notes of the HAProxy, nginx and Caddy adapters, each shown by the real system.

* HAProxy ``option redispatch 1``: every retry may go to another server (the adapter declares
  ``different_upstream``); without redispatch every retry stays on the first server.
* HAProxy in ``mode tcp``: ``retry-on`` is ignored; a 503 is not retried.
* HAProxy with nothing set retries a failed connection 3 times (its log's retries field); a
  connection retry waits min(``timeout connect``, 1 s); ``timeout server`` gives a 504 that is
  retried only with ``retry-on response-timeout``.
* nginx retries a refused connection only with ``error`` in ``proxy_next_upstream``.
* nginx without ``non_idempotent``: a POST is not passed to the next server once sent; with it,
  it is.
* Caddy: a status code is never retried (a completed round trip ends the loop); after the
  connection was made only GET is retried unless ``lb_retry_match`` says otherwise, and a POST
  with a body is not retried even then (a finding); the try interval is 0 without
  ``lb_try_duration`` and 250 ms with it.
"""

from __future__ import annotations

import itertools
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import requests

from harness.adapters import caddy, haproxy, nginx
from harness.adapters.base import AdapterContext
from harness.processes import timeouts
from harness.suts.base import missing_binary, start_sut
from harness.suts.network import free_port
from harness.suts.spec import CaddySut, HaproxySut, NginxSut
from tests.integration.suts.raw_upstream import running_raw_upstream
from tests.integration.suts.upstream import Upstream, running_slow_upstream, running_upstream

pytestmark = pytest.mark.integration

Spec = HaproxySut | NginxSut | CaddySut


@contextmanager
def _sut(spec: Spec, tmp: Path, upstream_urls: list[str]) -> Iterator[str]:
    hint = missing_binary(spec)
    if hint is not None:
        pytest.skip(hint)
    listen = ("127.0.0.1", free_port())
    with start_sut(
        spec, listen=listen, upstreams=upstream_urls, workdir=tmp / "work", base_dir=tmp
    ) as sut:
        yield sut.url


@contextmanager
def _upstreams(n: int, fail_first: int, status: int = 503) -> Iterator[list[Upstream]]:
    with ExitStack() as stack:
        yield [
            stack.enter_context(
                running_upstream(f"up{i}", fail_first=fail_first, fail_status=status)
            )
            for i in range(n)
        ]


HAPROXY = """\
defaults
    mode {mode}
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe
    bind {{{{listen}}}}
    default_backend be
backend be
    balance roundrobin
    retries 2
    retry-on conn-failure 503
    option http-buffer-request
{extra}    server s{{{{upstream_index}}}} {{{{upstream_hostport}}}}
"""


@pytest.mark.parametrize(("extra", "moves"), [("    option redispatch 1\n", True), ("", False)])
def test_haproxy_redispatch_decides_where_retries_go(
    tmp_path: Path, extra: str, moves: bool
) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(HAPROXY.format(mode="http", extra=extra))
    policy = haproxy.load(cfg, AdapterContext(upstream_servers=2)).policy
    assert policy.different_upstream is moves
    # every server fails the first arrival of each request id: a retry to the other server
    # then fails once too, a retry to the same server succeeds
    with (
        _upstreams(2, fail_first=1) as ups,
        _sut(HaproxySut(config=cfg), tmp_path, [u.url for u in ups]) as url,
    ):
        for i in range(6):
            requests.get(f"{url}/x", headers={"X-Request-ID": f"r{i}"}, timeout=10)
    for i in range(6):
        servers = [u.name for u in ups for _ in u.of(f"r{i}")]
        order = sorted((a.at, u.name) for u in ups for a in u.of(f"r{i}"))
        names = [n for _, n in order]
        assert len(names) >= 2, servers
        if moves:
            assert names[1] != names[0], names
        else:
            assert len(set(names)) == 1, names


def test_haproxy_tcp_mode_ignores_retry_on(tmp_path: Path) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(
        HAPROXY.format(mode="tcp", extra="").replace("    option http-buffer-request\n", "")
    )
    adapted = haproxy.load(cfg, AdapterContext(upstream_servers=1))
    assert adapted.policy.retry_on.statuses == frozenset()
    assert any(n.field == "mode" for n in adapted.quirks)
    with (
        _upstreams(1, fail_first=1) as ups,
        _sut(HaproxySut(config=cfg), tmp_path, [ups[0].url]) as url,
    ):
        answer = requests.get(f"{url}/x", headers={"X-Request-ID": "t1"}, timeout=10)
    assert answer.status_code == 503 and len(ups[0].of("t1")) == 1


NGINX = """\
worker_processes 1;
events {{ worker_connections 64; }}
http {{
    upstream backends {{
        server {{{{upstream_hostport}}}} max_fails=0;
    }}
    server {{
        listen {{{{listen}}}};
        location / {{
            proxy_pass http://backends;
            proxy_next_upstream error timeout http_503{extra};
            proxy_next_upstream_tries 2;
        }}
    }}
}}
"""


@pytest.mark.parametrize(("extra", "retried"), [("", False), (" non_idempotent", True)])
def test_nginx_post_goes_to_the_next_server_only_with_non_idempotent(
    tmp_path: Path, extra: str, retried: bool
) -> None:
    cfg = tmp_path / "nginx.conf"
    cfg.write_text(NGINX.format(extra=extra))
    policy = nginx.load(cfg, AdapterContext(upstream_servers=2)).policy
    assert (policy.methods.retryable is None or "POST" in policy.methods.retryable) is retried
    with (
        _upstreams(2, fail_first=1) as ups,
        _sut(NginxSut(config=cfg), tmp_path, [u.url for u in ups]) as url,
    ):
        answer = requests.post(f"{url}/p", data=b"body", headers={"X-Request-ID": "p1"}, timeout=10)
        get = requests.get(f"{url}/g", headers={"X-Request-ID": "g1"}, timeout=10)
    # each server fails the first arrival of each request id: a retry reaches the other server
    # and fails there too, so the answer is 503 either way; the arrivals tell
    assert sum(len(u.of("p1")) for u in ups) == (2 if retried else 1)
    assert answer.status_code == 503
    assert get.status_code == 503 and sum(len(u.of("g1")) for u in ups) == 2


CADDYFILE = """\
{{
    admin off
    auto_https off
}}
http://:{{{{listen_port}}}} {{
    bind {{{{listen_host}}}}
    reverse_proxy {{
        to {{{{upstream_hostport}}}}
        lb_retries 2
{extra}        transport http {{
            keepalive off
        }}
    }}
}}
"""


def test_caddy_never_retries_a_status(tmp_path: Path) -> None:
    cfg = tmp_path / "Caddyfile"
    cfg.write_text(CADDYFILE.format(extra=""))
    assert (
        caddy.load(cfg, AdapterContext(upstream_servers=1)).policy.retry_on.statuses == frozenset()
    )
    with (
        _upstreams(1, fail_first=1) as ups,
        _sut(CaddySut(config=cfg), tmp_path, [ups[0].url]) as url,
    ):
        answer = requests.get(f"{url}/x", headers={"X-Request-ID": "s1"}, timeout=10)
    assert answer.status_code == 503 and len(ups[0].of("s1")) == 1


@pytest.mark.parametrize(
    ("extra", "method", "retried"),
    [
        ("", "GET", True),
        ("", "POST", False),  # default: only GET after the connection was made
        # a finding: a POST with a body is not retried even when lb_retry_match admits it
        ("        lb_retry_match {\n            method POST\n        }\n", "POST", False),
        (
            "        lb_retry_match {\n            method POST\n        }\n"
            "        buffer_requests\n",
            "POST",
            False,
        ),
        ("        lb_retry_match {\n            method POST\n        }\n", "POSTNOBODY", True),
        ("        lb_retry_match {\n            method POST\n        }\n", "GET", False),
    ],
)
def test_caddy_retries_a_reset_only_for_the_matching_methods(
    tmp_path: Path, extra: str, method: str, retried: bool
) -> None:
    cfg = tmp_path / "Caddyfile"
    cfg.write_text(CADDYFILE.format(extra=extra))
    policy = caddy.load(cfg, AdapterContext(upstream_servers=1)).policy
    assert policy.methods.retryable is not None
    if "lb_retry_match" in extra:
        # POST is admitted, but whether it is retried depends on its body: not judged
        assert ("POST" in policy.methods.retryable) is True
        (u,) = policy.not_judged
        assert "POST" in u.native
    else:
        assert (method in policy.methods.retryable) is retried
    # the first arrival of each request is closed without an answer (a reset after connecting)
    with (
        running_raw_upstream(lambda rid, index, earlier: earlier == 0) as up,
        _sut(CaddySut(config=cfg), tmp_path, [up.url]) as url,
    ):
        answer = requests.request(
            method.replace("NOBODY", ""),
            f"{url}/x",
            data=b"b" if method == "POST" else None,
            headers={"X-Request-ID": "c1"},
            timeout=10,
        )
    assert len(up.of("c1")) == (2 if retried else 1)
    assert answer.status_code == (200 if retried else 502)


CONN = """\
defaults
    mode http
    timeout connect {connect}
    timeout client 10s
    timeout server 10s
frontend fe
    bind {{{{listen}}}}
    default_backend be
backend be
    retries 2
    retry-on conn-failure
    server s{{{{upstream_index}}}} {{{{upstream_hostport}}}}
"""


@pytest.mark.parametrize(("connect", "wait_s"), [("300ms", 0.3), ("3s", 1.0)])
def test_haproxy_connection_retry_waits_min_of_timeout_connect_and_1s(
    tmp_path: Path, connect: str, wait_s: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the readiness probe goes through HAProxy to the closed upstream too, and its answer (the
    # 503 after two retries, ~2 s) must not be cut by the default 2 s probe timeout
    t = timeouts.TIMEOUTS
    monkeypatch.setattr(timeouts, "TIMEOUTS", t.model_copy(update={"probe_s": 6.0}))
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(CONN.format(connect=connect))
    adapted = haproxy.load(cfg, AdapterContext(upstream_servers=1))
    (note,) = [n for n in adapted.quirks if n.field == "timeout connect"]
    assert f"= {wait_s:g}s" in note.text
    closed = f"http://127.0.0.1:{free_port()}"  # connection refused at once
    with _sut(HaproxySut(config=cfg), tmp_path, [closed]) as url:
        start = time.monotonic()
        answer = requests.get(f"{url}/x", timeout=15)
        took = time.monotonic() - start
    assert answer.status_code == 503
    # two retries, each after min(timeout connect, 1 s); generous upper bound for a loaded box
    assert 2 * wait_s - 0.05 <= took < 2 * wait_s + 1.5, took


NO_ERROR = """\
worker_processes 1;
events {{ worker_connections 64; }}
http {{
    upstream backends {{
        server 127.0.0.1:{closed} max_fails=0;
        server {{{{upstream_hostport}}}} max_fails=0;
    }}
    server {{
        listen {{{{listen}}}};
        location / {{
            proxy_pass http://backends;
            proxy_next_upstream {words};
            proxy_next_upstream_tries 2;
        }}
    }}
}}
"""


@pytest.mark.parametrize(
    ("words", "refused_retried"), [("http_503", False), ("error http_503", True)]
)
def test_nginx_retries_a_refused_connection_only_with_error(
    tmp_path: Path, words: str, refused_retried: bool
) -> None:
    cfg = tmp_path / "nginx.conf"
    cfg.write_text(NO_ERROR.format(closed=free_port(), words=words))
    policy = nginx.load(cfg, AdapterContext(upstream_servers=1)).policy
    assert policy.retry_on.connect_failure is refused_retried
    with (
        _upstreams(1, fail_first=0) as ups,
        _sut(NginxSut(config=cfg), tmp_path, [ups[0].url]) as url,
    ):
        statuses = [
            requests.get(f"{url}/x", headers={"X-Request-ID": f"n{i}"}, timeout=10).status_code
            for i in range(4)
        ]
    # round robin sends every other request to the closed port first
    if refused_retried:
        assert statuses == [200] * 4
    else:
        assert 502 in statuses and 200 in statuses


INTERVAL = """\
{{
    admin off
    auto_https off
}}
http://:{{{{listen_port}}}} {{
    bind {{{{listen_host}}}}
    reverse_proxy {{
        to {{{{upstream_hostport}}}}
{lb}        transport http {{
            keepalive off
        }}
    }}
}}
"""


@pytest.mark.parametrize(
    ("lb", "interval_s"),
    [
        ("        lb_retries 2\n", 0.0),  # no interval, no try duration: back to back
        ("        lb_try_duration 2s\n", 0.25),  # try duration alone: Caddy's 250 ms
    ],
)
def test_caddy_interval_is_250ms_only_with_a_try_duration(
    tmp_path: Path, lb: str, interval_s: float
) -> None:
    cfg = tmp_path / "Caddyfile"
    cfg.write_text(INTERVAL.format(lb=lb))
    policy = caddy.load(cfg, AdapterContext(upstream_servers=1)).policy
    assert policy.backoff.base_s == interval_s
    with (
        running_raw_upstream(lambda rid, index, earlier: rid == "i1" and earlier < 2) as up,
        _sut(CaddySut(config=cfg), tmp_path, [up.url]) as url,
    ):
        answer = requests.get(f"{url}/x", headers={"X-Request-ID": "i1"}, timeout=10)
    assert answer.status_code == 200
    times = [a.at for a in up.of("i1")]
    assert len(times) == 3
    gaps = [b - a for a, b in itertools.pairwise(times)]
    for gap in gaps:  # generous upper bounds for a loaded machine
        assert interval_s - 0.01 <= gap < interval_s + 0.2, gaps


DEFAULTS_ONLY = """\
global
    log stderr format raw local0 info
defaults
    mode http
    log global
    option httplog
    timeout connect 100ms
    timeout client 10s
    timeout server 10s
frontend fe
    bind {{listen}}
    default_backend be
backend be
    server s{{upstream_index}} {{upstream_hostport}}
"""
_RETRIES_FIELD = re.compile(r" \d+/\d+/\d+/\d+/\+?(\d+) \d+/\d+ ")


def test_haproxy_defaults_retry_a_failed_connection_three_times(tmp_path: Path) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(DEFAULTS_ONLY)
    policy = haproxy.load(cfg, AdapterContext(upstream_servers=1)).policy
    assert policy.max_retries == 3 and policy.retry_on.connect_failure
    assert policy.retry_on.statuses == frozenset()
    hint = missing_binary(HaproxySut(config=cfg))
    if hint is not None:
        pytest.skip(hint)
    closed = f"http://127.0.0.1:{free_port()}"
    listen = ("127.0.0.1", free_port())
    with start_sut(
        HaproxySut(config=cfg),
        listen=listen,
        upstreams=[closed],
        workdir=tmp_path / "w",
        base_dir=tmp_path,
    ) as sut:
        answer = requests.get(f"{sut.url}/x", timeout=15)
        log_path = sut.log_path
        time.sleep(0.3)  # let HAProxy write its log line
    assert answer.status_code == 503
    assert log_path is not None
    retries = [int(m.group(1)) for m in _RETRIES_FIELD.finditer(log_path.read_text())]
    assert retries and retries[-1] == 3, log_path.read_text()[-2000:]


TIMEOUT = """\
defaults
    mode http
    timeout connect 1s
    timeout client 10s
    timeout server 300ms
frontend fe
    bind {{{{listen}}}}
    default_backend be
backend be
    retries 2
    retry-on {words}
    server s{{{{upstream_index}}}} {{{{upstream_hostport}}}}
"""


@pytest.mark.parametrize(("words", "attempts"), [("conn-failure 503", 1), ("response-timeout", 3)])
def test_haproxy_timeout_server_is_a_504_retried_only_with_response_timeout(
    tmp_path: Path, words: str, attempts: int
) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(TIMEOUT.format(words=words))
    adapted = haproxy.load(cfg, AdapterContext(upstream_servers=1))
    assert adapted.policy.retry_on.per_try_timeout is (attempts > 1)
    with (
        running_slow_upstream(1.0, lambda path, rid: path == "/slow") as (up, seen),
        _sut(HaproxySut(config=cfg), tmp_path, [up]) as url,
    ):
        answer = requests.get(f"{url}/slow", timeout=15)
    assert answer.status_code == 504
    assert len(seen) == attempts


def test_haproxy_ignores_retries_in_a_frontend_as_the_adapter_notes(tmp_path: Path) -> None:
    text = DEFAULTS_ONLY.replace("    bind {{listen}}\n", "    bind {{listen}}\n    retries 9\n")
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(
        text.replace("{{listen}}", "127.0.0.1:1")
        .replace("{{upstream_hostport}}", "127.0.0.1:2")
        .replace("{{upstream_index}}", "0")
    )
    adapted = haproxy.load(cfg, AdapterContext(upstream_servers=1))
    assert adapted.policy.max_retries == 3
    assert any(n.field == "retries" and "no effect" in n.text for n in adapted.quirks)
    binary = shutil.which("haproxy")
    if binary is None:
        pytest.skip("haproxy not installed (apt-get install -y haproxy)")
    done = subprocess.run(
        [binary, "-c", "-f", str(cfg)], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0
    assert "'retries' ignored because frontend 'fe' has no backend capability" in (
        done.stdout + done.stderr
    )


BUFFERING = """\
worker_processes 1;
events {{ worker_connections 64; }}
http {{
    upstream backends {{
        server {{{{upstream_hostport}}}} max_fails=0;
    }}
    server {{
        listen {{{{listen}}}};
        location / {{
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_next_upstream error timeout http_503;
            proxy_next_upstream_tries 2;
{extra}        }}
    }}
}}
"""


@pytest.mark.parametrize(
    ("extra", "split", "retried"),
    [
        ("", True, True),  # buffered: nginx waits for the body, then may retry
        ("            proxy_request_buffering off;\n", True, False),  # body still streaming
        ("            proxy_request_buffering off;\n", False, True),  # body read with headers
    ],
)
def test_nginx_unbuffered_body_is_retried_only_when_read_whole(
    tmp_path: Path, extra: str, split: bool, retried: bool
) -> None:
    cfg = tmp_path / "nginx.conf"
    cfg.write_text(BUFFERING.format(extra=extra))
    adapted = nginx.load(cfg, AdapterContext(upstream_servers=2))
    unbuffered = [u for u in adapted.policy.not_judged if "buffering" in u.native]
    assert bool(unbuffered) is bool(extra)
    head = (
        b"PUT /b HTTP/1.1\r\nHost: t\r\nX-Request-ID: b1\r\nContent-Length: 4\r\n"
        b"Connection: close\r\n\r\n"
    )
    with (
        _upstreams(2, fail_first=1) as ups,
        _sut(NginxSut(config=cfg), tmp_path, [u.url for u in ups]) as url,
    ):
        host, port = url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(head if split else head + b"body")
            if split:
                time.sleep(0.3)
                sock.sendall(b"body")
            while sock.recv(65536):
                pass
    assert sum(len(u.of("b1")) for u in ups) == (2 if retried else 1)
