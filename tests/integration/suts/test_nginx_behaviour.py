"""Real nginx 1.22 shows what the nginx adapter claims about single-server upstreams.

* With ``keepalive`` in the upstream, an error on a reused (cached) connection does not use up a
  try: a single-server upstream with ``proxy_next_upstream_tries 1`` (no retry declared) still
  retries, on the same server. The adapter marks max_retries and upstream as not judged.
* With ``keepalive`` and several cached connections, every cached connection that fails gives
  the try back: ``proxy_next_upstream_tries 3`` (2 retries) on one server makes 4 retries.
* With ``keepalive`` on three servers and tries 2 (one retry), an error on each cached
  connection gives the try back: 2 retries.
* With ``keepalive`` on one server, a 503 and an error on a FRESH connection end the request
  after one attempt (the adapter declares resets only, no status).
* Without ``keepalive``, a single-server upstream never retries: the same failure reaches the
  client as 502 after one attempt, whatever the tries. The adapter's note says so.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import pytest
import requests

from harness.adapters import nginx
from harness.adapters.base import AdapterContext
from harness.policy.model import Aspect
from harness.suts.base import missing_binary, start_sut
from harness.suts.network import free_port
from harness.suts.spec import NginxSut
from tests.integration.suts.raw_upstream import running_raw_upstream
from tests.integration.suts.upstream import running_upstream

pytestmark = pytest.mark.integration

CONFIG = """\
worker_processes 1;
events {{ worker_connections 64; }}
http {{
    upstream backends {{
        server {{{{upstream_hostport}}}};
{keepalive}    }}
    server {{
        listen {{{{listen}}}};
        location / {{
            proxy_pass http://backends;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_next_upstream error timeout;
            proxy_next_upstream_tries {tries};
        }}
    }}
}}
"""


def _skip_without_nginx() -> None:
    hint = missing_binary(NginxSut(config=Path("x.conf")))
    if hint is not None:
        pytest.skip(hint)


@pytest.mark.parametrize("tries", [1, 2])
def test_keepalive_single_server_retries_an_error_on_a_reused_connection(
    tmp_path: Path, tries: int
) -> None:
    _skip_without_nginx()
    cfg = tmp_path / "nginx.conf"
    cfg.write_text(CONFIG.format(keepalive="        keepalive 8;\n", tries=tries))
    adapted = nginx.load(cfg, AdapterContext(upstream_servers=1))
    assert adapted.policy.max_retries == tries - 1
    (u,) = adapted.policy.not_judged
    assert u.aspects == frozenset({Aspect.MAX_RETRIES, Aspect.UPSTREAM})

    # close every request that arrives on a reused connection, without an answer
    with running_raw_upstream(lambda rid, index, earlier: index >= 1) as upstream:
        spec = NginxSut(config=cfg, ready_timeout_s=15)
        listen = ("127.0.0.1", free_port())
        with (
            start_sut(
                spec,
                listen=listen,
                upstreams=[upstream.url],
                workdir=tmp_path / "w",
                base_dir=tmp_path,
            ) as sut,
            requests.Session() as s,
        ):
            warm = s.get(sut.url + "/", headers={"X-Request-ID": "warm"}, timeout=10)
            answer = s.get(sut.url + "/", headers={"X-Request-ID": "r1"}, timeout=10)
    assert warm.status_code == 200
    assert answer.status_code == 200
    seen = upstream.of("r1")
    # first on the cached connection (closed), then again on a new one: a retry on ONE server,
    # more than proxy_next_upstream_tries allows when tries is 1
    assert [a.closed for a in seen] == [True, False]
    assert seen[0].index_on_connection >= 1 and seen[1].index_on_connection == 0
    if tries == 1:
        assert len(seen) - 1 > adapted.policy.max_retries  # 1 retry where 0 are declared


def test_keepalive_every_failing_cached_connection_gives_the_try_back(tmp_path: Path) -> None:
    _skip_without_nginx()
    cfg = tmp_path / "nginx.conf"
    cfg.write_text(CONFIG.format(keepalive="        keepalive 8;\n", tries=3))
    adapted = nginx.load(cfg, AdapterContext(upstream_servers=1))
    assert adapted.policy.max_retries == 2
    assert adapted.policy.retry_on.reset and not adapted.policy.retry_on.statuses
    assert not adapted.policy.different_upstream  # one server: a retry goes to the same one

    # 4 warm-up requests held at once open 4 connections, which nginx then caches; r1 is
    # closed without an answer whenever it arrives on a reused connection
    with running_raw_upstream(
        lambda rid, index, earlier: rid == "r1" and index >= 1,
        hold=lambda rid: 0.5 if rid is not None and rid.startswith("warm") else 0.0,
    ) as upstream:
        spec = NginxSut(config=cfg, ready_timeout_s=15)
        listen = ("127.0.0.1", free_port())
        with start_sut(
            spec, listen=listen, upstreams=[upstream.url], workdir=tmp_path / "w", base_dir=tmp_path
        ) as sut:
            warm: list[int] = []

            def get(i: int) -> None:
                r = requests.get(sut.url + "/", headers={"X-Request-ID": f"warm{i}"}, timeout=10)
                warm.append(r.status_code)

            threads = [threading.Thread(target=get, args=(i,)) for i in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=15)
            answer = requests.get(sut.url + "/", headers={"X-Request-ID": "r1"}, timeout=10)
    assert warm == [200] * 4
    warm_connections = {
        a.connection for a in upstream.arrivals if (a.request_id or "").startswith("warm")
    }
    assert len(warm_connections) == 4, upstream.arrivals
    assert answer.status_code == 200
    seen = upstream.of("r1")
    # each cached connection failed once, then a fresh one answered: 4 retries where tries 3
    # allows 2, all on the one server
    assert [a.closed for a in seen] == [True] * 4 + [False], seen
    assert {a.connection for a in seen[:4]} == warm_connections
    assert seen[-1].index_on_connection == 0
    assert len(seen) - 1 > adapted.policy.max_retries


def test_keepalive_single_server_does_not_retry_a_status_or_a_fresh_error(
    tmp_path: Path,
) -> None:
    _skip_without_nginx()
    cfg = tmp_path / "nginx.conf"
    cfg.write_text(
        CONFIG.format(keepalive="        keepalive 8;\n", tries=3).replace(
            "proxy_next_upstream error timeout;", "proxy_next_upstream error timeout http_503;"
        )
    )
    policy = nginx.load(cfg, AdapterContext(upstream_servers=1)).policy
    assert policy.retry_on.statuses == frozenset()
    spec = NginxSut(config=cfg, ready_timeout_s=15)
    # a 503 on a reused connection: the first arrival of s1 fails, a retry would succeed
    with (
        running_upstream("up0", fail_first=1, fail_status=503) as up,
        start_sut(
            spec,
            listen=("127.0.0.1", free_port()),
            upstreams=[up.url],
            workdir=tmp_path / "w1",
            base_dir=tmp_path,
        ) as sut,
        requests.Session() as s,
    ):
        s.get(sut.url + "/", headers={"X-Request-ID": "warm"}, timeout=10)
        status = s.get(sut.url + "/", headers={"X-Request-ID": "s1"}, timeout=10)
    assert status.status_code == 503 and len(up.of("s1")) == 1
    # an error on a fresh connection (the upstream closes every connection after one answer,
    # so nginx never has one to reuse): no retry either
    with (
        running_raw_upstream(
            lambda rid, index, earlier: rid == "f1" and earlier == 0, keep_alive=False
        ) as raw,
        start_sut(
            spec,
            listen=("127.0.0.1", free_port()),
            upstreams=[raw.url],
            workdir=tmp_path / "w2",
            base_dir=tmp_path,
        ) as sut,
    ):
        fresh = requests.get(sut.url + "/", headers={"X-Request-ID": "f1"}, timeout=10)
    assert fresh.status_code == 502
    assert [(a.closed, a.index_on_connection) for a in raw.of("f1")] == [(True, 0)]


def test_without_keepalive_a_single_server_is_never_retried(tmp_path: Path) -> None:
    _skip_without_nginx()
    cfg = tmp_path / "nginx.conf"
    cfg.write_text(CONFIG.format(keepalive="", tries=3))
    adapted = nginx.load(cfg, AdapterContext(upstream_servers=1))
    assert adapted.policy.not_judged == ()
    assert any("never retries a single-server upstream" in n.text for n in adapted.quirks)

    # close the first arrival of r1 without an answer (on a fresh connection)
    with running_raw_upstream(lambda rid, index, earlier: rid == "r1" and earlier == 0) as up:
        spec = NginxSut(config=cfg, ready_timeout_s=15)
        listen = ("127.0.0.1", free_port())
        with start_sut(
            spec, listen=listen, upstreams=[up.url], workdir=tmp_path / "w", base_dir=tmp_path
        ) as sut:
            answer = requests.get(sut.url + "/", headers={"X-Request-ID": "r1"}, timeout=10)
    assert answer.status_code == 502
    assert [a.closed for a in up.of("r1")] == [True]  # tries 3 declared, no retry made


def test_keepalive_three_servers_exceed_tries_2(tmp_path: Path) -> None:
    """The issue's second observation: with tries 2 (one retry) on three servers, an error on
    each server's cached connection gives the try back: 2 retries, one per server."""
    _skip_without_nginx()
    cfg = tmp_path / "nginx.conf"
    cfg.write_text(
        CONFIG.format(keepalive="        keepalive 8;\n", tries=2).replace(
            "server {{upstream_hostport}};", "server {{upstream_hostport}} max_fails=0;"
        )
    )
    adapted = nginx.load(cfg, AdapterContext(upstream_servers=3))
    assert adapted.policy.max_retries == 1
    assert {a for u in adapted.policy.not_judged for a in u.aspects} == {
        Aspect.MAX_RETRIES,
        Aspect.UPSTREAM,
    }
    with contextlib.ExitStack() as stack:
        ups = [
            stack.enter_context(
                running_raw_upstream(lambda rid, index, earlier: rid == "r1" and index >= 1)
            )
            for _ in range(3)
        ]
        sut = stack.enter_context(
            start_sut(
                NginxSut(config=cfg, ready_timeout_s=15),
                listen=("127.0.0.1", free_port()),
                upstreams=[u.url for u in ups],
                workdir=tmp_path / "w",
                base_dir=tmp_path,
            )
        )
        warm = [
            requests.get(sut.url + "/", headers={"X-Request-ID": f"w{i}"}, timeout=10)
            for i in range(3)
        ]
        answer = requests.get(sut.url + "/", headers={"X-Request-ID": "r1"}, timeout=10)
    assert [w.status_code for w in warm] == [200] * 3
    seen = [a for u in ups for a in u.of("r1")]
    # every server now has a cached connection; r1 failed on each of them: 3 attempts where
    # tries 2 allows 2, then no untried server was left (nginx's own 502)
    assert [a.closed for a in seen] == [True] * 3, seen
    assert all(a.index_on_connection >= 1 for a in seen)
    assert len(seen) - 1 > adapted.policy.max_retries
    assert answer.status_code == 502
