"""The attempt journal of one replica: one NDJSON file shared by all its gunicorn workers.

Writing (per attempt, any worker, any thread):

* ``reserve()`` at arrival appends one byte to ``<journal>.seq`` (``O_APPEND``) and reads the
  file offset back: that is the attempt's 1-based arrival sequence number, unique across the
  workers of the replica. Attempts whose number is above the cap (``JOURNAL_MAX_RECORDS``) are
  not written; ``dropped = max(0, size(<journal>.seq) - cap)`` counts them exactly.
* ``write()`` at the end of the attempt appends the record as one line with a single
  ``os.write`` on an ``O_APPEND`` descriptor: appends to a regular file are atomic, so lines of
  concurrent workers never interleave and each attempt is one line.
* Neither ever raises: a journal that cannot be written (``OSError``: ENOSPC on a full disk,
  EIO, EDQUOT, ...) must not change what the SUT sees, so the attempt is still served exactly as
  decided, and its lost record is counted in the replica's shared state (all workers, kept
  across a restart; :meth:`Journal.unjournaled`). A write that failed part way leaves a torn
  fragment at the end of the journal: the next record written starts with a newline, so the
  fragment is a line of its own (not JSON; readers leave it out, it is counted as lost) and no
  whole record is spoiled by it. ``dropped()`` counts these too, so the
  harness never reads a journal that lacks them as complete (an attempt with no record looks
  like an answer the SUT made up, or a retry it never sent).

Reading (admin API): the cursor is ``"<generation>:<byte offset>"``. A page holds only complete
lines after the offset; the next cursor points after its last line. ``DELETE /journal``
truncates both files and bumps the generation (kept in :class:`SharedState`), so a cursor from
before the clear restarts at the beginning of the new journal.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from fake_backends import process_id
from fake_backends.records import JournalStats
from fake_backends.shared_state import (
    FRAGMENTS_OFFSET,
    JOURNAL_GEN_OFFSET,
    LOST_AFTER_SEQ_OFFSET,
    LOST_BEFORE_SEQ_OFFSET,
    LOST_ERRNO_OFFSET,
    TORN_OFFSET,
    SharedState,
)

_LOSS_WORDS = (
    LOST_AFTER_SEQ_OFFSET,
    LOST_BEFORE_SEQ_OFFSET,
    LOST_ERRNO_OFFSET,
    TORN_OFFSET,
    FRAGMENTS_OFFSET,
)
DEFAULT_PAGE_BYTES = 4 * 1024 * 1024
_READ_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class JournalPage:
    """Complete NDJSON lines after a cursor, and the cursor after them."""

    data: bytes
    cursor: str
    restarted: bool  # the given cursor was from an older generation (journal cleared)


def parse_cursor(cursor: str) -> tuple[int, int]:
    """``"gen:offset"`` -> (gen, offset); ValueError when malformed."""
    gen_text, sep, offset_text = cursor.partition(":")
    if not sep:
        raise ValueError("cursor must look like GENERATION:OFFSET")
    gen, offset = int(gen_text), int(offset_text)
    if gen < 0 or offset < 0:
        raise ValueError("cursor parts must be >= 0")
    return gen, offset


class Journal:
    """Writer and reader of one replica's journal file."""

    def __init__(self, path: Path, cap: int, state: SharedState, replica: str) -> None:
        self.path = path
        self.seq_path = Path(f"{path}.seq")
        self.cap = cap
        self.replica = replica
        self._state = state
        self._pid = -1
        self._fd = -1
        self._seq_fd = -1
        self._seq_lock = threading.Lock()
        self._open_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._counted: tuple[int, int, int] = (-1, 0, 0)  # generation, offset, lines

    def create_files(self) -> None:
        """Create the journal files if missing; called once by the master before workers start.

        An existing journal is kept and appended to: a replica restarted on the same journal
        (chaos: kill, then start again) must not erase the attempts it served before the kill,
        or they would look like answers no backend gave. ``DELETE /journal`` empties it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for p in (self.path, self.seq_path):
            with open(p, "ab"):
                pass

    def _fds(self) -> tuple[int, int]:
        pid = process_id.current()
        if self._pid != pid:
            with self._open_lock:
                if self._pid != pid:
                    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
                    self._fd = os.open(self.path, flags, 0o644)
                    self._seq_fd = os.open(self.seq_path, flags, 0o644)
                    self._pid = pid
        return self._fd, self._seq_fd

    def reserve(self) -> int:
        """The 1-based arrival sequence number of a new attempt in this replica.

        When the sequence file cannot be written (``OSError``), the attempt is counted as lost
        and 0 is returned: :meth:`write` then writes nothing for it (its record could not be
        told apart from others' by number, nor counted against the cap)."""
        try:
            _, seq_fd = self._fds()
            with self._seq_lock:
                os.write(seq_fd, b"\n")
                return os.lseek(seq_fd, 0, os.SEEK_CUR)
        except OSError as exc:
            self._lose(LOST_BEFORE_SEQ_OFFSET, exc)
            return 0

    def write(self, seq: int, record: dict[str, Any]) -> bool:
        """Append ``record`` as one line unless ``seq`` is over the cap or 0 (:meth:`reserve`
        could not number it); True when written. An ``OSError`` counts the record as lost and
        returns False."""
        if seq > self.cap or seq <= 0:
            return False
        line = orjson.dumps(record, option=orjson.OPT_APPEND_NEWLINE)
        torn = self._state.read_word(TORN_OFFSET)
        if torn:  # end the torn fragment's line first: this record stays whole
            line = b"\n" + line
        written = 0
        try:
            fd, _ = self._fds()
            written = os.write(fd, line)
            while written < len(line):  # only on a full disk or a signal
                written += os.write(fd, line[written:])
        except OSError as exc:
            if written:
                self._state.set_word(TORN_OFFSET, 1)
                self._state.add(FRAGMENTS_OFFSET)
            self._lose(LOST_AFTER_SEQ_OFFSET, exc)
            return False
        if torn:
            self._state.set_word(TORN_OFFSET, 0)
        return True

    def _lose(self, offset: int, exc: OSError) -> None:
        """Count one attempt whose record is lost, and keep the error's errno."""
        self._state.set_word(LOST_ERRNO_OFFSET, exc.errno or 0)
        self._state.add(offset)

    def unjournaled(self) -> tuple[int, str | None]:
        """(attempts whose record was lost to a write error, since the replica's state
        directory was prepared; the last error, e.g. ``"OSError [Errno 28] No space left on
        device"``, None when none was lost)."""
        lost = self._state.read_word(LOST_AFTER_SEQ_OFFSET) + self._state.read_word(
            LOST_BEFORE_SEQ_OFFSET
        )
        if not lost:
            return 0, None
        code = self._state.read_word(LOST_ERRNO_OFFSET)
        return lost, f"OSError [Errno {code}] {os.strerror(code)}"

    @property
    def generation(self) -> int:
        return self._state.read_word(JOURNAL_GEN_OFFSET)

    def clear(self) -> None:
        """Empty the journal and its sequence, and start a new generation (with no lost
        record, torn fragment or cap overflow counted)."""
        with self._state.locked():
            os.truncate(self.path, 0)
            os.truncate(self.seq_path, 0)
            for offset in _LOSS_WORDS:
                self._state.set_word(offset, 0)
            self._state.bump(JOURNAL_GEN_OFFSET)
        with self._count_lock:
            self._counted = (-1, 0, 0)

    def dropped(self) -> int:
        """Attempts without a record: over the cap, or lost to a write error (unjournaled)."""
        return max(0, os.stat(self.seq_path).st_size - self.cap) + self.unjournaled()[0]

    def pending(self) -> int:
        """Attempts that arrived (``reserve``) but whose record is not written yet: answers still
        being served, or answered and not yet journaled (the record is written after the answer's
        last byte left, to carry its kernel transmit stamp). A record lost to a write error is
        not pending: it never comes."""
        reserved = min(os.stat(self.seq_path).st_size, self.cap)
        lost = self._state.read_word(LOST_AFTER_SEQ_OFFSET)
        return max(0, reserved - self.recorded() - lost)

    def recorded(self) -> int:
        """Number of records in the journal: its complete lines, less the torn fragments."""
        return max(0, self._lines() - self._state.read_word(FRAGMENTS_OFFSET))

    def _lines(self) -> int:
        """Number of complete lines in the journal (counted incrementally)."""
        with self._count_lock:
            gen = self.generation
            counted_gen, offset, lines = self._counted
            if counted_gen != gen:
                offset, lines = 0, 0
            with open(self.path, "rb") as fh:
                fh.seek(offset)
                while chunk := fh.read(_READ_CHUNK):
                    end = chunk.rfind(b"\n") + 1
                    if end == 0:
                        break
                    lines += chunk.count(b"\n", 0, end)
                    offset += end
                    fh.seek(offset)
            self._counted = (gen, offset, lines)
            return lines

    def stats(self) -> JournalStats:
        unjournaled, error = self.unjournaled()
        return JournalStats(
            replica=self.replica,
            recorded=self.recorded(),
            dropped=self.dropped(),
            cap=self.cap,
            pending=self.pending(),
            unjournaled=unjournaled,
            unjournaled_error=error,
        )

    def read_page(self, cursor: str | None, limit_bytes: int = DEFAULT_PAGE_BYTES) -> JournalPage:
        """Complete lines after ``cursor`` (None: the beginning), at most about ``limit_bytes``."""
        gen = self.generation
        offset, restarted = 0, False
        if cursor is not None:
            cursor_gen, cursor_offset = parse_cursor(cursor)
            if cursor_gen == gen:
                offset = cursor_offset
            else:
                restarted = True
        with open(self.path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            if offset > size:  # cleared and refilled within one generation read: restart
                offset, restarted = 0, True
            fh.seek(offset)
            data = fh.read(max(1, limit_bytes))
            end = data.rfind(b"\n") + 1
            while end == 0 and data and len(data) < size - offset:
                more = fh.read(_READ_CHUNK)  # one line longer than the limit: finish it
                if not more:
                    break
                data += more
                end = data.rfind(b"\n") + 1
        return JournalPage(data[:end], f"{gen}:{offset + end}", restarted)
