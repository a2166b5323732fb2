"""State shared by the gunicorn workers of one replica: the current fault profile, and the
journal's generation and counts of lost records.

A replica's state directory holds ``state.bin``, a 56-byte file every worker maps with
``mmap``, of little-endian unsigned words: bytes 0..7 are the profile generation, 8..15 the
journal generation, 16..23 and 24..31 the attempts whose journal record was lost to a write
error after / before their arrival number was taken, 32..39 the errno of the last such error
(:meth:`fake_backends.journal.Journal.unjournaled`), 40..47 whether the journal ends in a torn
record (a write that failed part way), 48..55 how many such fragments the journal holds. The
file's blocks exist from the start, so these counts can still be kept on a full disk. Profile
generation ``g`` lives in ``profiles/<g>.json``.

``PUT /faults`` (served by any worker) writes the next profile file, then bumps the generation
under ``flock(state.lock)``. Each attempt reads the 8-byte generation from the map (no system
call) and reloads the profile only when it changed, so a new profile reaches every worker on
the next attempt after the PUT answered.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fake_backends import process_id
from fake_backends.profile import FaultProfile

_WORD = struct.Struct("<Q")
PROFILE_GEN_OFFSET = 0
JOURNAL_GEN_OFFSET = 8
LOST_AFTER_SEQ_OFFSET = 16
LOST_BEFORE_SEQ_OFFSET = 24
LOST_ERRNO_OFFSET = 32
TORN_OFFSET = 40
FRAGMENTS_OFFSET = 48
_STATE_SIZE = 56
_KEPT_ON_RESTART = slice(LOST_AFTER_SEQ_OFFSET, _STATE_SIZE)


class SharedState:
    """The profile store and generation words of one replica's state directory."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self._profiles = state_dir / "profiles"
        self._state_file = state_dir / "state.bin"
        self._lock_file = state_dir / "state.lock"
        self._map: mmap.mmap | None = None
        self._map_pid = -1
        self._cached_gen = -1
        self._cached: FaultProfile | None = None
        self._reload_lock = threading.Lock()

    @classmethod
    def create(cls, state_dir: Path, profile: FaultProfile) -> SharedState:
        """Initialise ``state_dir`` with ``profile`` as generation 1.

        The counts of lost journal records are kept when the directory was prepared before (a
        replica restarted on the same journal, as the journal itself is kept): the records it
        lost before a kill stay missing after the restart."""
        state_dir.mkdir(parents=True, exist_ok=True)
        (state_dir / "profiles").mkdir(exist_ok=True)
        state = cls(state_dir)
        words = bytearray(_STATE_SIZE)
        try:
            old = state._state_file.read_bytes()
        except FileNotFoundError:
            old = b""
        if len(old) == _STATE_SIZE:
            words[_KEPT_ON_RESTART] = old[_KEPT_ON_RESTART]
        with open(state._state_file, "wb") as fh:
            fh.write(bytes(words))
        state.put_profile(profile)
        return state

    def _words(self) -> mmap.mmap:
        pid = process_id.current()
        if self._map is None or self._map_pid != pid:
            fd = os.open(self._state_file, os.O_RDWR)
            try:
                self._map = mmap.mmap(fd, _STATE_SIZE)
            finally:
                os.close(fd)
            self._map_pid = pid
        return self._map

    def read_word(self, offset: int) -> int:
        value: int = _WORD.unpack_from(self._words(), offset)[0]
        return value

    def _write_word(self, offset: int, value: int) -> None:
        _WORD.pack_into(self._words(), offset, value)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive lock over the state directory (all workers of the replica)."""
        fd = os.open(self._lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def bump(self, offset: int) -> int:
        """Increment one generation word (caller holds :meth:`locked`); returns the new value."""
        value = self.read_word(offset) + 1
        self._write_word(offset, value)
        return value

    def add(self, offset: int, n: int = 1) -> int:
        """Add ``n`` to one word under :meth:`locked` (every worker of the replica); returns
        the new value. Needs no disk space: the lock file and the map exist already."""
        with self.locked():
            value = self.read_word(offset) + n
            self._write_word(offset, value)
            return value

    def set_word(self, offset: int, value: int) -> None:
        """Set one word (a single 8-byte store into the shared map)."""
        self._write_word(offset, value)

    @property
    def profile_generation(self) -> int:
        return self.read_word(PROFILE_GEN_OFFSET)

    def profile(self) -> FaultProfile:
        """The current profile (reloaded only when its generation changed)."""
        gen = _WORD.unpack_from(self._words(), PROFILE_GEN_OFFSET)[0]
        cached = self._cached
        if gen == self._cached_gen and cached is not None:
            return cached
        with self._reload_lock:
            if gen != self._cached_gen or self._cached is None:
                text = (self._profiles / f"{gen}.json").read_bytes()
                self._cached = FaultProfile.model_validate_json(text)
                self._cached_gen = gen
            return self._cached

    def put_profile(self, profile: FaultProfile) -> int:
        """Make ``profile`` current for every worker; returns its generation."""
        with self.locked():
            gen = self.read_word(PROFILE_GEN_OFFSET) + 1
            tmp = self._profiles / f".{gen}.json.tmp"
            tmp.write_text(profile.model_dump_json())
            os.replace(tmp, self._profiles / f"{gen}.json")
            self._write_word(PROFILE_GEN_OFFSET, gen)
            return gen
