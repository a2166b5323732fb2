"""An attempt is a per-try timeout the SUT "must have" taken only when its answer left more than
the timer-read tolerance after the timer was due: one sample is never judged against ε.

review4 (high): ``outlived_timeout`` used ``duration > per_try_timeout + ε``; with ε about 1 ms
(the timing probe's own process), a loaded SUT that read a 200 3 ms after its timer was due and
passed it on made retry_when_due FAIL ("ended on a retryable failure with retries left").
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from fake_backends.profile import FaultProfile
from harness.oracle.attempt_kinds import timer_may_have_fired, timer_must_have_fired
from harness.oracle.traces import build_traces
from harness.oracle.verify import verify
from harness.policy.model import Backoff, JitterModel, RetryOn, RetryPolicy
from tests.unit.oracle.simulator import NOISE_S, Traffic, simulate

PTT = 0.05
SLACK = 0.010
POLICY = RetryPolicy(
    system="inline",
    max_retries=2,
    retry_on=RetryOn(statuses=frozenset({503}), per_try_timeout=True),
    backoff=Backoff(base_s=0.025, multiplier=2, cap_s=0.25, jitter=JitterModel.FULL),
    per_try_timeout_s=PTT,
)
PROFILE = FaultProfile(failure_rate=0.2, failure_status={503: 1.0})


def _late_200s(past_timeout_s: float) -> str:
    """retry_when_due's outcome when 5 single-attempt requests got a 200 that left the backend
    ``past_timeout_s`` after the per-try timer (armed at the arrival) was due, the client got
    that 200 and the SUT made no retry."""
    run = simulate(POLICY, PROFILE, Traffic(n_requests=300), seed=3, noise_s=NOISE_S)
    t = build_traces(run.attempts)
    a = t.attempts
    rows = t.start[np.flatnonzero(t.length == 1)[:5]]
    end, status = a.end_us.copy(), a.status.copy()
    end[rows] = a.arrival_us[rows] + int((PTT + past_timeout_s) * 1e6)
    status[rows] = 200
    c = run.clients
    cend, cstatus = c.end_us.copy(), c.status.copy()
    for r in rows:
        i = c.request_ids.index(a.request_ids[int(a.rid[r])])
        cend[i], cstatus[i] = max(cend[i], end[r] + 500), 200
    v = verify(
        POLICY,
        PROFILE,
        replace(a, end_us=end, status=status),
        replace(c, end_us=cend, status=cstatus),
        epsilon_s=0.001,
        lateness_slack_s=SLACK,
        checks=["retry_when_due"],
    )
    [check] = v.checks
    return check.outcome.value


def test_a_200_read_a_stall_after_the_timer_is_no_timeout() -> None:
    """3 ms past the timer: beyond ε (1 ms), within the slack (10 ms): the SUT may have read it
    first, so no retry was due."""
    assert _late_200s(0.003) == "pass"


def test_a_200_far_past_the_timer_still_needed_a_retry() -> None:
    """30 ms past the timer, beyond the slack + a tick: the SUT cannot have read it; it timed
    out and a retry was due. The check still fails a SUT that made none."""
    assert _late_200s(0.030) == "fail"


@pytest.mark.parametrize("end_ms", [40.0, 50.0, 60.0, 61.5, 80.0])
def test_must_and_may_are_the_two_sides_of_one_tolerance(end_ms: float) -> None:
    """Armed exactly at 0: 'must' only beyond timeout + tolerance, 'may' from timeout -
    tolerance; never both false in between, never 'must' without 'may'."""
    end = end_ms * 1000
    must = bool(timer_must_have_fired(0, PTT, end, SLACK))
    may = bool(timer_may_have_fired(0, PTT, end, SLACK))
    assert not must or may
    assert must == (end_ms > 61.001)
    assert may == (end_ms >= 38.999)
