"""Ctrl-C during a correct chaos run, after its kill: the partial run keeps the kill.

A stand-in substrate (the real :class:`SubstrateLifecycle`, nothing started) plays a simulated
nginx run over three replicas into the run folder as the local substrate's replicas and Locust
write it (raw journals, client records), kills r1 through the real chaos operation at t=2 s and
is interrupted at t=4 s. The real interrupt path (``run_scenario``'s ``except
KeyboardInterrupt``, ``SubstrateLifecycle.__exit__``, ``save_interrupted``) must keep the down
window (closed at the interruption), the chaos log and the dropped counts in ``run.json``, and
``verify`` must judge the partial run INCONCLUSIVE, never FAIL: without the window the same
files FAIL (the refused connects to r1 leave no journal line), which is what an interrupted run
was judged before the substrate kept its artifacts.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from fake_backends.profile import FaultProfile
from harness.oracle.records import DownWindow
from harness.oracle.synth import Kill, client_lines, journal_lines, simulate
from harness.oracle.verdict import Outcome, Verdict
from harness.run import Interrupted, RunManifest, run_scenario, verify_run_dir
from harness.substrates import lifecycle
from harness.substrates.base import Artifacts
from harness.substrates.lifecycle import SubstrateLifecycle
from tests.unit.oracle.simulator import NGINX, NOISE_S

KILL_S, INTERRUPT_S = 2.0, 4.0
SIM = simulate(
    NGINX.policy,
    NGINX.profile,
    NGINX.traffic,
    seed=21,
    kills=[Kill(replica=1, start_s=KILL_S)],
    noise_s=NOISE_S,
)
T0_US = int(NGINX.traffic.start_s * 1e6)
KILL_US = SIM.down_windows[0].start_us
INTERRUPT_US = T0_US + int(INTERRUPT_S * 1e6)


class InterruptedChaosRun(SubstrateLifecycle):
    """Writes the simulated run's files, kills r1 at its time, then is interrupted."""

    def __init__(
        self, scenario: Any, workdir: Path, *, dropped: dict[int, int], **_: object
    ) -> None:
        self.scenario = scenario
        self.workdir = workdir
        self._stack = contextlib.ExitStack()
        self._log: Callable[[str], None] = lambda text: None
        self._progress: Callable[[str, int, int | None], None] = lambda *a: None
        self._chaos_log: list[str] = []
        self._profiles: dict[int, FaultProfile] = {}
        self._killed: set[int] = set()
        self._down: list[DownWindow] = []
        self.dropped = dropped
        self.downs = 0

    def up(self) -> None:
        pass

    def down(self) -> None:
        self._end_chaos()
        self.downs += 1

    def kill_replica(self, index: int) -> None:
        self._killed.add(index)
        self._down.append(DownWindow(replica=f"r{index}", kind="kill", start_us=KILL_US))

    def restart_replica(self, index: int) -> None:
        raise AssertionError("the scenario's kill is for good")

    def pause_replica(self, index: int) -> None:
        raise AssertionError("no pause in the scenario")

    def resume_replica(self, index: int) -> None:
        raise AssertionError("no pause in the scenario")

    def _put_faults(self, index: int, profile: FaultProfile) -> None:
        raise AssertionError("no set_faults in the scenario")

    def _journal_dropped(self, index: int) -> int:
        return self.dropped[index]

    def run_load(self) -> Artifacts:
        raws: dict[str, list[bytes]] = {f"r{i}": [] for i in range(3)}
        for line in journal_lines(SIM):
            raws[orjson.loads(line)["replica"]].append(line + b"\n")
        for name, lines in raws.items():
            (self.workdir / f"journal-{name}.raw.ndjson").write_bytes(b"".join(lines))
        # every request Locust finished, also those that ended after the interruption
        records = b"".join(line + b"\n" for line in client_lines(SIM))
        (self.workdir / "client-records.ndjson").write_bytes(records)
        [op] = self.scenario.chaos
        self._apply(op)  # the chaos timeline's own step: kill replica r1
        self._chaos_log.append(f"t={KILL_S:.2f}s kill replica r1")
        raise KeyboardInterrupt


def _scenario(folder: Path) -> Path:
    data = {
        "name": "interrupted-replica-loss",
        "seed": 21,
        "backends": {
            "replicas": 3,
            "profile": NGINX.profile.model_dump(mode="json", exclude_defaults=True),
        },
        "sut": {"kind": "command", "command": "true {listen} {upstreams}"},
        "policy": {"inline": NGINX.policy.model_dump(mode="json", exclude_defaults=True)},
        "load": {"users": 4, "requests": NGINX.traffic.n_requests},
        "chaos": [{"at_s": KILL_S, "action": "kill", "replica": 1}],
    }
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _interrupt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dropped: dict[int, int]) -> Path:
    monkeypatch.setattr(lifecycle, "wall_us", lambda: INTERRUPT_US)
    made: list[InterruptedChaosRun] = []

    def make(scenario: Any, run_dir: Path, **kw: object) -> InterruptedChaosRun:
        made.append(InterruptedChaosRun(scenario, run_dir, dropped=dropped))
        return made[0]

    with pytest.raises(Interrupted) as caught:
        run_scenario(
            _scenario(tmp_path), report_dir=tmp_path / "report", formats=(), make_substrate=make
        )
    assert made[0].downs == 1  # torn down once, after the partial artifacts were kept
    assert threading.current_thread() is threading.main_thread()
    assert caught.value.run_dir is not None
    return caught.value.run_dir


