"""Property tests of delay windows, delay laws and the outcome model (hypothesis)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.policy import (
    AttemptProbabilities,
    Backoff,
    JitterModel,
    RetryPolicy,
    delay_distribution,
    delay_window,
    nominal_delay,
    outcome_model,
)


def fl(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


@st.composite
def policies(draw: st.DrawFn) -> RetryPolicy:
    base = draw(fl(0, 5))
    first_waits = draw(st.booleans())
    cap = draw(st.none() | fl(base if first_waits else 0, 200))
    return RetryPolicy(
        max_retries=draw(st.integers(0, 10)),
        backoff=Backoff(
            base_s=base,
            multiplier=draw(fl(1, 4)),
            cap_s=cap,
            jitter=draw(st.sampled_from(list(JitterModel))),
            jitter_fraction=draw(fl(0, 1)),
            jitter_s=draw(fl(0, 3)),
            first_retry_waits=first_waits,
            integer_exponent=draw(st.booleans()),
        ),
    )


ks = st.integers(1, 40)
REL = 1e-9


@given(policies(), ks)
def test_window_is_ordered_and_holds_the_nominal_delay(policy: RetryPolicy, k: int) -> None:
    w = delay_window(policy, k)
    assert 0 <= w.lo_s <= w.hi_s
    assert w.nominal_s == nominal_delay(policy, k)
    if policy.backoff.jitter is not JitterModel.DECORRELATED:
        assert w.lo_s <= w.nominal_s * (1 + REL) and w.nominal_s <= w.hi_s * (1 + REL)


@given(policies(), ks)
def test_windows_do_not_shrink_with_k(policy: RetryPolicy, k: int) -> None:
    a, b = delay_window(policy, k), delay_window(policy, k + 1)
    assert a.lo_s <= b.lo_s * (1 + REL) or (a.lo_s - b.lo_s) < 1e-12
    assert a.hi_s <= b.hi_s * (1 + REL) or (a.hi_s - b.hi_s) < 1e-12


@given(policies(), ks)
def test_cap_is_respected(policy: RetryPolicy, k: int) -> None:
    b = policy.backoff
    w = delay_window(policy, k)
    if b.cap_s is None:
        return
    assert w.nominal_s <= b.cap_s
    limit = b.cap_s * (1 + b.jitter_fraction) if b.jitter is JitterModel.PERCENT else b.cap_s
    assert w.hi_s <= limit * (1 + REL)


@given(policies(), ks)
def test_full_jitter_starts_at_zero(policy: RetryPolicy, k: int) -> None:
    if policy.backoff.jitter is JitterModel.FULL:
        assert delay_window(policy, k).lo_s == 0


@settings(deadline=None)  # the first call imports scipy.stats
@given(policies(), ks)
def test_distribution_support_is_the_window(policy: RetryPolicy, k: int) -> None:
    dist = delay_distribution(policy, k)
    w = delay_window(policy, k)
    if policy.backoff.jitter in (JitterModel.NONE, JitterModel.DECORRELATED):
        assert dist is None
    if dist is None:
        return
    lo, hi = dist.support()
    assert lo == pytest.approx(w.lo_s, rel=1e-9, abs=1e-12)
    assert hi == pytest.approx(w.hi_s, rel=1e-9, abs=1e-12)
    assert dist.cdf(w.lo_s) == pytest.approx(0, abs=1e-9)
    assert dist.cdf(w.hi_s) == pytest.approx(1, abs=1e-9)


@given(policies(), ks)
def test_first_retry_immediate_when_first_retry_does_not_wait(policy: RetryPolicy, k: int) -> None:
    if not policy.backoff.first_retry_waits:
        w = delay_window(policy, 1)
        assert (w.lo_s, w.hi_s, w.nominal_s) == (0, 0, 0)


@st.composite
def probabilities(draw: st.DrawFn) -> AttemptProbabilities:
    s, r = draw(fl(0, 1)), draw(fl(0, 1))
    r = min(r, 1 - s)
    return AttemptProbabilities(s, r, max(0.0, 1 - s - r))


@given(st.integers(0, 30), probabilities())
def test_outcome_pmf_sums_to_one_and_mean_matches(n: int, probs: AttemptProbabilities) -> None:
    m = outcome_model(RetryPolicy(max_retries=n), probs)
    assert len(m.attempts_pmf) == n + 1
    assert math.fsum(m.attempts_pmf) == pytest.approx(1, abs=1e-9)
    assert m.expected_attempts == pytest.approx(
        sum(j * p for j, p in enumerate(m.attempts_pmf, 1)), abs=1e-9
    )
    assert 0 <= m.success_probability <= probs.success * (n + 1) + 1e-12


@given(st.integers(0, 30), fl(0, 1))
def test_success_with_only_retryable_failures(n: int, p: float) -> None:
    m = outcome_model(RetryPolicy(max_retries=n), AttemptProbabilities(1 - p, p, 0.0))
    assert m.success_probability == pytest.approx(1 - p ** (n + 1), abs=1e-9)


@settings(max_examples=30)
@given(st.integers(0, 6), st.floats(0.05, 0.95), st.integers(0, 2**31))
def test_outcome_model_matches_simulation(n: int, p_fail: float, seed: int) -> None:
    """Monte Carlo check of the pmf: max |empirical - model| under a DKW-style bound.

    With 4000 draws the Dvoretzky-Kiefer-Wolfowitz bound at alpha = 1e-6 is
    sqrt(ln(2/alpha) / (2 * 4000)) = 0.043 for the CDF, so every pmf cell is within 0.086.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    probs = AttemptProbabilities(1 - p_fail, p_fail * 0.8, p_fail * 0.2)
    m = outcome_model(RetryPolicy(max_retries=n), probs)
    draws = 4000
    outcomes = rng.choice(3, size=(draws, n + 1), p=[probs.success, 0.8 * p_fail, 0.2 * p_fail])
    stops = outcomes != 1  # success or terminal ends the request
    attempts = np.where(stops.any(axis=1), stops.argmax(axis=1) + 1, n + 1)
    empirical = np.bincount(attempts, minlength=n + 2)[1:] / draws
    bound = 2 * math.sqrt(math.log(2 / 1e-6) / (2 * draws))
    assert np.max(np.abs(empirical - np.array(m.attempts_pmf))) < bound
