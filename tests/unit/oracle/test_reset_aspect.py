"""Resets are an aspect of their own (``Aspect.RESETS``): an HTTPRoute declares resets retried,
Envoy Gateway does not retry a reset after the request was sent, so the httproute adapter marks
resets alone as not judged. Reset attempts are then left out one by one; statuses are judged.

The simulated SUT here is what Envoy Gateway does with an HTTPRoute retry: 503 retried, resets
not. The declared policy is the route's: 503 and resets retried.
"""

from __future__ import annotations

from fake_backends.profile import FaultProfile
from harness.adapters import httproute
from harness.oracle.verdict import Outcome, Verdict
from harness.oracle.verify import verify
from harness.policy.model import Aspect, Backoff, RetryOn, RetryPolicy, Unmodelled
from tests.unit.adapters._gateway_files import load_text
from tests.unit.adapters.test_httproute import route
from tests.unit.oracle.simulator import EPSILON_S, NOISE_S, Defect, Traffic, simulate

WHOLE_REQUEST = {"success_rate", "attempt_distribution", "client_agreement"}
PROFILE = FaultProfile(failure_rate=0.3, failure_status={503: 1.0}, reset_rate=0.1)
TRAFFIC = Traffic(n_requests=1500)
DECLARED = RetryPolicy(
    system="httproute",
    max_retries=2,
    retry_on=RetryOn(statuses=frozenset({503}), connect_failure=True, reset=True),
    backoff=Backoff(base_s=0.0, multiplier=1.0),
)
REAL = DECLARED.model_copy(update={"retry_on": RetryOn(statuses=frozenset({503}))})


def _route_not_judged() -> tuple[Unmodelled, ...]:
    """The not-judged entries the httproute adapter gives a route with codes and attempts."""
    text = route({"retry": {"attempts": 2, "codes": [503], "backoff": "10ms"}})
    entries = load_text(httproute.load, text).policy.not_judged
    assert [u.aspects for u in entries] == [frozenset({Aspect.RESETS})]
    return entries


def _verify(declared: RetryPolicy, *, defect: Defect = Defect.NONE, seed: int = 4) -> Verdict:
    run = simulate(REAL, PROFILE, TRAFFIC, seed=seed, noise_s=NOISE_S, defect=defect)
    return verify(declared, PROFILE, run.attempts, run.clients, epsilon_s=EPSILON_S)


def _check(v: Verdict, name: str):  # type: ignore[no-untyped-def]
    return next(c for c in v.checks if c.name == name)


def test_without_the_reset_aspect_the_unretried_resets_fail() -> None:
    """The control: judged against the route's policy, Envoy Gateway's behaviour is a FAIL."""
    v = _verify(DECLARED)
    assert _check(v, "retry_when_due").outcome is Outcome.FAIL
    assert v.outcome is Outcome.FAIL


def test_resets_not_judged_statuses_still_judged() -> None:
    v = _verify(DECLARED.model_copy(update={"not_judged": _route_not_judged()}))
    due = _check(v, "retry_when_due")
    assert due.outcome is Outcome.PASS, due.summary
    assert due.judged and due.judged > 100  # the 503s
    assert any(
        line.startswith("not judged: ") and "reset attempts" in line and "Envoy Gateway" in line
        for line in due.evidence
    ), due.evidence
    for name in ("stop_on_success", "attempts_bound", "fault_audit"):
        assert _check(v, name).outcome is Outcome.PASS, name
    for name in WHOLE_REQUEST:
        c = _check(v, name)
        assert c.outcome is Outcome.NOT_JUDGED, (name, c.summary)
        assert c.data["aspects"] == ["resets"]
    assert v.outcome is Outcome.INCONCLUSIVE  # what was not judged is never a pass


def test_a_status_retry_too_few_is_still_caught() -> None:
    v = _verify(
        DECLARED.model_copy(update={"not_judged": _route_not_judged()}), defect=Defect.TOO_FEW
    )
    assert _check(v, "retry_when_due").outcome is Outcome.FAIL
    assert v.outcome is Outcome.FAIL


def test_a_non_retryable_status_retried_is_still_caught() -> None:
    """Resets are left out of non_retryable_status; a 500 retried against the codes is not."""
    profile = FaultProfile(failure_rate=0.3, failure_status={503: 0.5, 500: 0.5}, reset_rate=0.1)
    declared = DECLARED.model_copy(update={"not_judged": _route_not_judged()})
    run = simulate(
        REAL, profile, TRAFFIC, seed=5, noise_s=NOISE_S, defect=Defect.RETRY_NON_RETRYABLE_STATUS
    )
    v = verify(declared, profile, run.attempts, run.clients, epsilon_s=EPSILON_S)
    c = _check(v, "non_retryable_status")
    assert c.outcome is Outcome.FAIL, c.summary
    assert not any("reset" in line for line in c.evidence if line.startswith("retried anyway"))


def test_a_run_without_resets_judges_everything() -> None:
    """No reset injected, none journaled, no replica down: the reset aspect cannot matter."""
    profile = FaultProfile(failure_rate=0.3, failure_status={503: 1.0})
    run = simulate(REAL, profile, TRAFFIC, seed=6, noise_s=NOISE_S)
    declared = DECLARED.model_copy(update={"not_judged": _route_not_judged()})
    v = verify(declared, profile, run.attempts, run.clients, epsilon_s=EPSILON_S)
    assert not [c.name for c in v.checks if c.outcome is Outcome.NOT_JUDGED]
    assert v.outcome is Outcome.PASS, [(c.name, c.outcome, c.summary) for c in v.checks]


def test_the_planner_plans_no_samples_for_a_check_not_judged_as_a_whole() -> None:
    from harness.oracle.planner import plan

    declared = DECLARED.model_copy(update={"not_judged": _route_not_judged()})
    with_resets = plan(declared, PROFILE).checks
    assert "success_rate" not in with_resets and "attempt_distribution" not in with_resets
    assert "fault_audit" in with_resets
    # a profile without resets: the reset aspect cannot matter, everything is planned
    no_resets = FaultProfile(failure_rate=0.3, failure_status={503: 1.0})
    assert {"success_rate", "attempt_distribution"} <= set(plan(declared, no_resets).checks)
    assert {"success_rate", "attempt_distribution"} <= set(plan(DECLARED, PROFILE).checks)
