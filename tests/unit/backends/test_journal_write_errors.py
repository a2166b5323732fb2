"""A journal that cannot be written never changes what the SUT sees; each lost record is counted.

The journal files are symlinks to ``/dev/full``, whose every write fails with ENOSPC, as on the
full disk that made a correct HAProxy look guilty (its backend closed connections without an
answer when ``reserve`` raised, and lost the records of answers it had sent).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import orjson
import pytest
from flask.testing import FlaskClient

from fake_backends.app import create_app
from fake_backends.dataplane import PLANE_ENVIRON_KEY
from fake_backends.journal import Journal
from fake_backends.profile import FaultProfile
from fake_backends.records import JournalStats
from fake_backends.settings import BackendSettings
from fake_backends.shared_state import SharedState

ADMIN = {PLANE_ENVIRON_KEY: "admin"}
FULL = Path("/dev/full")
ENOSPC = f"OSError [Errno {errno.ENOSPC}]"

pytestmark = pytest.mark.skipif(not FULL.exists(), reason="needs /dev/full")


def _full(path: Path) -> Path:
    path.symlink_to(FULL)
    return path


def _journal(tmp_path: Path, *, seq_full: bool, journal_full: bool) -> Journal:
    state = SharedState.create(tmp_path / "state", FaultProfile())
    path = tmp_path / "j.ndjson"
    if journal_full:
        _full(path)
    if seq_full:
        _full(Path(f"{path}.seq"))
    journal = Journal(path, 1000, state, "r0")
    journal.create_files()
    return journal


def test_a_record_that_cannot_be_written_is_counted_not_raised(tmp_path: Path) -> None:
    journal = _journal(tmp_path, seq_full=False, journal_full=True)
    seqs = [journal.reserve() for _ in range(3)]
    assert seqs == [1, 2, 3]
    assert [journal.write(s, {"a": s}) for s in seqs] == [False, False, False]
    stats = journal.stats()
    assert (stats.unjournaled, stats.dropped, stats.pending) == (3, 3, 0)  # never pending
    assert stats.unjournaled_error is not None and stats.unjournaled_error.startswith(ENOSPC)
    note = stats.loss_note()
    assert note is not None and "backend r0 could not journal 3 attempts (OSError" in note


def test_an_arrival_that_cannot_be_numbered_is_counted_once(tmp_path: Path) -> None:
    journal = _journal(tmp_path, seq_full=True, journal_full=False)
    seq = journal.reserve()
    assert seq == 0
    assert not journal.write(seq, {"a": 1})  # not numbered: not written, not counted again
    assert journal.unjournaled()[0] == 1
    assert journal.dropped() == 1


def test_counts_are_shared_by_workers_and_kept_across_a_restart(tmp_path: Path) -> None:
    journal = _journal(tmp_path, seq_full=False, journal_full=True)
    other_worker = Journal(journal.path, 1000, SharedState(tmp_path / "state"), "r0")
    journal.write(journal.reserve(), {"a": 1})
    other_worker.write(other_worker.reserve(), {"a": 2})
    assert journal.unjournaled()[0] == other_worker.unjournaled()[0] == 2
    restarted = SharedState.create(tmp_path / "state", FaultProfile())  # chaos: kill, start
    assert Journal(journal.path, 1000, restarted, "r0").unjournaled()[0] == 2


def test_no_loss_no_note(tmp_path: Path) -> None:
    journal = _journal(tmp_path, seq_full=False, journal_full=False)
    assert journal.write(journal.reserve(), {"a": 1})
    stats = journal.stats()
    assert (stats.unjournaled, stats.unjournaled_error, stats.loss_note()) == (0, None, None)


class _BufferedClient(FlaskClient):
    def open(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


@pytest.mark.parametrize("full", ["journal", "seq", "both"])
def test_the_attempt_is_still_answered_as_decided_and_counted(tmp_path: Path, full: str) -> None:
    path = tmp_path / "j.ndjson"
    if full in ("journal", "both"):
        _full(path)
    if full in ("seq", "both"):
        _full(Path(f"{path}.seq"))
    profile = FaultProfile(fail_first_n=1, retry_after="2")
    settings = BackendSettings(replica="r1", journal_path=path)
    app = create_app(profile, settings, state_dir=tmp_path / "state")
    app.test_client_class = _BufferedClient
    client = app.test_client()
    first = client.get("/x", headers={"X-Request-ID": "a"})
    second = client.get("/x", headers={"X-Request-ID": "a"})
    assert first.status_code == 503 and first.headers["Retry-After"] == "2"
    assert first.get_json()["attempt"] == 0
    assert second.status_code == 200 and second.get_json()["attempt"] == 1
    stats = JournalStats.model_validate_json(client.get("/stats", environ_overrides=ADMIN).data)
    assert (stats.unjournaled, stats.dropped, stats.pending) == (2, 2, 0)
    assert stats.unjournaled_error is not None and stats.unjournaled_error.startswith(ENOSPC)
    metrics = client.get("/metrics", environ_overrides=ADMIN).text
    assert 'fake_backend_journal_dropped{replica="r1"} 2.0' in metrics


def test_a_write_torn_part_way_spoils_no_other_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk can take part of a record (a short write) and then refuse the rest: the
    fragment must not run into the next record's line, and it is counted as lost, not as
    recorded. The harness leaves the fragment out (harness.traffic.split_journal)."""
    from fake_backends import journal as journal_module
    from harness.traffic import split_journal

    journal = _journal(tmp_path, seq_full=False, journal_full=False)
    assert journal.write(journal.reserve(), {"request_id": "before", "attempt": 0})
    real_write = journal_module.os.write
    calls: list[int] = []

    def short_then_full(fd: int, data: bytes) -> int:
        if fd != journal._fd:
            return real_write(fd, data)
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, data[:7])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(journal_module.os, "write", short_then_full)
    assert not journal.write(journal.reserve(), {"request_id": "torn", "attempt": 0})
    monkeypatch.setattr(journal_module.os, "write", real_write)
    assert journal.write(journal.reserve(), {"request_id": "after", "attempt": 0})
    stats = journal.stats()
    assert (stats.recorded, stats.unjournaled, stats.dropped, stats.pending) == (2, 1, 1, 0)
    raw = journal.path.read_bytes()
    assert raw.count(b"\n") == 3 and raw.splitlines()[1] == b'{"reque'
    clean, calib, own = (tmp_path / n for n in ("clean", "calib", "own"))
    split_journal(journal.path, clean, calib, own)
    kept = [orjson.loads(x)["request_id"] for x in clean.read_bytes().splitlines()]
    assert kept == ["before", "after"]
    journal.clear()
    assert journal.stats().unjournaled == journal.stats().dropped == 0
