"""The canonical retry policy and its expectations (delay windows, outcome model)."""

from harness.policy.expectations import (
    AttemptProbabilities,
    DelayWindow,
    OutcomeModel,
    attempt_probabilities,
    delay_distribution,
    delay_window,
    delay_windows,
    honours_retry_after,
    is_retryable_method,
    is_retryable_status,
    nominal_delay,
    outcome_model,
)
from harness.policy.model import (
    Backoff,
    Budget,
    JitterModel,
    MethodRule,
    RetryAfterRule,
    RetryOn,
    RetryPolicy,
)

__all__ = [
    "AttemptProbabilities",
    "Backoff",
    "Budget",
    "DelayWindow",
    "JitterModel",
    "MethodRule",
    "OutcomeModel",
    "RetryAfterRule",
    "RetryOn",
    "RetryPolicy",
    "attempt_probabilities",
    "delay_distribution",
    "delay_window",
    "delay_windows",
    "honours_retry_after",
    "is_retryable_method",
    "is_retryable_status",
    "nominal_delay",
    "outcome_model",
]
