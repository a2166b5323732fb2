"""The shared attempt counter: attempt index of each request id across workers and replicas.

``next_attempt(request_id)`` returns 0 for the first attempt of a request id anywhere, 1 for the
second, and so on, whichever worker or replica sees it. Two implementations:

* ``sqlite:///path`` (default): one SQLite file, WAL mode, ``synchronous=OFF``, one atomic
  ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING`` per attempt. Replicas on one host share it by
  passing the same path. Writers are serialised by a thread lock plus ``flock`` on
  ``<path>.lock`` so no writer ever waits in SQLite's sleeping busy handler.
* ``redis://host:port/db``: ``INCR`` of ``fb:attempt:<request id>`` (expires after a day), for
  replicas on several hosts.

Connections are opened lazily per process (gunicorn workers fork after the master parsed the
URL), so one object can be created before the fork.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, Protocol

REDIS_KEY_PREFIX = "fb:attempt:"
REDIS_KEY_TTL_S = 86_400


class AttemptCounter(Protocol):
    """Counts attempts per request id, shared by every worker and replica that uses it."""

    url: str

    def next_attempt(self, request_id: str) -> int:
        """0-based index of this attempt among all attempts of ``request_id``."""
        ...

    def clear(self) -> None:
        """Forget every request id."""
        ...


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
    """The counter for ``url`` (``sqlite:///path`` or ``redis://...``); connects lazily."""
    if url.startswith("sqlite:///"):
        return SqliteCounter(Path(url.removeprefix("sqlite:///")))
    if url.startswith(("redis://", "rediss://")):
        return RedisCounter(url)
    raise ValueError(f"unsupported counter URL {url!r}")
