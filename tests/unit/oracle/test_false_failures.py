"""A conformant SUT is not failed: the measured false-failure rate over many seeds vs α.

Each set-up runs 200 seeds (the budgeted one, simulated by a slower event loop, on smaller
traffic). Invariants must never fail a correct SUT (a failure there is an oracle bug); the
statistical checks may, at most at the family-wise α = 0.001 per run, so over 200 runs we allow
no more failing runs than a binomial(200, α) exceeds with probability below 1e-4 (that is 2),
and record the measured rate next to α.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from scipy import stats

from harness.oracle.verdict import CheckKind, Outcome
from harness.oracle.verify import verify
from tests.unit.oracle.simulator import EPSILON_S, NOISE_S, SETUPS, Traffic, simulate

ALPHA = 0.001
SEEDS = 200
SIZES = {"envoy": 1500, "kuberay": 800, "kuberay_tight": 600, "urllib3": 1200, "budgeted": 500}


@pytest.mark.statistical
@pytest.mark.parametrize("setup_name", list(SIZES))
def test_correct_sut_false_failure_rate(
    setup_name: str, record_property: Callable[[str, object], None]
) -> None:
    s = SETUPS[setup_name]
    traffic = Traffic(
        n_requests=SIZES[setup_name], rate_per_s=s.traffic.rate_per_s, methods=s.traffic.methods
    )
    failed_runs = 0
    failed_checks: Counter[str] = Counter()
    invariant_failures: list[str] = []
    for seed in range(SEEDS):
        run = simulate(s.policy, s.profile, traffic, seed=1000 + seed, noise_s=NOISE_S)
        v = verify(s.policy, s.profile, run.attempts, run.clients, alpha=ALPHA, epsilon_s=EPSILON_S)
        if v.outcome is Outcome.FAIL:
            failed_runs += 1
        for c in v.checks:
            if c.outcome is Outcome.FAIL:
                failed_checks[c.name] += 1
                if c.kind is CheckKind.INVARIANT:
                    invariant_failures.append(f"seed {1000 + seed} {c.name}: {c.summary}")
    rate = failed_runs / SEEDS
    allowed = int(stats.binom.isf(1e-4, SEEDS, ALPHA))
    record_property("false_failure_rate", rate)
    record_property("alpha", ALPHA)
    record_property("seeds", SEEDS)
    print(
        f"{setup_name}: false-failure rate {rate:.4f} ({failed_runs}/{SEEDS}) vs alpha {ALPHA}; "
        f"by check {dict(failed_checks)}"
    )
    assert not invariant_failures, invariant_failures[:3]
    assert failed_runs <= allowed, dict(failed_checks)
