"""The one offline load path: ``harness.run.verify_run_dir`` recomputes a saved run's verdict.

A simulated run is saved as a run folder (``save_inputs`` + its NDJSON files), then judged from
the files alone; the verdict must equal the one computed in memory, with the manifest's down
windows, α, ε and replica count passed through. (This replaces ``oracle.verify.verify_files``,
a second load path with a copy of ``verify``'s signature that the ``verify`` command never used.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.adapters.base import AdaptedPolicy
from harness.errors import BadInput
from harness.oracle.planner import DetectionGoals
from harness.oracle.verify import DEFAULT_ALPHA, verify
from harness.run import RunManifest, save_inputs, verify_run_dir
from tests.unit.oracle.simulator import (
    EPSILON_S,
    NGINX,
    NOISE_S,
    SETUPS,
    Kill,
    Setup,
    SimRun,
    client_lines,
    journal_lines,
    simulate,
)


def _save(run_dir: Path, s: Setup, run: SimRun, *, windows: bool) -> None:
    run_dir.mkdir()
    (run_dir / "journal-r0.ndjson").write_bytes(b"\n".join(journal_lines(run)))
    (run_dir / "client-records.ndjson").write_bytes(b"\n".join(client_lines(run)))
    manifest = RunManifest(
        scenario="simulated",
        seed=0,
        alpha=DEFAULT_ALPHA,
        epsilon_s=EPSILON_S,
        epsilon_evidence="ε from the simulator's noise",
        goals=DetectionGoals(),
        down_windows=list(run.down_windows) if windows else [],
        journals=["journal-r0.ndjson"],
        client_records="client-records.ndjson",
    )
    adapted = AdaptedPolicy(system="simulated", source_file="-", policy=s.policy)
    save_inputs(run_dir, manifest, adapted, s.profile)


@pytest.mark.parametrize("windows", [False, True])
def test_saved_run_gives_the_verdict_computed_in_memory(tmp_path: Path, windows: bool) -> None:
    s = NGINX if windows else SETUPS["envoy"]
    kills = [Kill(1, 2.0)] if windows else []
    run = simulate(s.policy, s.profile, s.traffic, seed=26, kills=kills, noise_s=NOISE_S)
    _save(tmp_path / "run", s, run, windows=windows)
    offline = verify_run_dir(tmp_path / "run")
    direct = verify(
        s.policy,
        s.profile,
        run.attempts,
        run.clients,
        epsilon_s=EPSILON_S,
        down_windows=run.down_windows if windows else (),
    )
    assert [(c.name, c.outcome) for c in offline.checks] == [
        (c.name, c.outcome) for c in direct.checks
    ]
    assert offline.outcome == direct.outcome
    assert "ε from the simulator's noise" in offline.notes


def test_a_broken_run_file_is_one_line_naming_the_file(tmp_path: Path) -> None:
    s = SETUPS["envoy"]
    run = simulate(s.policy, s.profile, s.traffic, seed=10, noise_s=NOISE_S)
    _save(tmp_path / "run", s, run, windows=False)
    (tmp_path / "run" / "policy.json").write_text('{"system": "x"}')
    with pytest.raises(BadInput, match=r"policy\.json: not a valid AdaptedPolicy") as info:
        verify_run_dir(tmp_path / "run")
    assert "\n" not in str(info.value)
