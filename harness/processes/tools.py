"""One external command run to completion with a time bound (``pip download``, ``mmdebstrap``,
``go mod download``, ``kubectl kustomize``): its output captured, and a command that hangs or
cannot be started turned into one line (``RunFailed``), never a traceback.

Long-running children the harness drives (backends, SUTs, Locust) are
:class:`harness.processes.child.Child` instead.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.errors import RunFailed


def run_tool(
    argv: Sequence[str],
    *,
    timeout_s: float,
    what: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` to its end (text output captured, exit status not checked).

    Raises ``RunFailed`` ("<what> did not finish within N s" / "<what> could not be started:
    ...") when it outlives ``timeout_s`` (it is killed) or cannot be started (OSError)."""
    name = what or " ".join(Path(argv[0]).name if i == 0 else a for i, a in enumerate(argv[:3]))
    try:
        return subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout_s,
            env=dict(env) if env is not None else None,
            cwd=cwd,
        )
    except subprocess.TimeoutExpired:
        raise RunFailed(
            f"{name} did not finish within {timeout_s:g} s (network or machine too slow?); "
            "it was stopped"
        ) from None
    except OSError as exc:
        raise RunFailed(f"{name} could not be started: {exc.strerror or exc}") from None
