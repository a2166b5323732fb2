"""The file:// (mmap hash table) attempt counter is exact across processes and threads."""

from __future__ import annotations

import multiprocessing
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fake_backends.counter import (
    DEFAULT_SLOTS,
    CounterTableFull,
    MmapCounter,
    open_counter,
    parse_file_url,
)
from fake_backends.settings import BadSetting, settings_from_env


def test_sequence_per_request_id_and_clear(tmp_path: Path) -> None:
    counter = open_counter(f"file://{tmp_path / 'c.bin'}")
    assert isinstance(counter, MmapCounter)
    assert [counter.next_attempt("a") for _ in range(3)] == [0, 1, 2]
    assert counter.next_attempt("b") == 0
    counter.clear()
    assert counter.next_attempt("a") == 0
    assert counter.next_attempt("b") == 0


def test_file_is_sparse_and_shared_by_path(tmp_path: Path) -> None:
    path = tmp_path / "c.bin"
    first, second = MmapCounter(path), open_counter(f"file:///{path}")
    assert first.next_attempt("x") == 0
    assert second.next_attempt("x") == 1
    assert path.stat().st_size == DEFAULT_SLOTS * 16
    assert path.stat().st_blocks * 512 < 1 << 20
    second.clear()
    assert path.stat().st_blocks * 512 < 1 << 20
    assert first.next_attempt("x") == 0


def test_full_table_raises_and_clear_frees_it(tmp_path: Path) -> None:
    counter = open_counter(f"file://{tmp_path / 'c.bin'}?slots=16")
    assert [counter.next_attempt(f"id-{i}") for i in range(16)] == [0] * 16
    assert counter.next_attempt("id-3") == 1
    with pytest.raises(CounterTableFull, match="slots="):
        counter.next_attempt("one-too-many")
    counter.clear()
    assert counter.next_attempt("one-too-many") == 0


def test_other_slot_count_on_same_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.bin"
    MmapCounter(path, slots=64).next_attempt("a")
    with pytest.raises(ValueError, match="same \\?slots="):
        MmapCounter(path, slots=128).next_attempt("a")


@pytest.mark.parametrize(
    ("url", "slots"),
    [("file:///tmp/x.bin", DEFAULT_SLOTS), ("file:////tmp/x.bin?slots=1024", 1024)],
)
def test_parse_file_url(url: str, slots: int) -> None:
    assert parse_file_url(url) == (Path("/tmp/x.bin"), slots)


@pytest.mark.parametrize(
    "url",
    ["file://relative/x.bin", "file:///x.bin?slots=8", "file:///x.bin?slots=ten", "file:///x?n=1"],
)
def test_bad_file_url_is_bad_input(url: str) -> None:
    with pytest.raises(ValueError):
        parse_file_url(url)
    with pytest.raises(BadSetting) as info:
        settings_from_env({"COUNTER_URL": url})
    assert info.value.name == "COUNTER_URL"


IDS = [f"id-{i}" for i in range(20)] + ["", "é"]


@settings(max_examples=80, deadline=None)
@given(ops=st.lists(st.one_of(st.sampled_from(IDS), st.none()), max_size=120))
def test_matches_a_dict_model(
    tmp_path_factory: pytest.TempPathFactory, ops: list[str | None]
) -> None:
    # 22 ids for 16 slots: long probe chains, a full table, and clears (None) in between.
    counter = MmapCounter(tmp_path_factory.mktemp("h") / "c.bin", slots=16)
    model: defaultdict[str, int] = defaultdict(int)
    for op in ops:
        if op is None:
            counter.clear()
            model.clear()
        elif op not in model and len(model) == 16:
            with pytest.raises(CounterTableFull):
                counter.next_attempt(op)
        else:
            assert counter.next_attempt(op) == model[op]
            model[op] += 1


def _hammer(url: str, tag: int, queue: multiprocessing.Queue[list[tuple[str, int]]]) -> None:
    counter = open_counter(url)
    rids = [f"shared-{i % 10}" for i in range(2000)] + [f"own-{tag}-{i}" for i in range(240)]

    def one(rid: str) -> tuple[str, int]:
        return rid, counter.next_attempt(rid)

    with ThreadPoolExecutor(8) as pool:
        queue.put(list(pool.map(one, rids)))


def test_processes_and_threads_share_one_count(tmp_path: Path) -> None:
    # Small table (1024 slots, 730 ids): long probe chains; 10 ids hit from 24 threads at once.
    url = f"file://{tmp_path / 'c.bin'}?slots=1024"
    ctx = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[list[tuple[str, int]]] = ctx.Queue()
    procs = [ctx.Process(target=_hammer, args=(url, k, queue)) for k in range(3)]
    for p in procs:
        p.start()
    try:
        results = [queue.get(timeout=60) for _ in procs]
    finally:
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
    per_id: defaultdict[str, list[int]] = defaultdict(list)
    for rid, index in (pair for r in results for pair in r):
        per_id[rid].append(index)
    # 3 processes x 8 threads: each shared id got 3 x 200 = 600 attempts, each own id one.
    assert Counter(len(v) for v in per_id.values()) == Counter({600: 10, 1: 720})
    assert all(sorted(v) == list(range(len(v))) for v in per_id.values())
