"""Real Traefik (built by ``.ci/build-go-suts traefik``) started by its driver, and the claims of
the traefik adapter that one request can show: which answers its retry middleware retries, how
often, for which methods, and the delay law between tries.

Skipped with the build command when Traefik is not built.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests

from harness.adapters import traefik as traefik_adapter
from harness.adapters.base import AdapterContext
from harness.errors import BadInput
from harness.suts.base import missing_binary, start_sut
from harness.suts.network import free_port
from harness.suts.spec import TraefikSut
from tests.integration.suts.conftest import DATA
from tests.integration.suts.upstream import Upstream, running_upstream

pytestmark = pytest.mark.integration

SPEC = TraefikSut(config=Path("traefik-dynamic.yml"), ready_timeout_s=20)
INITIAL_S = 0.1  # initialInterval of the "retry" middleware in data/traefik-dynamic.yml
JITTER = 0.5  # cenkalti/backoff RandomizationFactor
SLACK_S = 0.5  # scheduling delay on a loaded shared machine (upper side only; load 40 seen)


@pytest.fixture(autouse=True)
def _need_traefik() -> None:
    hint = missing_binary(SPEC)
    if hint is not None:
        pytest.skip(hint)


@pytest.fixture
def failing() -> Iterator[Upstream]:
    """One upstream failing the first 2 attempts of each request id with 503."""
    with running_upstream("up0", fail_first=2) as upstream:
        yield upstream


def _get(base: str, path: str, rid: str, method: str = "GET") -> int:
    return requests.request(
        method, base + path, headers={"X-Request-ID": rid}, timeout=10
    ).status_code


def test_forwards_to_every_replica_and_is_gone_afterwards(
    upstreams: list[Upstream], listen: tuple[str, int], workdir: Path
) -> None:
    with start_sut(
        SPEC, listen=listen, upstreams=[u.url for u in upstreams], workdir=workdir, base_dir=DATA
    ) as sut:
        assert sut.pid is not None
        pid = sut.pid
        statuses = [_get(sut.url, f"/item/{i}", f"r{i}") for i in range(6)]
    assert statuses == [200] * 6
    seen = {u.name for u in upstreams for i in range(6) if u.of(f"r{i}")}
    assert seen == {"up0", "up1"}
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)


def test_attempts_counts_tries_and_delays_follow_the_jittered_backoff(
    listen: tuple[str, int], workdir: Path
) -> None:
    """attempts 3 = 3 tries; retry k waits initialInterval x 2^((k-1)/2) x U[0.5, 1.5]."""
    policy = traefik_adapter.load(DATA / "traefik-dynamic.yml", AdapterContext()).policy
    assert policy.max_retries == 2
    with ExitStack() as stack:
        up = stack.enter_context(running_upstream("up0", fail_first=5))
        sut = stack.enter_context(
            start_sut(SPEC, listen=listen, upstreams=[up.url], workdir=workdir, base_dir=DATA)
        )
        # Always failing: 3 tries, then the last 503 goes to the client.
        statuses = [_get(sut.url, "/x", f"fail{i}") for i in range(8)]
        arrivals = [up.of(f"fail{i}") for i in range(8)]
    assert statuses == [503] * 8
    assert [len(a) for a in arrivals] == [3] * 8
    ratios = []
    for tries in arrivals:
        for k, (prev, nxt) in enumerate(itertools.pairwise(tries), start=1):
            nominal = INITIAL_S * policy.backoff.multiplier ** (k - 1)
            gap = nxt.at - prev.done
            assert nominal * (1 - JITTER) - 0.005 <= gap <= nominal * (1 + JITTER) + SLACK_S, (
                k,
                gap,
            )
            ratios.append(gap / nominal)
    # Jitter, not a fixed pause: 16 delays spread over the window.
    assert max(ratios) - min(ratios) > 0.3, ratios


def test_a_retried_503_succeeds_on_the_third_try(
    failing: Upstream, listen: tuple[str, int], workdir: Path
) -> None:
    with start_sut(
        SPEC, listen=listen, upstreams=[failing.url], workdir=workdir, base_dir=DATA
    ) as sut:
        status = _get(sut.url, "/x", "ok")
    assert status == 200
    assert [a.status for a in failing.of("ok")] == [503, 503, 200]


def test_post_is_not_retried_on_a_status(
    failing: Upstream, listen: tuple[str, int], workdir: Path
) -> None:
    """The adapter's note: POST, PATCH, LOCK never retried on a status by default."""
    with start_sut(
        SPEC, listen=listen, upstreams=[failing.url], workdir=workdir, base_dir=DATA
    ) as sut:
        post = _get(sut.url, "/x", "post", method="POST")
        put = _get(sut.url, "/x", "put", method="PUT")
    assert post == 503 and len(failing.of("post")) == 1
    assert put == 200 and len(failing.of("put")) == 3


