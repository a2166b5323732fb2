"""Attempt times from the kernel: when an attempt's first byte reached the backend's socket and
when the last byte of its answer left it.

Linux software timestamps (``SO_TIMESTAMPING``, see
https://www.kernel.org/doc/html/latest/networking/timestamping.html):

* **arrival**: ``SOF_TIMESTAMPING_RX_SOFTWARE`` stamps every received packet when the network
  stack takes it in (``netif_rx`` on loopback). Before gunicorn parses a request,
  :class:`StampedThreadWorker` peeks one byte with ``recvmsg(..., MSG_PEEK)``: the
  ``SCM_TIMESTAMPING`` control message carries the stamp of the packet holding the request's
  first byte. Nothing is consumed, so gunicorn reads the request as usual. When gunicorn has
  already read the next request of a keep-alive connection ahead, the stamp of the read that
  took it is used (the parser reads through ``recvmsg`` too).
* **end**: ``SOF_TIMESTAMPING_TX_SOFTWARE`` stamps each ``send`` call's last byte when the
  device takes it (``loopback_xmit``); the stamps are read from the socket's error queue
  (``MSG_ERRQUEUE``) after gunicorn has written the whole answer (the WSGI body's ``close``).
  The latest stamp is the time the answer's last byte left. Bytes still queued in the socket
  (``SIOCOUTQNSD`` > 0: TCP held them back) are waited for, briefly; failing that the end is
  stamped by the app.

Both stamps are ``CLOCK_REALTIME`` in nanoseconds, the clock the app's ``time.time_ns()`` reads,
so kernel and app stamps mix in one journal. Each journal record says which clock stamped its
arrival and its end (``arrival_clock``, ``end_clock``: ``"kernel"`` or ``"app"``). Resets and
hangs keep app stamps for their end (the kernel does not timestamp an RST). Where the kernel
refuses the socket option (not Linux, a sandbox without it) every stamp is the app's: the
fallback, with the larger timing tolerance that follows.

Software timestamping needs no privilege. It costs two extra system calls per attempt (the
peek and the error-queue read), measured in ``bench/backend_throughput.py``.
"""

from __future__ import annotations

import fcntl
import select
import socket
import struct
import sys
import threading
import time
from typing import Any

from gunicorn.workers import gthread
from gunicorn.workers.gthread import ThreadWorker

# <linux/net_tstamp.h>, <asm-generic/socket.h> (SO_TIMESTAMPING_OLD), <linux/sockios.h>
SO_TIMESTAMPING = 37
SCM_TIMESTAMPING = SO_TIMESTAMPING
SOF_TIMESTAMPING_TX_SOFTWARE = 1 << 1
SOF_TIMESTAMPING_RX_SOFTWARE = 1 << 3
SOF_TIMESTAMPING_SOFTWARE = 1 << 4
SOF_TIMESTAMPING_OPT_ID = 1 << 7
SOF_TIMESTAMPING_OPT_TSONLY = 1 << 11
SIOCOUTQNSD = 0x894B
STAMP_FLAGS = (
    SOF_TIMESTAMPING_RX_SOFTWARE
    | SOF_TIMESTAMPING_TX_SOFTWARE
    | SOF_TIMESTAMPING_SOFTWARE
    | SOF_TIMESTAMPING_OPT_ID
    | SOF_TIMESTAMPING_OPT_TSONLY
)
_TS3 = struct.Struct("qqqqqq")  # struct scm_timestamping: three struct timespec (64-bit)
_CMSG_SPACE = socket.CMSG_SPACE(_TS3.size) + socket.CMSG_SPACE(64)
_DATA_WAIT_S = 5.0  # how long a new connection may take to send its request (gunicorn's own)
_TX_WAIT_S = 0.1  # how long to wait for bytes TCP still holds before stamping in the app
_OUTQ = struct.Struct("i")
_ERRQUEUE_FLAGS = socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT

KERNEL = "kernel"
APP = "app"

_local = threading.local()


def supported() -> bool:
    """Whether this platform can be asked for socket timestamps at all."""
    return sys.platform.startswith("linux")


def enable(sock: socket.socket) -> bool:
    """Ask for RX and TX software timestamps on ``sock``; False when the kernel refuses."""
    if not supported():
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPING, STAMP_FLAGS)
    except OSError:
        return False
    return True


def _stamp_ns(ancdata: list[tuple[int, int, bytes]]) -> int | None:
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPING and len(data) >= _TS3.size:
            sec, nsec = _TS3.unpack_from(data)[:2]  # ts[0]: the software stamp
            if sec or nsec:
                return int(sec) * 1_000_000_000 + int(nsec)
    return None


