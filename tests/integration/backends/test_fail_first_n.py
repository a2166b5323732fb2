"""FAIL_FIRST_N is exact per request id across gunicorn workers and across replicas.

All N+1 attempts of each request id are sent concurrently (shuffled, 8 client threads, a new
connection per request so both workers serve), so the count is only right if the shared
counter is atomic. Counters: the default SQLite file, and Redis (``redis-server`` started on a
free port, skipped with a reason when it is not installed).
"""

from __future__ import annotations

import random
import shutil
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from fake_backends.ports import free_ports
from fake_backends.profile import FaultProfile
from harness.processes.backends import BackendHandle, start_backend, start_redis
from tests.integration.backends.load import fire

pytestmark = pytest.mark.integration
N = 3
IDS = 120


def _check_exact(handles: list[BackendHandle], tag: str) -> None:
    for h in handles:
        h.admin.put_faults(FaultProfile(fail_first_n=N, failure_rate=0.0))
        h.admin.clear_journal()
    rids = [f"{tag}-{i}" for i in range(IDS) for _ in range(N + 1)]
    random.Random(7).shuffle(rids)
    outcomes = fire(
        handles[0].url,
        rids,
        threads=8,
        keep_alive=False,
        urls=lambda i: handles[i % len(handles)].url,
    )
    per_id: dict[str, list[int | str]] = defaultdict(list)
    for rid, outcome in zip(rids, outcomes, strict=True):
        per_id[rid].append(outcome)
    for rid, seen in per_id.items():
        assert sorted(seen, key=str) == [200] + [503] * N, (rid, seen)

    records = [r for h in handles for r in h.admin.iter_journal()]
    assert len(records) == IDS * (N + 1)
    attempts: dict[str, list[int]] = defaultdict(list)
    for r in records:
        attempts[r["request_id"]].append(r["attempt"])
        assert (r["fault"] == "first_n") == (r["attempt"] < N), r
    assert all(sorted(a) == list(range(N + 1)) for a in attempts.values())
    assert len({(r["replica"], r["worker"]) for r in records}) >= 2 * len(handles)


def test_exact_with_two_workers(backend: BackendHandle) -> None:
    _check_exact([backend], "w2")


@pytest.mark.slow
def test_exact_with_two_replicas_sharing_a_sqlite_counter(tmp_path: Path) -> None:
    counter = f"sqlite:///{tmp_path / 'shared-counter.sqlite'}"
    ports = free_ports(4)
    with ExitStack() as stack:
        handles = [
            stack.enter_context(
                start_backend(ports[2 * k], ports[2 * k + 1], replica=f"s{k}", counter_url=counter)
            )
            for k in range(2)
        ]
        _check_exact(handles, "sqlite")


@pytest.fixture
def redis_url() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (Debian package redis-server)")
    (port,) = free_ports(1)
    with start_redis(port) as url:
        yield url


@pytest.mark.slow
def test_exact_with_two_replicas_sharing_redis(redis_url: str) -> None:
    ports = free_ports(4)
    with ExitStack() as stack:
        handles = [
            stack.enter_context(
                start_backend(
                    ports[2 * k], ports[2 * k + 1], replica=f"q{k}", counter_url=redis_url
                )
            )
            for k in range(2)
        ]
        _check_exact(handles, "redis")
