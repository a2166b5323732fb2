"""Every defective SUT is caught by the check meant for it, at the planned sample size."""

from __future__ import annotations

import pytest

from harness.oracle.planner import DetectionGoals, Deviations, plan
from harness.oracle.verdict import Outcome
from harness.oracle.verify import verify
from tests.unit.oracle.simulator import (
    EPSILON_S,
    NOISE_S,
    SETUPS,
    Defect,
    Traffic,
    simulate,
    traffic_groups,
)

# power 0.999 so a fixed seed that misses would be a 1-in-1000 event, not a coin flip
GOALS = DetectionGoals(detect=Deviations(success_rate_drop=None), power=0.999)

CASES: list[tuple[Defect, str, str]] = [
    (Defect.EXTRA_RETRY, "envoy", "attempts_bound"),
    (Defect.EXTRA_RETRY, "urllib3", "attempt_distribution"),
    (Defect.TOO_FEW, "envoy", "retry_when_due"),
    (Defect.TOO_FEW, "kuberay", "attempt_distribution"),
    (Defect.RETRY_NON_RETRYABLE_STATUS, "envoy", "non_retryable_status"),
    (Defect.RETRY_POST, "urllib3", "non_retryable_method"),
    (Defect.NO_BACKOFF, "kuberay", "backoff_window"),
    (Defect.NO_BACKOFF, "envoy", "jitter_distribution"),
    (Defect.HALF_BACKOFF, "envoy", "jitter_distribution"),
    (Defect.HALF_BACKOFF, "urllib3", "backoff_window"),
    (Defect.NO_CAP, "envoy", "backoff_window"),
    (Defect.NO_JITTER, "envoy", "backoff_window"),  # every delay at the top: systematically late
    (Defect.NO_JITTER, "envoy", "jitter_distribution"),  # the law's shape: two-sided
    (Defect.LINEAR, "kuberay", "backoff_window"),
    (Defect.IGNORE_DEADLINE, "kuberay_tight", "overall_deadline"),
    (Defect.IGNORE_RETRY_AFTER, "urllib3", "retry_after"),
    (Defect.IGNORE_BUDGET, "budgeted", "retry_budget"),
    (Defect.DUPLICATE_AFTER_SUCCESS, "envoy", "stop_on_success"),
]


def planned_requests(setup_name: str) -> int:
    """The one planner's request count for the set-up's load (every group by its share)."""
    s = SETUPS[setup_name]
    p = plan(s.policy, s.profile, traffic_groups(s.traffic), GOALS, epsilon_s=EPSILON_S)
    return max(300, p.requests)


@pytest.mark.parametrize(("defect", "setup_name", "check"), CASES, ids=lambda v: str(v))
def test_defect_is_caught_by_its_check(defect: Defect, setup_name: str, check: str) -> None:
    s = SETUPS[setup_name]
    n = planned_requests(setup_name)
    traffic = Traffic(n_requests=n, rate_per_s=s.traffic.rate_per_s, methods=s.traffic.methods)
    run = simulate(s.policy, s.profile, traffic, seed=11, defect=defect, noise_s=NOISE_S)
    v = verify(s.policy, s.profile, run.attempts, run.clients, epsilon_s=EPSILON_S, goals=GOALS)
    result = next(c for c in v.checks if c.name == check)
    assert result.outcome is Outcome.FAIL, result.summary
    assert v.outcome is Outcome.FAIL
    assert v.exit_code == 1
    if result.kind == "invariant":
        assert result.request_ids, "an invariant failure names its counter-examples"
        assert any(rid in line for rid in result.request_ids for line in result.evidence)


def test_correct_sut_at_the_same_sizes_is_not_failed() -> None:
    """The control for the table above: the same set-ups without defect do not fail."""
    for name, s in SETUPS.items():
        n = planned_requests(name)
        traffic = Traffic(n_requests=n, rate_per_s=s.traffic.rate_per_s, methods=s.traffic.methods)
        run = simulate(s.policy, s.profile, traffic, seed=11, noise_s=NOISE_S)
        v = verify(s.policy, s.profile, run.attempts, run.clients, epsilon_s=EPSILON_S, goals=GOALS)
        failed = [c.name for c in v.checks if c.outcome is Outcome.FAIL]
        assert not failed, (name, failed)
