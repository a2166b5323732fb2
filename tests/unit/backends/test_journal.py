"""Journal: one line per attempt, a cap with an exact dropped count, cursors, clearing."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import orjson
import pytest

from fake_backends.journal import Journal, parse_cursor
from fake_backends.profile import FaultProfile
from fake_backends.shared_state import SharedState


def _journal(tmp_path: Path, cap: int = 1000) -> Journal:
    state = SharedState.create(tmp_path / "state", FaultProfile())
    journal = Journal(tmp_path / "j.ndjson", cap, state, "r0")
    journal.create_files()
    return journal


def _append(journal: Journal, i: int) -> bool:
    return journal.write(journal.reserve(), {"request_id": f"id-{i}", "attempt": 0})


def test_reserve_numbers_and_cap(tmp_path: Path) -> None:
    journal = _journal(tmp_path, cap=3)
    assert [journal.reserve() for _ in range(2)] == [1, 2]
    assert journal.write(3, {"a": 1})
    assert not journal.write(4, {"a": 2})
    written = [_append(journal, i) for i in range(5)]  # sequence numbers 3..7
    assert written == [True, False, False, False, False]
    stats = journal.stats()
    assert (stats.recorded, stats.dropped, stats.cap) == (2, 7 - 3, 3)


def test_pages_hold_complete_lines_and_cursor_advances(tmp_path: Path) -> None:
    journal = _journal(tmp_path)
    for i in range(10):
        _append(journal, i)
    seen: list[str] = []
    cursor = None
    while True:
        page = journal.read_page(cursor, limit_bytes=50)
        if not page.data:
            break
        assert page.data.endswith(b"\n")
        seen += [orjson.loads(line)["request_id"] for line in page.data.splitlines()]
        cursor = page.cursor
    assert seen == [f"id-{i}" for i in range(10)]
    _append(journal, 10)
    page = journal.read_page(cursor)
    assert [orjson.loads(x)["request_id"] for x in page.data.splitlines()] == ["id-10"]


def test_clear_starts_a_new_generation(tmp_path: Path) -> None:
    journal = _journal(tmp_path, cap=2)
    for i in range(3):
        _append(journal, i)
    old_cursor = journal.read_page(None).cursor
    journal.clear()
    assert journal.stats().recorded == 0
    assert journal.dropped() == 0
    _append(journal, 99)
    page = journal.read_page(old_cursor)
    assert page.restarted
    assert parse_cursor(page.cursor)[0] == parse_cursor(old_cursor)[0] + 1
    assert [orjson.loads(x)["request_id"] for x in page.data.splitlines()] == ["id-99"]


@pytest.mark.parametrize("bad", ["", "12", "a:b", "-1:0"])
def test_bad_cursors(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_cursor(bad)


def _worker(journal: Journal, start: int, count: int) -> None:
    for i in range(start, start + count):
        _append(journal, i)


def test_concurrent_processes_write_every_record_once(tmp_path: Path) -> None:
    journal = _journal(tmp_path, cap=10_000)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_worker, args=(journal, k * 500, 500)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    ids = [orjson.loads(x)["request_id"] for x in journal.read_page(None).data.splitlines()]
    assert sorted(ids) == sorted(f"id-{i}" for i in range(2000))
    assert journal.stats().recorded == 2000


def test_a_restarted_replica_keeps_the_records_it_wrote_before(tmp_path: Path) -> None:
    """Chaos kills a replica and starts it again on the same journal: the records of the
    attempts it served before must survive the new start (they were truncated, and showed up
    as hundreds of answers 'no backend gave' on the docker substrate)."""
    first = _journal(tmp_path)
    assert all(_append(first, i) for i in range(3))
    state = SharedState.create(tmp_path / "state2", FaultProfile())  # the new process's state
    again = Journal(tmp_path / "j.ndjson", 1000, state, "r0")
    again.create_files()
    assert _append(again, 3)
    lines = (tmp_path / "j.ndjson").read_bytes().splitlines()
    assert [orjson.loads(x)["request_id"] for x in lines] == [f"id-{i}" for i in range(4)]
    assert again.reserve() == 5  # the sequence goes on: the cap counts every attempt served
