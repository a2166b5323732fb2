"""The fault decision is a pure, seeded function with the documented partition and precedence."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from fake_backends.decision import decide, draws, latency_ms, outage_open, pick_status
from fake_backends.profile import Faults, Latency, Outage
from fake_backends.records import FaultKind

ALPHA = 0.001


@given(
    seed=st.integers(-(2**63), 2**63),
    replica=st.text(max_size=8),
    rid=st.one_of(st.none(), st.text(max_size=40)),
    attempt=st.integers(0, 10_000),
)
def test_draws_are_reproducible_and_in_unit_interval(
    seed: int, replica: str, rid: str | None, attempt: int
) -> None:
    first = draws(seed, replica, rid, attempt)
    assert first == draws(seed, replica, rid, attempt)
    assert all(0.0 <= u < 1.0 for u in first)


def test_each_input_of_the_tuple_changes_the_draw() -> None:
    base = draws(1, "r0", "req-1", 0)
    assert draws(2, "r0", "req-1", 0) != base
    assert draws(1, "r1", "req-1", 0) != base
    assert draws(1, "r0", "req-2", 0) != base
    assert draws(1, "r0", "req-1", 1) != base
    assert draws(1, "r0", None, 0, anon_seq=1) != draws(1, "r0", None, 0, anon_seq=2)


@pytest.mark.parametrize("seed", [0, 7, 2024])
def test_partition_frequencies_match_the_rates(seed: int) -> None:
    faults = Faults(reset_rate=0.05, hang_rate=0.1, failure_rate=0.3)
    n = 20_000
    kinds = [decide(faults, seed, "r0", f"id-{i}", 0).fault for i in range(n)]
    counts = [kinds.count(k) for k in (FaultKind.RESET, FaultKind.HANG, FaultKind.STATUS)]
    counts.append(n - sum(counts))
    expected = np.array([0.05, 0.1, 0.3, 0.55]) * n
    assert stats.chisquare(counts, expected).pvalue > ALPHA


def test_status_mix_follows_weights() -> None:
    faults = Faults(failure_rate=1.0, failure_status={503: 0.7, 500: 0.2, 429: 0.1})
    n = 20_000
    statuses = [decide(faults, 3, "r0", f"id-{i}", 0).status for i in range(n)]
    counts = [statuses.count(s) for s in (429, 500, 503)]
    assert stats.chisquare(counts, np.array([0.1, 0.2, 0.7]) * n).pvalue > ALPHA


def test_pick_status_boundaries() -> None:
    mix = {429: 0.1, 500: 0.2, 503: 0.7}
    assert pick_status(mix, 0.0) == 429
    assert pick_status(mix, 0.0999) == 429
    assert pick_status(mix, 0.1) == 500
    assert pick_status(mix, 0.2999) == 500
    assert pick_status(mix, 0.3001) == 503
    assert pick_status(mix, 0.999999) == 503


def test_fail_first_n_wins_over_the_draw_then_stops() -> None:
    faults = Faults(fail_first_n=2, fail_first_n_status=500, failure_rate=0.0)
    kinds = [decide(faults, 0, "r0", "x", a) for a in range(4)]
    assert [d.fault for d in kinds] == [FaultKind.FIRST_N] * 2 + [FaultKind.NONE] * 2
    assert [d.status for d in kinds] == [500, 500, 200, 200]


def test_outage_window_precedence_and_phase() -> None:
    outage = Outage(duration_s=5, period_s=30, offset_s=10, status=502)
    faults = Faults(outage=outage, retry_after="3")
    assert not outage_open(faults, 9.9)
    assert outage_open(faults, 10.0)
    assert outage_open(faults, 44.9)
    assert not outage_open(faults, 45.0)
    inside = decide(faults, 0, "r0", "x", 0, now_s=41.0)
    assert (inside.fault, inside.status, inside.retry_after) == (FaultKind.OUTAGE, 502, None)
    assert decide(faults, 0, "r0", "x", 0, now_s=50.0).fault is FaultKind.NONE


def test_retry_after_only_on_429_and_503() -> None:
    faults = Faults(failure_rate=1.0, failure_status={503: 1, 500: 1, 429: 1}, retry_after="7")
    seen = {}
    for i in range(200):
        d = decide(faults, 0, "r0", f"id-{i}", 0)
        seen[d.status] = d.retry_after
    assert seen == {429: "7", 500: None, 503: "7"}


def test_latency_kinds() -> None:
    assert latency_ms(Latency(), 0.5) == 0.0
    assert latency_ms(Latency(kind="fixed", ms=40), 0.9) == 40
    assert latency_ms(Latency(kind="uniform", min_ms=20, max_ms=80), 0.5) == pytest.approx(50)
    lognormal = Latency(kind="lognormal", median_ms=50, sigma=0.5)
    assert latency_ms(lognormal, 0.5) == pytest.approx(50)
    assert latency_ms(lognormal, 0.9) > 50 > latency_ms(lognormal, 0.1)


def test_uniform_latency_is_uniform_over_attempts() -> None:
    faults = Faults(latency=Latency(kind="uniform", min_ms=20, max_ms=80))
    samples = [decide(faults, 5, "r0", f"id-{i}", 0).latency_ms for i in range(5000)]
    assert stats.kstest(samples, stats.uniform(loc=20, scale=60).cdf).pvalue > ALPHA


def test_hang_carries_its_bound_and_no_latency() -> None:
    faults = Faults(hang_rate=1.0, hang_s=2.5, latency=Latency(kind="fixed", ms=10))
    d = decide(faults, 0, "r0", "x", 0)
    assert (d.fault, d.status, d.hang_s, d.latency_ms) == (FaultKind.HANG, None, 2.5, 0.0)
