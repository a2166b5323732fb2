"""An attempt the SUT abandoned at its per-try timeout, whose answer left the backend later (a
slow backend or a late connect on a loaded machine), is not held against a correct SUT: the
SUT retried on its timeout, not on the journaled 200 or 503, and the delay began at an instant
the backends never saw (found in a seed sweep: a correct proxy with a 300 ms per-try timeout
failed stop_on_success and "retried before its window opened" by -35 ms)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from fake_backends.profile import FaultProfile
from harness.oracle.traces import build_traces
from harness.oracle.verdict import Outcome
from harness.oracle.verify import verify
from harness.policy.model import Backoff, JitterModel, RetryOn, RetryPolicy
from tests.unit.oracle.simulator import NOISE_S, SimRun, Traffic, simulate

PTT_S = 0.05
POLICY = RetryPolicy(
    system="inline",
    max_retries=2,
    retry_on=RetryOn(statuses=frozenset({503}), per_try_timeout=True),
    backoff=Backoff(base_s=0.025, multiplier=2, cap_s=0.25, jitter=JitterModel.FULL),
    per_try_timeout_s=PTT_S,
)
PROFILE = FaultProfile(failure_rate=0.4, failure_status={503: 1.0})
CHECKS = ["stop_on_success", "backoff_window", "jitter_distribution", "non_retryable_status"]


def _late_answers(run: SimRun, *, after_timeout: bool) -> tuple[SimRun, int]:
    """The first attempt of some retried requests answers 200 late: after the retry arrived
    and (``after_timeout``) after the per-try timeout could have fired."""
    a = run.attempts
    t = build_traces(a)
    ta = t.attempts
    retried = np.flatnonzero(t.length >= 2)[::5]
    first = t.start[retried]
    end = ta.end_us.copy()
    status = ta.status.copy()
    start = run.clients.start_us[
        [run.clients.request_ids.index(ta.request_ids[int(ta.rid[r])]) for r in first]
    ]
    late = ta.arrival_us[first + 1] + 5_000
    if after_timeout:
        late = np.maximum(late, start + int(PTT_S * 1e6) + 1_000)
    end[first] = late
    status[first] = 200
    return replace(run, attempts=replace(ta, end_us=end, status=status)), int(retried.size)


def _verdict(run: SimRun, policy: RetryPolicy = POLICY) -> dict[str, str]:
    v = verify(policy, PROFILE, run.attempts, run.clients, epsilon_s=0.001, checks=CHECKS)
    return {c.name: c.outcome for c in v.checks}


def test_answers_after_the_timeout_do_not_fail_a_correct_sut() -> None:
    run = simulate(POLICY, PROFILE, Traffic(n_requests=1500), seed=3, noise_s=NOISE_S)
    moved, n = _late_answers(run, after_timeout=True)
    assert n > 20
    out = _verdict(moved)
    assert out["stop_on_success"] is Outcome.PASS
    assert out["backoff_window"] is not Outcome.FAIL
    assert out["jitter_distribution"] is not Outcome.FAIL


def test_without_a_per_try_timeout_the_same_journal_fails() -> None:
    """The excuse is the policy's own timeout: a policy without one gets none."""
    run = simulate(POLICY, PROFILE, Traffic(n_requests=1500), seed=3, noise_s=NOISE_S)
    moved, _ = _late_answers(run, after_timeout=True)
    no_timeout = POLICY.model_copy(update={"per_try_timeout_s": None})
    assert _verdict(moved, no_timeout)["stop_on_success"] is Outcome.FAIL


def test_a_retry_after_a_200_before_the_timeout_could_fire_still_fails() -> None:
    run = simulate(POLICY, PROFILE, Traffic(n_requests=1500), seed=3, noise_s=NOISE_S)
    a = run.attempts
    t = build_traces(a)
    ta = t.attempts
    # a 200 answered fast (well inside the timeout), then retried anyway: a real violation
    retried = np.flatnonzero(t.length >= 2)[:3]
    first = t.start[retried]
    status = ta.status.copy()
    status[first] = 200
    end = ta.end_us.copy()
    end[first] = ta.arrival_us[first] + 1_000
    moved = replace(run, attempts=replace(ta, status=status, end_us=end))
    assert _verdict(moved)["stop_on_success"] is Outcome.FAIL
