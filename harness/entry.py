"""The ``retry-harness`` console entry point: the CLI's exit code, whenever a signal lands.

:func:`harness.cli.main` maps Ctrl-C to 130 and SIGTERM to 143 once it runs, but a signal can
also land while its modules load (rich, pydantic, numpy: a noticeable part of a second), or
after the verdict while the interpreter shuts down. Python ends an uncaught
``KeyboardInterrupt`` by killing itself with SIGINT (exit -2 to a parent, not 130), and SIGTERM's
default action kills it outright. This module imports only the standard library and
:mod:`harness.signals` before it installs a SIGTERM handler, catches both signals around the
import and the run, and once the outcome is known answers any further signal by leaving at once
with that outcome's code. Only before this module's first line runs (the interpreter's own
start-up, a few tens of milliseconds) does a signal keep its default effect.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Sequence

from harness.signals import EXIT_INTERRUPTED, EXIT_TERMINATED, exit_code_for, raise_terminated


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return its exit code (130 Ctrl-C, 143 SIGTERM at any moment)."""
    swallowed = _keep_swallowed_interrupts()  # first: the handler below may fire at once
    signal.signal(signal.SIGTERM, raise_terminated)
    try:
        from harness.cli import main as cli_main

        code = cli_main(argv)
    except KeyboardInterrupt as exc:  # before the CLI's own handler was in place, or after it
        code = exit_code_for(exc)
        _leave_on_signal(code)
        _say("interrupted: everything started was stopped")
    if swallowed and code not in (EXIT_INTERRUPTED, EXIT_TERMINATED):
        code = exit_code_for(swallowed[0])  # the signal still decides the exit code
    _leave_on_signal(code)
    _flush()
    if code in (EXIT_INTERRUPTED, EXIT_TERMINATED):
        # CPython's Py_RunMain ends in death by SIGINT after finalization whenever a
        # KeyboardInterrupt once passed out of a nested evaluation (its flag
        # _Py_UnhandledKeyboardInterrupt, Modules/main.c), even when our code caught it later:
        # seen as exit -2 after "interrupted: ..." was printed. Everything started is already
        # stopped and the output flushed, so leave with the code now.
        import logging

        logging.shutdown()
        os._exit(code)
    return code


def _keep_swallowed_interrupts() -> list[BaseException]:
    """A signal that lands inside a callback the interpreter runs for itself (an import's
    module-lock weakref callback, a finalizer) raises there, and CPython prints it as
    "Exception ignored in: ... Traceback ... KeyboardInterrupt" and goes on. Keep such an
    interruption instead of printing it (no traceback, ever); :func:`main` then ends with its
    exit code. Any other unraisable exception keeps the default report."""
    swallowed: list[BaseException] = []
    default = sys.unraisablehook

    def hook(unraisable: sys.UnraisableHookArgs) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            swallowed.append(unraisable.exc_value)
        else:
            default(unraisable)

    sys.unraisablehook = hook
    return swallowed


def _leave_on_signal(code: int) -> None:
    """From now on Ctrl-C or SIGTERM ends the process at once with ``code``: the work is done
    (everything started was stopped), only output flushing and the interpreter's shutdown are
    left."""

    def leave(signum: int, frame: object) -> None:
        os._exit(code)

    signal.signal(signal.SIGINT, leave)
    signal.signal(signal.SIGTERM, leave)


def _say(text: str) -> None:
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.write(f"{text}\n")


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()


def run() -> None:
    """``python -m harness.entry``."""
    sys.exit(main())


if __name__ == "__main__":
    run()
