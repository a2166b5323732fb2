"""Attempt times from the kernel: when an attempt's first byte reached the backend's socket and
when the last byte of its answer left it.

Linux software timestamps (``SO_TIMESTAMPING``, see
https://www.kernel.org/doc/html/latest/networking/timestamping.html):

* **arrival**: ``SOF_TIMESTAMPING_RX_SOFTWARE`` stamps every received packet when the network
  stack takes it in (``netif_rx`` on loopback). Before gunicorn parses a request,
  :class:`StampedThreadWorker` takes the ``SCM_TIMESTAMPING`` control message of a
  ``recvmsg``. A connection's first request is peeked (one byte, ``MSG_PEEK``: the stamp of the
  packet holding the first byte; nothing is consumed). On a kept-alive connection the worker
  reads what the socket holds itself (``MSG_DONTWAIT``) and hands the bytes to gunicorn's parser
  (``unread``): one system call instead of a peek and a read. That read's stamp is the latest
  packet it took; a request that came in one packet, the usual case, is stamped exactly as by a
  peek (and a peek is no finer when the kernel merged a later packet into the first: the merged
  one carries the later stamp, ``tcp_try_coalesce``). When gunicorn has already read the next
  request ahead, the stamp of the read that took it is used (the parser reads through
  ``recvmsg`` too).
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

Cost (software timestamping needs no privilege): the option is set once on each listening
socket and accepted sockets inherit it (checked once per worker; where they do not, it is set
per connection). Per attempt on a kept-alive connection, the request's read is the one gunicorn
would make anyway (a ``recvmsg``); once the answer is written, one ``SIOCOUTQNSD`` ``ioctl`` and
one error-queue read per ``send`` call plus the empty one that ends the drain (gunicorn sends
the head and the body in two calls: four system calls). The drain is not repeated when the
answer's end stamp has emptied the queue already. Measured in
``bench/backend_throughput.py`` (same-run reference: the bare Flask app and the backend on the
app's clock).
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
SOF_TIMESTAMPING_OPT_TSONLY = 1 << 11
SIOCOUTQNSD = 0x894B
# No SOF_TIMESTAMPING_OPT_ID: nothing here reads the stamps' keys, and Linux refuses OPT_ID on a
# listening TCP socket (EINVAL), which would leave the listeners without stamps to hand down.
STAMP_FLAGS = (
    SOF_TIMESTAMPING_RX_SOFTWARE
    | SOF_TIMESTAMPING_TX_SOFTWARE
    | SOF_TIMESTAMPING_SOFTWARE
    | SOF_TIMESTAMPING_OPT_TSONLY
)
_TS3 = struct.Struct("qqqqqq")  # struct scm_timestamping: three struct timespec (64-bit)
_CMSG_SPACE = socket.CMSG_SPACE(_TS3.size) + socket.CMSG_SPACE(64)
_DATA_WAIT_S = 5.0  # how long a new connection may take to send its request (gunicorn's own)
_READ_SIZE = 8192  # gunicorn's own read size (SocketUnreader's max_chunk)
_TX_WAIT_S = 0.1  # how long to wait for bytes TCP still holds before stamping in the app
_OUTQ = struct.Struct("i")
_OUTQ_ZERO = _OUTQ.pack(0)
_ERRQUEUE_FLAGS = socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT

KERNEL = "kernel"
APP = "app"

_local = threading.local()


def supported() -> bool:
    """Whether this platform can be asked for socket timestamps at all."""
    return sys.platform.startswith("linux")


def enabled(sock: socket.socket) -> bool:
    """Whether ``sock`` has exactly our stamp flags on (e.g. inherited from its listener)."""
    try:
        return bool(sock.getsockopt(socket.SOL_SOCKET, SO_TIMESTAMPING) == STAMP_FLAGS)
    except OSError:
        return False


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
        raw = fcntl.ioctl(sock.fileno(), SIOCOUTQNSD, _OUTQ_ZERO)
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

    Reads (and empties) the socket's error queue of transmit stamps. On loopback the device
    stamps a packet inside the call that advances ``snd_nxt``, so once nothing is unsent
    (``SIOCOUTQNSD`` = 0, the common case: one ``ioctl``) every stamp is queued and one drain
    reads them all. Bytes TCP still holds (Nagle, TCP small queues while the receiver's softirq
    is starved) are waited for, up to ``_TX_WAIT_S``, woken by the error queue (``POLLERR``);
    the answer is not delayed by this wait, only the journal line.
    """
    latest: int | None = None
    if _unsent(sock) > 0:
        deadline = time.monotonic() + _TX_WAIT_S
        poller = select.poll()
        poller.register(sock, 0)  # POLLERR is always reported: a stamp was queued
        while _unsent(sock) > 0:
            left = deadline - time.monotonic()
            if left <= 0:
                _drain_tx(sock)
                return None
            poller.poll(max(1, int(left * 1000)))
            ns = _drain_tx(sock)
            if ns is not None and (latest is None or ns > latest):
                latest = ns
    ns = _drain_tx(sock)
    if ns is not None and (latest is None or ns > latest):
        latest = ns
    return latest


def end_ns(sock: Any) -> int | None:
    """The kernel's end stamp of the answer this worker thread has just written on ``sock``
    (None: stamps are off for it, or unknown). Empties the error queue, so the worker does not
    read it again for this request."""
    stamped: socket.socket | None = getattr(_local, "stamped_sock", None)
    if stamped is None or stamped is not sock:
        return None
    _local.drained = True
    return sent_end_ns(stamped)


