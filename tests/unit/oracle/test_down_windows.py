"""Replicas down on purpose (chaos): the oracle judges traces overlapping a down window honestly.

A simulated SUT spreads attempts over three replicas; attempts sent to a killed replica fail to
connect and reach no journal. Without the window the oracle blames the SUT for what it cannot
see (as before); with it those traces pass, while real defects — in the window's traces where
the seen attempts prove them, and everywhere outside it — are still caught. A hand-made journal
covers a paused replica (late stamps, attempts out of order).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import orjson
import pytest

from fake_backends.profile import FaultProfile
from harness.errors import BadInput
from harness.oracle.journal import load_attempts, load_client_records
from harness.oracle.records import DownWindow
from harness.oracle.verdict import CheckResult, Outcome, Verdict
from harness.oracle.verify import verify
from harness.policy.model import Backoff, RetryOn, RetryPolicy
from tests.unit.oracle.simulator import (
    EPSILON_S,
    NGINX,
    NOISE_S,
    SETUPS,
    Defect,
    Kill,
    Setup,
    SimRun,
    simulate,
)

ENVOY = SETUPS["envoy"]  # does not retry connect failures
KUBERAY = SETUPS["kuberay"]
T0_S = 1_800_000_000.0  # the simulator's traffic start


def check(v: Verdict, name: str) -> CheckResult:
    return next(c for c in v.checks if c.name == name)


def failed(v: Verdict) -> list[str]:
    return [c.name for c in v.checks if c.outcome is Outcome.FAIL]


def judge(s: Setup, run: SimRun, *, windows: bool) -> Verdict:
    return verify(
        s.policy,
        s.profile,
        run.attempts,
        run.clients,
        epsilon_s=EPSILON_S,
        down_windows=run.down_windows if windows else (),
    )


def overlapping_ids(run: SimRun) -> set[str]:
    """Request ids whose client span meets a window (what the oracle must call overlapping)."""
    c = run.clients
    hit = np.zeros(len(c), bool)
    for w in run.down_windows:
        end = np.inf if w.end_us is None else w.end_us
        hit |= (c.start_us <= end) & (c.end_us >= w.start_us)
    return {rid for rid, h in zip(c.request_ids, hit, strict=True) if h}


# nginx retries connect failures on the next peer; Envoy's and KubeRay's policies do not. Each
# window leaves more than half of the requests with a due retry outside it (MIN_JUDGED_SHARE):
# nginx's 1500 requests last 7.5 s, KubeRay's 1000 take 5 s with 0.5-2 s backoff delays
KILLS = {
    "nginx, r1 killed for good": (NGINX, Kill(replica=1, start_s=5.0)),
    "envoy, r1 killed for 2 s": (ENVOY, Kill(replica=1, start_s=2.0, end_s=4.0)),
    "kuberay, r1 killed for 1 s": (KUBERAY, Kill(replica=1, start_s=2.0, end_s=3.0)),
}


@pytest.mark.parametrize("case", list(KILLS))
def test_kill_window_explains_what_the_journals_cannot_show(case: str) -> None:
    s, kill = KILLS[case]
    run = simulate(s.policy, s.profile, s.traffic, seed=21, kills=[kill], noise_s=NOISE_S)
    assert run.unjournaled > 0 and run.down_windows[0].kind == "kill"
    # (a) without the window: the missing retries and the SUT's own 502s look like defects
    blind = judge(s, run, windows=False)
    assert {"retry_when_due", "client_agreement"} <= set(failed(blind))
    # (b) with it: nothing fails, and the verdict says what was not judged and why
    v = judge(s, run, windows=True)
    assert not failed(v), [check(v, n).summary for n in failed(v)]
    rwd = check(v, "retry_when_due")
    assert rwd.outcome is Outcome.PASS
    assert any("not judged" in e and "overlapped a down replica" in e for e in rwd.evidence)
    connect = "retries connect failures" if s is NGINX else "does not retry connect failures"
    assert any(connect in e for e in rwd.evidence)
    note = next(n for n in v.notes if "overlapped a down replica" in n)
    assert "r1 killed from" in note
    n_over = int(note.split(" of ")[0])
    assert 0 < n_over <= len(overlapping_ids(run)) + 5  # ε may add a few at the edges


def test_statistics_leave_out_traces_by_start_time_not_by_overlap() -> None:
    """Four short kills, KubeRay delays of 0.5-2 s: leaving out just the traces that overlapped
    keeps short traces and drops long ones, and the attempt model rejects a correct SUT (20 of
    20 seeds when measured); leaving out every trace that *could* reach a window, judged on its
    start time alone, does not (0 of 20)."""
    s = KUBERAY
    traffic = replace(s.traffic, n_requests=2000)
    kills = [Kill(1, 1.0 + 2 * j, 1.5 + 2 * j) for j in range(4)]
    run = simulate(s.policy, s.profile, traffic, seed=27, kills=kills, noise_s=NOISE_S)
    v = judge(s, run, windows=True)
    assert not failed(v), [check(v, n).summary for n in failed(v)]
    ad = check(v, "attempt_distribution")
    assert ad.stat is not None and ad.stat.n > 0
    assert any("may overlap a down replica left out" in e for e in ad.evidence)


def test_real_defects_are_still_caught_around_a_kill() -> None:
    # (c) one retry too many shows in the seen attempts, window or not
    run = simulate(
        NGINX.policy,
        NGINX.profile,
        NGINX.traffic,
        seed=22,
        kills=[Kill(1, 2.0)],
        defect=Defect.EXTRA_RETRY,
        noise_s=NOISE_S,
    )
    v = judge(NGINX, run, windows=True)
    assert check(v, "attempts_bound").outcome is Outcome.FAIL
    # (c) retrying a non-retryable status (500) outside the window
    run = simulate(
        ENVOY.policy,
        ENVOY.profile,
        ENVOY.traffic,
        seed=23,
        kills=[Kill(1, 2.0, 4.0)],
        defect=Defect.RETRY_NON_RETRYABLE_STATUS,
        noise_s=NOISE_S,
    )
    nrs = check(judge(ENVOY, run, windows=True), "non_retryable_status")
    assert nrs.outcome is Outcome.FAIL
    assert set(nrs.request_ids) - overlapping_ids(run), "counter-examples outside the window"
    # (d) no backoff outside the window: caught by the backoff window, window's delays skipped
    run = simulate(
        KUBERAY.policy,
        KUBERAY.profile,
        KUBERAY.traffic,
        seed=24,
        kills=[Kill(1, 2.0, 4.0)],
        defect=Defect.NO_BACKOFF,
        noise_s=NOISE_S,
    )
    bw = check(judge(KUBERAY, run, windows=True), "backoff_window")
    assert bw.outcome is Outcome.FAIL
    assert set(bw.request_ids) - overlapping_ids(run)
    assert any(e.startswith("not judged:") for e in bw.evidence)


@pytest.mark.parametrize(
    ("defect", "name"),
    [
        (Defect.RETRY_NON_RETRYABLE_STATUS, "non_retryable_status"),
        (Defect.DUPLICATE_AFTER_SUCCESS, "stop_on_success"),
    ],
)
def test_order_defects_inside_the_window_are_still_caught(defect: Defect, name: str) -> None:
    """A window over the whole run: every trace overlaps, yet a seen attempt after a seen
    non-retryable failure (or success) is still a violation."""
    run = simulate(
        ENVOY.policy,
        ENVOY.profile,
        ENVOY.traffic,
        seed=25,
        kills=[Kill(1, -1.0)],
        defect=defect,
        noise_s=NOISE_S,
    )
    v = judge(ENVOY, run, windows=True)
    assert set(check(v, name).request_ids) <= overlapping_ids(run)
    assert check(v, name).outcome is Outcome.FAIL
    assert check(v, "retry_when_due").outcome is not Outcome.FAIL


@pytest.mark.parametrize("setup", ["nginx", "envoy"])
def test_retry_when_due_over_a_window_covering_the_whole_run_judged_nothing(setup: str) -> None:
    """A kill before the first request (tester5: a chaos clock started with Locust's launch):
    every request overlaps, so a missing retry could be an unseen attempt to the dead replica
    anywhere. The requests whose due retry was seen are no evidence either (had the SUT left the
    retry out, they would have been excused too): retry_when_due judged none of them, and a
    check that judged nothing is not a pass."""
    s = NGINX if setup == "nginx" else ENVOY
    run = simulate(s.policy, s.profile, s.traffic, seed=28, kills=[Kill(1, -1.0)], noise_s=NOISE_S)
    v = judge(s, run, windows=True)
    rwd = check(v, "retry_when_due")
    assert rwd.eligible and rwd.judged == 0, (rwd.judged, rwd.eligible)
    assert rwd.outcome is Outcome.INCONCLUSIVE, rwd.summary
    assert rwd.summary.startswith(f"judged only 0 of {rwd.eligible} eligible"), rwd.summary
    assert any(e.startswith(f"not judged: {rwd.eligible} requests") for e in rwd.evidence)
    assert v.outcome is Outcome.INCONCLUSIVE


def test_a_window_that_ends_before_it_starts_is_bad_input() -> None:
    s = NGINX
    run = simulate(s.policy, s.profile, s.traffic, seed=26, kills=[Kill(1, 2.0)], noise_s=NOISE_S)
    w = run.down_windows[0]
    backwards = w.model_copy(update={"end_us": w.start_us - 1})
    with pytest.raises(BadInput, match="ends before it starts"):
        verify(s.policy, s.profile, run.attempts, None, epsilon_s=0.0, down_windows=[backwards])


# ---- a paused replica, by hand ----------------------------------------------------------------

PAUSE_POLICY = RetryPolicy(
    system="nginx",
    max_retries=2,
    retry_on=RetryOn(statuses=frozenset({502, 503, 504}), per_try_timeout=True),
    backoff=Backoff(base_s=0.0, multiplier=1.0),
    per_try_timeout_s=1.0,
    different_upstream=True,
)
PAUSE = DownWindow(replica="r1", kind="pause", start_us=int(0.9e6), end_us=int(3.0e6))


def attempt(rid: str, replica: str, k: int, t0: float, t1: float, status: int) -> bytes:
    rec: dict[str, Any] = {
        "v": 1,
        "request_id": rid,
        "method": "GET",
        "path": "/",
        "replica": replica,
        "worker": 1,
        "attempt": k,
        "arrival_us": int(t0 * 1e6),
        "end_us": int(t1 * 1e6),
        "status": status,
        "fault": "none" if status < 400 else "status",
    }
    return orjson.dumps(rec)


def client(rid: str, t0: float, t1: float, status: int) -> bytes:
    rec = {"request_id": rid, "method": "GET", "path": "/", "status": status}
    return orjson.dumps({**rec, "start_us": int(t0 * 1e6), "end_us": int(t1 * 1e6)})


# A: sent to r1 while paused; the SUT gave up at its 1 s per-try timeout, r0 answered 200; r1
#    served the queued request after the resume (stamped late, after the success).
# D: overlaps the pause on live replicas: a 500 (not retried by the policy) was retried.
# B: after the pause: an attempt after a success (a real duplicate, 5 ms late).
JOURNAL = [
    attempt("A", "r0", 0, 2.001, 2.006, 200),
    attempt("A", "r1", 1, 3.0005, 3.0055, 200),
    attempt("D", "r0", 0, 1.500, 1.505, 500),
    attempt("D", "r2", 1, 1.506, 1.511, 200),
    attempt("B", "r0", 0, 5.000, 5.005, 200),
    attempt("B", "r2", 1, 5.010, 5.015, 200),
    attempt("C", "r2", 0, 6.000, 6.005, 200),
]
CLIENTS = [
    client("A", 0.999, 2.007, 200),
    client("D", 1.499, 1.512, 200),
    client("B", 4.999, 5.0055, 200),
    client("C", 5.999, 6.006, 200),
]


def test_a_paused_replicas_late_records_are_not_taken_at_their_word() -> None:
    attempts, clients = load_attempts(JOURNAL), load_client_records(CLIENTS)
    profile = FaultProfile(failure_rate=0.0)

    def run(windows: list[DownWindow]) -> Verdict:
        return verify(
            PAUSE_POLICY,
            profile,
            attempts,
            clients,
            epsilon_s=EPSILON_S,
            checks=[
                "stop_on_success",
                "non_retryable_status",
                "backoff_window",
                "client_agreement",
            ],
            down_windows=windows,
        )

    blind = run([])
    # A's success on r0 ended 1.007 s after its client sent it: the SUT's 1 s per-try timeout
    # may have fired first (AttemptKinds.timeout_may_have_fired): even blind, not held against it
    assert check(blind, "stop_on_success").request_ids == ["B"]
    assert "A" in check(blind, "client_agreement").request_ids
    assert check(blind, "backoff_window").data["judged"] == 3
    v = run([PAUSE])
    # A's late record neither follows r0's success nor outlives the client, its delay is untimed
    assert check(v, "stop_on_success").request_ids == ["B"]
    assert check(v, "client_agreement").request_ids == ["B"]
    assert check(v, "backoff_window").data["judged"] == 1  # A's delay may span an unseen attempt
    # D overlaps the pause, but its two attempts on live replicas prove the violation
    assert check(v, "non_retryable_status").request_ids == ["D"]
    assert any("r1 paused from" in n and n.startswith("2 of 4 requests") for n in v.notes)


def test_an_answered_request_with_no_journaled_attempt_during_a_kill_is_not_judged() -> None:
    """K was answered 200 while r1 was being killed and left no journal record (its attempt was
    served as the replica went down: a container's journal is pulled, not shared). Seen once on
    the docker substrate as a false 'answered without any backend attempt'. Outside a window the
    same orphan still fails."""
    kill = DownWindow(replica="r1", kind="kill", start_us=int(2.0e6), end_us=int(4.0e6))
    journal = [attempt("C", "r0", 0, 6.000, 6.005, 200)]
    clients = [client("K", 1.990, 2.010, 200), client("C", 5.999, 6.006, 200)]

    def agreement(windows: list[DownWindow]) -> CheckResult:
        v = verify(
            PAUSE_POLICY,
            FaultProfile(failure_rate=0.0),
            load_attempts(journal),
            load_client_records(clients),
            epsilon_s=EPSILON_S,
            checks=["client_agreement"],
            down_windows=windows,
        )
        return check(v, "client_agreement")

    assert agreement([]).outcome is Outcome.FAIL
    with_kill = agreement([kill])
    assert with_kill.outcome is Outcome.PASS, with_kill.evidence
    assert any(
        e.startswith("not judged: 1 client requests overlapping") for e in with_kill.evidence
    )
