"""``retry-harness ui``: a scenario's backends and SUT kept up under Locust's web UI.

Brings the scenario's backend replicas and SUT up on the chosen substrate (local processes or
docker containers), starts Locust with its web UI on 127.0.0.1 as a subprocess (never in this
process: Locust monkey-patches the standard library with gevent), and judges the session live
(:class:`harness.live_judge.LiveJudge`, a thread of this process) until Ctrl-C, when Locust,
the judge, the backends and the SUT are all stopped.

The session folder (default ``reports/<scenario>/ui``) holds ``session.json`` (what the web UI
extension ``scenarios/locust_support/web_ui.py`` needs: the replicas' admin URLs and the admin
token, so the token never reaches the browser), the client records, the control log, the live
verdict and one run folder per profile epoch.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from harness.errors import BadInput, RunFailed
from harness.live_judge import SESSION_FILE, LiveJudge
from harness.processes.child import Child, spawn, wait_for_exit, wait_ready
from harness.processes.locust import ENV_UI_SESSION, locust_commands, locust_env
from harness.run import _check_names, declared_policy
from harness.scenario import Scenario, load_scenario, write_load_config
from harness.signals import sigterm_as_interrupt
from harness.substrates.calibration import TimingProbe

UI_SUBSTRATES = ("local", "docker")
_WEB_READY_S = 60.0
_PROBE_INTERVAL_S = 0.1
_PROBE_MAX_S = 3600.0

Log = Callable[[str], None]


def session_notes(scenario: Scenario) -> list[str]:
    """What a UI session does not do of what the scenario asks (said before it starts)."""
    notes = []
    if scenario.telemetry is not None:
        notes.append(
            "note: the scenario's telemetry: section is not used by a UI session (no "
            "Prometheus, no counter or alert check); 'retry-harness run' judges it"
        )
    return notes


def check_port(port: int) -> None:
    """BadInput unless ``port`` on 127.0.0.1 is free (checked before anything starts)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            raise BadInput(
                f"port 127.0.0.1:{port} is not free ({exc.strerror}); pick another with --port",
                field="--port",
            ) from None


def prepare(path: Path, substrate: str, port: int, workers: int | None) -> Scenario:
    """Everything that can be refused, refused before anything starts."""
    if substrate not in UI_SUBSTRATES:
        raise BadInput(
            f"the web UI runs on {', '.join(UI_SUBSTRATES)} (got '{substrate}'); the kind "
            "substrate keeps Locust in the cluster",
            field="--substrate",
        )
    if not 1 <= port <= 65535:
        raise BadInput(f"must be in 1..65535 (got {port})", field="--port")
    if workers is not None and not 0 <= workers <= 32:
        raise BadInput(f"must be in 0..32 (got {workers})", field="--workers")
    scenario = load_scenario(path)
    _check_names(scenario)
    declared_policy(scenario)
    check_port(port)
    return scenario


def _substrate(scenario: Scenario, workdir: Path, kind: str, token: str, log: Log) -> Any:
    if kind == "docker":
        from harness.substrates.docker import DockerSubstrate, check_docker

        check_docker([scenario.source_file] if scenario.source_file else [])
        return DockerSubstrate(scenario, workdir, log=log)
    from harness.substrates.local import LocalSubstrate

    return LocalSubstrate(scenario, workdir, log=log, admin_token=token)


def locust_command(
    scenario: Scenario, sut_url: str, port: int, workers: int | None
) -> list[list[str]]:
    """The Locust command lines: the web UI process first, then one per worker (if any)."""
    return locust_commands(
        scenario.load, sut_url, web_port=port, workers=workers or 0, loglevel="INFO"
    )


def free_port() -> int:
    from fake_backends.ports import free_port as _free

    return _free()


