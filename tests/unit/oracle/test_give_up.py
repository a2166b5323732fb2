"""Client agreement and a SUT's own "gave up" answer (502/503/504 instead of the last answer).

A SUT may answer with its own gateway status when it stops on a failure its policy retries:
urllib3 raises MaxRetryError once status retries run out (raise_on_status), KubeRay answers 502
when its deadline stops it, a budgeted proxy when its budget refuses the retry. The oracle
accepts that answer exactly then, and counts it in the evidence; a SUT that answers 502 before
its policy ran out still fails.
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest

from harness.oracle.journal import NO_STATUS
from harness.oracle.verdict import CheckResult, Outcome, Verdict
from harness.oracle.verify import verify
from tests.unit.oracle.simulator import EPSILON_S, NOISE_S, SETUPS, Defect, SimRun, simulate


def agreement(v: Verdict) -> CheckResult:
    return next(c for c in v.checks if c.name == "client_agreement")


def accepted_count(c: CheckResult) -> int:
    """The count the evidence gives for SUT-made give-up answers (0 when no such line)."""
    for line in c.evidence:
        m = re.match(r"(\d+) SUT-made give-up answers accepted", line)
        if m:
            return int(m.group(1))
    return 0


def differing_give_ups(run: SimRun, status: int) -> int:
    """Requests whose client got ``status`` while their last journaled attempt said otherwise."""
    a = run.attempts
    order = np.lexsort((a.arrival_us, a.rid))
    rid = a.rid[order]
    last = order[np.append(rid[1:] != rid[:-1], True)]
    last_status = dict(zip(a.rid[last].tolist(), a.status[last].tolist(), strict=True))
    index = {r: i for i, r in enumerate(a.request_ids)}
    c = run.clients
    return sum(
        1
        for i, r in enumerate(c.request_ids)
        if c.status[i] == status and r in index and last_status[index[r]] not in (status, NO_STATUS)
    )


@pytest.mark.parametrize(
    ("setup_name", "reason"),
    [
        ("urllib3", "used all 4 attempts"),  # raise_on_status: MaxRetryError -> 502
        ("kuberay_tight", "the deadline left no room"),  # KubeRay's 502 on its deadline
        ("budgeted", "the retry budget may have been spent"),
    ],
)
def test_sut_that_answers_502_when_it_gives_up_passes(setup_name: str, reason: str) -> None:
    s = SETUPS[setup_name]
    run = simulate(s.policy, s.profile, s.traffic, seed=21, noise_s=NOISE_S, give_up_status=502)
    expected = differing_give_ups(run, 502)
    assert expected > 0, "the set-up must make the SUT give up on a non-502 answer"
    v = verify(s.policy, s.profile, run.attempts, run.clients, epsilon_s=EPSILON_S)
    c = agreement(v)
    assert c.outcome is Outcome.PASS, (c.summary, c.evidence)
    assert accepted_count(c) == expected
    line = next(e for e in c.evidence if "give-up answers accepted" in e)
    assert reason in line
    assert v.outcome is not Outcome.FAIL, [x.summary for x in v.checks if x.outcome == "fail"]


def test_relaying_sut_reports_no_give_up_answers() -> None:
    s = SETUPS["urllib3"]
    run = simulate(s.policy, s.profile, s.traffic, seed=21, noise_s=NOISE_S)
    c = agreement(verify(s.policy, s.profile, run.attempts, run.clients, epsilon_s=EPSILON_S))
    assert c.outcome is Outcome.PASS and accepted_count(c) == 0


def test_sut_that_answers_502_before_its_retries_run_out_fails() -> None:
    """One retry short of the policy, then 502: not a legitimate give-up."""
    s = SETUPS["urllib3"]
    run = simulate(
        s.policy,
        s.profile,
        s.traffic,
        seed=21,
        noise_s=NOISE_S,
        defect=Defect.TOO_FEW,
        give_up_status=502,
    )
    c = agreement(verify(s.policy, s.profile, run.attempts, run.clients, epsilon_s=EPSILON_S))
    assert c.outcome is Outcome.FAIL
    assert accepted_count(c) == 0
    assert any(
        "client statuses differ from the last attempt" in e and "->502" in e for e in c.evidence
    )
    assert c.request_ids


def test_502_after_one_of_four_allowed_attempts_fails() -> None:
    """The SUT never retries and answers 502 on every retryable failure; the policy allows 4."""
    s = SETUPS["envoy"]
    lazy = s.policy.model_copy(update={"max_retries": 0})
    run = simulate(lazy, s.profile, s.traffic, seed=22, noise_s=NOISE_S, give_up_status=502)
    v = verify(s.policy, s.profile, run.attempts, run.clients, epsilon_s=EPSILON_S)
    c = agreement(v)
    assert c.outcome is Outcome.FAIL and accepted_count(c) == 0
    assert any("503->502" in e for e in c.evidence if "differ" in e)


def test_200_after_a_final_503_stays_a_mismatch() -> None:
    """Only gateway statuses are accepted as the SUT's own answer, never a success."""
    s = SETUPS["urllib3"]
    run = simulate(s.policy, s.profile, s.traffic, seed=21, noise_s=NOISE_S, give_up_status=502)
    c = run.clients
    status = c.status.copy()
    gave_502 = np.flatnonzero(status == 502)
    assert gave_502.size
    status[gave_502] = 200
    forged = replace(run, clients=replace(c, status=status))
    v = verify(s.policy, s.profile, forged.attempts, forged.clients, epsilon_s=EPSILON_S)
    ca = agreement(v)
    assert ca.outcome is Outcome.FAIL
    assert any("->200" in e for e in ca.evidence if "differ" in e)
