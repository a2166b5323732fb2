"""Signals and teardown: Ctrl-C and SIGTERM take one path, and never leak a child process.

- :func:`sigterm_as_interrupt` turns SIGTERM into :class:`Terminated` (a ``KeyboardInterrupt``)
  for a block, so a terminated run unwinds (and tears down) exactly like an interrupted one;
  :func:`exit_code_for` then tells the two apart: 130 for Ctrl-C, 143 for SIGTERM (128 + the
  signal number, the shell's convention).
- :func:`signals_deferred` holds Ctrl-C and SIGTERM while a child is started and registered for
  teardown, then raises the held signal: a signal in between would otherwise leave a child that
  nothing knows about.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C would raise ``KeyboardInterrupt`` (same teardown path)."""


def exit_code_for(exc: BaseException) -> int:
    """130 for Ctrl-C, 143 for SIGTERM (also when ``exc`` was raised from or wraps one)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, Terminated) or getattr(seen, "terminated", False):
            return EXIT_TERMINATED
        seen = seen.__cause__ or seen.__context__
    return EXIT_INTERRUPTED


def raise_terminated(signum: int, frame: object) -> None:
    """A SIGTERM handler: raise :class:`Terminated`."""
    raise Terminated


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM while a child is started and registered for teardown.

    A signal that arrives meanwhile is raised again, with the handlers that were in force,
    once the block is left: by then the child is known to the teardown. Outside the main
    thread (where handlers cannot be set) the block runs as is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []

    def hold(signum: int, frame: object) -> None:
        caught.append(signum)

    previous = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for held in dict.fromkeys(caught):
            signal.raise_signal(held)


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into :class:`Terminated` (a KeyboardInterrupt) so the same teardown path
    runs for both."""
    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
