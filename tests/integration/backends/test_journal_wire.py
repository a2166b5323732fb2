"""Journal completeness under concurrent load, cursors over HTTP, and the cap, on real workers."""

from __future__ import annotations

import threading
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests

from fake_backends.admin_client import AdminClient
from fake_backends.ports import free_ports
from fake_backends.profile import FaultProfile, Latency
from fake_backends.records import AttemptRecord
from harness.processes.backends import BackendHandle, start_backend
from harness.processes.child import wait_until
from harness.substrates.kind import KindSubstrate
from tests.integration.backends.load import fire

pytestmark = pytest.mark.integration


def test_n_concurrent_requests_give_n_records_without_duplicates(fresh: BackendHandle) -> None:
    fresh.admin.put_faults(FaultProfile(failure_rate=0.2, reset_rate=0.05, seed=3))
    n = 2000
    rids = [f"c-{i}" for i in range(n)]
    outcomes = fire(fresh.url, rids, threads=16, keep_alive=False)
    _wait_recorded(fresh, n)
    records = [AttemptRecord.model_validate(r) for r in fresh.admin.iter_journal()]
    assert len(records) == n
    assert sorted(r.request_id or "" for r in records) == sorted(rids)
    assert len({r.worker for r in records}) == 2
    # What the client saw and what the journal says agree, attempt by attempt.
    by_id = {r.request_id: r for r in records}
    for rid, outcome in zip(rids, outcomes, strict=True):
        record = by_id[rid]
        if record.fault.value == "reset":
            assert outcome == "ConnectionError"
        else:
            assert outcome == record.status
        assert record.arrival_us <= record.end_us
    stats = fresh.admin.stats()
    assert (stats.recorded, stats.dropped) == (n, 0)


def _wait_recorded(handle: BackendHandle, n: int) -> None:
    """The record of an attempt is written once its answer has left (the kernel's transmit
    stamp is read first), so a client can see the answer a moment before the record exists."""
    assert wait_until(lambda: handle.admin.stats().recorded >= n, timeout_s=10, interval_s=0.05)


def test_cursor_paging_and_clear_over_http(fresh: BackendHandle) -> None:
    fire(fresh.url, [f"p-{i}" for i in range(30)], threads=1)
    _wait_recorded(fresh, 30)
    first, cursor = fresh.admin.journal(limit_bytes=1000)
    assert 0 < len(first) < 30
    rest = list(fresh.admin.iter_journal(since=cursor))
    # each record once, none lost; write order may differ from send order by a stamp's wait
    ids = [r["request_id"] for r in first + rest]
    assert sorted(ids) == sorted(f"p-{i}" for i in range(30))
    _, end = fresh.admin.journal(since=cursor, limit_bytes=10**7)
    assert fresh.admin.journal(since=end) == ([], end)
    fresh.admin.clear_journal()
    fire(fresh.url, ["after-clear"], threads=1)
    _wait_recorded(fresh, 1)
    records, _ = fresh.admin.journal(since=end)
    assert [r["request_id"] for r in records] == ["after-clear"]


def test_cap_drops_and_reports_count() -> None:
    port, admin_port = free_ports(2)
    with start_backend(port, admin_port, extra_env={"JOURNAL_MAX_RECORDS": "50"}) as b:
        fire(b.url, [f"cap-{i}" for i in range(80)], threads=4)
        assert len(list(b.admin.iter_journal())) == 50
        stats = b.admin.stats()
        assert (stats.recorded, stats.dropped, stats.cap) == (50, 30, 50)
        assert b.admin.health()["journal"]["dropped"] == 30
        assert 'fake_backend_journal_dropped{replica="r0"} 30.0' in b.admin.metrics()
        statuses = Counter(fire(b.url, ["more"], threads=1))
        assert statuses == {200: 1}  # attempts over the cap are still served


