"""The console entry point keeps a Ctrl-C the interpreter swallowed inside one of its own
callbacks (seen in CI: a signal during an import's module-lock weakref callback printed
"Exception ignored in: ... Traceback ... KeyboardInterrupt" and the CLI went on to exit 0)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]

SCRIPT = textwrap.dedent(
    """
    import sys, weakref
    import harness.cli as cli

    class Thing:
        pass

    def work(argv):
        thing = Thing()

        def callback(ref):  # where a signal can land: a callback the interpreter runs
            raise KeyboardInterrupt

        ref = weakref.ref(thing, callback)
        del thing  # the callback runs here; its exception cannot propagate
        return 0

    cli.main = work
    from harness.entry import main
    sys.exit(main([]))
    """
)


def test_an_interrupt_swallowed_in_a_callback_still_ends_with_130_and_no_traceback() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, cwd=REPO, timeout=60
    )
    assert done.returncode == 130, done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
