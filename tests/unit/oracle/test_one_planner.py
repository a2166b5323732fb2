"""One group-aware planner (issue 8.4) and detection goals modelled once (issue 9.1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fake_backends.profile import FaultProfile
from harness.cli import main
from harness.oracle import planner
from harness.oracle import verify as verify_module
from harness.oracle.planner import DetectionGoals, Deviations, RequestGroup, plan
from harness.oracle.verdict import Outcome
from harness.oracle.verify import verify
from harness.policy.model import MethodRule, RetryOn, RetryPolicy
from harness.scenario import ChecksSpec, scenario_json_schema
from tests.unit.oracle.simulator import (
    ENVOY,
    EPSILON_S,
    NOISE_S,
    SETUPS,
    Traffic,
    simulate,
    traffic_groups,
)

GET_ONLY = RetryPolicy(
    system="inline",
    max_retries=3,
    retry_on=RetryOn(statuses=frozenset({503})),
    methods=MethodRule(retryable=frozenset({"GET"})),
)
P30 = FaultProfile(failure_rate=0.3, failure_status={503: 1.0})
LOAD = [RequestGroup("GET", "/", False, 0.8), RequestGroup("POST", "/", False, 0.2)]


def test_each_group_is_judged_against_its_own_plan() -> None:
    """GET-only retries, 30 % 503, GET 0.8 / POST 0.2: POST needs its own n, not GET's."""
    p = plan(GET_ONLY, P30, LOAD)
    n_get = p.n_for("success_rate", "default GET")
    n_post = p.n_for("success_rate", "default POST")
    assert n_post > n_get  # POST succeeds 70 %: its binomial needs more
    assert p.checks["success_rate"].requests >= n_post / 0.2
    # a run big enough for GET but not for POST is inconclusive, naming POST
    n = int(n_post / 0.2 * 0.6)
    traffic = Traffic(n_requests=n, methods={"GET": 0.8, "POST": 0.2})
    run = simulate(GET_ONLY, P30, traffic, seed=1, noise_s=NOISE_S)
    v = verify(GET_ONLY, P30, run.attempts, run.clients, epsilon_s=EPSILON_S)
    sr = next(c for c in v.checks if c.name == "success_rate")
    assert sr.outcome is Outcome.INCONCLUSIVE, sr.summary
    assert "below plan: default POST n=" in sr.summary and "default GET n=" not in sr.summary
    assert sr.stat is not None and sr.stat.n_planned == n_post


def test_jitter_is_planned_over_every_retry_index() -> None:
    p = plan(ENVOY.policy, ENVOY.profile)
    jp = p.plan_for("jitter_distribution")
    assert jp is not None
    per = jp.extra["per_index"]
    assert set(per) == {"1", "2", "3"}
    assert jp.requests == min(v["requests"] for v in per.values())


def test_a_group_that_cannot_succeed_asks_for_no_sample() -> None:
    """fail_first_n with a status the policy does not retry: success 0, nothing can drop."""
    doomed = FaultProfile(fail_first_n=1, fail_first_n_status=500)
    p = plan(GET_ONLY, doomed, [RequestGroup("GET")])
    sr = p.plan_for("success_rate", "default GET")
    assert sr is not None and sr.n == 0 and "success 0.0000" in sr.detail
    assert p.requests < 1000


def test_the_plan_of_a_run_does_not_depend_on_the_seed() -> None:
    """No "dominant" group: verify plans every group it sees, whichever is most common."""
    plans = []
    for seed in (1, 2, 3):
        traffic = Traffic(n_requests=300, methods={"GET": 0.5, "POST": 0.5})
        run = simulate(GET_ONLY, P30, traffic, seed=seed, noise_s=NOISE_S)
        v = verify(GET_ONLY, P30, run.attempts, run.clients, epsilon_s=EPSILON_S)
        sr = next(c for c in v.checks if c.name == "success_rate")
        plans.append(sr.stat.n_planned if sr.stat else None)
    assert len(set(plans)) == 1


def test_detection_goals_are_modelled_once() -> None:
    assert verify_module.DEFAULT_ALPHA is planner.DEFAULT_ALPHA
    assert issubclass(ChecksSpec, DetectionGoals)
    spec = ChecksSpec.model_validate({"detect": {"success_rate_drop": 1}})
    assert spec.goals.detect == Deviations(success_rate_drop=1)
    schema = scenario_json_schema()
    text = str(schema)
    assert "Family-wise false-failure rate of the run" in text
    assert "False-alarm rate per check" not in text


def test_success_rate_drop_of_one_plans_without_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shipped = Path(__file__).resolve().parents[3] / "scenarios" / "configs" / "haproxy.cfg"
    f = tmp_path / "s.yaml"
    f.write_text(
        "name: drop-one\n"
        "backends: {profile: {failure_rate: 0.3}}\n"
        f"sut: {{kind: haproxy, config: {shipped}}}\n"
        "policy: {source: {system: haproxy}}\n"
        "load: {requests: 100}\n"
        "checks: {detect: {success_rate_drop: 1}}\n"
    )
    assert main(["plan", str(f)]) == 0
    assert "needs" in capsys.readouterr().out


def test_a_minimal_scenario_is_sized_by_the_plan(tmp_path: Path) -> None:
    """No checks: section and no load size: the defaults plan a conclusive run of a
    reasonable size, and the run sends what the plan needs."""
    from harness.run import declared_policy, sample_plan, sized_by_plan
    from harness.scenario import load_scenario

    shipped = Path(__file__).resolve().parents[3] / "scenarios" / "configs" / "haproxy.cfg"
    f = tmp_path / "s.yaml"
    f.write_text(
        "name: minimal\n"
        "backends: {profile: {failure_rate: 0.3}}\n"
        f"sut: {{kind: haproxy, config: {shipped}}}\n"
        "policy: {source: {system: haproxy}}\n"
        "load: {}\n"
    )
    scenario = load_scenario(f)
    planned = sample_plan(scenario, declared_policy(scenario).policy)
    assert 0 < planned.requests <= 2000
    sized = sized_by_plan(scenario, planned)
    assert sized.load.requests == planned.requests_to_conclude() >= planned.requests
    assert sized.load.time_cap_s > 0 and sized.source_file == scenario.source_file


def test_the_size_to_conclude_reaches_every_group_s_plan_not_just_on_average() -> None:
    """Two groups of 50 % each needing n: at the mean size (2n) both can never reach n, so the
    run is inconclusive; at ``requests_to_conclude`` every seed is conclusive."""
    s = SETUPS["kuberay"]  # GET 0.5, POST 0.5: success_rate is sized on each group alone
    p = plan(s.policy, s.profile, traffic_groups(s.traffic), DetectionGoals(alpha=0.001))
    conclude = p.requests_to_conclude()
    assert p.requests < conclude < 1.2 * p.requests

    def outcome(n: int, seed: int) -> Outcome:
        run = simulate(
            s.policy, s.profile, Traffic(n, methods=s.traffic.methods), seed=seed, noise_s=NOISE_S
        )
        return verify(
            s.policy, s.profile, run.attempts, run.clients, alpha=0.001, epsilon_s=EPSILON_S
        ).outcome

    assert outcome(p.requests, 7) is Outcome.INCONCLUSIVE
    assert all(outcome(conclude, seed) is Outcome.PASS for seed in range(20))
