"""Verdict semantics: outcome rules, N/A reasons, JSON round trip, client agreement, Holm,
fail_first_n, outages, the planner, plot data."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from fake_backends.profile import FaultProfile, Outage
from harness.errors import BadInput
from harness.oracle.planner import DetectionGoals, Deviations, binomial_n, ks_gap, plan
from harness.oracle.results import holm
from harness.oracle.verdict import Outcome, Verdict
from harness.oracle.verify import CHECK_NAMES, verify
from harness.report.json_report import verdict_json
from tests.unit.oracle.simulator import (
    EPSILON_S,
    NOISE_S,
    SETUPS,
    Defect,
    Traffic,
    simulate,
)

ENVOY = SETUPS["envoy"]
KUBERAY = SETUPS["kuberay"]


def check(v: object, name: str) -> object:
    return next(c for c in v.checks if c.name == name)  # type: ignore[attr-defined]


def test_json_round_trip_and_plot_data() -> None:
    run = simulate(ENVOY.policy, ENVOY.profile, ENVOY.traffic, seed=2, noise_s=NOISE_S)
    v = verify(ENVOY.policy, ENVOY.profile, run.attempts, run.clients, epsilon_s=EPSILON_S)
    assert [c.name for c in v.checks] == list(CHECK_NAMES)
    assert Verdict.model_validate_json(verdict_json(v)) == v  # the one verdict JSON writer
    assert v.epsilon_s == EPSILON_S and v.traces == ENVOY.traffic.n_requests
    bw = check(v, "backoff_window").data["per_index"]  # type: ignore[attr-defined]
    assert set(bw) == {"1", "2", "3"} and bw["3"]["hi_s"] == pytest.approx(0.06)
    assert len(bw["1"]["delays_s"]) <= 2000
    ad = check(v, "attempt_distribution").data  # type: ignore[attr-defined]
    assert sum(ad["observed"]) == ENVOY.traffic.n_requests
    assert sum(ad["expected"]) == pytest.approx(1.0)
    sr = check(v, "success_rate").data  # type: ignore[attr-defined]
    assert sr["ci"][0] <= sr["successes"] / sr["n"] <= sr["ci"][1]
    jd = check(v, "jitter_distribution").data["per_index"]  # type: ignore[attr-defined]
    assert jd["1"]["dist"] == "uniform" and jd["1"]["scale"] == pytest.approx(0.025)


def test_statistical_check_below_plan_is_inconclusive_never_pass() -> None:
    small = Traffic(n_requests=200)
    run = simulate(ENVOY.policy, ENVOY.profile, small, seed=3, noise_s=NOISE_S)
    v = verify(ENVOY.policy, ENVOY.profile, run.attempts, run.clients, epsilon_s=EPSILON_S)
    sr = check(v, "success_rate")
    assert sr.outcome is Outcome.INCONCLUSIVE  # type: ignore[attr-defined]
    assert sr.stat.n < sr.stat.n_planned  # type: ignore[attr-defined]
    assert v.outcome is Outcome.INCONCLUSIVE and v.exit_code == 3


def test_a_small_group_below_plan_makes_the_check_inconclusive() -> None:
    """Each (method, key) group is judged on its own: a big group cannot vouch for a small one."""
    goals = DetectionGoals(detect=Deviations(success_rate_drop=0.05))
    mixed = replace(ENVOY.traffic, methods={"GET": 0.97, "PUT": 0.03})
    for traffic, expected in (
        (replace(mixed, methods={"GET": 1.0}), Outcome.PASS),
        (mixed, Outcome.INCONCLUSIVE),
    ):
        run = simulate(ENVOY.policy, ENVOY.profile, traffic, seed=3, noise_s=NOISE_S)
        v = verify(
            ENVOY.policy, ENVOY.profile, run.attempts, run.clients, epsilon_s=EPSILON_S, goals=goals
        )
        sr = check(v, "success_rate")
        assert sr.outcome is expected, sr  # type: ignore[attr-defined]
        if expected is Outcome.INCONCLUSIVE:
            assert sr.stat.n < sr.stat.n_planned  # type: ignore[attr-defined]


def test_dropped_records_forbid_a_clean_pass() -> None:
    s = SETUPS["kuberay_tight"]
    # its deadline cuts requests short, which the statistical models do not describe (planned,
    # they are inconclusive): judge the rest
    checks = [c for c in CHECK_NAMES if c not in ("success_rate", "attempt_distribution")]
    run = simulate(s.policy, s.profile, s.traffic, seed=4, noise_s=NOISE_S)
    clean = verify(
        s.policy, s.profile, run.attempts, run.clients, epsilon_s=EPSILON_S, checks=checks
    )
    assert clean.outcome is Outcome.PASS
    v = verify(
        s.policy,
        s.profile,
        run.attempts,
        run.clients,
        epsilon_s=EPSILON_S,
        dropped=3,
        checks=checks,
    )
    assert v.outcome is Outcome.INCONCLUSIVE
    assert any("3 attempts have no journal record" in n for n in v.notes)


def test_not_applicable_checks_give_reasons_and_selection_works() -> None:
    run = simulate(ENVOY.policy, ENVOY.profile, ENVOY.traffic, seed=5, noise_s=NOISE_S)
    v = verify(
        ENVOY.policy,
        ENVOY.profile,
        run.attempts,
        None,
        epsilon_s=EPSILON_S,
        checks=["overall_deadline", "client_agreement", "retry_after"],
    )
    assert [c.name for c in v.checks] == ["overall_deadline", "client_agreement", "retry_after"]
    assert all(c.outcome is Outcome.NOT_APPLICABLE and c.summary for c in v.checks)
    with pytest.raises(BadInput, match="unknown check"):
        verify(ENVOY.policy, ENVOY.profile, run.attempts, None, epsilon_s=0.0, checks=["nope"])


def test_client_agreement_catches_a_rewritten_status_and_missing_records() -> None:
    run = simulate(KUBERAY.policy, KUBERAY.profile, KUBERAY.traffic, seed=6, noise_s=NOISE_S)
    status = run.clients.status.copy()
    status[status == 404] = 500  # SUT rewrites an upstream 404
    clients = replace(run.clients, status=status)
    v = verify(KUBERAY.policy, KUBERAY.profile, run.attempts, clients, epsilon_s=EPSILON_S)
    ca = check(v, "client_agreement")
    assert ca.outcome is Outcome.FAIL and "404->500" in " ".join(ca.evidence)  # type: ignore[attr-defined]
    n = len(run.clients) - 5
    fewer = replace(
        run.clients,
        request_ids=run.clients.request_ids[:n],
        method=run.clients.method[:n],
        status=run.clients.status[:n],
        error=run.clients.error[:n],
        start_us=run.clients.start_us[:n],
        end_us=run.clients.end_us[:n],
        idem=run.clients.idem[:n],
    )
    v2 = verify(KUBERAY.policy, KUBERAY.profile, run.attempts, fewer, epsilon_s=EPSILON_S)
    ca2 = check(v2, "client_agreement")
    assert ca2.outcome is Outcome.FAIL  # type: ignore[attr-defined]
    assert set(ca2.request_ids) == set(run.clients.request_ids[n:])  # type: ignore[attr-defined]


def test_client_sees_gateway_status_for_a_reset_is_a_documented_mapping() -> None:
    run = simulate(ENVOY.policy, ENVOY.profile, ENVOY.traffic, seed=7, noise_s=NOISE_S)
    v = verify(ENVOY.policy, ENVOY.profile, run.attempts, run.clients, epsilon_s=EPSILON_S)
    ca = check(v, "client_agreement")
    assert ca.outcome is Outcome.PASS  # type: ignore[attr-defined]
    assert "none->502" in " ".join(ca.evidence)  # type: ignore[attr-defined]


def test_fail_first_n_is_an_exact_expectation() -> None:
    profile = FaultProfile(fail_first_n=2, failure_rate=0.0)
    traffic = Traffic(n_requests=300)
    ok = simulate(KUBERAY.policy, profile, traffic, seed=8, noise_s=NOISE_S)
    v = verify(KUBERAY.policy, profile, ok.attempts, ok.clients, epsilon_s=EPSILON_S)
    assert v.outcome is not Outcome.FAIL
    assert (ok.attempts.attempt.max(), check(v, "success_rate").data["expected_p"]) == (2, 1.0)  # type: ignore[attr-defined]
    # a SUT with one retry only: with fail_first_n=2 every request fails, and the count is off
    policy = KUBERAY.policy.model_copy(update={"max_retries": 2})
    bad = simulate(policy, profile, traffic, seed=8, defect=Defect.TOO_FEW, noise_s=NOISE_S)
    v2 = verify(policy, profile, bad.attempts, bad.clients, epsilon_s=EPSILON_S)
    ad = check(v2, "attempt_distribution")
    assert ad.outcome is Outcome.FAIL and ad.request_ids  # type: ignore[attr-defined]


def test_outage_traces_are_left_out_of_statistics() -> None:
    profile = ENVOY.profile.model_copy(
        update={"outage": Outage(duration_s=0.5, period_s=3.0, status=503)}
    )
    run = simulate(ENVOY.policy, profile, ENVOY.traffic, seed=9, noise_s=NOISE_S)
    v = verify(ENVOY.policy, profile, run.attempts, run.clients, epsilon_s=EPSILON_S)
    assert v.outcome is not Outcome.FAIL, [c.summary for c in v.checks if c.outcome == "fail"]
    assert any("outage window" in n for n in v.notes)
    assert check(v, "success_rate").stat.n < ENVOY.traffic.n_requests  # type: ignore[attr-defined]


def test_holm_step_down() -> None:
    rejected, levels = holm([0.01, 0.04, 0.03, 0.005], 0.05)
    assert levels == pytest.approx([0.05 / 3, 0.05, 0.05 / 2, 0.05 / 4])
    assert rejected == [True, False, False, True]
    assert holm([], 0.05) == ([], [])


def test_planner_closed_forms() -> None:
    from scipy import stats

    # uniform law, delays 20% short, no band: the largest one-sided CDF gap is 0.2
    assert ks_gap(stats.uniform(0, 1), 0.2, 0.0) == pytest.approx(0.2, abs=1e-3)
    assert ks_gap(stats.uniform(0, 1), 0.2, 0.1) < 0.2
    # binomial: simulated power of the exact test at the planned n is at least the goal
    n = binomial_n(0.9, 0.85, 0.001, 0.9)
    rng = np.random.default_rng(0)
    k = rng.binomial(n, 0.85, size=400)
    power = np.mean([stats.binomtest(int(x), n, 0.9).pvalue <= 0.001 for x in k])
    assert power >= 0.85
    p = plan(ENVOY.policy, ENVOY.profile, None, DetectionGoals(), epsilon_s=EPSILON_S)
    assert set(p.checks) == {
        "success_rate",
        "attempt_distribution",
        "jitter_distribution",
        "backoff_window",
        "fault_audit",
    }
    assert p.requests == max(c.requests for c in p.checks.values())
    assert (
        plan(SETUPS["kuberay"].policy, SETUPS["kuberay"].profile).checks.get("jitter_distribution")
        is None
    )


def test_empty_journal_is_inconclusive() -> None:
    from harness.oracle.journal import load_attempts

    v = verify(ENVOY.policy, ENVOY.profile, load_attempts([]), None, epsilon_s=EPSILON_S)
    assert v.outcome is Outcome.INCONCLUSIVE and v.traces == 0


def test_with_no_delay_goal_the_jitter_check_is_decided_by_its_tests() -> None:
    """``delay_shortfall: null`` plans no jitter sample: the KS tests that ran decide (the check
    was 'inconclusive: n=0 below the planned 0' on every correct Traefik run); with a goal, an
    under-sized index stays inconclusive."""
    run = simulate(ENVOY.policy, ENVOY.profile, ENVOY.traffic, seed=5, noise_s=NOISE_S)

    def jitter(goals: DetectionGoals) -> Outcome:
        v = verify(
            ENVOY.policy, ENVOY.profile, run.attempts, run.clients, epsilon_s=EPSILON_S, goals=goals
        )
        return check(v, "jitter_distribution").outcome  # type: ignore[attr-defined,no-any-return]

    no_goal = DetectionGoals(detect=Deviations(delay_shortfall=None, success_rate_drop=None))
    assert jitter(no_goal) is Outcome.PASS
    huge_goal = DetectionGoals(detect=Deviations(delay_shortfall=0.001, success_rate_drop=None))
    assert jitter(huge_goal) is Outcome.INCONCLUSIVE
