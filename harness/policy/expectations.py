"""What a declared :class:`RetryPolicy` predicts: delay windows, delay laws, outcome model.

Pure functions, no I/O. Conventions (see ``harness/policy/model.py``):

* ``k`` is the retry index, ``k >= 1`` (retry 1 is the second attempt).
* Delay ``k`` is the arrival time of attempt ``k`` minus the end of attempt ``k - 1``.
* The nominal (un-jittered) delay is ``d_k = min(base * multiplier**(k-1), cap)``;
  ``first_retry_waits=False`` makes ``d_1 = 0`` (urllib3: 0, 2f, 4f, ...);
  ``integer_exponent=True`` truncates ``multiplier**(k-1)`` to an integer first (KubeRay).

Windows per jitter model (``d`` = nominal delay after the cap; each model's window, law and
sampling live in its object in :mod:`harness.policy.jitter_laws`):

* NONE ``[d, d]``; FULL ``[0, d]``; EQUAL ``[d/2, d]``; PERCENT ``[d(1-p), d(1+p)]``
  (the cap applies before the jitter, as in gRPC A6 and Traefik);
* ADDITIVE ``[d, min(d + j, cap)]`` (urllib3 adds the jitter, then caps);
* DECORRELATED ``[base, min(cap, base * 3**k)]``: a documented bound, not an exact law
  (each delay is ``U[base, 3 * previous)`` capped, so the k-th delay can reach ``base * 3**k``).

``minimum_only`` (Gateway API GEP-1731 ``backoff``) makes every window ``[d, inf)``.

The outcome model treats attempts as independent draws from a fault profile's partition
(``fake_backends.profile``): ``fail_first_n`` and outages are deterministic and left to the oracle.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from fake_backends.profile import RETRY_AFTER_STATUSES, Faults
from harness.policy.jitter_laws import capped, law_of
from harness.policy.model import RetryPolicy

if TYPE_CHECKING:
    from collections.abc import Sequence

Trigger = Literal["status", "reset", "connect", "timeout"]

_PROBABILITY_TOLERANCE = 1e-9


@dataclass(frozen=True)
class DelayWindow:
    """Where delay k must lie: ``lo_s <= delay <= hi_s``; ``nominal_s`` is the un-jittered d_k."""

    lo_s: float
    hi_s: float
    nominal_s: float

    def contains(self, delay_s: float, *, epsilon_s: float = 0.0) -> bool:
        """Whether ``delay_s`` lies in ``[lo_s - epsilon_s, hi_s + epsilon_s]``."""
        return self.lo_s - epsilon_s <= delay_s <= self.hi_s + epsilon_s


def _growth(policy: RetryPolicy, k: int) -> float:
    """multiplier**(k-1), truncated to an integer for KubeRay; inf on overflow."""
    b = policy.backoff
    try:
        growth = b.multiplier ** (k - 1)
    except OverflowError:
        return math.inf
    if b.integer_exponent and math.isfinite(growth):
        return float(math.floor(growth))
    return growth


def _check_k(k: int) -> None:
    if k < 1:
        raise ValueError(f"retry index k must be >= 1 (got {k})")


def _raw_delay(policy: RetryPolicy, k: int) -> float:
    """base * growth before the cap (0 when the base is 0, never NaN)."""
    base = policy.backoff.base_s
    if base == 0:
        return 0.0
    return base * _growth(policy, k)


def _first_retry_immediate(policy: RetryPolicy, k: int) -> bool:
    return k == 1 and not policy.backoff.first_retry_waits


def nominal_delay(policy: RetryPolicy, k: int) -> float:
    """The un-jittered delay before retry ``k`` (k >= 1), after the cap."""
    _check_k(k)
    if _first_retry_immediate(policy, k):
        return 0.0
    return capped(policy.backoff, _raw_delay(policy, k))


def _backoff_window(policy: RetryPolicy, k: int) -> DelayWindow:
    b = policy.backoff
    d = nominal_delay(policy, k)
    if _first_retry_immediate(policy, k):
        return DelayWindow(0.0, 0.0, 0.0)
    if b.minimum_only:
        return DelayWindow(d, math.inf, d)
    lo, hi = law_of(b).window(b, d, _raw_delay(policy, k), k)
    return DelayWindow(lo, hi, d)


def honours_retry_after(policy: RetryPolicy, status: int | None = None) -> bool:
    """Whether a Retry-After header on an answer with ``status`` changes the next delay.

    ``status=None`` means "some status the caller already knows is covered".
    """
    rule = policy.retry_after
    return rule.honoured and (status is None or status in rule.statuses)


def delay_window(
    policy: RetryPolicy,
    k: int,
    *,
    retry_after_s: float | None = None,
    status: int | None = None,
) -> DelayWindow:
    """The window of delay ``k`` (arrival of attempt k minus end of attempt k-1).

    With ``retry_after_s`` (the parsed Retry-After of the answer that triggered retry k) and a
    policy that honours it for ``status`` (``None``: do not check the status), the value is first
    clamped to ``retry_after.max_s``; then ``replaces_backoff`` makes the window exactly that value
    (urllib3; a value of 0 falls back to the backoff, as urllib3's ``if retry_after:`` does),
    otherwise the window is the backoff window raised to at least the Retry-After value.
    """
    _check_k(k)
    window = _backoff_window(policy, k)
    if retry_after_s is None or not honours_retry_after(policy, status):
        return window
    rule = policy.retry_after
    ra = max(0.0, retry_after_s)
    if rule.max_s is not None:
        ra = min(ra, rule.max_s)
    if rule.replaces_backoff:
        if ra <= 0:
            return window
        return DelayWindow(ra, ra, ra)
    return DelayWindow(max(window.lo_s, ra), max(window.hi_s, ra), max(window.nominal_s, ra))


def delay_windows(policy: RetryPolicy) -> tuple[DelayWindow, ...]:
    """The backoff windows of every retry 1..max_retries (no Retry-After)."""
    return tuple(delay_window(policy, k) for k in range(1, policy.max_retries + 1))


def delay_distribution(policy: RetryPolicy, k: int) -> Any | None:
    """The scipy.stats frozen law of delay ``k`` under the jitter model, or None.

    FULL, EQUAL, PERCENT and ADDITIVE give ``scipy.stats.uniform`` on the window. None when the
    delay is deterministic (NONE, a degenerate window, urllib3's immediate first retry) or has no
    simple closed form (DECORRELATED; ``minimum_only``; ADDITIVE when the cap cuts into the
    jitter, which puts an atom at the cap).
    """
    _check_k(k)
    b = policy.backoff
    if b.minimum_only:
        return None
    window = _backoff_window(policy, k)
    width = window.hi_s - window.lo_s
    if not math.isfinite(width) or width <= 0:
        return None
    return law_of(b).distribution(b, window.lo_s, window.hi_s, _raw_delay(policy, k))


def is_retryable_method(
    policy: RetryPolicy, method: str, *, has_idempotency_key: bool, trigger: Trigger
) -> bool:
    """Whether the method rule lets a failure of kind ``trigger`` on ``method`` be retried."""
    rule = policy.methods
    if trigger == "connect" and rule.connect_failure_any_method:
        return True
    if rule.retryable is None or method.upper() in rule.retryable:
        return True
    return has_idempotency_key and rule.idempotency_key_header is not None


def is_retryable_status(policy: RetryPolicy, status: int, *, has_retry_after: bool = False) -> bool:
    """Whether an answer with ``status`` is a retry trigger (the method rule is separate).

    ``has_retry_after``: the answer carried Retry-After; with
    ``retry_after.makes_retryable`` (urllib3) such an answer is retried when its status is in
    ``retry_after.statuses`` even if not in ``retry_on.statuses``.
    """
    if status in policy.retry_on.statuses:
        return True
    rule = policy.retry_after
    return has_retry_after and rule.honoured and rule.makes_retryable and status in rule.statuses


@dataclass(frozen=True)
class AttemptProbabilities:
    """Per-attempt outcome probabilities under a fault profile (they sum to 1)."""

    success: float
    retryable_failure: float
    terminal_failure: float

    def __post_init__(self) -> None:
        parts = (self.success, self.retryable_failure, self.terminal_failure)
        if any(p < -_PROBABILITY_TOLERANCE for p in parts):
            raise ValueError(f"probabilities must be >= 0 (got {parts})")
        if abs(sum(parts) - 1.0) > 1e-6:
            raise ValueError(f"probabilities must sum to 1 (got {sum(parts)})")


def attempt_probabilities(
    policy: RetryPolicy, faults: Faults, method: str, *, has_idempotency_key: bool = False
) -> AttemptProbabilities:
    """Split one attempt's outcomes under ``faults`` into success / retryable / terminal.

    Failure statuses follow ``faults.failure_status`` (normalised weights); a status counts as
    retryable if :func:`is_retryable_status` says so (Retry-After present when the profile sets
    ``retry_after`` and the status is 429/503) and the method rule allows ``"status"``.
    A reset is retryable with ``retry_on.reset`` (trigger ``"reset"``); a hang with
    ``retry_on.per_try_timeout`` and a ``per_try_timeout_s`` (trigger ``"timeout"``). Ignores
    ``fail_first_n``, outages and latency (deterministic or time-based: left to the oracle).
    """

    def method_ok(trigger: Trigger) -> bool:
        return is_retryable_method(
            policy, method, has_idempotency_key=has_idempotency_key, trigger=trigger
        )

    retryable = 0.0
    terminal = 0.0
    status_ok = method_ok("status")
    for status, weight in faults.failure_status.items():
        mass = faults.failure_rate * weight
        has_ra = faults.retry_after is not None and status in RETRY_AFTER_STATUSES
        if status_ok and is_retryable_status(policy, status, has_retry_after=has_ra):
            retryable += mass
        else:
            terminal += mass
    if policy.retry_on.reset and method_ok("reset"):
        retryable += faults.reset_rate
    else:
        terminal += faults.reset_rate
    hang_retried = (
        policy.retry_on.per_try_timeout
        and policy.per_try_timeout_s is not None
        and method_ok("timeout")
    )
    if hang_retried:
        retryable += faults.hang_rate
    else:
        terminal += faults.hang_rate
    success = max(0.0, 1.0 - retryable - terminal)
    return AttemptProbabilities(success, retryable, terminal)


@dataclass(frozen=True)
class OutcomeModel:
    """Distribution of the number of attempts per request and its success probability."""

    attempts_pmf: tuple[float, ...]  # P(attempts == j) for j = 1..max_retries+1 (index j-1)
    success_probability: float
    expected_attempts: float

    @property
    def max_attempts(self) -> int:
        return len(self.attempts_pmf)


def outcome_model(policy: RetryPolicy, probs: AttemptProbabilities) -> OutcomeModel:
    """Truncated geometric model of one request under independent attempts.

    With ``r`` retryable, ``s`` success, ``t`` terminal and ``n = max_retries``:
    ``P(A=j) = r**(j-1) * (s+t)`` for ``j <= n``, ``P(A=n+1) = r**n``;
    success probability ``s * sum(r**i for i in 0..n)``. Deadlines and budgets are ignored.
    """
    n = policy.max_retries
    r = probs.retryable_failure
    stop = probs.success + probs.terminal_failure
    pmf: list[float] = [r ** (j - 1) * stop for j in range(1, n + 1)]
    pmf.append(r**n)
    success = probs.success * sum(r**i for i in range(n + 1))
    expected = _mean(pmf)
    return OutcomeModel(tuple(pmf), success, expected)


def _mean(pmf: Sequence[float]) -> float:
    return math.fsum(j * p for j, p in enumerate(pmf, start=1))
