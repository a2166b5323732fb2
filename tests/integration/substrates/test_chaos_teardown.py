"""Chaos and teardown on the local substrate, with real backend processes.

A kill with a duration is undone by a restart that waits for the replica's health. When that
restart is still under way as the load ends, the chaos thread used to be joined for at most
10 s: a restart that came later started its replica on an exit stack already closed, and that
gunicorn tree outlived the harness. Now the chaos thread is joined fully before anything is
stopped, and a replica start after teardown began stops what it started. The backends' logs are
written into the run folder (``backend-r{i}.log``) and outlive the run.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import orjson
import psutil
import pytest

from fake_backends.ports import free_ports
from fake_backends.profile import FaultProfile
from harness.errors import RunFailed
from harness.run import run_scenario
from harness.scenario import load_scenario
from harness.substrates.local import LocalSubstrate
from tests.integration.cli.helpers import tiny_scenario, write_scenario

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LATE_S = 20.0
"""How long after the end of the load the slowed restart starts its replica: well beyond the
10 s the load's threads used to be joined with plus the collection after the load, so the old
teardown had closed the stack by then (checked: with the old join this test fails)."""


def _processes_of(folder: Path) -> list[str]:
    """Live processes whose command line names ``folder`` (the backends name their journal)."""
    out = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
            if str(folder) in cmd and proc.info["status"] != psutil.STATUS_ZOMBIE:
                out.append(f"pid {proc.info['pid']}: {cmd[:160]}")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return out


class _SlowRestart(LocalSubstrate):
    """The undo of a kill is still under way when the load ends: it waits for the end of the
    load (the chaos timeline's stop), then ``LATE_S``, then restarts the replica for real."""

    restarted: ClassVar[list[int]] = []
    alive: ClassVar[list[LocalSubstrate]] = []  # held, as a CLI process holds it until exit:
    # a collected substrate would close a replica's context when garbage-collected

    def restart_replica(self, index: int) -> None:
        _SlowRestart.alive.append(self)
        assert self._chaos_stop is not None
        self._chaos_stop.wait()
        time.sleep(LATE_S)
        super().restart_replica(index)
        _SlowRestart.restarted.append(index)


def test_a_restart_running_when_the_load_ends_leaves_no_process(tmp_path: Path) -> None:
    data = tiny_scenario(
        "chaos-teardown",
        backends={"replicas": 2, "workers": 1, "profile": {"failure_rate": 0.1}},
        load={"users": 2, "spawn_rate": 2, "duration_s": 3, "request_timeout_s": 5},
        chaos=[{"at_s": 0.5, "action": "kill", "replica": 0, "duration_s": 0.5}],
        checks={"only": ["attempts_bound"]},
    )
    path = write_scenario(tmp_path / "sc", data)
    _SlowRestart.restarted = []
    _SlowRestart.alive = []
    try:
        result = run_scenario(
            path, report_dir=tmp_path / "out", formats=("json",), make_substrate=_SlowRestart
        )
        # a restart thread the run left behind would start its replica now: wait for it
        deadline = time.monotonic() + LATE_S + 30
        while time.monotonic() < deadline and any(
            t.name == "chaos-restart" for t in threading.enumerate()
        ):
            time.sleep(0.2)
        assert _SlowRestart.restarted == [0], "the slowed restart never ran"
        assert not any(t.name == "chaos-restart" for t in threading.enumerate())
        time.sleep(1.0)
        left = _processes_of(tmp_path)
        assert left == [], "processes left running:\n" + "\n".join(left)
        assert _SlowRestart.alive, "the substrate was not held during the check"
        run_dir = result.run_dir
        manifest = orjson.loads((run_dir / "run.json").read_bytes())
        assert any("undo kill replica r0" in n for n in manifest["notes"]), manifest["notes"]
        for index in (0, 1):  # the backends' logs outlive them, in the run folder
            assert (run_dir / f"backend-r{index}.log").is_file()
    finally:
        _SlowRestart.alive = []
        for proc in psutil.process_iter(["cmdline"]):
            try:
                if str(tmp_path) in " ".join(proc.info["cmdline"] or []):
                    proc.kill()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue


def test_a_replica_start_after_teardown_began_is_stopped_and_refused(tmp_path: Path) -> None:
    path = write_scenario(tmp_path / "sc", tiny_scenario("refuse"))
    sub: Any = LocalSubstrate(load_scenario(path), tmp_path / "run")
    sub.workdir.mkdir(parents=True)
    port, admin_port = free_ports(2)
    sub._ports = [(port, admin_port)]
    sub._end_chaos()  # teardown has begun (no chaos thread ran)
    with pytest.raises(RunFailed, match="replica r0 was not started: the run is being torn"):
        sub._start_replica(0, FaultProfile())
    assert _processes_of(tmp_path) == []
    assert (tmp_path / "run" / "backend-r0.log").is_file()  # it did start, and its log stays
    sub.down()


def test_chaos_due_after_the_load_ended_makes_the_run_inconclusive(tmp_path: Path) -> None:
    data = tiny_scenario(
        "chaos-never-ran",
        backends={"replicas": 2, "workers": 1, "profile": {"failure_rate": 0.1}},
        chaos=[{"at_s": 300, "action": "kill", "replica": 1}],
        checks={"only": ["attempts_bound", "stop_on_success"]},
    )
    path = write_scenario(tmp_path / "sc", data)
    result = run_scenario(path, report_dir=tmp_path / "out", formats=("json",))
    assert result.verdict.outcome.value == "inconclusive", result.verdict.notes
    never = [n for n in result.verdict.notes if "kill replica r1 at t=300 s never ran" in n]
    assert never, result.verdict.notes
    assert any(n.startswith("INCONCLUSIVE: the scenario's chaos did not all happen") for n in never)
    assert _processes_of(tmp_path) == []
