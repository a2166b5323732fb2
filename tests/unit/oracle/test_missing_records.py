"""A journal that lacks records cannot convict the SUT: the run is INCONCLUSIVE, not FAIL.

A backend that could not journal some attempts (a full disk: OSError ENOSPC) served them as
decided; their missing records look like answers the SUT made up or retries it never sent. The
journals below are a correct SUT's, with the records of a few successful last attempts removed.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from fake_backends.records import JournalStats
from harness.adapters.base import AdaptedPolicy
from harness.oracle.journal import AttemptTable, ClientTable
from harness.oracle.planner import DetectionGoals
from harness.oracle.verdict import Outcome
from harness.oracle.verify import DEFAULT_ALPHA, verify
from harness.run import RunManifest, save_inputs, verify_run_dir
from tests.unit.oracle.simulator import (
    EPSILON_S,
    NOISE_S,
    SETUPS,
    client_lines,
    journal_lines,
    simulate,
)

ENVOY = SETUPS["envoy"]
LOST = 3


def _without_last_successful_retries(seed: int) -> tuple[AttemptTable, ClientTable | None]:
    run = simulate(ENVOY.policy, ENVOY.profile, ENVOY.traffic, seed=seed, noise_s=NOISE_S)
    a = run.attempts
    retried = np.flatnonzero((a.attempt > 0) & (a.status == 200))[:LOST]
    assert len(retried) == LOST
    keep = np.setdiff1d(np.arange(len(a)), retried)
    return a.take(keep), run.clients


def test_lost_records_look_like_a_violation_when_not_counted() -> None:
    attempts, clients = _without_last_successful_retries(seed=21)
    v = verify(ENVOY.policy, ENVOY.profile, attempts, clients, epsilon_s=EPSILON_S)
    assert v.outcome is Outcome.FAIL  # what a correct SUT got when the backend lost records


def test_counted_lost_records_make_the_run_inconclusive_not_fail() -> None:
    attempts, clients = _without_last_successful_retries(seed=21)
    v = verify(
        ENVOY.policy,
        ENVOY.profile,
        attempts,
        clients,
        epsilon_s=EPSILON_S,
        dropped=LOST,
    )
    assert v.outcome is Outcome.INCONCLUSIVE
    assert v.exit_code == 3
    assert not [c.name for c in v.checks if c.outcome is Outcome.FAIL]
    held = [c for c in v.checks if c.summary.startswith("would fail, but 3 attempts")]
    assert held, [c.summary for c in v.checks]
    assert any(f"{LOST} attempts have no journal record" in n for n in v.notes)


def test_a_run_folder_whose_backend_could_not_journal_is_inconclusive(tmp_path: Path) -> None:
    """The run level: what the local substrate saves when a replica reports lost records (its
    dropped count includes them, and its loss note says why), judged by ``verify`` RUN_DIR."""
    run = simulate(ENVOY.policy, ENVOY.profile, ENVOY.traffic, seed=21, noise_s=NOISE_S)
    a = run.attempts
    lost = np.flatnonzero((a.attempt > 0) & (a.status == 200))[:LOST]
    keep = np.setdiff1d(np.arange(len(a)), lost)
    texts = tuple(run.retry_after_text[i] for i in keep)
    partial = replace(run, attempts=a.take(keep), retry_after_text=texts)
    stats = JournalStats(
        replica="r1",
        recorded=len(keep),
        dropped=LOST,
        cap=10**6,
        unjournaled=LOST,
        unjournaled_error="OSError [Errno 28] No space left on device",
    )
    note = stats.loss_note()
    assert note is not None
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "journal-r0.ndjson").write_bytes(b"\n".join(journal_lines(partial)))
    (run_dir / "client-records.ndjson").write_bytes(b"\n".join(client_lines(run)))
    manifest = RunManifest(
        scenario="full-disk",
        seed=0,
        alpha=DEFAULT_ALPHA,
        epsilon_s=EPSILON_S,
        epsilon_evidence="ε from the simulator's noise",
        goals=DetectionGoals(),
        dropped_attempts=stats.dropped,
        notes=[note],
        journals=["journal-r0.ndjson"],
        client_records="client-records.ndjson",
    )
    adapted = AdaptedPolicy(system="simulated", source_file="-", policy=ENVOY.policy)
    save_inputs(run_dir, manifest, adapted, ENVOY.profile)
    verdict = verify_run_dir(run_dir)
    assert verdict.outcome is Outcome.INCONCLUSIVE and verdict.exit_code == 3
    assert verdict.dropped_attempts == LOST
    assert not [c.name for c in verdict.checks if c.outcome is Outcome.FAIL]
    assert any(
        n.startswith("backend r1 could not journal 3 attempts (OSError [Errno 28]")
        and "the SUT is not to blame" in n
        for n in verdict.notes
    )
