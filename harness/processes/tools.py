"""One external command run to completion with a time bound (``pip download``, ``mmdebstrap``,
``go mod download``, ``kubectl kustomize``, ``caddy adapt``, ``nginx -t``, ``promtool``): its
output captured, and a command that hangs or cannot be started turned into one line
(``RunFailed``), never a traceback.

The command runs in a session of its own, so on a timeout or Ctrl-C its whole tree is stopped
(SIGTERM, then SIGKILL; :meth:`harness.processes.child.Child.stop`), helpers it started
(apt under mmdebstrap, git under ``go mod download``) included, not only the direct child.

Long-running children the harness drives (backends, SUTs, Locust) are
:class:`harness.processes.child.Child` instead.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.errors import RunFailed
from harness.processes import timeouts
from harness.processes.child import Child
from harness.signals import signals_deferred


def run_tool(
    argv: Sequence[str],
    *,
    timeout_s: float,
    what: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` to its end (stdin empty, text output captured, exit status not checked).

    Raises ``RunFailed`` ("<what> did not finish within N s" / "<what> could not be started:
    ...") when it outlives ``timeout_s`` (its process tree is stopped) or cannot be started
    (OSError). On Ctrl-C (``KeyboardInterrupt``) its tree is stopped and the interrupt goes on.
    """
    name = what or " ".join(Path(argv[0]).name if i == 0 else a for i, a in enumerate(argv[:3]))
    started: list[subprocess.Popen[bytes]] = []
    try:
        # Ctrl-C held until the handle that can stop the command is kept; raised on leaving
        with signals_deferred():
            started.append(
                subprocess.Popen(
                    list(argv),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env=dict(env) if env is not None else None,
                    cwd=cwd,
                    start_new_session=True,
                )
            )
        out, err = started[0].communicate(timeout=timeout_s)
    except OSError as exc:
        if started:
            _stop(name, started[0])
            raise
        raise RunFailed(f"{name} could not be started: {exc.strerror or exc}") from None
    except subprocess.TimeoutExpired:
        _stop(name, started[0])
        raise RunFailed(
            f"{name} did not finish within {timeout_s:g} s (network or machine too slow?); "
            "it was stopped"
        ) from None
    except BaseException:  # Ctrl-C, or SIGTERM turned into KeyboardInterrupt: stop it, go on
        if started:
            _stop(name, started[0])
        raise
    process = started[0]
    return subprocess.CompletedProcess(process.args, process.returncode, _text(out), _text(err))


def _stop(name: str, process: subprocess.Popen[bytes]) -> None:
    """Stop the command's whole tree and close its pipes."""
    Child(name=name, process=process).stop(timeouts.TIMEOUTS.term_grace_s)
    with contextlib.suppress(subprocess.TimeoutExpired, OSError, ValueError):
        process.communicate(timeout=timeouts.TIMEOUTS.kill_wait_s)


def _text(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", errors="replace")
