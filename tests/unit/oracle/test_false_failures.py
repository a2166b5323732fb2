"""A conformant SUT is not failed, and is judged: the false-failure rate over many seeds vs α.

Each set-up runs 200 seeds at its planned size (``SamplePlan.requests_to_conclude``: every
planned sample count reached with probability 0.999 each), so the runs are conclusive and a
pass means something. Invariants must never fail a correct SUT (a failure there is an oracle
bug); the statistical checks may, at most at the family-wise α = 0.001 per run, so over 200 runs
we allow no more failing runs than a binomial(200, α) exceeds with probability below 1e-4 (that
is 2), and record the measured rate next to α. Inconclusive runs are bounded the same way, by
the planner's own miss rate (``CONCLUDE_MISS`` per planned count, all counts of the run summed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from scipy import stats

from harness.oracle.planner import CONCLUDE_MISS, DetectionGoals, plan
from harness.oracle.verdict import CheckKind, Outcome
from harness.oracle.verify import verify
from tests.unit.oracle.simulator import (
    EPSILON_S,
    NOISE_S,
    SETUPS,
    Traffic,
    simulate,
    traffic_groups,
)

ALPHA = 0.001
SEEDS = 200


@pytest.mark.statistical
@pytest.mark.parametrize("setup_name", list(SETUPS))
def test_correct_sut_false_failure_rate(
    setup_name: str, record_property: Callable[[str, object], None]
) -> None:
    s = SETUPS[setup_name]
    planned = plan(
        s.policy,
        s.profile,
        traffic_groups(s.traffic),
        DetectionGoals(alpha=ALPHA),
        epsilon_s=EPSILON_S,
    )
    size = planned.requests_to_conclude()
    counts = sum(len(per_check) for per_check in planned.groups.values())
    traffic = Traffic(n_requests=size, rate_per_s=s.traffic.rate_per_s, methods=s.traffic.methods)
    failed_runs = inconclusive_runs = 0
    inconclusive_checks: Counter[str] = Counter()
    failed_checks: Counter[str] = Counter()
    invariant_failures: list[str] = []
    for seed in range(SEEDS):
        run = simulate(s.policy, s.profile, traffic, seed=1000 + seed, noise_s=NOISE_S)
        v = verify(s.policy, s.profile, run.attempts, run.clients, alpha=ALPHA, epsilon_s=EPSILON_S)
        if v.outcome is Outcome.FAIL:
            failed_runs += 1
        elif v.outcome is Outcome.INCONCLUSIVE:
            inconclusive_runs += 1
        for c in v.checks:
            if c.outcome is Outcome.INCONCLUSIVE:
                inconclusive_checks[c.name] += 1
            if c.outcome is Outcome.FAIL:
                failed_checks[c.name] += 1
                if c.kind is CheckKind.INVARIANT:
                    invariant_failures.append(f"seed {1000 + seed} {c.name}: {c.summary}")
    rate = failed_runs / SEEDS
    allowed = int(stats.binom.isf(1e-4, SEEDS, ALPHA))
    allowed_inconclusive = int(stats.binom.isf(1e-4, SEEDS, min(1.0, counts * CONCLUDE_MISS)))
    record_property("false_failure_rate", rate)
    record_property("inconclusive_rate", inconclusive_runs / SEEDS)
    record_property("alpha", ALPHA)
    record_property("seeds", SEEDS)
    record_property("requests", size)
    print(
        f"{setup_name} at {size} requests (planned mean {planned.requests}): false-failure rate "
        f"{rate:.4f} ({failed_runs}/{SEEDS}) vs alpha {ALPHA}, by check {dict(failed_checks)}; "
        f"inconclusive {inconclusive_runs}/{SEEDS}, by check {dict(inconclusive_checks)}"
    )
    assert not invariant_failures, invariant_failures[:3]
    assert failed_runs <= allowed, dict(failed_checks)
    assert inconclusive_runs <= allowed_inconclusive, dict(inconclusive_checks)
