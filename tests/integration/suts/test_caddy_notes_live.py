"""Real Caddy 2.6 shows the Caddy adapter's remaining behavioural notes.

* Passive health checks (``fail_duration``): a failed attempt marks the upstream down; with none
  left Caddy answers 503 itself, without trying a backend. Without ``fail_duration`` every
  upstream counts as down from the start. The adapter makes both "not judged".
* Active health checks (``health_uri``): an upstream whose probe fails is skipped (Caddy's own
  503, no attempt); "not judged" too.
* ``lb_try_duration`` is measured from the start of the handler, attempt time included, and is
  checked after an attempt fails: an attempt that fails after the try duration gets no retry,
  one that fails before it does; an attempt is never cut short.
* With ``lb_try_interval`` the try duration is checked before the sleep: the last attempt can
  start up to one interval after the try duration.
* ``lb_retries`` not set with a try duration: at most ceil(duration / interval) retries.
* ``lb_try_interval`` alone (no ``lb_retries``, no ``lb_try_duration``): no retry.
* ``request_body max_size``: a body one byte over the limit the adapter reads gets Caddy's own
  502, and no backend gets the whole body; a body at the limit is passed on.
* Upstream keep-alive on (the default): Go's transport replays a GET reset on a reused
  connection by itself, on the same upstream, although ``lb_retries`` is 0.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from harness.adapters import caddy
from harness.adapters.base import AdaptedPolicy, AdapterContext
from harness.policy.model import Aspect
from harness.suts.base import missing_binary
from harness.suts.network import free_port
from harness.suts.spec import CaddySut
from tests.integration.suts.live_sut import running_config
from tests.integration.suts.raw_upstream import Decide, Hold, RawUpstream, running_raw_upstream
from tests.integration.suts.upstream import running_upstream

pytestmark = pytest.mark.integration

CADDYFILE = """\
{{
    admin off
    auto_https off
}}
http://:{{{{listen_port}}}} {{
    bind {{{{listen_host}}}}
    reverse_proxy {{
        to {{{{upstream_hostport}}}}
{lb}        transport http {{
{transport}        }}
    }}
}}
"""
NO_KEEPALIVE = "            keepalive off\n"


def _skip_without_caddy() -> None:
    hint = missing_binary(CaddySut(config=Path("Caddyfile")))
    if hint is not None:
        pytest.skip(hint)


def _load(tmp: Path, text: str) -> AdaptedPolicy:
    path = tmp / "adapt" / "Caddyfile"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return caddy.load(path, AdapterContext(upstream_servers=1))


@contextmanager
def _caddy(
    tmp: Path, text: str, decide: Decide, hold: Hold | None = None
) -> Iterator[tuple[str, RawUpstream]]:
    with (
        running_raw_upstream(decide, hold) as up,
        running_config(CaddySut, tmp, text, [up.url]) as (url, _),
    ):
        yield url, up


def test_passive_health_marks_the_upstream_down_and_caddy_answers_503(tmp_path: Path) -> None:
    _skip_without_caddy()
    text = CADDYFILE.format(
        lb="        fail_duration 10s\n        max_fails 1\n", transport=NO_KEEPALIVE
    )
    adapted = _load(tmp_path, text)
    (note,) = [n for n in adapted.quirks if n.field == "fail_duration"]
    assert "503" in note.text and "without an attempt" in note.text
    assert note.text.startswith("not judged (max_retries, upstream)")
    assert [u.native for u in adapted.policy.not_judged] == ["fail_duration 10s max_fails 1"]
    with _caddy(tmp_path, text, lambda rid, index, earlier: rid == "h0") as (url, up):
        first = requests.get(url + "/", headers={"X-Request-ID": "h0"}, timeout=10)
        later = requests.get(url + "/", headers={"X-Request-ID": "h1"}, timeout=10)
    assert first.status_code == 502 and len(up.of("h0")) == 1
    # h1 would be answered, but the one upstream is down: Caddy's own 503, no attempt
    assert later.status_code == 503 and up.of("h1") == []


def test_passive_health_without_fail_duration_marks_every_upstream_down(tmp_path: Path) -> None:
    """Caddy 2.6 sets max_fails to 1 only with a fail_duration; a passive block without one
    keeps 0, and Upstream.Healthy (fails < max_fails: 0 < 0) is false for every upstream."""
    _skip_without_caddy()
    text = CADDYFILE.format(lb="        unhealthy_status 5xx\n", transport=NO_KEEPALIVE)
    adapted = _load(tmp_path, text)
    (unjudged,) = adapted.policy.not_judged
    assert "EVERY upstream unhealthy" in unjudged.reason
    with _caddy(tmp_path, text, lambda rid, index, earlier: False) as (url, up):
        answers = [
            requests.get(url + "/", headers={"X-Request-ID": f"u{i}"}, timeout=10) for i in range(3)
        ]
    # the upstream would answer 200 to each, but none is tried: Caddy's own 503
    assert [a.status_code for a in answers] == [503] * 3
    assert all(up.of(f"u{i}") == [] for i in range(3))


def test_active_health_check_failing_marks_the_upstream_down(tmp_path: Path) -> None:
    """An upstream whose health probe fails is skipped: Caddy's own 503, no attempt."""
    _skip_without_caddy()
    text = CADDYFILE.format(
        lb="        health_uri /rh-health\n        health_interval 100ms\n", transport=NO_KEEPALIVE
    )
    adapted = _load(tmp_path, text)
    (note,) = [n for n in adapted.quirks if n.field == "health_uri"]
    assert note.text.startswith("not judged (max_retries, upstream)")
    (unjudged,) = adapted.policy.not_judged
    assert unjudged.native == "health_uri /rh-health health_interval 0.1s"
    # the probes (no request id) are closed unanswered; client requests would be answered
    with _caddy(tmp_path, text, lambda rid, index, earlier: rid is None) as (url, up):

        def probes() -> int:
            return sum(1 for a in list(up.arrivals) if a.request_id is None)

        deadline = time.monotonic() + 5.0
        while probes() < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert probes() >= 2, "Caddy sent no health probes"
        answer = requests.get(url + "/", headers={"X-Request-ID": "a1"}, timeout=10)
    assert answer.status_code == 503 and up.of("a1") == []


