"""Per-try timeouts and deadlines on a loaded machine (lead's rule of 06:08, issue 8.2): a hung
attempt held a little past the timeout, or an attempt that arrives a little after the
deadline, may be the machine; judged by sign tests, load alone never fails a correct SUT while
a SUT that ignores its per-try timeout still fails."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from fake_backends.profile import FaultProfile
from harness.oracle.journal import fault_code
from harness.oracle.records import FaultKind
from harness.oracle.verdict import Outcome
from harness.oracle.verify import verify
from harness.policy.model import Backoff, RetryOn, RetryPolicy
from tests.unit.oracle.simulator import NOISE_S, SimRun, Traffic, simulate

PTT_S = 0.1
POLICY = RetryPolicy(
    system="inline",
    max_retries=2,
    retry_on=RetryOn(statuses=frozenset({503}), per_try_timeout=True),
    backoff=Backoff(base_s=0.01, multiplier=2),
    per_try_timeout_s=PTT_S,
)
PROFILE = FaultProfile(failure_rate=0.2, failure_status={503: 1.0}, hang_rate=0.2, hang_s=2.0)


def _hold(run: SimRun, share: float, extra_s: float, seed: int) -> SimRun:
    """``share`` of the hung attempts ends ``extra_s`` later (the backend noticed late)."""
    a = run.attempts
    hung = np.flatnonzero(a.fault == fault_code(FaultKind.HANG))
    rng = np.random.default_rng(seed)
    pick = hung[rng.random(hung.size) < share]
    end = a.end_us.copy()
    end[pick] += int(extra_s * 1e6)
    return replace(run, attempts=replace(a, end_us=end))


def _outcome(run: SimRun) -> Outcome:
    v = verify(
        POLICY, PROFILE, run.attempts, run.clients, epsilon_s=0.002, checks=["per_try_timeout"]
    )
    return v.checks[0].outcome


def test_a_few_late_hangs_do_not_fail_a_correct_sut() -> None:
    for seed in range(5):
        run = simulate(POLICY, PROFILE, Traffic(n_requests=800), seed=seed, noise_s=NOISE_S)
        assert _outcome(_hold(run, 0.2, 0.3, seed)) is not Outcome.FAIL


def test_a_sut_that_ignores_its_per_try_timeout_fails() -> None:
    run = simulate(POLICY, PROFILE, Traffic(n_requests=800), seed=1, noise_s=NOISE_S)
    assert _outcome(_hold(run, 1.0, 1.0, 1)) is Outcome.FAIL
