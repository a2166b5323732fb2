"""The outcome model of one traffic group, including the deterministic ``fail_first_n`` shift.

``harness.policy.expectations.outcome_model`` covers independent per-attempt draws. The backends'
``fail_first_n`` is deterministic: the first N attempts of every request fail with one status.
When that status is retried, a request makes at least min(N, max_retries) + 1 attempts and the
independent model applies to the attempts that remain; when it is not retried, every request
makes exactly one attempt and fails.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from fake_backends.profile import RETRY_AFTER_STATUSES, Faults
from harness.policy.expectations import (
    attempt_probabilities,
    is_retryable_method,
    is_retryable_status,
    outcome_model,
)
from harness.policy.model import RetryPolicy


@dataclass(frozen=True)
class GroupModel:
    """P(attempts == j) for j = 1..len(pmf), the success probability, and provenance."""

    pmf: npt.NDArray[np.float64]
    success_p: float
    retryable_p: float  # per-attempt probability of a retryable failure (independent part)
    first_n: int  # attempts forced to fail first (0: none)
    first_n_retried: bool

    @property
    def deterministic(self) -> bool:
        return bool(np.isclose(self.pmf.max(), 1.0))

    def tail(self, j: int) -> float:
        """P(attempts >= j)."""
        return float(self.pmf[j - 1 :].sum()) if j >= 1 else 1.0


def peer_capped(policy: RetryPolicy, reachable: int | None) -> RetryPolicy:
    """The policy the models describe when each retry goes to another upstream peer.

    A policy that tries each upstream server at most once per request (``different_upstream``
    and ``upstream_once``: nginx) makes at most ``reachable`` attempts, so at most
    ``reachable - 1`` retries, whatever it declares.
    The invariants apply the same rule (``stop_excuses.NO_PEER``: no retry is owed once every
    reachable replica was tried); the models and the planner apply it here, so both sides
    expect the same attempts. ``reachable``: the replicas the run started, else those seen
    (``UpstreamPeers.reachable``); None: not known (the policy unchanged).
    """
    if not (policy.different_upstream and policy.upstream_once) or reachable is None:
        return policy
    cap = max(reachable - 1, 0)
    if cap >= policy.max_retries:
        return policy
    return policy.model_copy(update={"max_retries": cap})


def group_model(
    policy: RetryPolicy, faults: Faults, method: str, *, has_idempotency_key: bool = False
) -> GroupModel:
    """The attempts distribution and success probability of requests of one group."""
    probs = attempt_probabilities(policy, faults, method, has_idempotency_key=has_idempotency_key)
    n_max = policy.max_retries + 1
    first_n = faults.fail_first_n
    if first_n == 0:
        m = outcome_model(policy, probs)
        return GroupModel(
            np.array(m.attempts_pmf), m.success_probability, probs.retryable_failure, 0, False
        )
    status = faults.fail_first_n_status
    has_ra = faults.retry_after is not None and status in RETRY_AFTER_STATUSES
    retried = is_retryable_status(policy, status, has_retry_after=has_ra) and is_retryable_method(
        policy, method, has_idempotency_key=has_idempotency_key, trigger="status"
    )
    pmf = np.zeros(n_max)
    if not retried:
        pmf[0] = 1.0
        return GroupModel(pmf, 0.0, probs.retryable_failure, first_n, False)
    if first_n > policy.max_retries:
        pmf[-1] = 1.0
        return GroupModel(pmf, 0.0, probs.retryable_failure, first_n, True)
    rest = policy.model_copy(update={"max_retries": policy.max_retries - first_n})
    m = outcome_model(rest, probs)
    pmf[first_n:] = m.attempts_pmf
    return GroupModel(pmf, m.success_probability, probs.retryable_failure, first_n, True)