@pytest.mark.parametrize(("fails_after_s", "retried"), [(1.3, False), (0.3, True)])
def test_try_duration_counts_the_attempt_time_and_never_cuts_it_short(
    tmp_path: Path, fails_after_s: float, retried: bool
) -> None:
    text = CADDYFILE.format(
        lb="        lb_try_duration 1s\n        lb_try_interval 100ms\n", transport=NO_KEEPALIVE
    )
    notes = [n.text for n in _load(tmp_path, text).quirks if n.field == "lb_try_duration"]
    assert any("start of the handler" in t and "never cuts an attempt short" in t for t in notes)
    with _caddy(
        tmp_path,
        text,
        lambda rid, index, earlier: rid == "d1" and earlier == 0,
        hold=lambda rid: fails_after_s if rid == "d1" else 0.0,
    ) as (url, up):
        start = time.monotonic()
        answer = requests.get(url + "/", headers={"X-Request-ID": "d1"}, timeout=10)
        took = time.monotonic() - start
    seen = up.of("d1")
    # the first attempt ran to its end (fails_after_s), past the try duration if it was longer
    assert took >= fails_after_s
    if retried:  # failed 0.3 s in: within the try duration, retried after the interval
        assert answer.status_code == 200 and len(seen) == 2
    else:  # failed 1.3 s in: the clock started with the handler, so no retry
        assert answer.status_code == 502 and len(seen) == 1


def test_the_last_attempt_may_start_up_to_one_interval_after_the_try_duration(
    tmp_path: Path,
) -> None:
    text = CADDYFILE.format(
        lb="        lb_try_duration 1s\n        lb_try_interval 400ms\n", transport=NO_KEEPALIVE
    )
    adapted = _load(tmp_path, text)
    assert adapted.policy.deadline_s == 1.0
    assert any("1s + 0.4s = 1.4s" in n.text for n in adapted.quirks)
    with _caddy(tmp_path, text, lambda rid, index, earlier: rid == "o1") as (url, up):
        answer = requests.get(url + "/", headers={"X-Request-ID": "o1"}, timeout=10)
    times = [a.at for a in up.of("o1")]
    assert answer.status_code == 502
    assert 1.0 < times[-1] - times[0] < 1.4 + 0.3, times  # after the 1 s try duration
    # attempts at ~0, 0.4, 0.8, 1.2 s: 3 retries = ceil(1 s / 0.4 s), the policy's bound
    assert len(times) - 1 == adapted.policy.max_retries == 3


def test_interval_alone_makes_no_retry(tmp_path: Path) -> None:
    text = CADDYFILE.format(lb="        lb_try_interval 100ms\n", transport=NO_KEEPALIVE)
    adapted = _load(tmp_path, text)
    assert adapted.policy.max_retries == 0
    assert any(n.field == "lb_try_interval" and "no effect" in n.text for n in adapted.quirks)
    with _caddy(tmp_path, text, lambda rid, index, earlier: rid == "n1") as (url, up):
        answer = requests.get(url + "/", headers={"X-Request-ID": "n1"}, timeout=10)
    assert answer.status_code == 502 and len(up.of("n1")) == 1


