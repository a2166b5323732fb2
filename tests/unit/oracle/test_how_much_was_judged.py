"""Say how much was judged (issue 8.5), requests the SUT answered itself (8.6), and "not judged"
constructs of the declared policy (RetryPolicy.not_judged)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import orjson

from harness.oracle.aspects import CHECK_ASPECTS
from harness.oracle.journal import NO_STATUS
from harness.oracle.traces import build_traces
from harness.oracle.verdict import Outcome, Verdict
from harness.oracle.verify import CHECK_NAMES, MIN_JUDGED_SHARE, verify
from harness.policy.model import Aspect, Unmodelled
from harness.report.formatting import headline
from harness.substrates.calibration import forward_latencies
from tests.unit.oracle.simulator import ENVOY, EPSILON_S, NGINX, NOISE_S, Kill, SimRun, simulate


def check(v: Verdict, name: str):  # type: ignore[no-untyped-def]
    return next(c for c in v.checks if c.name == name)


# ---- 8.5 judged share -------------------------------------------------------------------------


def test_every_check_reports_judged_of_eligible() -> None:
    run = simulate(ENVOY.policy, ENVOY.profile, ENVOY.traffic, seed=2, noise_s=NOISE_S)
    v = verify(ENVOY.policy, ENVOY.profile, run.attempts, run.clients, epsilon_s=EPSILON_S)
    judged = [c for c in v.checks if c.outcome in (Outcome.PASS, Outcome.FAIL)]
    assert judged and all(c.judged is not None and c.eligible for c in judged), [
        c.name for c in judged if c.judged is None
    ]
    assert v.judged_share == 1.0
    assert "judged 100%" in headline(v)


def test_a_check_that_judged_too_small_a_share_is_inconclusive() -> None:
    """A replica down for most of the run hides what most requests did: not a pass."""
    s = NGINX
    dur = s.traffic.n_requests / s.traffic.rate_per_s
    run = simulate(s.policy, s.profile, s.traffic, seed=3, noise_s=NOISE_S, kills=[Kill(1, 0.1)])
    v = verify(
        s.policy,
        s.profile,
        run.attempts,
        run.clients,
        epsilon_s=EPSILON_S,
        down_windows=run.down_windows,
        replicas=3,
    )
    # a request that may have met the kill leaves the statistical sample (start-time rule)
    sr = check(v, "success_rate")
    assert sr.judged_share is not None and sr.judged_share < MIN_JUDGED_SHARE
    assert sr.outcome is Outcome.INCONCLUSIVE, sr.summary
    assert sr.summary.startswith("judged only"), sr.summary
    assert v.outcome is not Outcome.PASS
    assert v.judged_share is not None and v.judged_share < MIN_JUDGED_SHARE
    # a short outage of one replica leaves most of the run judged: a pass stays a pass
    short = simulate(
        s.policy,
        s.profile,
        s.traffic,
        seed=3,
        noise_s=NOISE_S,
        kills=[Kill(1, dur / 2, dur / 2 + 0.2)],
    )
    v2 = verify(
        s.policy,
        s.profile,
        short.attempts,
        short.clients,
        epsilon_s=EPSILON_S,
        down_windows=short.down_windows,
        replicas=3,
        checks=["success_rate", "retry_when_due", "attempts_bound", "stop_on_success"],
    )
    assert check(v2, "retry_when_due").outcome is Outcome.PASS
    assert (check(v2, "success_rate").judged_share or 0.0) >= MIN_JUDGED_SHARE
    assert v2.judged_share is not None and v2.judged_share >= MIN_JUDGED_SHARE


def test_epsilon_leaves_out_samples_that_meet_a_down_window(tmp_path: Path) -> None:
    """A request stalled 3 s on a paused replica must not enter ε."""
    j = tmp_path / "journal-r0.ndjson"
    c = tmp_path / "client-records.ndjson"
    rows = [("a", 1_000_000, 1_002_000), ("b", 2_000_000, 5_010_000)]  # b waited out a pause
    j.write_bytes(
        b"\n".join(
            orjson.dumps({"request_id": r, "attempt": 0, "arrival_us": arr}) for r, _, arr in rows
        )
    )
    c.write_bytes(b"\n".join(orjson.dumps({"request_id": r, "start_us": st}) for r, st, _ in rows))
    everything = forward_latencies([j], c)
    clear = forward_latencies([j], c, [(2_000_500, 5_000_000)])
    assert everything.max() > 3.0
    assert clear.tolist() == [0.002]


# ---- 8.6 requests the SUT answered itself ------------------------------------------------------


def sut_answers_most(run: SimRun, share: float, status: int = 502) -> SimRun:
    """The SUT answers ``share`` of the requests itself: no attempt reaches a backend."""
    t = build_traces(run.attempts)
    gone = np.zeros(t.n_traces, bool)
    gone[: int(t.n_traces * share)] = True
    keep_rows = np.flatnonzero(~gone[t.trace])
    attempts = t.attempts.take(keep_rows)
    c = run.clients
    gone_ids = {t.request_id(int(i)) for i in np.flatnonzero(gone)}
    st = c.status.copy()
    st[[i for i, rid in enumerate(c.request_ids) if rid in gone_ids]] = status
    return replace(run, attempts=attempts, clients=replace(c, status=st))


def test_a_sut_that_answers_most_requests_itself_fails_and_says_so() -> None:
    s = ENVOY
    run = sut_answers_most(simulate(s.policy, s.profile, s.traffic, seed=6, noise_s=NOISE_S), 0.972)
    n = len(run.clients)
    v = verify(s.policy, s.profile, run.attempts, run.clients, epsilon_s=EPSILON_S)
    made = int(n * 0.972)
    assert v.sut_answered == made
    assert v.sut_answered_statuses == {"502": made}
    assert v.outcome is Outcome.FAIL
    ca = check(v, "client_agreement")
    assert ca.summary.startswith(f"{made} of {n} client requests were answered by the SUT")
    sr = check(v, "success_rate")
    assert sr.outcome is Outcome.FAIL and "as the client saw it" in sr.summary
    assert f"SUT answered {made} of {n}" in headline(v)
    assert v.notes[0].startswith(f"the SUT answered {made} of {n} requests itself")


def test_a_run_the_sut_answered_itself_is_never_a_pass() -> None:
    s = ENVOY
    run = sut_answers_most(simulate(s.policy, s.profile, s.traffic, seed=6, noise_s=NOISE_S), 0.6)
    v = verify(
        s.policy,
        s.profile,
        run.attempts,
        run.clients,
        epsilon_s=EPSILON_S,
        checks=["attempts_bound", "stop_on_success"],
    )
    assert all(c.outcome is Outcome.PASS for c in v.checks)
    assert v.outcome is Outcome.INCONCLUSIVE
    assert "never a pass" in v.notes[0]


def test_client_errors_without_attempts_count_as_failures_from_the_clients_view() -> None:
    s = ENVOY
    run = sut_answers_most(
        simulate(s.policy, s.profile, s.traffic, seed=7, noise_s=NOISE_S), 0.2, NO_STATUS
    )
    v = verify(s.policy, s.profile, run.attempts, run.clients, epsilon_s=EPSILON_S)
    assert v.sut_answered_statuses == {"error": v.sut_answered}
    assert check(v, "success_rate").outcome is Outcome.FAIL


# ---- not judged ---------------------------------------------------------------------------------


def test_every_check_depending_on_an_unmodelled_aspect_is_not_judged() -> None:
    assert set(CHECK_ASPECTS) == set(CHECK_NAMES)
    construct = Unmodelled(
        aspects=frozenset({Aspect.BUDGET}),
        native="retry_budget { lua hook }",
        reason="a Lua hook decides at run time",
        location="envoy.yaml:12",
    )
    policy = ENVOY.policy.model_copy(update={"not_judged": (construct,)})
    run = simulate(ENVOY.policy, ENVOY.profile, ENVOY.traffic, seed=8, noise_s=NOISE_S)
    v = verify(policy, ENVOY.profile, run.attempts, run.clients, epsilon_s=EPSILON_S)
    affected = {n for n, aspects in CHECK_ASPECTS.items() if Aspect.BUDGET in aspects}
    for c in v.checks:
        if c.name in affected:
            assert c.outcome is Outcome.NOT_JUDGED, c.name
            assert "retry_budget { lua hook }" in c.summary and "envoy.yaml:12" in c.evidence[0]
            assert "a Lua hook decides at run time" in c.evidence[0]
        else:
            assert c.outcome is not Outcome.NOT_JUDGED, c.name
    assert v.outcome is Outcome.INCONCLUSIVE  # what was not judged is never a pass


def test_sut_log_lines_that_explain_its_own_answers_are_picked() -> None:
    from harness.oracle.sut_made import explaining_lines

    lines = [
        "2026/11/30 03:00:01 [notice] 12#12: start worker processes",
        "2026/11/30 03:00:02 [error] 13#13: *1 no live upstreams while connecting to upstream",
        "2026/11/30 03:00:03 [error] 13#13: *2 no live upstreams while connecting to upstream",
    ]
    found = explaining_lines(lines)
    assert len(found) == 1 and found[0].startswith("2× ") and "no live upstreams" in found[0]
