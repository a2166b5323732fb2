"""Every jitter model has one law object, and what it draws lies in the window it declares."""

from __future__ import annotations

import numpy as np
import pytest

from harness.policy.expectations import delay_distribution, delay_window, nominal_delay
from harness.policy.jitter_laws import LAWS, law_of
from harness.policy.model import Backoff, JitterModel, RetryPolicy


def test_one_law_per_model() -> None:
    assert set(LAWS) == set(JitterModel)


@pytest.mark.parametrize("model", list(JitterModel))
def test_draws_lie_in_the_window_and_follow_the_law(model: JitterModel) -> None:
    b = Backoff(
        base_s=0.025, multiplier=2, cap_s=0.25, jitter=model, jitter_fraction=0.2, jitter_s=0.01
    )
    policy = RetryPolicy(max_retries=4, backoff=b)
    rng = np.random.default_rng(1)
    prev = np.full(2000, b.base_s)
    for k in range(1, 5):
        w = delay_window(policy, k)
        x = law_of(b).sample(b, nominal_delay(policy, k), rng.random(2000), prev)
        assert (x >= w.lo_s - 1e-12).all() and (x <= w.hi_s + 1e-12).all()
        dist = delay_distribution(policy, k)
        if dist is not None:  # the law the oracle judges is the one the simulator draws from
            assert abs(float(np.mean(x)) - float(dist.mean())) < 0.05 * float(dist.mean()) + 1e-3
        prev = x
