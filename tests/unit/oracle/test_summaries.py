"""Check summaries state how many were judged exactly once, with the right unit."""

from __future__ import annotations

from harness.oracle.verdict import Outcome
from harness.oracle.verify import verify
from tests.unit.oracle.simulator import EPSILON_S, NGINX, NOISE_S, SETUPS, Defect, simulate


def test_every_summary_says_judged_at_most_once() -> None:
    s = SETUPS["urllib3"]  # honours Retry-After: backoff_window and retry_after both judge delays
    run = simulate(s.policy, s.profile, s.traffic, seed=7, noise_s=NOISE_S)
    v = verify(s.policy, s.profile, run.attempts, run.clients, epsilon_s=EPSILON_S)
    judged = [c for c in v.checks if "judged" in c.summary]
    assert {"retry_after", "backoff_window", "client_agreement"} <= {c.name for c in judged}
    for c in judged:
        assert c.summary.count("judged") == 1, c.summary
    ra = next(c for c in v.checks if c.name == "retry_after")
    assert ra.outcome is Outcome.PASS and ra.summary.endswith(" delays judged)"), ra.summary


def test_failed_delay_check_counts_requests_and_delays_apart() -> None:
    s = SETUPS["urllib3"]
    run = simulate(
        s.policy, s.profile, s.traffic, seed=7, noise_s=NOISE_S, defect=Defect.IGNORE_RETRY_AFTER
    )
    v = verify(s.policy, s.profile, run.attempts, run.clients, epsilon_s=EPSILON_S)
    ra = next(c for c in v.checks if c.name == "retry_after")
    assert ra.outcome is Outcome.FAIL
    assert ra.summary.count("judged") == 1 and "delays judged)" in ra.summary, ra.summary


def test_rejected_statistical_check_does_not_claim_a_fit() -> None:
    """nginx to one server: no retry ever, so the success rate is far below the model's."""
    s = NGINX
    run = simulate(s.policy, s.profile, s.traffic, seed=8, noise_s=NOISE_S, n_replicas=2, peers=1)
    v = verify(s.policy, s.profile, run.attempts, run.clients, epsilon_s=EPSILON_S, replicas=2)
    sr = next(c for c in v.checks if c.name == "success_rate")
    assert sr.outcome is Outcome.FAIL and sr.summary.startswith("rejected"), sr.summary
    assert "fit" not in sr.summary and "vs the model's" in sr.summary