class _StampingReader:
    """What gunicorn's request parser reads through: ``recv`` that keeps the receive stamp.

    On a kept-alive connection the worker takes the next request's first bytes itself
    (:meth:`take_next`: one ``recvmsg`` that waits for nothing, the bytes handed to gunicorn's
    parser) and its stamp is the arrival. gunicorn may also read the next request ahead (while
    draining the previous body); those bytes are then gone from the socket, so their stamp is
    kept from the read that took them.
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

    def take_next(self, unreader: Any) -> bool | None:
        """Read what the socket holds now (waiting for nothing) into gunicorn's buffer.

        True: bytes were read and ``last_ns`` is their receive stamp; False: nothing to read
        yet; None: end of stream or an error, left for gunicorn's own read to meet.
        """
        try:
            data, ancdata, _, _ = self.sock.recvmsg(_READ_SIZE, _CMSG_SPACE, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return False
        except OSError:
            return None
        if not data:
            return None
        self.last_ns = _stamp_ns(ancdata)
        unreader.unread(data)
        return True

    # gunicorn bounds the drain of an unread body by the socket's timeout (Parser.finish_body
    # looks for these two on the reader's socket; without them a slow body held the thread)
    def gettimeout(self) -> float | None:
        return self.sock.gettimeout()

    def settimeout(self, timeout: float | None) -> None:
        self.sock.settimeout(timeout)


def _unreader(conn: Any) -> Any:
    parser = getattr(conn, "parser", None)
    return getattr(parser, "unreader", None) if parser is not None else None


def _wrap_reader(conn: Any) -> None:
    reader = _unreader(conn)
    sock = getattr(reader, "sock", None)
    if isinstance(sock, socket.socket):
        reader.sock = _StampingReader(sock)
        conn._stamp_reader = True


def take_arrival_ns() -> int | None:
    """The kernel arrival stamp the worker took for the request this thread serves (once)."""
    ns: int | None = getattr(_local, "arrival_ns", None)
    _local.arrival_ns = None
    return ns


def stamping(sock: Any) -> bool:
    """Whether this worker thread turned kernel stamps on for ``sock``."""
    return sock is not None and getattr(_local, "stamped_sock", None) is sock


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
    handled exactly as by ``gthread``. The data plane reads the end stamp (:func:`end_ns`)
    when the answer is written; whatever transmit stamps are left afterwards (admin answers,
    errors) are drained before the connection goes back to the worker's poller.
    """

    _listeners_stamp = False  # the listeners have the stamps on (accepted sockets inherit them)
    _inherit_checked = False  # whether an accepted socket was seen to inherit them

    def init_process(self) -> None:
        # before the workers' event loop starts: accepted sockets inherit the option
        self._listeners_stamp = bool(self.sockets) and all(
            enable(listener.sock if hasattr(listener, "sock") else listener)
            for listener in self.sockets
        )
        super().init_process()

    def _stamps_for(self, sock: socket.socket) -> bool:
        """Turn stamps on for a new connection's socket (once per connection)."""
        if self._listeners_stamp:
            if self._inherit_checked:
                return True
            if enabled(sock):
                self._inherit_checked = True
                return True
            self._listeners_stamp = False  # this kernel does not hand them down: set per socket
        return enable(sock)

    def handle(self, conn: Any) -> Any:
        local = _local
        local.arrival_ns = None
        local.stamped_sock = None
        local.drained = False
        sock = conn.sock
        stamps_on = getattr(conn, "_stamps_on", None)
        if stamps_on is None:
            stamps_on = conn._stamps_on = self._stamps_for(sock)
        if not stamps_on:
            return super().handle(conn)
        unreader = _unreader(conn)
        reader = getattr(unreader, "sock", None)
        if not isinstance(reader, _StampingReader):
            reader = None  # a connection's first request: gunicorn's parser is not made yet
        if reader is not None and unreader.buf.getvalue():
            local.arrival_ns = reader.last_ns  # gunicorn read this request ahead already
        elif reader is not None and conn.initialized:
            # a kept-alive connection: one read takes the request's first bytes and their stamp
            took = reader.take_next(unreader)
            if took is False:
                # woken by a transmit stamp queued after the last answer was journaled (the
                # error queue makes an idle socket look ready), or a request racing that wake
                _drain_tx(sock)
                took = reader.take_next(unreader)
                if took is False:  # back to the poller, kept alive
                    return True
            local.arrival_ns = reader.last_ns if took else None
        else:
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
            arrival = peek_arrival_ns(sock)
            if arrival is None and not fresh:
                # woken by a transmit stamp queued after the last answer was journaled (the
                # error queue makes an idle socket look ready), or a request racing that wake
                _drain_tx(sock)
                arrival = peek_arrival_ns(sock)
                if arrival is None and not _has_data(sock):  # back to the poller, kept alive
                    return True
            local.arrival_ns = arrival
        local.stamped_sock = sock
        try:
            return super().handle(conn)
        finally:
            if not getattr(conn, "_stamp_reader", False):
                _wrap_reader(conn)
            if not local.drained:
                # stamps nobody read (admin answers, errors) must not linger: a non-empty error
                # queue makes the idle keep-alive socket look ready to the worker's poller
                _drain_tx(sock)
            local.stamped_sock = None