def peek_arrival_ns(sock: socket.socket) -> int | None:
    """The receive stamp of the first unread byte of ``sock`` (None: no byte or no stamp)."""
    try:
        data, ancdata, _, _ = sock.recvmsg(1, _CMSG_SPACE, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except OSError:
        return None
    if not data:
        return None
    return _stamp_ns(ancdata)


def _unsent(sock: socket.socket) -> int:
    try:
        raw = fcntl.ioctl(sock.fileno(), SIOCOUTQNSD, b"\0" * _OUTQ.size)
    except OSError:
        return 0
    return int(_OUTQ.unpack(raw)[0])


def _drain_tx(sock: socket.socket) -> int | None:
    latest: int | None = None
    while True:
        try:
            _, ancdata, _, _ = sock.recvmsg(0, _CMSG_SPACE, _ERRQUEUE_FLAGS)
        except OSError:  # EAGAIN: empty; anything else: nothing more to read
            return latest
        ns = _stamp_ns(ancdata)
        if ns is not None and (latest is None or ns > latest):
            latest = ns


def sent_end_ns(sock: socket.socket) -> int | None:
    """When the last byte written to ``sock`` so far left it (None: unknown).

    Reads (and empties) the socket's error queue of transmit stamps. Bytes TCP still holds
    (``SIOCOUTQNSD`` > 0: Nagle, TCP small queues while the receiver's softirq is starved) are
    waited for, up to ``_TX_WAIT_S``, woken by the error queue (``POLLERR``); the answer is not
    delayed by this wait, only the journal line. On loopback the device stamps a packet inside
    the call that advances ``snd_nxt``, so once nothing is unsent every stamp is queued.
    """
    deadline = time.monotonic() + _TX_WAIT_S
    latest = _drain_tx(sock)
    poller: select.poll | None = None
    while _unsent(sock) > 0:
        left = deadline - time.monotonic()
        if left <= 0:
            _drain_tx(sock)
            return None
        if poller is None:
            poller = select.poll()
            poller.register(sock, 0)  # POLLERR is always reported: a stamp was queued
        poller.poll(max(1, int(left * 1000)))
        ns = _drain_tx(sock)
        if ns is not None and (latest is None or ns > latest):
            latest = ns
    ns = _drain_tx(sock)
    if ns is not None and (latest is None or ns > latest):
        latest = ns
    return latest


class _StampingReader:
    """What gunicorn's request parser reads through: ``recv`` that keeps the receive stamp.

    gunicorn may read the next request on a keep-alive connection ahead (while draining the
    previous body); those bytes are then gone from the socket before the next peek, so their
    stamp is kept from the read that took them.
    """

    __slots__ = ("last_ns", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.last_ns: int | None = None

    def recv(self, size: int) -> bytes:
        data, ancdata, _, _ = self.sock.recvmsg(size, _CMSG_SPACE)
        if data:
            self.last_ns = _stamp_ns(ancdata)
        return data


def _read_ahead(conn: Any) -> _StampingReader | None:
    """The connection's stamping reader when gunicorn already holds unparsed bytes of it."""
    reader = getattr(getattr(conn, "parser", None), "unreader", None)
    buf = getattr(reader, "buf", None)
    stamping_reader = getattr(reader, "sock", None)
    if buf is not None and isinstance(stamping_reader, _StampingReader) and buf.getvalue():
        return stamping_reader
    return None


def _wrap_reader(conn: Any) -> None:
    reader = getattr(getattr(conn, "parser", None), "unreader", None)
    sock = getattr(reader, "sock", None)
    if isinstance(sock, socket.socket):
        reader.sock = _StampingReader(sock)  # type: ignore[union-attr]


def take_arrival_ns() -> int | None:
    """The kernel arrival stamp the worker took for the request this thread serves (once)."""
    ns: int | None = getattr(_local, "arrival_ns", None)
    _local.arrival_ns = None
    return ns


def stamping(sock: Any) -> bool:
    """Whether this worker thread turned kernel stamps on for ``sock``."""
    return sock is not None and getattr(_local, "stamped_fd", -1) == _fileno(sock)


def _fileno(sock: Any) -> int:
    try:
        return int(sock.fileno())
    except (OSError, ValueError, AttributeError):
        return -1


def _has_data(sock: socket.socket) -> bool:
    """Whether gunicorn has something to read: a byte, the client's EOF, or an error."""
    try:
        sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)  # b"" (EOF) counts too
    except BlockingIOError:
        return False
    except OSError:
        return True
    return True


class StampedThreadWorker(ThreadWorker):  # type: ignore[misc]
    """gunicorn's ``gthread`` worker that stamps each request's arrival from the kernel.

    Before the threaded handler parses a request, the first byte's receive stamp is peeked and
    left for the WSGI app in a thread-local (:func:`take_arrival_ns`); the request is then
    handled exactly as by ``gthread``.
    """

    def init_process(self) -> None:
        for listener in self.sockets:  # accepted sockets inherit it; turns the stamps on early
            enable(listener.sock if hasattr(listener, "sock") else listener)
        super().init_process()

    def handle(self, conn: Any) -> Any:
        _local.arrival_ns = None
        _local.stamped_fd = -1
        sock = conn.sock
        if not getattr(conn, "_stamps_on", False):
            conn._stamps_on = enable(sock)
        ahead = _read_ahead(conn) if conn._stamps_on else None
        if ahead is not None:
            _local.arrival_ns = ahead.last_ns
            _local.stamped_fd = _fileno(sock)
        elif conn._stamps_on:
            fresh = not conn.initialized and not getattr(conn, "data_ready", False)
            if fresh:
                # gunicorn >= 27 waits for the first bytes itself; wait here instead (same bound)
                wait = getattr(conn, "wait_for_data", None)
                ready = (
                    wait(_DATA_WAIT_S)
                    if wait is not None
                    else bool(select.select([sock], [], [], _DATA_WAIT_S)[0])
                )
                if not ready:  # no request yet: gunicorn's own answer (defer, or wait on)
                    return getattr(gthread, "_DEFER", None) or super().handle(conn)
            _local.arrival_ns = peek_arrival_ns(sock)
            _local.stamped_fd = _fileno(sock)
            if not fresh and _local.arrival_ns is None and not _has_data(sock):
                # woken by a transmit stamp queued after the last answer was journaled (the
                # error queue makes an idle socket look ready): back to the poller, kept alive
                _drain_tx(sock)
                return True
        try:
            return super().handle(conn)
        finally:
            if conn._stamps_on:
                _wrap_reader(conn)
            if conn._stamps_on and _fileno(sock) >= 0:
                # stamps nobody read (admin answers, errors) must not linger: a non-empty error
                # queue makes the idle keep-alive socket look ready to the worker's poller
                _drain_tx(sock)
            _local.stamped_fd = -1
