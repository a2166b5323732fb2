"""Signals and teardown: Ctrl-C and SIGTERM take one path, and never leak a child process.

- :func:`sigterm_as_interrupt` turns SIGTERM into ``KeyboardInterrupt`` for a block, so a
  terminated run unwinds (and tears down) exactly like an interrupted one.
- :func:`signals_deferred` holds Ctrl-C and SIGTERM while a child is started and registered for
  teardown, then raises the held signal: a signal in between would otherwise leave a child that
  nothing knows about.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


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
    """Turn SIGTERM into KeyboardInterrupt so the same teardown path runs for both."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
