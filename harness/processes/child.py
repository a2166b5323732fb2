"""A child process of the harness: start, wait for readiness, stop, kill, pause, log tail.

Every child gets its own session and process group (``start_new_session=True``) and its output
in a log file. Teardown (:meth:`Child.stop`, idempotent) reaches the whole tree: the group and
every descendant psutil finds (also one that left the group), SIGTERM, a bounded wait
(``TIMEOUTS.term_grace_s``), then SIGKILL. Starting holds Ctrl-C and SIGTERM until the caller
owns the child (:func:`harness.signals.signals_deferred`), so no signal can leak one.

Waiting is tenacity's: :func:`wait_until` polls a condition up to a bound and gives up early
when the child died. Each bound comes from :mod:`harness.processes.timeouts`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_fixed

from harness.errors import RunFailed
from harness.processes import timeouts
from harness.signals import signals_deferred

LOG_TAIL_LINES = 20


def log_tail(path: Path | None, lines: int = LOG_TAIL_LINES) -> str:
    """The last ``lines`` lines of a log file ('' if there is none)."""
    if path is None:
        return ""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def wait_until(
    condition: Callable[[], bool],
    *,
    timeout_s: float,
    interval_s: float | None = None,
    give_up: Callable[[], bool] = lambda: False,
) -> bool:
    """Poll ``condition`` until it is true (True), ``timeout_s`` passes or ``give_up()`` is
    true (False). The first check is immediate; then every ``interval_s``
    (default ``TIMEOUTS.ready_poll_s``)."""
    interval = timeouts.TIMEOUTS.ready_poll_s if interval_s is None else interval_s

    def check() -> bool | None:
        if condition():
            return True
        return False if give_up() else None

    retrying = Retrying(
        retry=retry_if_result(lambda outcome: outcome is None),
        stop=stop_after_delay(timeout_s),
        wait=wait_fixed(interval),
        reraise=True,
    )
    try:
        return bool(retrying(check))
    except RetryError:
        return False


def wait_for_exit(
    child: Child,
    *,
    timeout_s: float,
    watch: Callable[[], None] = lambda: None,
    interval_s: float | None = None,
) -> bool:
    """Wait until ``child`` exits (True) or ``timeout_s`` passes (False: it still runs; the
    caller decides). ``watch()`` runs every ``interval_s`` (default
    ``TIMEOUTS.load_watch_interval_s``) while it runs and may raise to stop waiting."""

    def exited() -> bool:
        if not child.alive():
            return True
        watch()
        return False

    interval = timeouts.TIMEOUTS.load_watch_interval_s if interval_s is None else interval_s
    return wait_until(exited, timeout_s=timeout_s, interval_s=interval)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass
class Child:
    """A running child process and its process group (the child leads it)."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path | None = None
    _paused: bool = field(default=False, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.returncode

    def alive(self) -> bool:
        """Whether the leader still runs (a zombie or a reaped leader does not)."""
        return self.process.poll() is None

    def signal_group(self, sig: signal.Signals) -> None:
        _signal_group(self.pid, sig)

    def pause(self) -> None:
        """SIGSTOP the group: connections are accepted by the kernel but never answered."""
        self.signal_group(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        self.signal_group(signal.SIGCONT)
        self._paused = False

    def kill(self) -> None:
        """SIGKILL the whole tree at once (a crash, as far as clients can tell)."""
        tree = self._tree()
        self.signal_group(signal.SIGKILL)
        self._signal_all(tree, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeouts.TIMEOUTS.kill_wait_s)

    def stop(self, grace_s: float | None = None) -> int | None:
        """SIGTERM the tree, wait up to ``grace_s`` (default ``TIMEOUTS.term_grace_s``), then
        SIGKILL what is left; the leader's exit status. Idempotent.

        The leader is reaped first (a zombie still counts as a group member), then any member
        of the group or descendant left behind gets the same treatment.
        """
        t = timeouts.TIMEOUTS
        grace = t.term_grace_s if grace_s is None else grace_s
        tree = self._tree()
        if self._paused:
            self.resume()
        if self.process.poll() is None:
            self.signal_group(signal.SIGTERM)
            self._signal_all(tree, signal.SIGTERM)
            try:
                self.process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.signal_group(signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=t.kill_wait_s)
        left = [p for p in tree if _running(p)]
        if left or _group_alive(self.pid):
            self.signal_group(signal.SIGTERM)
            self._signal_all(left, signal.SIGTERM)
            if not self._gone(left, grace):
                self.signal_group(signal.SIGKILL)
                self._signal_all(left, signal.SIGKILL)
                self._gone(left, t.kill_wait_s)
        return self.process.returncode

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return log_tail(self.log_path, lines)

    def log_text(self) -> str:
        if self.log_path is None:
            return ""
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def _tree(self) -> list[psutil.Process]:
        """The leader's descendants now (those that left the group included)."""
        try:
            return list(psutil.Process(self.pid).children(recursive=True))
        except psutil.Error:
            return []

    @staticmethod
    def _signal_all(procs: Sequence[psutil.Process], sig: signal.Signals) -> None:
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                proc.send_signal(sig)

    def _gone(self, procs: Sequence[psutil.Process], within_s: float) -> bool:
        """Wait up to ``within_s`` until the group and ``procs`` are gone; whether they are."""
        _, alive = psutil.wait_procs(list(procs), timeout=within_s)
        return not alive and wait_until(
            lambda: not _group_alive(self.pid),
            timeout_s=within_s,
            interval_s=timeouts.TIMEOUTS.group_poll_s,
        )


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie."""
    try:
        return _running(psutil.Process(pid))
    except psutil.Error:
        return False


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def spawn(
    argv: Sequence[str],
    *,
    name: str,
    log_path: Path | None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    on_started: Callable[[Child], object] | None = None,
) -> Child:
    """Start ``argv`` in a new session, stdout and stderr appended to ``log_path`` (None:
    discarded). ``on_started`` registers the child for teardown while Ctrl-C and SIGTERM are
    still held. Raises ``RunFailed`` when the program cannot be started."""
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
    with signals_deferred():
        with log_path.open("ab") if log_path is not None else open(os.devnull, "wb") as log:
            try:
                process = subprocess.Popen(
                    list(argv),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=dict(env) if env is not None else None,
                    cwd=cwd,
                    start_new_session=True,
                )
            except OSError as exc:
                raise RunFailed(f"{name}: cannot start {describe(argv)}: {exc}") from exc
        child = Child(name=name, process=process, log_path=log_path)
        if on_started is not None:
            on_started(child)
    return child


def describe(argv: object) -> str:
    """A command line (a sequence of arguments or one string), shortened for a message."""
    text = argv if isinstance(argv, str | bytes) else " ".join(map(str, argv))  # type: ignore[call-overload]
    return str(text)[:200]


def wait_ready(child: Child, ready: Callable[[], bool], *, timeout_s: float) -> None:
    """Wait until ``ready()`` (bounded); ``RunFailed`` with the log tail when the child exits
    first or the bound passes. The caller stops the child."""
    if wait_until(ready, timeout_s=timeout_s, give_up=lambda: not child.alive()):
        return
    code = child.process.poll()
    if code is not None:
        why = f"exited with code {code} before becoming ready"
    else:
        why = f"did not become ready within {timeout_s:g} s"
    where = f"; last lines of {child.log_path}:\n{child.log_tail()}" if child.log_path else ""
    raise RunFailed(f"{child.name} ({describe(child.process.args)}) {why}{where}")


@contextlib.contextmanager
def running(
    argv: Sequence[str],
    *,
    name: str,
    log_path: Path | None,
    ready: Callable[[], bool],
    ready_timeout_s: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stop_grace_s: float | None = None,
) -> Iterator[Child]:
    """Start ``argv``, wait until ``ready()``, yield the :class:`Child`; always stop it, on
    success, exception, Ctrl-C or SIGTERM (turned into ``KeyboardInterrupt`` by the caller)."""
    holder: list[Child] = []
    try:
        child = spawn(
            argv, name=name, log_path=log_path, env=env, cwd=cwd, on_started=holder.append
        )
        wait_ready(child, ready, timeout_s=ready_timeout_s)
        yield child
    finally:
        for started in holder:
            started.stop(stop_grace_s)