def test_a_settled_read_waits_for_the_attempt_being_served(fresh: BackendHandle) -> None:
    """``GET /journal?settle_ms=`` (``AdminClient.iter_journal``'s default) waits until every
    attempt that arrived has its record: a user's test reading the journal right after its
    client got the answer sees its own attempt (the record is written after the answer left)."""
    fresh.admin.put_faults(FaultProfile(latency=Latency(kind="fixed", ms=600)))
    sender = threading.Thread(target=fire, args=(fresh.url, ["slow-1"]), kwargs={"threads": 1})
    sender.start()
    try:
        assert wait_until(lambda: fresh.admin.stats().pending == 1, timeout_s=10, interval_s=0.01)
        unsettled, _ = fresh.admin.journal()
        assert [r["request_id"] for r in unsettled] == []  # still being served
        records = list(fresh.admin.iter_journal())  # settles first
        assert [r["request_id"] for r in records] == ["slow-1"]
        assert fresh.admin.stats().pending == 0
    finally:
        sender.join(timeout=30)


def test_a_settle_that_gives_up_says_how_many_attempts_have_no_record(
    fresh: BackendHandle, tmp_path: Path
) -> None:
    """A hang outlives the settle wait: the page says so (``X-Journal-Pending``), and kind's last
    pull counts it, so the run cannot pass on a journal that lacks the attempt."""
    fresh.admin.put_faults(FaultProfile(latency=Latency(kind="fixed", ms=4000)))
    sender = threading.Thread(target=fire, args=(fresh.url, ["hung-1"]), kwargs={"threads": 1})
    sender.start()
    try:
        assert wait_until(lambda: fresh.admin.stats().pending == 1, timeout_s=10, interval_s=0.01)
        page = fresh.admin.journal_page(settle_s=0.3)
        assert (page.records, page.pending) == ([], 1)
        stub = SimpleNamespace(
            admin=lambda index: AdminClient(fresh.admin.base_url),
            workdir=tmp_path,
            _journal_lock=threading.Lock(),
            _cursors={},
        )
        assert KindSubstrate.pull_journal(stub, 0, settle_s=0.3) == 1  # type: ignore[arg-type]
    finally:
        sender.join(timeout=30)
    settled = fresh.admin.journal_page(settle_s=5)
    assert ([r["request_id"] for r in settled.records], settled.pending) == (["hung-1"], 0)
    assert KindSubstrate.pull_journal(stub, 0, settle_s=1) == 0  # type: ignore[arg-type]
    assert "hung-1" in (tmp_path / "journal-r0.raw.ndjson").read_text()


def test_settle_ms_out_of_range_is_a_400(fresh: BackendHandle) -> None:
    response = requests.get(
        fresh.admin.base_url + "/journal", params={"settle_ms": 10_001}, timeout=5
    )
    assert response.status_code == 400
    assert "settle_ms must be in [0, 10000]" in response.json()["error"]


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_a_journal_that_cannot_be_written_changes_no_answer(tmp_path: Path) -> None:
    """Real workers whose journal's arrival sequence is ``/dev/full`` (every write: ENOSPC, as
    on a full disk): each attempt is still answered as decided, and each lost record is counted
    by the replica (across its workers), where the harness reads dropped counts. Before, the
    failed sequence write closed the connection with no answer (HAProxy logged SH-- 502s).
    (Only the sequence file is linked: the backend resolves ``--journal``, and the sequence
    file is named after the resolved path; a failing record write is shown in
    tests/unit/backends/test_journal_write_errors.py.)"""
    journal = tmp_path / "journal.ndjson"
    Path(f"{journal}.seq").symlink_to("/dev/full")
    port, admin_port = free_ports(2)
    profile = FaultProfile(fail_first_n=1, retry_after="1")
    with start_backend(port, admin_port, profile=profile, journal_path=journal) as b:
        n = 40
        first = fire(b.url, [f"full-{i}" for i in range(n)], threads=4, keep_alive=False)
        second = fire(b.url, [f"full-{i}" for i in range(n)], threads=4, keep_alive=False)
        assert first == [503] * n and second == [200] * n  # as decided: fail_first_n=1
        stats = b.admin.stats()
        assert (stats.unjournaled, stats.dropped, stats.pending) == (2 * n, 2 * n, 0)
        assert stats.unjournaled_error is not None and "[Errno 28]" in stats.unjournaled_error
        assert b.admin.health()["journal"]["dropped"] == 2 * n
