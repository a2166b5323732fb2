"""The jitter law is tested on both sides: too short, and without jitter (every delay at the top),
while a burst of late delays on a loaded machine does not fail a correct law."""

from __future__ import annotations

import numpy as np
from scipy import stats

from harness.oracle.checks_stats import LATE_SHARE_ALLOWED, ks_banded
from harness.oracle.planner import ks_gap, ks_two_sided_critical
from harness.oracle.tolerances import EARLY_TOLERANCE_S

LAW = stats.uniform(0.0, 0.025)  # Envoy's retry 1: full jitter on [0, 25 ms]
ALPHA = 1e-4
EPS = 0.0005


def _draw(n: int, seed: int) -> np.ndarray:
    return np.asarray(LAW.rvs(size=n, random_state=np.random.default_rng(seed)))


def test_correct_law_with_small_noise_passes_over_seeds() -> None:
    for seed in range(200):
        x = _draw(400, seed) + np.random.default_rng(seed + 1).uniform(0, EPS, 400)
        assert ks_banded(x, LAW, EARLY_TOLERANCE_S, EPS, LATE_SHARE_ALLOWED).p_value > ALPHA


def test_a_burst_of_late_delays_does_not_fail_a_correct_law() -> None:
    """A fifth of the delays 100 ms late (sleeping threads woke late, issue 8's case)."""
    for seed in range(100):
        x = _draw(1000, seed)
        x[: int(0.2 * x.size)] += 0.1
        assert ks_banded(x, LAW, EARLY_TOLERANCE_S, EPS, LATE_SHARE_ALLOWED).p_value > ALPHA


def test_no_jitter_is_caught_on_the_late_side() -> None:
    x = np.full(100, 0.025) + np.random.default_rng(3).uniform(0, EPS, 100)
    ks = ks_banded(x, LAW, EARLY_TOLERANCE_S, EPS, LATE_SHARE_ALLOWED)
    assert ks.d_long > 0.5 and ks.d_short == 0.0
    assert ks.p_value < ALPHA


def test_waiting_half_and_not_waiting_are_caught_on_the_short_side() -> None:
    half = _draw(200, 5) / 2
    none = np.random.default_rng(6).uniform(0, 0.0005, 200)
    for x in (half, none):
        ks = ks_banded(x, LAW, EARLY_TOLERANCE_S, EPS, LATE_SHARE_ALLOWED)
        assert ks.d_short > 0.3
        assert ks.p_value < ALPHA


def test_the_planned_size_detects_the_planned_shortfall() -> None:
    """The planner's closed form (two-sided critical value) against the test it plans for."""
    short = 0.3
    gap = ks_gap(LAW, short, EARLY_TOLERANCE_S)
    n = int(np.ceil(((ks_two_sided_critical(ALPHA) + stats.norm.ppf(0.9) / 2) / gap) ** 2))
    hits = sum(
        ks_banded(
            _draw(n, s) * (1 - short), LAW, EARLY_TOLERANCE_S, EPS, LATE_SHARE_ALLOWED
        ).p_value
        < ALPHA
        for s in range(100)
    )
    assert hits >= 85  # power 0.9 planned
