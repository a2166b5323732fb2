"""A per-try timeout the adapter cannot evaluate (``Aspect.PER_TRY_TIMEOUT`` in
``RetryPolicy.not_judged``: nginx's ``proxy_read_timeout`` in an ``if`` block) makes every check
that reads it not judged, not judged as if no per-try timeout existed (review3: an unmodelled
per-try timeout, 5 slow 200s abandoned by the SUT and retried -> stop_on_success FAILed).

What reads it: ``AttemptKinds.success``/``trigger`` (a followed answer the timer may have cut is
a timeout, not a success) and ``CheckContext.end_not_a_bound`` (a delay after a possible timeout
began at an unseen instant). The walk below keeps ``CHECK_ASPECTS`` in step: every check whose
result moves with the declared per-try timeout on journals where it matters must depend on it.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from fake_backends.profile import FaultProfile
from harness.oracle.aspects import check_aspects
from harness.oracle.journal import AttemptTable
from harness.oracle.traces import build_traces
from harness.oracle.verdict import Outcome
from harness.oracle.verify import CHECK_NAMES, verify
from harness.policy.model import (
    Aspect,
    Backoff,
    JitterModel,
    MethodRule,
    RetryAfterRule,
    RetryOn,
    RetryPolicy,
    Unmodelled,
)
from tests.unit.oracle.simulator import NOISE_S, SimRun, Traffic, simulate

POLICY = RetryPolicy(
    system="inline",
    max_retries=2,
    retry_on=RetryOn(statuses=frozenset({503}), per_try_timeout=True),
    methods=MethodRule(retryable=frozenset({"GET"})),
    backoff=Backoff(base_s=0.025, multiplier=2, cap_s=0.25, jitter=JitterModel.FULL),
    retry_after=RetryAfterRule(honoured=True, statuses=frozenset({503})),
    per_try_timeout_s=0.05,
)
UNMODELLED = Unmodelled(
    aspects=frozenset({Aspect.PER_TRY_TIMEOUT}),
    native="if ($arg_slow) { proxy_read_timeout 50ms; }",
    reason="set in an if block",
    location="nginx.conf:12",
)


def _slow_firsts(run: SimRun, *, status: int | None, post: bool = False) -> AttemptTable:
    """Every 4th retried request's first attempt answers 50 ms after its retry arrived (the
    SUT's per-try timer cut it); ``status``: what it journaled instead (None: keep it);
    ``post``: the request was a POST (a method the policy does not retry)."""
    t = build_traces(run.attempts)
    a = t.attempts
    first = t.start[np.flatnonzero(t.length >= 2)[::4]]
    end, st, method = a.end_us.copy(), a.status.copy(), a.method.copy()
    methods = a.methods
    end[first] = a.arrival_us[first + 1] + 50_000
    if status is not None:
        st[first] = status
    if post:
        methods = (*methods, "POST") if "POST" not in methods else methods
        method[first] = methods.index("POST")
    return replace(a, end_us=end, status=st, method=method, methods=methods)


def _journals() -> list[tuple[FaultProfile, SimRun, AttemptTable]]:
    with_ra = FaultProfile(failure_rate=0.5, failure_status={503: 1.0}, retry_after="1")
    plain = FaultProfile(failure_rate=0.5, failure_status={503: 1.0})
    out = []
    for profile in (with_ra, plain):
        run = simulate(POLICY, profile, Traffic(n_requests=1500), seed=2, noise_s=NOISE_S)
        out += [
            (profile, run, _slow_firsts(run, status=s, post=p))
            for s, p in [
                (None, False),
                (200, False),
                (200, True),
            ]
        ]
    return out


def test_an_unmodelled_per_try_timeout_makes_stop_on_success_not_judged() -> None:
    profile = FaultProfile(failure_rate=0.5, failure_status={503: 1.0})
    run = simulate(POLICY, profile, Traffic(n_requests=400), seed=2, noise_s=NOISE_S)
    slow = _slow_firsts(run, status=200)
    policy = POLICY.model_copy(update={"not_judged": (UNMODELLED,)})
    v = verify(
        policy,
        profile,
        slow,
        run.clients,
        epsilon_s=0.001,
        lateness_slack_s=0.02,
        checks=["stop_on_success", "non_retryable_method", "backoff_window"],
    )
    assert {c.name: c.outcome for c in v.checks} == {
        "stop_on_success": Outcome.NOT_JUDGED,
        "non_retryable_method": Outcome.NOT_JUDGED,
        "backoff_window": Outcome.NOT_JUDGED,
    }, v.checks
    # judged with the per-try timeout declared (modelled), the same journal passes: the SUT
    # retried on its timeout
    v = verify(
        POLICY,
        profile,
        slow,
        run.clients,
        epsilon_s=0.001,
        lateness_slack_s=0.02,
        checks=["stop_on_success"],
    )
    assert v.checks[0].outcome is Outcome.PASS, v.checks[0]


def test_every_check_the_per_try_timeout_moves_depends_on_it() -> None:
    moved: set[str] = set()
    none = POLICY.model_copy(update={"per_try_timeout_s": None})
    for profile, run, journal in _journals():
        for name in CHECK_NAMES:
            kw = {"epsilon_s": 0.001, "lateness_slack_s": 0.02, "checks": [name]}
            (with_ptt,) = verify(POLICY, profile, journal, run.clients, **kw).checks
            (without,) = verify(none, profile, journal, run.clients, **kw).checks
            if (with_ptt.outcome, with_ptt.summary) != (without.outcome, without.summary):
                moved.add(name)
    # the walk must reach the checks the review found (else it proves nothing)
    assert moved >= {"stop_on_success", "non_retryable_method", "backoff_window", "retry_after"}
    unlisted = {n for n in moved if Aspect.PER_TRY_TIMEOUT not in check_aspects(n)}
    assert not unlisted, f"these checks read the per-try timeout: {sorted(unlisted)}"
