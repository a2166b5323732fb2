"""What every substrate does the same way: the context-manager lifecycle (``up`` on enter,
``down`` on exit and on a failed ``up``), errors that name the scenario file, the chaos timeline
(timed operations, undone after their ``duration_s``), driving Locust to its end
(:meth:`SubstrateLifecycle._run_locust`) and counting client records.

:class:`SubstrateLifecycle` is the base of ``LocalSubstrate`` (and so of ``DockerSubstrate``)
and ``KindSubstrate``; each supplies ``up``/``down``, the replica operations (kill, restart,
pause, resume) and how a fault profile reaches a replica (``_put_faults``); which operation a
chaos step runs (``_apply``) and undoes (``_undo``) is decided here.

An interruption (Ctrl-C, SIGTERM) is noted here too, once: its instant (:meth:`_note_interruption`)
and, before teardown, what the run's :class:`~harness.substrates.base.Artifacts` would have said
(down windows, dropped counts, the chaos log) as :attr:`SubstrateLifecycle.partial`, which
``harness.run.save_interrupted`` writes into the partial run's manifest.
"""

from __future__ import annotations

import contextlib
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Self

from fake_backends.profile import FaultProfile
from harness.errors import BadInput, RunFailed
from harness.oracle.records import ClientRecord, DownWindow
from harness.processes import timeouts
from harness.processes.child import Child, log_tail, spawn, wait_for_exit
from harness.processes.locust import locust_run_time
from harness.scenario import ChaosOp, Scenario
from harness.signals import signals_deferred
from harness.substrates.base import PartialArtifacts
from harness.substrates.calibration import wall_us

FIRST_REQUEST_POLL_S = 0.01
"""How often the chaos timeline looks for the load's first client record (its zero)."""


