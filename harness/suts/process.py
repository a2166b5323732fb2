"""Starting one SUT process, waiting for it to be ready, and always tearing it down.

Every process gets its own process group (``start_new_session=True``) so that teardown reaches
its children too (nginx and haproxy workers): SIGTERM to the group, a bounded wait, then
SIGKILL. Output goes to a log file; its last lines are quoted when the SUT fails to start.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import RunFailed
from harness.signals import signals_deferred
from harness.suts.network import base_url, wait_until_ready

TERM_GRACE_S = 5.0
KILL_WAIT_S = 5.0
LOG_TAIL_LINES = 20


@dataclass(frozen=True)
class LaunchPlan:
    """What a driver wants started: argv, environment, working directory and readiness path."""

    argv: list[str]
    env: Mapping[str, str] | None = None
    cwd: Path | None = None
    probe_path: str = "/"
    config_path: Path | None = None  # the rendered config the SUT runs
    # Polled after the HTTP probe answers, until True (ready) or the deadline; for SUTs that
    # answer before their routes are loaded (Traefik's file provider). May raise BadInput.
    ready_check: Callable[[], bool] | None = None
    metrics_hostport: str | None = None  # where the SUT's own Prometheus metrics are served


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file ('' if it does not exist)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _wait_group_gone(pgid: int, deadline: float) -> bool:
    while _group_alive(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def terminate(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, wait up to TERM_GRACE_S, then SIGKILL it. Idempotent.

    The leader is reaped first (a zombie still counts as a group member), then any children
    left in the group get the same treatment.
    """
    pgid = proc.pid  # leader of its own session, so its pid is the group id
    if proc.poll() is None:
        _signal_group(pgid, signal.SIGTERM)
        try:
            proc.wait(timeout=TERM_GRACE_S)
        except subprocess.TimeoutExpired:
            _signal_group(pgid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=KILL_WAIT_S)
    if _group_alive(pgid):
        _signal_group(pgid, signal.SIGTERM)
        if not _wait_group_gone(pgid, time.monotonic() + TERM_GRACE_S):
            _signal_group(pgid, signal.SIGKILL)
            _wait_group_gone(pgid, time.monotonic() + KILL_WAIT_S)


def spawn(plan: LaunchPlan, log_path: Path) -> subprocess.Popen[bytes]:
    """Start ``plan.argv`` in a new session with stdout and stderr appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            list(plan.argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(plan.env) if plan.env is not None else None,
            cwd=plan.cwd,
            start_new_session=True,
        )


def _describe(argv: Sequence[str]) -> str:
    return " ".join(argv)[:200]


READY_CHECK_INTERVAL_S = 0.05


def _poll_ready_check(
    check: Callable[[], bool], deadline: float, still_running: Callable[[], bool]
) -> bool:
    """Call ``check`` until it is True (True), the process exits or the deadline passes."""
    while still_running():
        if check():
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(READY_CHECK_INTERVAL_S, remaining))
    return False


@contextlib.contextmanager
def running_process(
    plan: LaunchPlan,
    *,
    name: str,
    listen: tuple[str, int],
    log_path: Path,
    ready_timeout_s: float,
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Start the plan, wait for readiness, yield ``(process, base_url)``; always tear down."""
    held = signals_deferred()
    held.__enter__()  # released once the teardown below owns the process
    try:
        proc = spawn(plan, log_path)
    except OSError as exc:
        held.__exit__(None, None, None)
        raise RunFailed(f"{name}: cannot start {_describe(plan.argv)}: {exc}") from exc
    try:
        held.__exit__(None, None, None)
        deadline = time.monotonic() + ready_timeout_s
        ready = wait_until_ready(
            listen[0],
            listen[1],
            plan.probe_path,
            deadline,
            still_running=lambda: proc.poll() is None,
        )
        if ready and plan.ready_check is not None:
            ready = _poll_ready_check(plan.ready_check, deadline, lambda: proc.poll() is None)
        if not ready:
            code = proc.poll()
            tail = log_tail(log_path)
            if code is not None:
                why = f"exited with code {code} before becoming ready"
            else:
                why = f"did not become ready within {ready_timeout_s:g} s"
            raise RunFailed(
                f"{name} ({_describe(plan.argv)}) {why}; last lines of {log_path}:\n{tail}"
            )
        yield proc, base_url(listen)
    finally:
        terminate(proc)