def _web_answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def run_ui(
    path: Path,
    *,
    substrate: str = "local",
    port: int = 8089,
    workers: int | None = None,
    workdir: Path | None = None,
    log: Log | None = None,
    ready: Callable[[str], None] | None = None,
) -> None:
    """Run a UI session until Ctrl-C (KeyboardInterrupt) or Locust's own exit (code 0: the
    session ends normally); tear down all.

    ``ready(url)`` is called once the web UI answers. Raises BadInput (before anything starts)
    and RunFailed (a piece died, Locust included when it exits with another code);
    KeyboardInterrupt propagates after the teardown.
    """
    say = log or (lambda text: None)
    scenario = prepare(path, substrate, port, workers)
    for note in session_notes(scenario):
        say(note)
    workers = scenario.load.workers if workers is None else workers
    adapted = declared_policy(scenario)
    folder = (workdir or Path("reports") / scenario.name / "ui").resolve()
    try:
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
    except OSError as exc:
        raise BadInput(f"cannot create the session folder {folder}: {exc}", field="--dir") from None
    token = secrets.token_urlsafe(18)
    stop = threading.Event()
    with sigterm_as_interrupt(), contextlib.ExitStack() as stack:
        sub = stack.enter_context(_substrate(scenario, folder, substrate, token, say))
        backends = list(sub.backends)
        sut_url = str(sub.sut.url)
        session_start_us = time.time_ns() // 1000
        (folder / SESSION_FILE).write_text(
            json.dumps(
                {
                    "scenario": scenario.name,
                    "scenario_file": str(scenario.source_file or ""),
                    "sut_url": sut_url,
                    "substrate": substrate,
                    "workers": workers or 0,
                    "replicas": [
                        {"name": f"r{i}", "admin_url": b.admin.base_url}
                        for i, b in enumerate(backends)
                    ],
                    "admin_token": token if substrate == "local" else None,
                    "session_start_us": session_start_us,
                },
                indent=2,
            )
        )
        os.chmod(folder / SESSION_FILE, 0o600)
        load_json = folder / "load.json"
        write_load_config(scenario, load_json)
        env = locust_env(
            load=load_json,
            records=folder / "client-records.ndjson",
            summary=folder / "locust-summary.json",
            extra={ENV_UI_SESSION: str(folder)},
        )
        procs: list[Child] = []
        for i, cmd in enumerate(locust_command(scenario, sut_url, port, workers)):
            log_path = folder / f"locust-{i}.log"
            log_path.unlink(missing_ok=True)
            name = "Locust" if i == 0 else f"Locust worker {i}"
            child = spawn(
                cmd,
                name=name,
                log_path=log_path,
                env=env,
                cwd=folder,
                on_started=lambda c: stack.callback(c.stop),
            )
            procs.append(child)
        url = f"http://127.0.0.1:{port}/"
        wait_ready(procs[0], lambda: _web_answers(url), timeout_s=_WEB_READY_S)
        # a session lasts until Ctrl-C and each epoch's ε takes the pairs inside its own load:
        # a pair every 100 ms for up to an hour (bounded like every harness loop)
        probe = TimingProbe(
            backends[0].url,
            seed=scenario.seed,
            log_path=folder / "timing-probe.log",
            interval_s=_PROBE_INTERVAL_S,
            pairs=int(_PROBE_MAX_S / _PROBE_INTERVAL_S),
            max_s=_PROBE_MAX_S,
        )
        judge = LiveJudge(
            scenario,
            adapted,
            folder,
            [b.admin for b in backends],
            session_start_us=session_start_us,
            log=say,
        )
        threads = [
            threading.Thread(target=probe.run, args=(stop,), name="probe", daemon=True),
            threading.Thread(target=judge.run, args=(stop,), name="judge", daemon=True),
        ]
        for t in threads:
            t.start()

        def _join() -> None:
            stop.set()
            for t in threads:
                t.join(timeout=30)

        stack.callback(_join)
        say(f"web UI: {url}?tab=retries  (fault controls: {url}retries/faults); Ctrl-C ends")
        if ready is not None:
            ready(url)

        def watch() -> None:
            for i, proc in enumerate(procs):
                if not proc.alive() and not (i == 0 and proc.returncode == 0):
                    raise RunFailed(
                        f"Locust process {i} exited (code {proc.returncode}); see "
                        f"{folder / f'locust-{i}.log'}"
                    )
            alive = getattr(sub, "_must_be_alive", None)
            if alive is not None:
                alive()

        while True:  # until Ctrl-C/SIGTERM, Locust's own exit, or a RunFailed from watch()
            wait_for_exit(procs[0], timeout_s=3600.0, watch=watch)
            watch()
            if not procs[0].alive():
                say("Locust exited by itself: the session ends")
                return
