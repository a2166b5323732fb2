"""retry_when_due for a ``different_upstream`` policy (nginx/Kong): when is a retry due?

A retry is not due once every upstream replica the SUT can reach was tried in the request. How
many it can reach is not in the journals: ``verify(replicas=N)`` says how many the run started,
and without it the replicas seen across the run stand in. nginx proxying to ONE server of a
2-replica run (the nginx-single-upstream showcase) declares 2 retries it can never make: with
``replicas=2`` that fails retry_when_due, without it the missing retries are excused.
"""

from __future__ import annotations

import pytest

from harness.errors import BadInput
from harness.oracle.verdict import CheckResult, Outcome, Verdict
from harness.oracle.verify import verify
from tests.unit.oracle.simulator import EPSILON_S, NGINX, NOISE_S, simulate

CHECKS = ["retry_when_due", "attempts_bound", "client_agreement"]


def rwd(v: Verdict) -> CheckResult:
    return next(c for c in v.checks if c.name == "retry_when_due")


def single_server_run() -> object:
    """nginx with ``proxy_pass`` to r0 of a 2-replica run: every request tries r0 alone."""
    return simulate(
        NGINX.policy, NGINX.profile, NGINX.traffic, seed=31, noise_s=NOISE_S, n_replicas=2, peers=1
    )


def judge(run: object, replicas: int | None) -> Verdict:
    return verify(
        NGINX.policy,
        NGINX.profile,
        run.attempts,  # type: ignore[attr-defined]
        run.clients,  # type: ignore[attr-defined]
        epsilon_s=EPSILON_S,
        checks=CHECKS,
        replicas=replicas,
    )


def test_single_server_fails_when_the_run_says_it_started_two_replicas() -> None:
    run = single_server_run()
    assert set(run.attempts.replica.tolist()) == {0}  # type: ignore[attr-defined]
    c = rwd(judge(run, replicas=2))
    assert c.outcome is Outcome.FAIL, c.summary
    assert c.request_ids
    note = next(e for e in c.evidence if "different upstream" in e)
    assert "untried upstream replica (2 replicas, started by the run)" in note
    assert "only 1 of the 2 replicas the run started appear in the journals" in note
    assert "2 declared retries cannot happen" in note


def test_single_server_is_excused_without_the_replica_count() -> None:
    """Fallback: only r0 appears in the whole run, so one peer, so no retry is due."""
    c = rwd(judge(single_server_run(), replicas=None))
    assert c.outcome is Outcome.NOT_APPLICABLE, c.summary
    assert "requests not judged: every upstream replica the SUT can reach was already tried" in (
        c.summary
    )
    assert "1 replica, seen in the journals" in c.summary


@pytest.mark.parametrize("replicas", [1, None])
def test_single_server_run_with_one_replica_is_not_judged(replicas: int | None) -> None:
    """One replica started (or only one seen): no peer is ever left, nothing to judge."""
    c = rwd(judge(single_server_run(), replicas=replicas))
    assert c.outcome is Outcome.NOT_APPLICABLE, c.summary


def test_next_upstream_over_two_replicas_passes() -> None:
    """Two peers: a request that met 503 on both has no peer left (nginx relays the 503)."""
    run = simulate(
        NGINX.policy, NGINX.profile, NGINX.traffic, seed=32, noise_s=NOISE_S, n_replicas=2, peers=2
    )
    assert int(run.attempts.replica.max()) == 1
    v = judge(run, replicas=2)
    assert all(c.outcome is Outcome.PASS for c in v.checks), [c.summary for c in v.checks]
    assert any("not judged: every upstream replica" in e for e in rwd(v).evidence)


@pytest.mark.parametrize("replicas", [2, None])
def test_sut_that_skips_an_untried_peer_fails(replicas: int | None) -> None:
    """The SUT never retries, though the other replica (seen in the run) was untried."""
    lazy = NGINX.policy.model_copy(update={"max_retries": 0})
    run = simulate(
        lazy, NGINX.profile, NGINX.traffic, seed=33, noise_s=NOISE_S, n_replicas=2, peers=2
    )
    c = rwd(judge(run, replicas=replicas))
    assert c.outcome is Outcome.FAIL, c.summary


def test_replicas_must_be_positive() -> None:
    run = single_server_run()
    with pytest.raises(BadInput) as err:
        judge(run, replicas=0)
    assert err.value.field == "replicas"


def test_retries_on_the_same_replica_do_not_use_up_the_peers() -> None:
    """Two attempts on r0 leave r1 untried: with a retry left, one more was due."""
    short = NGINX.policy.model_copy(update={"max_retries": 1})
    run = simulate(short, NGINX.profile, NGINX.traffic, seed=34, noise_s=NOISE_S)
    a = run.attempts
    assert a.replicas == ("replica-0", "replica-1")  # each request stays on one replica
    c = rwd(judge(run, replicas=2))
    assert c.outcome is Outcome.FAIL, c.summary
    assert any(
        "-> 503(status) [replica-0] | #1" in e or "[replica-1] | #1" in e for e in c.evidence
    )
