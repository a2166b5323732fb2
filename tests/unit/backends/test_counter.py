"""The SQLite attempt counter is exact across processes and threads."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fake_backends.counter import SqliteCounter, open_counter


def test_sequence_per_request_id(tmp_path: Path) -> None:
    counter = open_counter(f"sqlite:///{tmp_path / 'c.sqlite'}")
    assert [counter.next_attempt("a") for _ in range(3)] == [0, 1, 2]
    assert counter.next_attempt("b") == 0
    counter.clear()
    assert counter.next_attempt("a") == 0


def _hammer(path: Path, queue: multiprocessing.Queue[list[int]]) -> None:
    counter = SqliteCounter(path)
    with ThreadPoolExecutor(4) as pool:
        queue.put(list(pool.map(lambda i: counter.next_attempt(f"id-{i % 50}"), range(400))))


def test_processes_and_threads_share_one_count(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    ctx = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[list[int]] = ctx.Queue()
    procs = [ctx.Process(target=_hammer, args=(path, queue)) for _ in range(3)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(10)
    # 3 processes x 400 attempts over 50 ids: each id got 24 attempts, indices 0..23 once each.
    seen = Counter(i for r in results for i in r)
    assert seen == Counter({i: 50 for i in range(24)})
