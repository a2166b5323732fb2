"""Hand-built verdicts for the report tests: every outcome, both kinds, realistic data blocks.

The data blocks mimic a full-jitter policy (base 0.1 s, multiplier 2, cap 1 s, 3 retries) against
a backend failing 30 % of attempts; they are inputs to render, not judgements under test.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.oracle.verdict import CheckKind, CheckResult, Outcome, Statistic, Verdict
from harness.policy.model import Backoff, JitterModel, RetryOn, RetryPolicy

P_FAIL = 0.3
MAX_RETRIES = 3
BASE_S = 0.1
CAP_S = 1.0
EPSILON_S = 0.004
HOSTILE_ID = '<script>alert("x")</script>'


def policy() -> RetryPolicy:
    return RetryPolicy(
        system="inline",
        max_retries=MAX_RETRIES,
        retry_on=RetryOn(statuses=frozenset({502, 503}), connect_failure=True),
        backoff=Backoff(base_s=BASE_S, multiplier=2.0, cap_s=CAP_S, jitter=JitterModel.FULL),
    )


def _window(k: int) -> float:
    return min(BASE_S * 2.0 ** (k - 1), CAP_S)


def backoff_data(*, outliers: int = 0, seed: int = 1) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    per_index: dict[str, Any] = {}
    for k, n in ((1, 300), (2, 90), (3, 27)):
        hi = _window(k)
        delays = rng.uniform(0.0, hi, n) + rng.normal(0.0, 0.0005, n)
        if outliers and k == 2:
            delays[:outliers] = hi + 0.05 + rng.uniform(0, 0.05, outliers)
        per_index[str(k)] = {
            "delays_s": [round(float(d), 6) for d in delays],
            "lo_s": 0.0,
            "hi_s": hi,
            "nominal_s": hi,
        }
    return {"per_index": per_index}


def jitter_data(seed: int = 2) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {
        "per_index": {
            str(k): {
                "delays_s": [round(float(d), 6) for d in rng.uniform(0.0, _window(k), n)],
                "dist": "uniform",
                "loc": 0.0,
                "scale": _window(k),
            }
            for k, n in ((1, 300), (2, 90))
        }
    }


def attempt_data(traces: int = 1000, seed: int = 3) -> dict[str, Any]:
    attempts = list(range(1, MAX_RETRIES + 2))
    probs = [P_FAIL ** (a - 1) * (1 - P_FAIL) for a in attempts[:-1]] + [P_FAIL**MAX_RETRIES]
    observed = np.random.default_rng(seed).multinomial(traces, probs)
    return {"attempts": attempts, "observed": [int(o) for o in observed], "expected": probs}


def success_data() -> dict[str, Any]:
    return {"successes": 987, "n": 1000, "expected_p": 1 - P_FAIL**4, "ci": [0.9779, 0.9931]}


def _stat(test: str, p: float, n: int, planned: int, statistic: float | None = None) -> Statistic:
    return Statistic(
        test=test, statistic=statistic, p_value=p, n=n, n_planned=planned, alpha=0.00025
    )


def all_checks(*, failing: bool = True) -> list[CheckResult]:
    """One check per outcome and kind; with ``failing`` the invariant and a statistic fail."""
    bad = Outcome.FAIL if failing else Outcome.PASS
    return [
        CheckResult(
            name="attempts_bound",
            title="Attempts bound",
            kind=CheckKind.INVARIANT,
            outcome=Outcome.PASS,
            summary="all 1000 traces made at most 4 attempts",
        ),
        CheckResult(
            name="backoff_window",
            title="Backoff window",
            kind=CheckKind.INVARIANT,
            outcome=bad,
            summary="4 of 417 delays outside [lo−ε, hi+ε]" if failing else "all 417 delays fit",
            evidence=[
                f"trace {HOSTILE_ID}: retry 2 waited 0.262 s, window [0, 0.2] s + ε 0.004 s",
                "trace r-0042: retry 2 waited 0.251 s, window [0, 0.2] s + ε 0.004 s",
                "trace r-0107: retry 2 waited 0.233 s, window [0, 0.2] s + ε 0.004 s",
                "trace r-0311: retry 2 waited 0.205 s, window [0, 0.2] s + ε 0.004 s",
            ]
            if failing
            else [],
            request_ids=[HOSTILE_ID, "r-0042", "r-0107", "r-0311"] if failing else [],
            data=backoff_data(outliers=4 if failing else 0),
        ),
        CheckResult(
            name="success_rate",
            title="Success rate",
            kind=CheckKind.STATISTICAL,
            outcome=Outcome.PASS,
            summary="987 of 1000 succeeded; model 0.9919",
            stat=_stat("exact binomial (two-sided)", 0.093, 1000, 1000),
            data=success_data(),
        ),
        CheckResult(
            name="attempt_distribution",
            title="Attempt distribution",
            kind=CheckKind.STATISTICAL,
            outcome=bad,
            summary="attempts per trace differ from the truncated geometric model"
            if failing
            else "attempts per trace fit the model",
            stat=_stat("G-test", 1.2e-7 if failing else 0.41, 1000, 1000, 35.2),
            data=attempt_data(),
        ),
        CheckResult(
            name="jitter_distribution",
            title="Jitter distribution",
            kind=CheckKind.STATISTICAL,
            outcome=Outcome.INCONCLUSIVE,
            summary="retry 3 has 27 delays, 60 planned",
            evidence=["retry 1: KS D=0.041 p=0.69", "retry 2: KS D=0.088 p=0.47"],
            stat=_stat("Kolmogorov–Smirnov vs uniform", 0.47, 27, 60, 0.088),
            data=jitter_data(),
        ),
        CheckResult(
            name="retry_budget",
            title="Retry budget",
            kind=CheckKind.INVARIANT,
            outcome=Outcome.NOT_APPLICABLE,
            summary="the policy declares no retry budget",
        ),
    ]


def verdict(*, failing: bool = True, scenario: str | None = "full-jitter-502") -> Verdict:
    checks = all_checks(failing=failing)
    outcome = Outcome.FAIL if failing else Outcome.INCONCLUSIVE
    return Verdict(
        scenario=scenario,
        outcome=outcome,
        alpha=0.001,
        epsilon_s=EPSILON_S,
        traces=1000,
        attempts=1417,
        client_records=1000,
        dropped_attempts=2,
        checks=checks,
        notes=["urllib3 does not wait before its first retry", "ε calibrated on 200 probes"],
    )


def bare_verdict() -> Verdict:
    """No data blocks at all: every plot must be left out with a note."""
    checks = [c.model_copy(update={"data": {}}) for c in all_checks()]
    return verdict().model_copy(update={"checks": checks})