def test_keepalive_replays_a_reset_get_although_lb_retries_is_0(tmp_path: Path) -> None:
    text = CADDYFILE.format(lb="", transport="            keepalive 30s\n")
    adapted = _load(tmp_path, text)
    assert adapted.policy.max_retries == 0
    assert any(n.field == "transport http.keepalive" for n in adapted.quirks)
    # close r1 whenever it arrives on a reused connection, without an answer
    with (
        _caddy(tmp_path, text, lambda rid, index, earlier: rid == "r1" and index >= 1) as (url, up),
        requests.Session() as s,
    ):
        warm = s.get(url + "/", headers={"X-Request-ID": "warm"}, timeout=10)
        answer = s.get(url + "/", headers={"X-Request-ID": "r1"}, timeout=10)
    assert warm.status_code == 200
    seen = up.of("r1")
    assert answer.status_code == 200
    # reset on the reused connection, replayed at once on a new one: a retry Caddy never saw
    assert [a.closed for a in seen] == [True, False], seen
    assert seen[0].index_on_connection >= 1 and seen[1].index_on_connection == 0
    gaps = [b.at - a.at for a, b in itertools.pairwise(seen)]
    assert gaps[0] < 0.2, gaps


@pytest.mark.parametrize(
    "lb",
    [
        "",  # neither lb_retries nor lb_try_duration: no retry
        "        lb_retry_match {\n            method GET\n        }\n",  # match alone: no effect
    ],
)
def test_no_retry_without_lb_retries_or_try_duration(tmp_path: Path, lb: str) -> None:
    text = CADDYFILE.format(lb=lb, transport=NO_KEEPALIVE)
    adapted = _load(tmp_path, text)
    assert adapted.policy.max_retries == 0
    assert any(n.field == "lb_retries" and "does not retry" in n.text for n in adapted.notes)
    if lb:
        assert any(n.field == "lb_retry_match" and "no effect" in n.text for n in adapted.quirks)
    with _caddy(tmp_path, text, lambda rid, index, earlier: rid == "x1" and earlier == 0) as (
        url,
        up,
    ):
        answer = requests.get(url + "/", headers={"X-Request-ID": "x1"}, timeout=10)
    assert answer.status_code == 502 and len(up.of("x1")) == 1


def test_a_body_over_request_body_max_size_gets_caddy_own_502(tmp_path: Path) -> None:
    _skip_without_caddy()
    text = CADDYFILE.format(lb="", transport=NO_KEEPALIVE).replace(
        "    reverse_proxy {\n",
        "    request_body {\n        max_size 4KB\n    }\n    reverse_proxy {\n",
    )
    limit = _load(tmp_path, text).body_limit
    assert limit is not None and limit.max_bytes == 4000  # Caddy's KB is 1000 bytes
    with (
        running_upstream("up0") as up,
        running_config(CaddySut, tmp_path, text, [up.url]) as (url, _),
        requests.Session() as session,
    ):
        for size in (limit.max_bytes, limit.max_bytes + 1):
            rid = f"body-{size}"
            answer = session.post(
                url + "/", data=b"x" * size, headers={"X-Request-ID": rid}, timeout=10
            )
            whole = [a for a in up.of(rid) if len(a.body) == size]
            if size > limit.max_bytes:
                assert answer.status_code == limit.status and whole == [], size
            else:
                assert answer.status_code == 200 and len(whole) == 1, size


def test_a_literal_upstream_gets_attempts_the_harness_cannot_see(tmp_path: Path) -> None:
    """Next to the harness's upstream, ``to 127.0.0.1:<closed port>`` (not a harness backend):
    round robin sends every other request there, the dial fails, and with no retry Caddy's 502
    reaches the client with no attempt at the harness's upstream. The adapter makes retry
    count, upstream and backoff not judged, naming the line."""
    _skip_without_caddy()
    closed = free_port()
    text = CADDYFILE.format(
        lb=f"        to 127.0.0.1:{closed}\n        lb_policy round_robin\n",
        transport=NO_KEEPALIVE,
    )
    adapted = _load(tmp_path, text)
    (unjudged,) = adapted.policy.not_judged
    assert unjudged.native == f"upstream 127.0.0.1:{closed}"
    assert unjudged.aspects == frozenset({Aspect.MAX_RETRIES, Aspect.UPSTREAM, Aspect.BACKOFF})
    assert unjudged.location is not None and unjudged.location.endswith("Caddyfile:9")
    (note,) = [n for n in adapted.quirks if n.field == "to" and "not judged" in n.text]
    assert note.text.startswith("not judged (max_retries, upstream, backoff")
    with _caddy(tmp_path, text, lambda rid, index, earlier: False) as (url, up):
        answers = {
            rid: requests.get(url + "/", headers={"X-Request-ID": rid}, timeout=10).status_code
            for rid in (f"l{i}" for i in range(6))
        }
    unseen = [rid for rid, status in answers.items() if status == 502 and up.of(rid) == []]
    seen = [rid for rid, status in answers.items() if status == 200 and len(up.of(rid)) == 1]
    assert unseen and seen and len(unseen) + len(seen) == 6, answers
