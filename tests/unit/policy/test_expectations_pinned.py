"""Pinned native schedules and hand-computed windows for harness.policy.expectations."""

from __future__ import annotations

import pytest

from fake_backends.profile import Faults
from harness.policy import (
    AttemptProbabilities,
    Backoff,
    JitterModel,
    MethodRule,
    RetryAfterRule,
    RetryOn,
    RetryPolicy,
    attempt_probabilities,
    delay_distribution,
    delay_window,
    is_retryable_method,
    nominal_delay,
    outcome_model,
)


def kuberay(factor: float) -> RetryPolicy:
    return RetryPolicy(
        max_retries=5,
        backoff=Backoff(base_s=0.5, multiplier=factor, cap_s=10.0, integer_exponent=True),
    )


def test_kuberay_default_schedule_is_half_one_two_seconds() -> None:
    assert [nominal_delay(kuberay(2), k) for k in (1, 2, 3)] == [0.5, 1.0, 2.0]


def test_kuberay_non_integer_factor_truncates_exponent() -> None:
    assert [nominal_delay(kuberay(1.5), k) for k in (1, 2, 3, 4)] == [0.5, 0.5, 1.0, 1.5]


def test_urllib3_schedule_first_retry_immediate_then_doubling_capped() -> None:
    policy = RetryPolicy(
        max_retries=6,
        backoff=Backoff(base_s=0.5, multiplier=2, cap_s=3.0, first_retry_waits=False),
    )
    assert [nominal_delay(policy, k) for k in range(1, 6)] == [0.0, 1.0, 2.0, 3.0, 3.0]


@pytest.mark.parametrize(
    ("jitter", "extra", "expected"),
    [
        (JitterModel.NONE, {}, (0.4, 0.4)),
        (JitterModel.FULL, {}, (0.0, 0.4)),
        (JitterModel.EQUAL, {}, (0.2, 0.4)),
        (JitterModel.PERCENT, {"jitter_fraction": 0.5}, (0.2, 0.6000000000000001)),
        (JitterModel.ADDITIVE, {"jitter_s": 0.05}, (0.4, 0.45)),
        (JitterModel.DECORRELATED, {}, (0.1, 2.7)),  # base * 3**k
    ],
)
def test_windows_of_retry_three(
    jitter: JitterModel, extra: dict[str, float], expected: tuple[float, float]
) -> None:
    policy = RetryPolicy(max_retries=3, backoff=Backoff(base_s=0.1, jitter=jitter, **extra))
    w = delay_window(policy, 3)
    assert (w.lo_s, w.hi_s) == pytest.approx(expected)
    assert w.nominal_s == pytest.approx(0.4)


def test_additive_jitter_is_capped_after_adding() -> None:
    policy = RetryPolicy(
        max_retries=3,
        backoff=Backoff(base_s=1, cap_s=2.5, jitter=JitterModel.ADDITIVE, jitter_s=1.0),
    )
    w = delay_window(policy, 2)
    assert (w.lo_s, w.hi_s) == (2.0, 2.5)
    assert delay_distribution(policy, 2) is None  # atom at the cap


def test_retry_after_replaces_or_raises_the_backoff() -> None:
    base = Backoff(base_s=1.0, jitter=JitterModel.FULL)
    replaces = RetryPolicy(
        max_retries=2, backoff=base, retry_after=RetryAfterRule(honoured=True, max_s=5)
    )
    assert delay_window(replaces, 1, retry_after_s=9).lo_s == 5
    assert delay_window(replaces, 1, retry_after_s=9).hi_s == 5
    raises = RetryPolicy(
        max_retries=2,
        backoff=base,
        retry_after=RetryAfterRule(honoured=True, replaces_backoff=False),
    )
    w = delay_window(raises, 1, retry_after_s=0.5)
    assert (w.lo_s, w.hi_s) == (0.5, 1.0)
    ignored = RetryPolicy(max_retries=2, backoff=base)
    assert delay_window(ignored, 1, retry_after_s=9).hi_s == 1.0
    assert delay_window(raises, 1, retry_after_s=3, status=500).hi_s == 1.0


def test_attempt_probabilities_split_by_status_method_and_kind() -> None:
    policy = RetryPolicy(
        max_retries=2,
        retry_on=RetryOn(statuses=frozenset({503}), reset=True),
        methods=MethodRule(retryable=frozenset({"GET"})),
    )
    faults = Faults(failure_rate=0.4, failure_status={503: 3, 500: 1}, reset_rate=0.1)
    get = attempt_probabilities(policy, faults, "get")
    assert get.retryable_failure == pytest.approx(0.3 + 0.1)
    assert get.terminal_failure == pytest.approx(0.1)
    assert get.success == pytest.approx(0.5)
    post = attempt_probabilities(policy, faults, "POST")
    assert post.retryable_failure == 0
    assert post.terminal_failure == pytest.approx(0.5)


def test_outcome_model_hand_computed() -> None:
    policy = RetryPolicy(max_retries=2)
    m = outcome_model(policy, AttemptProbabilities(0.5, 0.4, 0.1))
    assert m.attempts_pmf == pytest.approx((0.6, 0.24, 0.16))
    assert m.success_probability == pytest.approx(0.5 * (1 + 0.4 + 0.16))
    assert m.expected_attempts == pytest.approx(0.6 + 0.48 + 0.48)


def test_minimum_only_window_is_unbounded_above() -> None:
    policy = RetryPolicy(
        max_retries=2, backoff=Backoff(base_s=0.2, multiplier=1, minimum_only=True)
    )
    w = delay_window(policy, 2)
    assert (w.lo_s, w.hi_s) == (0.2, float("inf"))
    assert delay_distribution(policy, 2) is None


def test_method_rule_triggers_and_idempotency_key() -> None:
    policy = RetryPolicy(
        max_retries=1,
        methods=MethodRule(retryable=frozenset({"GET"}), idempotency_key_header="Idempotency-Key"),
    )
    assert is_retryable_method(policy, "POST", has_idempotency_key=False, trigger="connect")
    assert not is_retryable_method(policy, "POST", has_idempotency_key=False, trigger="reset")
    assert is_retryable_method(policy, "POST", has_idempotency_key=True, trigger="status")
    strict = policy.model_copy(
        update={"methods": MethodRule(retryable=frozenset(), connect_failure_any_method=False)}
    )
    assert not is_retryable_method(strict, "GET", has_idempotency_key=True, trigger="connect")


def test_hang_is_retryable_only_with_a_per_try_timeout() -> None:
    faults = Faults(hang_rate=0.2, failure_rate=0.1, failure_status={429: 1}, retry_after="1")
    no_timeout = RetryPolicy(max_retries=2, retry_on=RetryOn(per_try_timeout=True))
    assert attempt_probabilities(no_timeout, faults, "GET").retryable_failure == 0
    with_timeout = no_timeout.model_copy(update={"per_try_timeout_s": 1.0})
    assert attempt_probabilities(with_timeout, faults, "GET").retryable_failure == 0.2
    urllib3_like = with_timeout.model_copy(
        update={
            "retry_after": RetryAfterRule(
                honoured=True, statuses=frozenset({413, 429, 503}), makes_retryable=True
            )
        }
    )
    probs = attempt_probabilities(urllib3_like, faults, "GET")
    assert probs.retryable_failure == pytest.approx(0.3)
    assert probs.success == pytest.approx(0.7)
