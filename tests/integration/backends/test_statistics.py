"""Over 10,000 attempts the injected failure rate and status mix match the profile.

Each check is a two-sided test at alpha = 0.001: the failure count must lie in the central
99.9 % binomial interval around FAILURE_RATE, and the status mix must pass a chi-square
goodness-of-fit test with p > 0.001. Decisions are seeded, so the outcome for a given seed is
fixed; several seeds are covered by the pure-function unit tests.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from scipy import stats

from fake_backends.profile import FaultProfile
from harness.processes.backends import BackendHandle
from tests.integration.backends.load import fire

pytestmark = [pytest.mark.integration, pytest.mark.slow]
ALPHA = 0.001
N = 10_000
RATE = 0.3
MIX = {503: 0.7, 500: 0.2, 429: 0.1}


def test_failure_rate_and_status_mix_over_10000_attempts(fresh: BackendHandle) -> None:
    fresh.admin.put_faults(FaultProfile(failure_rate=RATE, failure_status=MIX, seed=20240601))
    outcomes = fire(fresh.url, [f"stat-{i}" for i in range(N)], threads=6)
    seen = Counter(outcomes)
    assert set(seen) <= {200, *MIX}, seen

    failures = N - seen[200]
    low, high = stats.binom.interval(1 - ALPHA, N, RATE)
    assert low <= failures <= high, (failures, low, high)

    statuses = sorted(MIX)
    observed = [seen[s] for s in statuses]
    expected = np.array([MIX[s] for s in statuses]) * failures
    assert stats.chisquare(observed, expected).pvalue > ALPHA, observed

    # The journal saw exactly the same attempts and statuses the client saw.
    records = list(fresh.admin.iter_journal())
    assert len(records) == N
    assert Counter(r["status"] for r in records) == seen
    assert Counter(r["fault"] for r in records) == {"none": seen[200], "status": failures}
    assert fresh.admin.stats().dropped == 0