class SubstrateLifecycle(ABC):
    """The shared part of a substrate; subclasses set the attributes below in ``__init__``."""

    scenario: Scenario
    workdir: Path
    _stack: contextlib.ExitStack
    _log: Callable[[str], None]
    _progress: Callable[[str, int, int | None], None]
    _chaos_log: list[str]
    _profiles: dict[int, FaultProfile]
    _killed: set[int]
    _down: list[DownWindow]  # replicas down on purpose, wall clock (chaos); end None: still down
    _chaos_stop: threading.Event | None = None  # set: the chaos timeline ends (load over, down)
    _chaos_thread: threading.Thread | None = None
    _tearing_down = False  # set first thing in ``down``: no replica may start after it
    _chaos_not_applied: tuple[str, ...] = ()  # chaos operations the load ended before
    _interrupted_at_us: int | None = None  # wall clock when an interruption reached the run
    partial: PartialArtifacts | None = None
    """Set when the run was interrupted (see :meth:`__exit__`): what the artifacts would have
    carried, kept before teardown."""

    # -- lifecycle ---------------------------------------------------------------------------

    @abstractmethod
    def up(self) -> None:
        """Start everything the scenario needs; return when all is ready."""

    @abstractmethod
    def down(self) -> None:
        """Stop everything this substrate started (idempotent); ``_end_chaos`` first."""

    def __enter__(self) -> Self:
        try:
            self.up()
        except BaseException:
            try:
                self.down()
            except Exception as exc:  # the start's own error is the one the user needs
                self._log(f"teardown after a failed start also failed: {exc}")
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        """Tear down; on an interruption first keep :attr:`partial` (signals held meanwhile:
        a second Ctrl-C is raised again once it is kept, and teardown runs in any case)."""
        try:
            if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
                with signals_deferred():
                    self.partial = self._keep_partial()
        finally:
            self.down()

    def _note_interruption(self) -> None:
        """Note the instant an interruption reached the run (the first one counts)."""
        if self._interrupted_at_us is None:
            self._interrupted_at_us = wall_us()

    def _keep_partial(self) -> PartialArtifacts:
        """What the artifacts would say at the interruption, read before anything is stopped.

        The chaos timeline is ended first (its log and windows are final then); a down window
        still open closes at the interruption instant. The dropped counts are read from every
        replica that is up (a killed or paused one cannot answer; its name is kept instead).
        """
        self._note_interruption()
        at = self._interrupted_at_us
        assert at is not None
        self._end_chaos()
        with contextlib.suppress(Exception):
            self._before_partial()
        windows = tuple(
            w if w.end_us is not None else w.model_copy(update={"end_us": max(at, w.start_us)})
            for w in self._down
        )
        down_now = {w.replica for w in self._down if w.end_us is None} | {
            f"r{i}" for i in self._killed
        }
        dropped, unread = 0, []
        for index in range(self.scenario.backends.replicas):
            name = f"r{index}"
            if name in down_now:
                unread.append(f"{name}: down at the interruption")
                continue
            try:
                dropped += self._journal_dropped(index)
            except Exception as exc:  # kept in the manifest's notes, never dropped
                unread.append(f"{name}: {exc}")
        return PartialArtifacts(
            interrupted_at_us=at,
            dropped_attempts=dropped,
            dropped_unread=tuple(unread),
            chaos_log=tuple(self._chaos_log),
            chaos_not_applied=self._chaos_not_applied,
            down_windows=windows,
        )

    def _before_partial(self) -> None:  # noqa: B027 (an optional hook, empty by default)
        """What a substrate must fetch before teardown for a partial run (kind: the journal
        lines not pulled yet); local replicas write theirs into the run folder themselves."""

    @abstractmethod
    def _journal_dropped(self, index: int) -> int:
        """Replica ``index``'s count of attempts its journal dropped (its admin API)."""

    def _end_chaos(self) -> None:
        """Teardown begins: end the chaos timeline and wait for it (first thing in ``down``).

        The chaos thread is joined without a time limit, so that a restart it is running
        (bounded by the replica's health wait) is registered for teardown before anything is
        stopped; signals are held meanwhile. A replica start that still comes after this
        refuses (see :meth:`_refuse_after_teardown`)."""
        self._tearing_down = True
        if self._chaos_stop is not None:
            self._chaos_stop.set()
        thread = self._chaos_thread
        if thread is not None and thread is not threading.current_thread():
            with signals_deferred():
                thread.join()

    def _refuse_after_teardown(self, stop: Callable[[], object], what: str) -> None:
        """Call ``stop`` (what was just started) and raise RunFailed when teardown has begun."""
        if self._tearing_down:
            with contextlib.suppress(Exception):
                stop()
            raise RunFailed(f"{what} was not started: the run is being torn down")

    # -- errors ------------------------------------------------------------------------------

    def _failed(self, field: str, what: str) -> RunFailed:
        """A ``RunFailed`` naming the scenario file and the part of it that failed."""
        file = self.scenario.source_file
        return RunFailed((f"{file}: " if file is not None else "") + f"{field}: {what}")

    def _in_scenario(self, exc: BadInput) -> BadInput:
        """``exc`` as it is, or (when it names no file) pinned on the scenario file."""
        if exc.file is not None:
            return exc
        return BadInput(exc.reason, file=self.scenario.source_file, line=exc.line, field=exc.field)

    # -- chaos -------------------------------------------------------------------------------

    def faults_of(self, index: int) -> FaultProfile:
        """The fault profile replica ``index`` runs now."""
        return self._profiles.get(index, self.scenario.backends.profile)

    @abstractmethod
    def kill_replica(self, index: int) -> None:
        """Kill replica ``index`` (its down window opens first)."""

    @abstractmethod
    def restart_replica(self, index: int) -> None:
        """Start killed replica ``index`` again (its down window closes when it is up)."""

    @abstractmethod
    def pause_replica(self, index: int) -> None:
        """Pause replica ``index`` (it answers nothing until resumed)."""

    @abstractmethod
    def resume_replica(self, index: int) -> None:
        """Resume paused replica ``index``."""

    @abstractmethod
    def _put_faults(self, index: int, profile: FaultProfile) -> None:
        """Send ``profile`` to replica ``index`` (its admin API)."""

    def set_faults(self, profile: FaultProfile, replica: int | None = None) -> None:
        """``profile`` on one replica or (None) on all; a killed replica gets it on restart."""
        targets = range(self.scenario.backends.replicas) if replica is None else [replica]
        for index in targets:
            if index not in self._killed:
                self._put_faults(index, profile)
            self._profiles[index] = profile

    def _apply(self, op: ChaosOp) -> None:
        if op.action == "kill":
            self.kill_replica(op.replica)
        elif op.action == "pause":
            self.pause_replica(op.replica)
        elif op.action == "resume":
            self.resume_replica(op.replica)
        elif op.action == "set_faults":
            assert op.profile is not None
            self.set_faults(op.profile, op.replica)

    def _undo(self, op: ChaosOp, previous: FaultProfile | None) -> None:
        if op.action == "kill":
            self.restart_replica(op.replica)
        elif op.action == "pause":
            self.resume_replica(op.replica)
        elif op.action == "set_faults" and previous is not None:
            self.set_faults(previous, op.replica)

    def _chaos_loop(
        self, stop: threading.Event, first_request: Callable[[], int | None], bound_s: float
    ) -> None:
        """Apply the timed chaos operations (and undo those with a duration) until ``stop``.

        The timeline's zero is the load's first request (``first_request()``: its wall-clock
        start in µs, None while there is none), the instant the verdict counts its times from
        and ``load.duration_s`` runs from, not Locust's launch: Locust's start-up (seconds on a
        loaded machine) would move every operation earlier into the load, a kill "2 s in" even
        before the first request. When no request starts within ``bound_s`` (or the load ends
        or is interrupted first) no operation runs; each is kept as never run, with the reason.

        Each operation runs at its own time: the undo of a kill (a restart, which waits for the
        replica's health) runs in a thread of its own, so the operations after it are not
        delayed by that wait; the loop joins those threads before it returns. An operation
        whose time comes after the load ended is never applied: the chaos log says so and
        ``_chaos_not_applied`` keeps it (the verdict is then inconclusive, see harness/run.py).
        """
        events: list[tuple[float, str, ChaosOp, FaultProfile | None]] = [
            (op.at_s, "do", op, None) for op in self.scenario.chaos
        ]
        events.sort(key=lambda e: e[0])
        restarts: list[threading.Thread] = []
        if not events:
            return

        def undo(op: ChaosOp, previous: FaultProfile | None, stamp: str) -> None:
            try:
                self._undo(op, previous)
                self._chaos_log.append(f"{stamp} undo {describe(op)}")
                self._log(f"chaos: undo {describe(op)}")
            except Exception as exc:  # reported in the verdict notes, never dropped
                self._chaos_log.append(f"{stamp} undo {describe(op)} FAILED: {exc}")

        missed: list[str] = []
        try:
            start, why_not = self._await_first_request(stop, first_request, bound_s)
            if start is None:
                missed += [
                    f"{describe(op)} at t={at_s:g} s never ran: {why_not}"
                    for at_s, _, op, _ in events
                ]
                return
            while events:
                at, what, op, previous = events.pop(0)
                if stop.wait(max(0.0, at - (time.monotonic() - start))):
                    ended = time.monotonic() - start
                    why = "the run was interrupted" if self._interrupted_at_us else "the load ended"
                    for at_s, kind, never, _ in [(at, what, op, previous), *events]:
                        if kind == "do":
                            missed.append(
                                f"{describe(never)} at t={at_s:g} s never ran: {why} "
                                f"at t={ended:.1f} s"
                            )
                    return
                stamp = f"t={time.monotonic() - start:.2f}s"
                if what == "undo" and op.action == "kill":
                    worker = threading.Thread(
                        target=undo, args=(op, previous, stamp), name="chaos-restart", daemon=True
                    )
                    worker.start()
                    restarts.append(worker)
                    continue
                if what == "undo":
                    undo(op, previous, stamp)
                    continue
                try:
                    before = self.faults_of(op.replica)
                    self._apply(op)
                    self._chaos_log.append(f"{stamp} {describe(op)}")
                    self._log(f"chaos: {describe(op)}")
                    if op.duration_s:
                        events.append((at + op.duration_s, "undo", op, before))
                        events.sort(key=lambda e: e[0])
                except Exception as exc:  # reported in the verdict notes, never dropped
                    self._chaos_log.append(f"{stamp} {what} {describe(op)} FAILED: {exc}")
        finally:
            for worker in restarts:
                worker.join()  # bounded: a restart waits for health within its own timeout
            if any(w.kind == "pause" and w.end_us is None for w in self._down):
                stop.wait()  # the load's end (set on every path out of _run_locust)
                if not self._interrupted_at_us:
                    self._resume_left_paused()
            for line in missed:
                self._chaos_log.append(line)
                self._log(f"chaos: {line}")
            self._chaos_not_applied = tuple(missed)

    def _resume_left_paused(self) -> None:
        """Resume every replica still paused when the load ended (a ``pause`` without a
        ``resume``, or whose ``duration_s`` outlasts the load): a paused replica answers
        nothing, its admin API included, so its journal could not be read and the run was lost
        (tester6: exit 2 after 31 s, no verdict). Its down window closes here, after the load;
        the chaos log says so."""
        for window in list(self._down):
            if window.kind != "pause" or window.end_us is not None:
                continue
            try:
                self.resume_replica(int(window.replica.removeprefix("r")))
                line = f"end of load: resume replica {window.replica} (still paused at the end)"
            except Exception as exc:  # reported in the verdict notes, never dropped
                line = f"end of load: resume replica {window.replica} FAILED: {exc}"
            self._chaos_log.append(line)
            self._log(f"chaos: {line}")

    def _await_first_request(
        self, stop: threading.Event, first_request: Callable[[], int | None], bound_s: float
    ) -> tuple[float | None, str]:
        """The load's first request as a ``time.monotonic()`` instant, polled every
        ``FIRST_REQUEST_POLL_S``; (None, why) when none starts within ``bound_s``, or the load
        ends or is interrupted first."""
        waited_from = time.monotonic()
        while True:
            first_us = first_request()
            if first_us is not None:
                return time.monotonic() - max(0, wall_us() - first_us) / 1e6, ""
            if stop.wait(FIRST_REQUEST_POLL_S):
                if self._interrupted_at_us:
                    return None, "the run was interrupted before the load's first request"
                return None, "the load ended before its first request"
            if time.monotonic() - waited_from >= bound_s:
                return None, f"no request of the load started within {bound_s:g} s"

    # -- the load ----------------------------------------------------------------------------

    def _run_locust(
        self,
        commands: Sequence[Sequence[str]],
        *,
        env: Mapping[str, str],
        records: Path,
        background: Sequence[Callable[[threading.Event], None]] = (),
        watch: Callable[[], None] = lambda: None,
    ) -> Child:
        """Run Locust to its end with the chaos timeline (and ``background``) beside it.

        ``commands[0]`` is Locust (one process or the master, log ``locust.log``), the others
        its workers (``locust-worker-<i>.log``); all are stopped by ``down``. ``watch()`` runs
        with each progress report and may raise. RunFailed (``load: ...``) when Locust does not
        finish within its bound, exits non-zero or wrote no client records.
        """
        load = self.scenario.load
        log_path = self.workdir / "locust.log"
        logs = [log_path] + [self.workdir / f"locust-worker-{i}.log" for i in range(len(commands))]
        children: list[Child] = []
        for index, (argv, log) in enumerate(zip(commands, logs, strict=False)):
            log.unlink(missing_ok=True)
            children.append(
                spawn(
                    argv,
                    name="Locust" if index == 0 else f"Locust worker {index - 1}",
                    log_path=log,
                    env=env,
                    cwd=self.workdir,
                    on_started=lambda child: self._stack.callback(child.stop),
                )
            )
        locust = children[0]
        bound = locust_run_time(load.time_cap_s, load) + load.request_timeout_s
        bound += timeouts.TIMEOUTS.locust_grace_s
        stop = threading.Event()

        def chaos(stop: threading.Event) -> None:
            self._chaos_loop(stop, lambda: first_request_us(records), bound)

        threads = [
            threading.Thread(target=fn, args=(stop,), name=f"load-{i}", daemon=True)
            for i, fn in enumerate([chaos, *background])
        ]
        self._chaos_stop, self._chaos_thread = stop, threads[0]
        for thread in threads:
            thread.start()

        def report() -> None:
            watch()
            self._progress("load", count_lines(records), load.requests)

        try:
            if not wait_for_exit(locust, timeout_s=bound, watch=report):
                locust.stop()
                raise self._failed(
                    "load", f"Locust did not finish within {bound:.0f} s; see {log_path}"
                )
        except KeyboardInterrupt:
            self._note_interruption()  # before the joins below: the load still runs meanwhile
            raise
        finally:
            stop.set()
            # The chaos thread fully (its restarts included: each is bounded by a health wait),
            # so no replica starts after the load; the others are bounded probes.
            with signals_deferred():
                threads[0].join()
            for thread in threads[1:]:
                thread.join(timeout=10)
        self._progress("load", count_lines(records), load.requests)
        if locust.returncode != 0:
            raise self._failed(
                "load",
                f"Locust exited with code {locust.returncode}; last lines of "
                f"{log_path}:\n{log_tail(log_path, 15)}",
            )
        if not records.exists():
            raise self._failed("load", f"Locust wrote no client records; see {log_path}")
        return locust


def describe(op: ChaosOp) -> str:
    """``kill replica r1 for 2 s``: one chaos operation as the chaos log names it."""
    extra = f" for {op.duration_s:g} s" if op.duration_s else ""
    return f"{op.action} replica r{op.replica}{extra}"


def first_request_us(records: Path) -> int | None:
    """Wall-clock start (µs) of the load's first request: the earliest ``start_us`` among the
    complete lines of the client records file so far (a record is written when its request
    ends, so the first line need not be the earliest start); None before any."""
    try:
        with records.open("rb") as f:
            head = f.read(1 << 16)
    except FileNotFoundError:
        return None
    starts = []
    for line in head.split(b"\n")[:-1]:  # the last piece is a line still being written
        with contextlib.suppress(ValueError):
            starts.append(ClientRecord.model_validate_json(line).start_us)
    return min(starts, default=None)


def count_lines(path: Path) -> int:
    """Lines in ``path`` (client records written so far); 0 when it does not exist yet."""
    try:
        with path.open("rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 16), b""))
    except FileNotFoundError:
        return 0
