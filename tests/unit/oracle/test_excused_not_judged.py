"""An answer a check excused is not one it judged (docs/VERIFICATION.md "How much was judged").

stop_on_success, non_retryable_status and client_agreement excuse an answer the SUT's per-try
timer (or, for client_agreement, a deadline that cuts attempts in flight) may have beaten
(``harness.oracle.attempt_kinds.timer_may_have_fired``): the journal cannot tell what the SUT
saw. Such a request counts in ``eligible`` but not in ``judged``, and the summary states the
excused count; a run where most requests were excused is inconclusive by the judged-share rule
(``verify.MIN_JUDGED_SHARE``), never a pass that judged them. Before this, the three checks
counted every excused request as judged (stop_on_success reported ``judged = eligible``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from fake_backends.profile import FaultProfile
from harness.oracle.traces import build_traces
from harness.oracle.verdict import CheckResult, Outcome
from harness.oracle.verify import MIN_JUDGED_SHARE, verify
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
CHECKS = ["stop_on_success", "non_retryable_status", "client_agreement"]


def _first_answers_late(run: SimRun, status: int, every: int) -> tuple[SimRun, int]:
    """Every ``every``-th retried request's first attempt answers ``status`` after the per-try
    timeout could have fired and after its retry arrived (a slow backend the SUT abandoned).
    Returns the changed run and how many requests were changed."""
    t = build_traces(run.attempts)
    ta = t.attempts
    retried = np.flatnonzero(t.length >= 2)[::every]
    first = t.start[retried]
    c = run.clients
    start = c.start_us[[c.request_ids.index(ta.request_ids[int(ta.rid[r])]) for r in first]]
    end, st = ta.end_us.copy(), ta.status.copy()
    end[first] = np.maximum(ta.arrival_us[first + 1] + 5_000, start + int(PTT_S * 1e6) + 1_000)
    st[first] = status
    return replace(run, attempts=replace(ta, end_us=end, status=st)), int(retried.size)


def _checks(
    run: SimRun, profile: FaultProfile, policy: RetryPolicy = POLICY
) -> dict[str, CheckResult]:
    v = verify(policy, profile, run.attempts, run.clients, epsilon_s=0.001, checks=CHECKS)
    return {c.name: c for c in v.checks}


def test_stop_on_success_does_not_count_excused_requests_as_judged() -> None:
    profile = FaultProfile(failure_rate=0.4, failure_status={503: 1.0})
    run = simulate(POLICY, profile, Traffic(n_requests=1500), seed=3, noise_s=NOISE_S)
    n = build_traces(run.attempts).n_traces
    clean = _checks(run, profile)["stop_on_success"]
    assert (clean.judged, clean.eligible) == (n, n), clean
    assert "excused" not in clean.summary

    moved, k = _first_answers_late(run, 200, every=5)
    assert k > 20
    sos = _checks(moved, profile)["stop_on_success"]
    assert sos.outcome is Outcome.PASS, sos
    assert sos.eligible == n
    assert sos.judged == n - k, (sos.judged, n, k)
    assert f"({n - k} judged, {k} excused)" in sos.summary, sos.summary


def test_a_run_where_most_successes_were_excused_is_not_a_pass() -> None:
    """Most requests retried, and every retried one's first 200 came after the timer: most of
    the run was excused, so stop_on_success judged less than half of it."""
    profile = FaultProfile(failure_rate=0.8, failure_status={503: 1.0})
    run = simulate(POLICY, profile, Traffic(n_requests=600), seed=5, noise_s=NOISE_S)
    moved, k = _first_answers_late(run, 200, every=1)
    sos = _checks(moved, profile)["stop_on_success"]
    assert sos.eligible and k > sos.eligible * MIN_JUDGED_SHARE, (k, sos.eligible)
    assert sos.judged == sos.eligible - k
    assert sos.outcome is Outcome.INCONCLUSIVE, sos
    assert sos.summary.startswith("judged only"), sos.summary


def test_a_violation_among_excused_answers_still_fails_and_is_judged() -> None:
    """A request with an excused answer and a seen violation was judged (it failed)."""
    profile = FaultProfile(failure_rate=0.4, failure_status={503: 1.0})
    run = simulate(POLICY, profile, Traffic(n_requests=1500), seed=3, noise_s=NOISE_S)
    moved, k = _first_answers_late(run, 200, every=5)
    t = build_traces(moved.attempts)
    ta = t.attempts
    # one excused request: its retry also answers 200 at once, and is retried again
    tr = int(np.flatnonzero(t.length == 3)[0])
    rows = t.start[tr] + np.arange(3)
    end, st = ta.end_us.copy(), ta.status.copy()
    late = ta.arrival_us[rows[2]] + 5_000
    end[rows[0]], st[rows[0]] = max(late, int(ta.arrival_us[rows[0]] + PTT_S * 1e6 + 1_000)), 200
    end[rows[1]], st[rows[1]] = ta.arrival_us[rows[1]] + 1_000, 200
    bad_run = replace(moved, attempts=replace(ta, end_us=end, status=st))
    sos = _checks(bad_run, profile)["stop_on_success"]
    assert sos.outcome is Outcome.FAIL, sos
    assert sos.eligible is not None and sos.judged is not None
    excused = sos.eligible - sos.judged
    assert 0 < excused <= k, (excused, k)
    assert f"({excused} excused)" in sos.summary, sos.summary


def test_non_retryable_status_does_not_count_excused_requests_as_judged() -> None:
    """A policy that retries 503 but not per-try timeouts. A retried 503 whose answer left
    after the SUT's timer may have fired is, as the SUT may have seen it, a per-try timeout
    (outside retry_on) that was followed, or the 503 it retries: excused, so not judged. The
    requests a 500 ended, and nothing excused, are judged."""
    policy = POLICY.model_copy(
        update={"retry_on": RetryOn(statuses=frozenset({503}), per_try_timeout=False)}
    )
    profile = FaultProfile(failure_rate=0.4, failure_status={503: 0.8, 500: 0.2})
    run = simulate(policy, profile, Traffic(n_requests=1500), seed=4, noise_s=NOISE_S)
    before = _checks(run, profile, policy)["non_retryable_status"]
    assert before.outcome is Outcome.PASS and before.judged == before.eligible, before
    assert "excused" not in before.summary
    moved, k = _first_answers_late(run, 503, every=4)
    assert k > 20
    nrs = _checks(moved, profile, policy)["non_retryable_status"]
    assert nrs.outcome is Outcome.PASS, nrs
    # eligible: the requests with a 500 and the k moved ones (some moved ones also met a 500
    # later: with an excused answer they are excused too)
    assert before.eligible is not None and nrs.eligible is not None
    assert before.eligible < nrs.eligible <= before.eligible + k, (nrs, k)
    assert nrs.judged == nrs.eligible - k, (nrs.judged, nrs.eligible, k)
    assert f"({nrs.eligible - k} judged, {k} excused)" in nrs.summary, nrs.summary


def test_client_agreement_does_not_count_excused_requests_as_judged() -> None:
    """A one-try policy: five requests' 200 left after the SUT's 50 ms timer fired (a late
    connect), and the clients got the SUT's 504: accepted, but not judged."""
    one_try = POLICY.model_copy(update={"max_retries": 0, "backoff": Backoff(base_s=0.0)})
    run = simulate(one_try, FaultProfile(), Traffic(n_requests=300), seed=1, noise_s=NOISE_S)
    a, c = run.attempts, run.clients
    arr, end, st = a.arrival_us.copy(), a.end_us.copy(), a.status.copy()
    cst, cend = c.status.copy(), c.end_us.copy()
    for i in range(5):
        ci = c.request_ids.index(a.request_ids[int(a.rid[i])])
        s = c.start_us[ci]
        arr[i], end[i], st[i] = s + 15_000, s + 55_000, 200
        cst[ci], cend[ci] = 504, s + 52_000
    v = verify(
        one_try,
        FaultProfile(),
        replace(a, arrival_us=arr, end_us=end, status=st),
        replace(c, status=cst, end_us=cend),
        epsilon_s=0.001,
        lateness_slack_s=0.03,
        checks=["client_agreement"],
    )
    ca = v.checks[0]
    assert ca.outcome is Outcome.PASS, ca
    assert ca.eligible == 300
    assert ca.judged == 295, ca
    assert "295 judged, 5 excused" in ca.summary, ca.summary
