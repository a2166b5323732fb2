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
from harness.oracle.verdict import CheckResult, Outcome
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


# -- one rule for "the SUT's timer may have fired before it read this answer" (review3 §1) --

ONE_TRY = RetryPolicy(
    system="inline",
    max_retries=0,
    retry_on=RetryOn(statuses=frozenset({503}), per_try_timeout=True),
    backoff=Backoff(base_s=0.0),
    per_try_timeout_s=PTT_S,
)
SLACK_S = 0.03


def _one_try_cut(
    arrive_ms: float, end_ms: float, slack_s: float = SLACK_S
) -> dict[str, CheckResult]:
    """Five requests of a ``max_retries: 0`` policy whose only attempt arrived ``arrive_ms``
    after the client's send and answered 200 at ``end_ms``; the client got the SUT's 504 at
    52 ms (its 50 ms per-try timeout fired)."""
    run = simulate(ONE_TRY, FaultProfile(), Traffic(n_requests=300), seed=1, noise_s=NOISE_S)
    a, c = run.attempts, run.clients
    arr, end, st = a.arrival_us.copy(), a.end_us.copy(), a.status.copy()
    cst, cend = c.status.copy(), c.end_us.copy()
    for k in range(5):
        ci = c.request_ids.index(a.request_ids[int(a.rid[k])])
        s = c.start_us[ci]
        arr[k], end[k], st[k] = s + arrive_ms * 1e3, s + end_ms * 1e3, 200
        cst[ci], cend[ci] = 504, s + 52_000
    v = verify(
        ONE_TRY,
        FaultProfile(),
        replace(a, arrival_us=arr, end_us=end, status=st),
        replace(c, status=cst, end_us=cend),
        epsilon_s=0.001,
        lateness_slack_s=slack_s,
        checks=["client_agreement", "stop_on_success"],
    )
    return {r.name: r for r in v.checks}


def test_client_agreement_excuses_what_stop_on_success_excuses() -> None:
    """The request reached the backend 15 ms after the client sent it (a late connect under
    load) and the 200 left 40 ms later, 55 ms after the send: the SUT's 50 ms timer, started
    no earlier than the client's send, fired first, and its 504 is the timeout's answer
    (client_agreement used a tighter rule, the attempt's own 40 ms, and FAILed)."""
    out = _one_try_cut(15, 55)
    assert out["client_agreement"].outcome is Outcome.PASS, out["client_agreement"]
    assert out["stop_on_success"].outcome is Outcome.PASS


def test_a_fast_200_turned_into_a_504_still_fails_client_agreement() -> None:
    """A 200 that left 10 ms after the send (40 ms before the timer, more than the slack):
    the SUT had it, and its 504 is a mismatch."""
    out = _one_try_cut(2, 10)
    assert out["client_agreement"].outcome is Outcome.FAIL, out["client_agreement"]


def _read_late(end_ms: float, slack_s: float = SLACK_S) -> CheckResult:
    """A retried request whose first attempt answered 200 ``end_ms`` after the client's send,
    and whose retry came at 56 ms (after the 50 ms per-try timer)."""
    policy = ONE_TRY.model_copy(update={"max_retries": 1})
    profile = FaultProfile(failure_rate=0.5, failure_status={503: 1.0})
    run = simulate(policy, profile, Traffic(n_requests=400), seed=2, noise_s=NOISE_S)
    t = build_traces(run.attempts)
    ta, c = t.attempts, run.clients
    arr, end, st = ta.arrival_us.copy(), ta.end_us.copy(), ta.status.copy()
    cend = c.end_us.copy()
    cst = c.status.copy()
    for tr in np.flatnonzero(t.length == 2)[:5]:
        f = t.start[tr]
        ci = c.request_ids.index(ta.request_ids[int(ta.rid[f])])
        s = c.start_us[ci]
        arr[f], end[f], st[f] = s + 2_000, s + end_ms * 1e3, 200
        arr[f + 1], end[f + 1], st[f + 1] = s + 56_000, s + 57_000, 200
        cst[ci], cend[ci] = 200, s + 58_000
    v = verify(
        policy,
        profile,
        replace(ta, arrival_us=arr, end_us=end, status=st),
        replace(c, status=cst, end_us=cend),
        epsilon_s=0.001,
        lateness_slack_s=slack_s,
        checks=["stop_on_success", "client_agreement"],
    )
    return {r.name: r for r in v.checks}["stop_on_success"]


def test_an_answer_read_late_after_the_timer_fired_is_not_a_violation() -> None:
    """The other face (review3 s2): the 200 left 5 ms before the SUT's 50 ms timer; a loaded
    SUT may read it up to the lateness slack late, after its timer fired, and retry on the
    timeout. Within the slack that is the machine, not the policy."""
    assert _read_late(45).outcome is Outcome.PASS


def test_a_200_read_well_before_the_timer_then_retried_still_fails() -> None:
    """The same retry after a 200 that left 10 ms after the send (40 ms before the timer,
    more than the 30 ms slack): a retry on a success, a violation."""
    assert _read_late(10).outcome is Outcome.FAIL


def test_a_slack_as_large_as_the_per_try_timeout_leaves_the_checks_blind() -> None:
    """With the lateness slack (+ 1 ms) at or above the 50 ms per-try timeout, the timer rule
    excuses every answer, fast or slow: the checks cannot pass on what they did not judge."""
    wide = 0.05
    for end_ms in (45, 10):
        late = _read_late(end_ms, slack_s=wide)
        assert late.outcome is Outcome.INCONCLUSIVE, late
        assert "as large as the per-try timeout" in late.summary
    cut = _one_try_cut(15, 55, slack_s=wide)["client_agreement"]
    assert cut.outcome is Outcome.INCONCLUSIVE, cut
    # nothing excused, nothing blind: a run with no such answer still passes
    run = simulate(ONE_TRY, FaultProfile(), Traffic(n_requests=300), seed=1, noise_s=NOISE_S)
    v = verify(
        ONE_TRY,
        FaultProfile(),
        run.attempts,
        run.clients,
        epsilon_s=0.001,
        lateness_slack_s=wide,
        checks=["client_agreement", "stop_on_success"],
    )
    assert all(c.outcome is Outcome.PASS for c in v.checks), v.checks