def test_without_status_a_503_is_not_retried(
    failing: Upstream, listen: tuple[str, int], workdir: Path
) -> None:
    """The adapter's note: status not set retries connection failures only."""
    with start_sut(
        SPEC, listen=listen, upstreams=[failing.url], workdir=workdir, base_dir=DATA
    ) as sut:
        status = _get(sut.url, "/network-only", "net")
    assert status == 503 and len(failing.of("net")) == 1


def test_a_refused_connection_is_retried_on_the_next_server(
    listen: tuple[str, int], workdir: Path
) -> None:
    """Network errors before any request byte (a refused dial) are retried, statuses or not."""
    with running_upstream("up0") as up:
        dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        with start_sut(
            SPEC, listen=listen, upstreams=[dead, up.url], workdir=workdir, base_dir=DATA
        ) as sut:
            statuses = [_get(sut.url, "/network-only", f"n{i}") for i in range(6)]
    assert statuses == [200] * 6
    assert all(len(up.of(f"n{i}")) == 1 for i in range(6))


def test_a_config_traefik_rejects_is_bad_input_naming_the_file(
    upstreams: list[Upstream], listen: tuple[str, int], workdir: Path
) -> None:
    spec = TraefikSut(config=Path("traefik-broken.yml"), ready_timeout_s=20)
    with (
        pytest.raises(BadInput, match=r"traefik-broken\.yml.*no-such-middleware"),
        start_sut(
            spec, listen=listen, upstreams=[upstreams[0].url], workdir=workdir, base_dir=DATA
        ),
    ):
        pass


def test_a_literal_server_gets_attempts_the_harness_cannot_see(
    listen: tuple[str, int], workdir: Path, tmp_path: Path
) -> None:
    """``- url: http://127.0.0.1:<closed>`` next to the harness's server, attempts 1 (no
    retry): the load balancer sends every other request there, and Traefik's 502 reaches the
    client with no attempt at the harness's upstream. The adapter makes retry count, upstream
    and backoff not judged, naming the line."""
    closed = f"http://127.0.0.1:{free_port()}"
    text = (
        "http:\n  routers:\n    r:\n      entryPoints: [web]\n      rule: PathPrefix(`/`)\n"
        "      service: app\n      middlewares: [retry]\n"
        "  middlewares:\n    retry:\n      retry:\n        attempts: 1\n"
        "  services:\n    app:\n      loadBalancer:\n        servers:\n"
        '          - url: "http://{{upstream_hostport}}"\n'
        f'          - url: "{closed}"\n'
    )
    config = tmp_path / "traefik-literal.yml"
    config.write_text(text, encoding="utf-8")
    (unjudged,) = traefik_adapter.load(config, AdapterContext()).policy.not_judged
    assert unjudged.native.endswith(closed) and unjudged.location == f"{config}:17"
    spec = TraefikSut(config=Path(config.name), ready_timeout_s=20)
    with (
        running_upstream("up0", fail_first=0) as up,
        start_sut(
            spec, listen=listen, upstreams=[up.url], workdir=workdir, base_dir=tmp_path
        ) as sut,
    ):
        answers = {rid: _get(sut.url, "/", rid) for rid in (f"t{i}" for i in range(6))}
    unseen = [rid for rid, status in answers.items() if status == 502 and up.of(rid) == []]
    seen = [rid for rid, status in answers.items() if status == 200 and len(up.of(rid)) == 1]
    assert unseen and seen and len(unseen) + len(seen) == 6, answers