def _failed(v: Verdict) -> list[str]:
    return [c.name for c in v.checks if c.outcome is Outcome.FAIL]


def test_interrupted_after_a_kill_keeps_the_window_and_is_not_a_violation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = _interrupt(tmp_path, monkeypatch, dropped={0: 0, 1: 0, 2: 0})
    manifest = RunManifest.model_validate_json((run_dir / "run.json").read_bytes())
    assert manifest.interrupted
    # the kill's window, still open at the interruption, closes there
    assert manifest.down_windows == [
        DownWindow(replica="r1", kind="kill", start_us=KILL_US, end_us=INTERRUPT_US)
    ]
    assert "chaos: t=2.00s kill replica r1" in manifest.notes
    assert manifest.dropped_attempts == 0
    assert any("not read from r1: down at the interruption" in n for n in manifest.notes)
    # only requests that ended before the interruption are kept
    kept = [orjson.loads(x) for x in (run_dir / "client-records.ndjson").read_bytes().split()]
    assert kept and max(r["end_us"] for r in kept) <= INTERRUPT_US
    assert len(kept) < len(SIM.clients)
    verdict = verify_run_dir(run_dir)
    assert not _failed(verdict), [c.summary for c in verdict.checks if c.outcome is Outcome.FAIL]
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert (verdict.scenario or "").endswith("(INTERRUPTED: partial)")
    assert any("overlapped a down replica" in n for n in verdict.notes)
    # the same files without the window: the oracle is blind to the kill and FAILs the run
    blind = manifest.model_copy(update={"down_windows": []})
    (run_dir / "run.json").write_text(blind.model_dump_json())
    assert {"retry_when_due", "client_agreement"} & set(_failed(verify_run_dir(run_dir)))


def test_a_dropped_record_before_the_interruption_is_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = _interrupt(tmp_path, monkeypatch, dropped={0: 3, 1: 0, 2: 2})
    manifest = RunManifest.model_validate_json((run_dir / "run.json").read_bytes())
    assert manifest.dropped_attempts == 5  # r0 and r2; r1 was down and could not say
    verdict = verify_run_dir(run_dir)
    assert verdict.dropped_attempts == 5
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert any("5 attempts have no journal record" in n for n in verdict.notes)


class InterruptedInTeardown(InterruptedChaosRun):
    """The load ends normally (its artifacts complete, the kill's window in them); the
    interruption lands while everything is being stopped (a tester's Ctrl-C 7 s into
    replica-loss: the partial run lost the window and its verdict FAILed)."""

    def run_load(self) -> Artifacts:
        with contextlib.suppress(KeyboardInterrupt):
            super().run_load()
        return Artifacts(
            journal_paths=[],
            client_records_path=self.workdir / "client-records.ndjson",
            dropped_attempts=0,
            epsilon_s=0.002,
            epsilon_evidence="stand-in",
            chaos_log=list(self._chaos_log),
            down_windows=list(self._down),
        )

    def down(self) -> None:
        super().down()
        if self.downs == 1:
            raise KeyboardInterrupt


def test_interrupted_during_teardown_keeps_the_finished_loads_chaos(tmp_path: Path) -> None:
    made: list[InterruptedInTeardown] = []

    def make(scenario: Any, run_dir: Path, **kw: object) -> InterruptedInTeardown:
        made.append(InterruptedInTeardown(scenario, run_dir, dropped={0: 0, 1: 0, 2: 0}))
        return made[0]

    with pytest.raises(Interrupted) as caught:
        run_scenario(
            _scenario(tmp_path), report_dir=tmp_path / "report", formats=(), make_substrate=make
        )
    run_dir = caught.value.run_dir
    assert run_dir is not None
    manifest = RunManifest.model_validate_json((run_dir / "run.json").read_bytes())
    assert manifest.interrupted
    assert [w.replica for w in manifest.down_windows] == ["r1"]
    assert "chaos: t=2.00s kill replica r1" in manifest.notes
    verdict = verify_run_dir(run_dir)
    assert not _failed(verdict), [c.summary for c in verdict.checks if c.outcome is Outcome.FAIL]
    assert verdict.outcome is Outcome.INCONCLUSIVE
