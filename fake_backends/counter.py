"""The shared attempt counter: attempt index of each request id across workers and replicas.

``next_attempt(request_id)`` returns 0 for the first attempt of a request id anywhere, 1 for the
second, and so on, whichever worker or replica sees it. Three implementations, chosen by URL:

* ``file:///ABSOLUTE/PATH[?slots=N]`` (default; :class:`MmapCounter`): a fixed-size
  open-addressing hash table in a sparse file mapped with ``mmap`` by every process that is given
  the same path (all workers and all replicas of one host). Slot = 8-byte key (``blake2b`` of the
  request id, 64 bits, 0 = empty) + 8-byte count; linear probing. Each probed slot is locked
  alone with an open-file-description byte-range lock (``F_OFD_SETLKW``, one descriptor per
  thread, so threads of one process exclude each other too): two attempts contend only when
  they probe the same slot, and nothing but the lock syscalls runs inside the critical section.
  Locks vanish with their process, so a killed worker never blocks the others.
* ``sqlite:///path``: one SQLite file, WAL mode, ``synchronous=OFF``, one atomic
  ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` per attempt, writers serialised by a thread
  lock plus ``flock`` on ``<path>.lock``. Exact, but about half the attempt rate of the file
  counter: the flock is held while the thread waits to get the GIL back after the statement.
* ``redis://host:port/db``: ``INCR`` of ``fb:attempt:<request id>`` (expires after a day), for
  replicas on several hosts.

Connections and mappings are opened lazily per process (gunicorn workers fork after the master
parsed the URL), so one object can be created before the fork.
"""

from __future__ import annotations

import fcntl
import hashlib
import mmap
import os
import sqlite3
import struct
import threading
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from fake_backends import process_id

REDIS_KEY_PREFIX = "fb:attempt:"
REDIS_KEY_TTL_S = 86_400
DEFAULT_SLOTS = 1 << 22  # 4,194,304 request ids; a 64 MiB sparse file
MIN_SLOTS = 16
MAX_SLOTS = 1 << 31
_SLOT = struct.Struct("=QQ")  # key (0 = empty), attempts so far
_FLOCK = struct.Struct("hhqqi4x")  # struct flock on Linux x86-64/aarch64: type whence start len pid


class AttemptCounter(Protocol):
    """Counts attempts per request id, shared by every worker and replica that uses it."""

    url: str

    def next_attempt(self, request_id: str) -> int:
        """0-based index of this attempt among all attempts of ``request_id``."""
        ...

    def clear(self) -> None:
        """Forget every request id."""
        ...


class CounterTableFull(RuntimeError):
    """Every slot of a :class:`MmapCounter` table holds another request id."""


def parse_file_url(url: str) -> tuple[Path, int]:
    """Path and slot count of a ``file:///ABSOLUTE/PATH[?slots=N]`` counter URL.

    Raises ``ValueError`` naming what is allowed.
    """
    parts = urlsplit(url)
    if parts.scheme != "file" or parts.netloc not in ("", "localhost") or not parts.path:
        raise ValueError(f"must be file:///ABSOLUTE/PATH[?slots=N] (got {url!r})")
    path = "/" + parts.path.lstrip("/")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"slots"})
    if unknown or parts.fragment:
        raise ValueError(f"the only query parameter of a file:// counter is slots (got {url!r})")
    slots = DEFAULT_SLOTS
    if "slots" in query:
        raw = query["slots"][-1]
        if not raw.isdigit() or not MIN_SLOTS <= int(raw) <= MAX_SLOTS:
            raise ValueError(
                f"slots must be an integer from {MIN_SLOTS} to {MAX_SLOTS} (got {raw!r} in {url!r})"
            )
        slots = int(raw)
    return Path(path), slots


def _slot_key(request_id: str) -> int:
    digest = hashlib.blake2b(request_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "little") or 1


def _ofd_lock(fd: int, kind: int, start: int, length: int) -> None:
    """Set (``F_WRLCK``, waiting) or drop (``F_UNLCK``) an OFD byte-range lock; 0 = to EOF."""
    command = fcntl.F_OFD_SETLK if kind == fcntl.F_UNLCK else fcntl.F_OFD_SETLKW
    fcntl.fcntl(fd, command, _FLOCK.pack(kind, os.SEEK_SET, start, length, 0))


class _ThreadFd:
    """One thread's descriptor of the table file (its OFD locks are its own); closed with it."""

    def __init__(self, path: Path) -> None:
        self.pid = process_id.current()
        self.fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)

    def __del__(self) -> None:
        if self.pid == process_id.current():
            os.close(self.fd)


