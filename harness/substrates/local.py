"""The local substrate (the default): every piece is a process on 127.0.0.1.

``LocalSubstrate`` starts the shared attempt counter (a file or SQLite table, or a
``redis-server`` it owns), the backend replicas and the Redis counter
(``harness.processes.backends``), the SUT (``harness.suts.start_sut``) and Locust (a child
process, never in this process: Locust monkey-patches the standard library with gevent), on free
ports. Every child is a :class:`harness.processes.child.Child` and every wait is bounded by
``harness.processes.timeouts.TIMEOUTS``. While the load runs it applies the scenario's timed
chaos operations and probes the timing noise of the machine (for ε); afterwards it collects the
journals and client records into the run folder. Everything it started is torn down by one
``ExitStack`` on success, failure, timeout, Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import contextlib
import functools
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Literal

import requests

from fake_backends.admin_client import AdminError
from fake_backends.ports import free_port, free_ports
from fake_backends.profile import FaultProfile
from harness.errors import BadInput, RunFailed
from harness.oracle.records import DownWindow
from harness.processes import timeouts
from harness.processes.backends import BackendHandle, start_backend, start_redis
from harness.processes.child import pid_alive, wait_until
from harness.processes.locust import locust_commands, locust_env, locust_run_time
from harness.scenario import Scenario, write_load_config
from harness.signals import signals_deferred
from harness.substrates.base import Artifacts, Replica, Substrate
from harness.substrates.calibration import TimingProbe, wall_us
from harness.substrates.lifecycle import SubstrateLifecycle
from harness.suts.base import RunningSut, missing_binary, start_sut
from harness.traffic import split_journal

Progress = Callable[[str, int, int | None], None]
"""progress(phase, done, total): called about twice a second while the load runs."""


class LocalSubstrate(SubstrateLifecycle):
    """Processes on 127.0.0.1 for one scenario run; use as a context manager."""

    def __init__(
        self,
        scenario: Scenario,
        workdir: Path,
        *,
        progress: Progress | None = None,
        log: Callable[[str], None] | None = None,
        admin_token: str | None = None,
    ) -> None:
        self.scenario = scenario
        self.admin_token = admin_token  # the replicas' admin API token (None: no token)
        self.workdir = workdir.resolve()  # Locust runs inside it: every path must be absolute
        self._progress = progress or (lambda phase, done, total: None)
        self._log = log or (lambda text: None)
        self._stack = contextlib.ExitStack()
        self.backends: list[Replica] = []
        self.sut: RunningSut | None = None
        self.counter_url: str | None = None
        self._chaos_log: list[str] = []
        self._down: list[DownWindow] = []
        self._killed: set[int] = set()
        self._ports: list[tuple[int, int]] = []
        self._profiles: dict[int, FaultProfile] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    def up(self) -> None:
        """Start counter, backends and SUT; return when all are ready."""
        sc = self.scenario
        hint = missing_binary(sc.sut, sc.base_dir)
        if hint:
            raise BadInput(
                f"the SUT program is not installed: {hint}",
                file=sc.source_file,
                field="sut.command" if sc.sut.kind == "command" else "sut.binary",
            )
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.counter_url = self._start_counter()
        self._start_replicas(sc.backends.replicas, sc.backends.profile)
        self._log(f"starting SUT ({sc.sut.kind})")
        try:
            self.sut = self._stack.enter_context(
                start_sut(
                    sc.sut,
                    listen=("127.0.0.1", free_port()),
                    upstreams=[b.url for b in self.backends],
                    workdir=self.workdir / "sut",
                    base_dir=sc.base_dir,
                )
            )
        except BadInput as exc:
            raise self._in_scenario(exc) from None
        except RunFailed as exc:
            raise self._failed("sut", str(exc)) from None
        self._log(f"SUT ready at {self.sut.url}")

    def down(self) -> None:
        """Stop everything this substrate started (idempotent), the slow parts in parallel.

        The chaos timeline is ended and waited for first. Backends (gunicorn's graceful stop
        takes up to a few seconds each) and the SUT are then stopped side by side; the exit
        stack finds them gone and releases the rest.
        """
        self._end_chaos()  # a restart in progress is registered (or refused) before the stops
        grace = timeouts.TIMEOUTS.substrate_backend_stop_s  # journals are already collected
        stoppers: list[Callable[[], object]] = [
            functools.partial(b.stop, grace) for b in self.backends if b.alive()
        ]
        if self.sut is not None:
            stoppers.append(self.sut.stop)
        if stoppers:
            with ThreadPoolExecutor(max_workers=len(stoppers)) as pool:
                for future in [pool.submit(stop) for stop in stoppers]:
                    with contextlib.suppress(Exception):
                        future.result()
        self._stack.close()

    def _backend(self, index: int, profile: FaultProfile) -> AbstractContextManager[BackendHandle]:
        port, admin_port = self._ports[index]
        sc = self.scenario
        return start_backend(
            port,
            admin_port,
            workers=sc.backends.workers,
            threads=sc.backends.threads,
            replica=f"r{index}",
            profile=profile,
            counter_url=self.counter_url,
            journal_path=self.workdir / f"journal-r{index}.raw.ndjson",
            log_path=self.workdir / f"backend-r{index}.log",
            admin_token=self.admin_token,
        )

    def _start_replica(self, index: int, profile: FaultProfile) -> BackendHandle:
        """Start one replica (again) and register it for teardown; once teardown has begun,
        stop it again and raise RunFailed (nothing may outlive the run)."""
        context = self._backend(index, profile)
        handle = context.__enter__()
        self._refuse_after_teardown(
            lambda: context.__exit__(None, None, None), f"backend replica r{index}"
        )
        self._stack.push(context.__exit__)
        return handle

    def _start_replicas(self, count: int, profile: FaultProfile) -> None:
        """Start every replica side by side; each is registered for teardown once up."""
        self._log(f"starting {count} backend replica{'s' if count > 1 else ''}")
        ports = free_ports(2 * count)
        self._ports = [(ports[2 * i], ports[2 * i + 1]) for i in range(count)]
        contexts = [self._backend(i, profile) for i in range(count)]
        failure: BaseException | None = None
        # Held signals: a Ctrl-C now would leave a replica that a thread is still starting.
        with signals_deferred(), ThreadPoolExecutor(max_workers=count) as pool:
            futures = [pool.submit(ctx.__enter__) for ctx in contexts]
            for ctx, future in zip(contexts, futures, strict=True):
                try:
                    handle = future.result()
                except BaseException as exc:  # started replicas are still registered below
                    failure = failure or exc
                    continue
                self._stack.push(ctx.__exit__)
                self.backends.append(handle)
        if isinstance(failure, RunFailed):
            raise self._failed("backends", str(failure)) from None
        if failure is not None:
            raise failure

    def _start_counter(self) -> str:
        if self.scenario.backends.counter == "file":
            return f"file://{self.workdir / 'attempt-counter.bin'}"
        if self.scenario.backends.counter == "sqlite":
            return f"sqlite:///{self.workdir / 'attempt-counter.sqlite3'}"
        binary = shutil.which("redis-server")
        if binary is None:
            raise BadInput(
                "counter 'redis' needs redis-server; install it with: apt-get install -y "
                "redis-server (or use counter: file on one host)",
                file=self.scenario.source_file,
                field="backends.counter",
            )
        try:
            return self._stack.enter_context(
                start_redis(free_port(), log_path=self.workdir / "redis.log")
            )
        except RunFailed as exc:
            raise self._failed("backends.counter", str(exc)) from None

    # -- chaos operations --------------------------------------------------------------------

    def _replica(self, index: int) -> Replica:
        if not 0 <= index < len(self.backends):
            raise BadInput(
                f"replica {index} does not exist (0..{len(self.backends) - 1})",
                file=self.scenario.source_file,
                field="chaos.replica",
            )
        return self.backends[index]

    def kill_replica(self, index: int) -> None:
        handle = self._replica(index)
        self._killed.add(index)  # first: the liveness watch must not take this for a crash
        self._open_window(index, "kill")
        handle.kill()

    def restart_replica(self, index: int) -> None:
        """Start a killed replica again on the same ports, appending to the same journal."""
        self._replica(index)
        profile = self._profiles.get(index, self.scenario.backends.profile)
        self.backends[index] = self._start_replica(index, profile)
        self._killed.discard(index)
        self._close_window(index, "kill")

    def pause_replica(self, index: int) -> None:
        handle = self._replica(index)
        self._open_window(index, "pause")
        handle.pause()

    def resume_replica(self, index: int) -> None:
        self._replica(index).resume()
        self._close_window(index, "pause")

    def _open_window(self, index: int, kind: Literal["kill", "pause"]) -> None:
        self._down.append(DownWindow(replica=f"r{index}", kind=kind, start_us=wall_us()))

    def _close_window(self, index: int, kind: Literal["kill", "pause"]) -> None:
        for i in range(len(self._down) - 1, -1, -1):
            w = self._down[i]
            if w.replica == f"r{index}" and w.kind == kind and w.end_us is None:
                self._down[i] = w.model_copy(update={"end_us": wall_us()})
                return

    def _put_faults(self, index: int, profile: FaultProfile) -> None:
        self._replica(index).admin.put_faults(profile)

    def _journal_dropped(self, index: int) -> int:
        return self._replica(index).admin.stats().dropped

    # -- the load ----------------------------------------------------------------------------

    def run_load(self) -> Artifacts:
        """Run Locust through the SUT, with chaos and the timing probe; collect the artifacts."""
        assert self.sut is not None
        sc = self.scenario
        records = self.workdir / "client-records.ndjson"
        load_json = self.workdir / "load.json"
        summary = self.workdir / "locust-summary.json"
        write_load_config(sc, load_json)
        records.unlink(missing_ok=True)
        time_cap = sc.load.time_cap_s
        workers = sc.load.workers  # Locust's own distribution: a master and N workers
        commands = locust_commands(
            sc.load,
            self.sut.url,
            run_time_s=locust_run_time(time_cap, sc.load),
            csv_prefix=self.workdir / "locust",
            workers=workers,
            workers_wait_s=timeouts.TIMEOUTS.locust_grace_s,
        )
        env = locust_env(load=load_json, records=records, summary=summary)
        probe = TimingProbe.for_load(
            self.backends[0].url,
            seed=sc.seed,
            log_path=self.workdir / "timing-probe.log",
            load_s=locust_run_time(time_cap, sc.load),
        )
        self._log(
            f"running Locust ({Path(sc.load.locustfile).name}): {sc.load.users} users, "
            + (f"{sc.load.requests} requests" if sc.load.requests else f"{time_cap:g} s")
            + (f", a master and {workers} workers" if workers else "")
        )
        locust = self._run_locust(
            commands, env=env, records=records, background=[probe.run], watch=self._must_be_alive
        )
        self._settle()
        journals, dropped, losses = self._collect_journals()
        tol = probe.epsilon(self.workdir, journals, [(w.start_us, w.end_us) for w in self._down])
        return Artifacts(
            journal_paths=journals,
            client_records_path=records,
            dropped_attempts=dropped,
            journal_notes=losses,
            epsilon_s=tol.epsilon_s,
            epsilon_evidence=tol.evidence,
            lateness_slack_s=tol.lateness_slack_s,
            epsilon_parts=tol.parts,
            locust_exit_code=locust.returncode,
            chaos_log=list(self._chaos_log),
            chaos_not_applied=list(self._chaos_not_applied),
            down_windows=list(self._down),
        )

    def _must_be_alive(self) -> None:
        """Raise RunFailed when a backend or the SUT died without a chaos operation."""
        for index, handle in enumerate(self.backends):
            if index not in self._killed and not handle.alive():
                tail = " | ".join(handle.log_text().strip().splitlines()[-5:])
                raise self._failed(
                    "backends",
                    f"backend replica r{index} died during the run (exit status "
                    f"{handle.process.returncode}); last log lines: {tail or '(none)'}; "
                    f"full log: {self.workdir / f'backend-r{index}.log'}",
                )
        if self.sut is not None and self.sut.pid is not None and not pid_alive(self.sut.pid):
            raise self._failed(
                "sut", f"the SUT ({self.sut.name}) died during the run; see {self.sut.log_path}"
            )

    def _settle(self) -> None:
        """Wait (bounded) until no backend journal grows any more: late retries land first."""
        paths = [self.workdir / f"journal-r{i}.raw.ndjson" for i in range(len(self.backends))]
        sizes: list[int] = []

        def still() -> bool:
            sizes.append(sum(p.stat().st_size for p in paths if p.exists()))
            return len(sizes) > 1 and sizes[-1] == sizes[-2]

        t = timeouts.TIMEOUTS
        wait_until(still, timeout_s=t.journal_settle_s, interval_s=t.journal_settle_interval_s)

    def _collect_journals(self) -> tuple[list[Path], int, list[str]]:
        """Split the harness's own traffic out of each raw journal; sum the dropped counts; one
        line per replica that lost records to a write error (``JournalStats.loss_note``)."""
        out: list[Path] = []
        dropped = 0
        losses: list[str] = []
        for index in range(len(self.backends)):
            if index not in self._killed:
                try:
                    stats = self._replica(index).admin.stats()
                    dropped += stats.dropped
                    if (note := stats.loss_note()) is not None:
                        losses.append(note)
                except (requests.RequestException, AdminError) as exc:
                    raise self._failed(
                        "backends", f"backend r{index} did not report its journal: {exc}"
                    ) from exc
            raw = self.workdir / f"journal-r{index}.raw.ndjson"
            clean = self.workdir / f"journal-r{index}.ndjson"
            calib = self.workdir / f"calibration-r{index}.ndjson"
            own = self.workdir / f"harness-traffic-r{index}.ndjson"
            split_journal(raw, clean, calib, own)
            out.append(clean)
        return out, dropped, losses


_IS_A_SUBSTRATE: type[Substrate] = LocalSubstrate  # mypy checks it keeps the protocol
