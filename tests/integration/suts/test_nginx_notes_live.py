"""Real nginx 1.22 shows the nginx adapter's remaining behavioural notes.

* ``max_fails`` (default 1): a server that failed is marked down for ``fail_timeout``; when none
  is left nginx answers 502 itself ("no live upstreams"), after the attempts it could still make
  or without any; a 503 passed to the client on the last try is not counted; a group of one
  server is never marked down. The adapter makes it "not judged" (retry count, upstream).
* ``proxy_next_upstream off`` wins over the other values written with it.
* ``proxy_next_upstream_tries`` 0 (unlimited) or larger than the servers: each server is tried
  at most once per request.
* ``proxy_next_upstream`` not set: ``error timeout`` (a refused connection is passed on, a 503
  is not).
* ``timeout``: an attempt that sends no response byte for ``proxy_read_timeout`` is abandoned
  and passed to the next server; the client gets 504 when none answers in time.
* Without ``non_idempotent`` a POST is still passed on after a refused connection (the request
  was never sent).
* ``client_max_body_size`` (default 1m): a body one byte over the limit the adapter reads is
  answered 413 by nginx itself with no upstream attempt; a body at the limit is passed on.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager as ContextManager
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import requests

from harness.adapters import nginx
from harness.adapters.base import AdapterContext
from harness.policy.model import Aspect
from harness.suts.network import free_port
from harness.suts.spec import NginxSut
from tests.integration.suts.live_sut import running_config
from tests.integration.suts.upstream import Upstream, running_slow_upstream, running_upstream

pytestmark = pytest.mark.integration

CONFIG = """\
worker_processes 1;
events {{ worker_connections 64; }}
http {{
    upstream backends {{
{servers}    }}
    server {{
        listen {{{{listen}}}};
        location / {{
            proxy_pass http://backends;
{directives}        }}
    }}
}}
"""
PER_REPLICA = "        server {{{{upstream_hostport}}}}{extra};\n"


def _nginx(tmp: Path, text: str, upstreams: list[str]) -> ContextManager[tuple[str, Path | None]]:
    return running_config(NginxSut, tmp, text, upstreams)


@contextmanager
def _upstreams(n: int, fail_first: int, status: int = 503) -> Iterator[list[Upstream]]:
    with ExitStack() as stack:
        yield [
            stack.enter_context(
                running_upstream(f"up{i}", fail_first=fail_first, fail_status=status)
            )
            for i in range(n)
        ]


def _load(tmp: Path, text: str, servers: int) -> nginx.AdaptedPolicy:
    path = tmp / "adapt.conf"
    path.write_text(text, encoding="utf-8")
    return nginx.load(path, AdapterContext(upstream_servers=servers))


def _arrivals(ups: list[Upstream], rid: str) -> int:
    return sum(len(u.of(rid)) for u in ups)


def test_max_fails_marks_servers_down_and_nginx_answers_502_itself(tmp_path: Path) -> None:
    text = CONFIG.format(
        servers=PER_REPLICA.format(extra=""),
        directives="            proxy_next_upstream error timeout http_503;\n",
    )
    adapted = _load(tmp_path, text, 2)
    (note,) = [n for n in adapted.quirks if n.field == "max_fails"]
    assert "no live upstreams" in note.text and note.text.startswith("not judged")
    (unjudged,) = adapted.policy.not_judged  # the one server line, standing for both replicas
    assert unjudged.aspects == frozenset({Aspect.MAX_RETRIES, Aspect.UPSTREAM})
    assert unjudged.location is not None and unjudged.location.endswith("adapt.conf:5")
    with (
        _upstreams(2, fail_first=1) as ups,
        _nginx(tmp_path, text, [u.url for u in ups]) as (url, log_path),
    ):
        answers = [
            requests.get(url + "/", headers={"X-Request-ID": f"m{i}"}, timeout=10) for i in range(3)
        ]
        time.sleep(0.2)
        log = log_path.read_text() if log_path is not None else ""
    # every server fails the first arrival of each request id with 503
    # m0: both servers fail; the first is marked down, the last one's 503 goes to the client
    # (a status answer passed on at the last try is not counted as a failure)
    assert answers[0].status_code == 503 and _arrivals(ups, "m0") == 2
    # m1: the one server left fails too and is marked down: nothing is left, nginx's own 502
    assert answers[1].status_code == 502 and _arrivals(ups, "m1") == 1
    # m2 would succeed anywhere, but no server is tried at all
    assert answers[2].status_code == 502 and _arrivals(ups, "m2") == 0
    assert log.count("no live upstreams") >= 2, log[-2000:]


def test_max_fails_0_keeps_every_server_in(tmp_path: Path) -> None:
    text = CONFIG.format(
        servers=PER_REPLICA.format(extra=" max_fails=0"),
        directives="            proxy_next_upstream error timeout http_503;\n",
    )
    adapted = _load(tmp_path, text, 2)
    assert not [n for n in adapted.quirks if n.field == "max_fails"]
    assert adapted.policy.not_judged == ()
    with (
        _upstreams(2, fail_first=1) as ups,
        _nginx(tmp_path, text, [u.url for u in ups]) as (url, _),
    ):
        requests.get(url + "/", headers={"X-Request-ID": "z1"}, timeout=10)
        later = requests.get(url + "/", headers={"X-Request-ID": "z2"}, timeout=10)
    assert later.status_code == 503 and _arrivals(ups, "z2") == 2


@pytest.mark.parametrize("servers", [1, 2])
def test_a_single_server_is_never_marked_down(tmp_path: Path, servers: int) -> None:
    """max_fails (default 1) is ignored for a group of one server (nginx docs: 'If there is
    only a single server in a group, max_fails, fail_timeout and slow_start parameters are
    ignored'): after a timed-out attempt the next request still reaches it. With two servers
    both timed out, both are marked down and nginx answers the next request itself."""
    text = CONFIG.format(
        servers=PER_REPLICA.format(extra=""),
        directives="            proxy_next_upstream error timeout;\n"
        "            proxy_read_timeout 300ms;\n",
    )
    adapted = _load(tmp_path, text, servers)
    assert bool(adapted.policy.not_judged) == (servers > 1)
    with ExitStack() as stack:
        slow = [
            stack.enter_context(running_slow_upstream(1.0, lambda path, rid: rid == "t0"))
            for _ in range(servers)
        ]
        with _nginx(tmp_path, text, [u for u, _ in slow]) as (url, log_path):
            first = requests.get(url + "/", headers={"X-Request-ID": "t0"}, timeout=10)
            later = requests.get(url + "/", headers={"X-Request-ID": "t1"}, timeout=10)
            time.sleep(0.2)
            log = log_path.read_text() if log_path is not None else ""
    assert first.status_code == 504  # every server timed out
    assert sum(len(seen) for _, seen in slow) == servers  # each tried once
    if servers == 1:  # not marked down: t1 reaches the upstream, which answers 200 at once
        assert later.status_code == 200 and "no live upstreams" not in log, log[-2000:]
    else:  # both marked down: nginx's own 502 without an attempt
        assert later.status_code == 502 and "no live upstreams" in log, log[-2000:]


def test_off_wins_over_the_other_values(tmp_path: Path) -> None:
    text = CONFIG.format(
        servers=PER_REPLICA.format(extra=" max_fails=0"),
        directives="            proxy_next_upstream off http_503 error;\n",
    )
    adapted = _load(tmp_path, text, 2)
    assert adapted.policy.max_retries == 0
    assert any("'off' wins" in n.text for n in adapted.quirks)
    with (
        _upstreams(2, fail_first=1) as ups,
        _nginx(tmp_path, text, [u.url for u in ups]) as (url, _),
    ):
        answer = requests.get(url + "/", headers={"X-Request-ID": "o1"}, timeout=10)
    assert answer.status_code == 503 and _arrivals(ups, "o1") == 1


@pytest.mark.parametrize(
    ("tries", "servers"), [("", 3), ("            proxy_next_upstream_tries 5;\n", 2)]
)
def test_each_server_is_tried_at_most_once_per_request(
    tmp_path: Path, tries: str, servers: int
) -> None:
    text = CONFIG.format(
        servers=PER_REPLICA.format(extra=" max_fails=0"),
        directives="            proxy_next_upstream error timeout http_503;\n" + tries,
    )
    adapted = _load(tmp_path, text, servers)
    assert any(
        n.field == "proxy_next_upstream_tries" and "at most once per request" in n.text
        for n in adapted.notes
    )
    assert adapted.policy.max_retries == (servers - 1 if not tries else 4)
    with (
        _upstreams(servers, fail_first=10) as ups,
        _nginx(tmp_path, text, [u.url for u in ups]) as (url, _),
    ):
        answer = requests.get(url + "/", headers={"X-Request-ID": "t1"}, timeout=10)
    assert answer.status_code == 503
    assert [len(u.of("t1")) for u in ups] == [1] * servers


def test_default_next_upstream_passes_on_errors_not_statuses(tmp_path: Path) -> None:
    closed = free_port()
    text = CONFIG.format(
        servers=f"        server 127.0.0.1:{closed} max_fails=0;\n"
        + PER_REPLICA.format(extra=" max_fails=0"),
        directives="",
    )
    adapted = _load(tmp_path, text, 1)
    assert any(
        n.field == "proxy_next_upstream" and "'error timeout'" in n.text for n in adapted.notes
    )
    assert adapted.policy.retry_on.statuses == frozenset()
    assert adapted.policy.retry_on.connect_failure
    with (
        _upstreams(1, fail_first=0) as ok,
        _nginx(tmp_path / "a", text, [ok[0].url]) as (url, _),
    ):
        statuses = [
            requests.get(url + "/", headers={"X-Request-ID": f"d{i}"}, timeout=10).status_code
            for i in range(4)
        ]
    assert statuses == [200] * 4  # round robin sends every other one to the closed port first
    two = CONFIG.format(servers=PER_REPLICA.format(extra=" max_fails=0"), directives="")
    with (
        _upstreams(2, fail_first=1) as ups,
        _nginx(tmp_path / "b", two, [u.url for u in ups]) as (url, _),
    ):
        answer = requests.get(url + "/", headers={"X-Request-ID": "s1"}, timeout=10)
    assert answer.status_code == 503 and _arrivals(ups, "s1") == 1


def test_post_is_passed_on_after_a_refused_connection(tmp_path: Path) -> None:
    closed = free_port()
    text = CONFIG.format(
        servers=f"        server 127.0.0.1:{closed} max_fails=0;\n"
        + PER_REPLICA.format(extra=" max_fails=0"),
        directives="            proxy_next_upstream error timeout http_503;\n",
    )
    adapted = _load(tmp_path, text, 1)
    assert adapted.policy.methods.retryable is not None
    assert "POST" not in adapted.policy.methods.retryable
    assert adapted.policy.methods.connect_failure_any_method
    with (
        _upstreams(1, fail_first=0) as ok,
        _nginx(tmp_path, text, [ok[0].url]) as (url, _),
    ):
        statuses = [
            requests.post(
                url + "/", data=b"body", headers={"X-Request-ID": f"p{i}"}, timeout=10
            ).status_code
            for i in range(4)
        ]
    assert statuses == [200] * 4
    assert all(len(ok[0].of(f"p{i}")) == 1 for i in range(4))


def test_read_timeout_is_the_per_try_timeout(tmp_path: Path) -> None:
    text = CONFIG.format(
        servers=PER_REPLICA.format(extra=" max_fails=0"),
        directives="            proxy_next_upstream error timeout;\n"
        "            proxy_read_timeout 300ms;\n",
    )
    adapted = _load(tmp_path, text, 2)
    assert adapted.policy.per_try_timeout_s == 0.3 and adapted.policy.retry_on.per_try_timeout
    with ExitStack() as stack:
        slow = [
            stack.enter_context(running_slow_upstream(1.0, lambda path, rid: rid == "rt"))
            for _ in range(2)
        ]
        with _nginx(tmp_path, text, [u for u, _ in slow]) as (url, _):
            start = time.monotonic()
            answer = requests.get(url + "/", headers={"X-Request-ID": "rt"}, timeout=10)
            took = time.monotonic() - start
    assert answer.status_code == 504
    arrivals = sorted(t for _, seen in slow for t in seen)
    assert len(arrivals) == 2  # abandoned after 300 ms, passed to the other server
    # passed on after the 300 ms read timeout: not at once, not after the 1 s answer (the
    # upstream's own stamps can be late by tens of ms on a loaded machine: seen 248 ms)
    assert 0.15 <= arrivals[1] - arrivals[0] < 0.9, arrivals
    assert 0.55 <= took < 2.0, took


@contextmanager
def _black_hole() -> Iterator[int]:
    """A port whose connects time out: a listener that never accepts, its queue kept full
    (Linux drops further SYNs), so a connect neither succeeds nor is refused."""
    import socket

    with ExitStack() as stack:
        listener = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(2):  # fill the accept queue
            filler = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            filler.settimeout(0.3)
            try:
                filler.connect(("127.0.0.1", port))
            except OSError:
                break
        probe = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        probe.settimeout(0.3)
        try:
            probe.connect(("127.0.0.1", port))
            pytest.skip("the kernel accepted past a full queue: no connect timeout to show")
        except TimeoutError:
            pass
        yield port


@pytest.mark.may_skip  # when the kernel accepts past a full queue there is no timeout to show
@pytest.mark.parametrize(("words", "passed_on"), [("timeout", True), ("http_503", False)])
def test_a_connect_timeout_is_passed_on_under_timeout_without_error(
    tmp_path: Path, words: str, passed_on: bool
) -> None:
    with _black_hole() as hole:
        text = CONFIG.format(
            servers=f"        server 127.0.0.1:{hole} max_fails=0;\n"
            + PER_REPLICA.format(extra=" max_fails=0"),
            directives=f"            proxy_next_upstream {words};\n"
            "            proxy_connect_timeout 300ms;\n",
        )
        adapted = _load(tmp_path, text, 1)
        assert not adapted.policy.retry_on.connect_failure  # a refused connect: not passed on
        if words == "timeout":
            assert any("only a connect timeout is" in n.text for n in adapted.quirks)
        with (
            _upstreams(1, fail_first=0) as ok,
            _nginx(tmp_path, text, [ok[0].url]) as (url, _),
        ):
            statuses = [
                requests.get(url + "/", headers={"X-Request-ID": f"ct{i}"}, timeout=10).status_code
                for i in range(2)
            ]
    # round robin: one of the two requests goes to the black hole first
    if passed_on:
        assert statuses == [200, 200]
    else:
        assert sorted(statuses) == [200, 504]


@pytest.mark.parametrize("directive", ["", "            client_max_body_size 4k;\n"])
def test_a_body_over_client_max_body_size_gets_413_from_nginx_itself(
    tmp_path: Path, directive: str
) -> None:
    text = CONFIG.format(servers=PER_REPLICA.format(extra=" max_fails=0"), directives=directive)
    limit = _load(tmp_path, text, 1).body_limit
    assert limit is not None
    assert limit.max_bytes == (4096 if directive else nginx.DEFAULT_CLIENT_MAX_BODY_SIZE)
    with (
        _upstreams(1, fail_first=0) as ups,
        _nginx(tmp_path, text, [u.url for u in ups]) as (url, _),
        requests.Session() as session,
    ):
        for size in (limit.max_bytes, limit.max_bytes + 1):
            rid = f"body-{size}"
            answer = session.put(
                url + "/", data=b"x" * size, headers={"X-Request-ID": rid}, timeout=10
            )
            over = size > limit.max_bytes
            assert answer.status_code == (limit.status if over else 200), size
            assert _arrivals(ups, rid) == (0 if over else 1), size


@pytest.mark.parametrize(("tries", "reached"), [(2, False), (3, True)])
def test_a_backup_is_reached_only_after_every_primary_had_its_try(
    tmp_path: Path, tries: int, reached: bool
) -> None:
    """``server 127.0.0.1:<closed> backup`` next to two primaries that answer 503: with
    ``proxy_next_upstream_tries 2`` nginx ends at the second primary (503 to the client), the
    backup is never reached and the adapter leaves it judged with a note; with 3 the third try
    goes to the backup, is refused, and nginx's 502 reaches the client: an attempt no journal
    sees, so the adapter makes retry count, upstream and backoff not judged."""
    backup = f"        server 127.0.0.1:{free_port()} max_fails=0 backup;\n"
    text = CONFIG.format(
        servers=PER_REPLICA.format(extra=" max_fails=0") + backup,
        directives="            proxy_next_upstream error timeout http_503;\n"
        f"            proxy_next_upstream_tries {tries};\n",
    )
    adapted = _load(tmp_path, text, 2)
    if reached:
        (unjudged,) = adapted.policy.not_judged
        assert unjudged.aspects == frozenset({Aspect.MAX_RETRIES, Aspect.UPSTREAM, Aspect.BACKOFF})
        assert unjudged.location is not None and unjudged.location.endswith("adapt.conf:6")
    else:
        assert adapted.policy.not_judged == ()
        assert any("never reached" in n.text for n in adapted.quirks if n.field == "server")
    with (
        _upstreams(2, fail_first=1) as ups,
        _nginx(tmp_path, text, [u.url for u in ups]) as (url, _),
    ):
        answer = requests.get(url + "/", headers={"X-Request-ID": "b1"}, timeout=10)
    assert _arrivals(ups, "b1") == 2  # both primaries had their try
    assert answer.status_code == (502 if reached else 503)
