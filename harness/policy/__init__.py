"""The canonical retry policy and its expectations (delay windows, outcome model)."""

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
    "Backoff",
    "Budget",
    "JitterModel",
    "MethodRule",
    "RetryAfterRule",
    "RetryOn",
    "RetryPolicy",
]