class MmapCounter:
    """Attempt counter in a shared memory-mapped hash table file (one host, any processes).

    The file holds ``slots`` slots of 16 bytes (sparse: only touched pages use memory). Give every
    worker and replica the same path and slot count; a file of another size is refused. At most
    ``slots`` distinct request ids fit (keep the load under about 50 % for short probes); past
    that :class:`CounterTableFull` is raised until :meth:`clear`. Two request ids whose 64-bit
    hashes collide would share a count (probability about n^2 / 2^65 for n ids).
    """

    def __init__(self, path: Path, slots: int = DEFAULT_SLOTS) -> None:
        if not MIN_SLOTS <= slots <= MAX_SLOTS:
            raise ValueError(f"slots must be from {MIN_SLOTS} to {MAX_SLOTS} (got {slots})")
        self.path = path.absolute()
        self.slots = slots
        self.size = slots * _SLOT.size
        query = "" if slots == DEFAULT_SLOTS else f"?slots={slots}"
        self.url = f"file://{self.path}{query}"
        self._open_lock = threading.Lock()
        self._pid = -1
        self._map: mmap.mmap | None = None
        self._local = threading.local()

    def _attach(self) -> mmap.mmap:
        """This process's mapping of the table (created, sized and checked on first use)."""
        pid = process_id.current()
        if self._map is not None and self._pid == pid:
            return self._map
        with self._open_lock:
            if self._map is None or self._pid != pid:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
                try:
                    _ofd_lock(fd, fcntl.F_WRLCK, 0, 0)
                    size = os.fstat(fd).st_size
                    if size == 0:
                        os.ftruncate(fd, self.size)
                    elif size != self.size:
                        raise ValueError(
                            f"attempt counter file {self.path} holds {size // _SLOT.size} slots, "
                            f"not {self.slots}: give every process the same ?slots= or a new path"
                        )
                    self._map = mmap.mmap(fd, self.size, mmap.MAP_SHARED)
                    self._pid = pid
                finally:
                    # Unlock explicitly: mmap keeps a dup of fd, which shares the open file
                    # description and so would keep its OFD lock after os.close(fd).
                    _ofd_lock(fd, fcntl.F_UNLCK, 0, 0)
                    os.close(fd)
        return self._map

    def _thread_fd(self) -> int:
        handle: _ThreadFd | None = getattr(self._local, "handle", None)
        if handle is None or handle.pid != process_id.current():
            handle = _ThreadFd(self.path)
            self._local.handle = handle
        return handle.fd

    def next_attempt(self, request_id: str) -> int:
        table = self._attach()
        fd = self._thread_fd()
        key = _slot_key(request_id)
        slot = key % self.slots
        for _ in range(self.slots):
            offset = slot * _SLOT.size
            _ofd_lock(fd, fcntl.F_WRLCK, offset, _SLOT.size)
            try:
                owner, count = _SLOT.unpack_from(table, offset)
                if owner == key or owner == 0:
                    _SLOT.pack_into(table, offset, key, count + 1)
                    return int(count)
            finally:
                _ofd_lock(fd, fcntl.F_UNLCK, offset, _SLOT.size)
            slot = slot + 1 if slot + 1 < self.slots else 0
        raise CounterTableFull(
            f"attempt counter {self.url} is full ({self.slots} request ids): "
            "clear it (DELETE /counter) or use a larger ?slots="
        )

    def clear(self) -> None:
        """Zero the table under a whole-file lock (truncate and re-extend: stays sparse)."""
        self._attach()
        fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
        try:
            _ofd_lock(fd, fcntl.F_WRLCK, 0, 0)
            os.ftruncate(fd, 0)
            os.ftruncate(fd, self.size)
            _ofd_lock(fd, fcntl.F_UNLCK, 0, 0)
        finally:
            os.close(fd)


class SqliteCounter:
    """Attempt counter in a SQLite file shared by the processes of one host."""

    _SCHEMA = "CREATE TABLE IF NOT EXISTS attempts (rid TEXT PRIMARY KEY, n INTEGER NOT NULL)"
    _UPSERT = (
        "INSERT INTO attempts (rid, n) VALUES (?, 1) "
        "ON CONFLICT (rid) DO UPDATE SET n = n + 1 RETURNING n"
    )

    def __init__(self, path: Path) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"
        self._lock = threading.Lock()
        self._pid = -1
        self._conn: sqlite3.Connection | None = None
        self._lock_fd = -1

    def _connect(self) -> sqlite3.Connection:
        pid = os.getpid()
        if self._conn is None or self._pid != pid:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._lock_fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
            conn = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=OFF")
                conn.execute(self._SCHEMA)
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            self._conn, self._pid = conn, pid
        return self._conn

    def next_attempt(self, request_id: str) -> int:
        with self._lock:
            conn = self._connect()
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                row = conn.execute(self._UPSERT, (request_id,)).fetchone()
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
        return int(row[0]) - 1

    def clear(self) -> None:
        with self._lock:
            conn = self._connect()
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                conn.execute("DELETE FROM attempts")
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)


class RedisCounter:
    """Attempt counter in Redis (``INCR``), for replicas on several hosts."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._client: Any = None
        self._pid = -1
        self._lock = threading.Lock()

    def _redis(self) -> Any:
        pid = os.getpid()
        if self._client is None or self._pid != pid:
            with self._lock:
                if self._client is None or self._pid != pid:
                    import redis

                    self._client = redis.Redis.from_url(self.url, socket_timeout=5.0)
                    self._pid = pid
        return self._client

    def next_attempt(self, request_id: str) -> int:
        client = self._redis()
        key = REDIS_KEY_PREFIX + request_id
        n = int(client.incr(key))
        if n == 1:
            client.expire(key, REDIS_KEY_TTL_S)
        return n - 1

    def clear(self) -> None:
        client = self._redis()
        keys = list(client.scan_iter(match=REDIS_KEY_PREFIX + "*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])


def open_counter(url: str) -> AttemptCounter:
    """The counter for ``url`` (``file:///path``, ``sqlite:///path``, ``redis://...``); lazy."""
    if url.startswith("file:"):
        return MmapCounter(*parse_file_url(url))
    if url.startswith("sqlite:///"):
        return SqliteCounter(Path(url.removeprefix("sqlite:///")))
    if url.startswith(("redis://", "rediss://")):
        return RedisCounter(url)
    raise ValueError(f"unsupported counter URL {url!r}")
