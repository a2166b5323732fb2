"""Sample-size planner: how many logical requests a run needs to catch a stated deviation.

A scenario states what it must detect (:class:`DetectionGoals`); :func:`plan` turns that, the
family-wise α and the power into a sample size per statistical check. Each check is planned at
the Bonferroni level α/m (m = number of planned checks): Holm's first step, so a plan is never
optimistic about the correction. The run calls a statistical check with fewer samples than
planned *inconclusive*, never *pass*.

Closed forms used:

* success rate: normal approximation of the two-sided binomial test (or, when the model says
  every request succeeds, the chance that at least one failure shows up);
* attempt distribution: "one extra retry" puts mass where the model has none, so one trace there
  suffices (chance >= power); "one retry too few" by the non-central χ² power of the G-test;
* jitter distribution: the asymptotic Kolmogorov critical value K_α (``kstwobign``) against the
  largest CDF gap Δ between the declared law and the law of delays ``delay_shortfall`` short
  (after the ε band the oracle grants): n = ((K_α + z_power / 2) / Δ)²;
* fault audit: normal approximation for a relative shift of the total fault rate.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from fake_backends.profile import FaultProfile
from harness.oracle.model import GroupModel, group_model
from harness.policy.expectations import delay_distribution
from harness.policy.model import RetryPolicy

DEFAULT_ALPHA = 0.001
DEFAULT_POWER = 0.9
_MAX_N = 10**9


class DetectionGoals(BaseModel):
    """The deviations a run must detect with the stated power (None: do not plan for it)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    extra_retries: int | None = Field(default=1, ge=1, description="Retries beyond/below the max")
    success_rate_drop: float | None = Field(
        default=0.01, gt=0, lt=1, description="Absolute drop of the success rate"
    )
    delay_shortfall: float | None = Field(
        default=0.2, gt=0, lt=1, description="Delays this fraction shorter than declared"
    )
    fault_rate_shift: float | None = Field(
        default=0.25, gt=0, lt=1, description="Relative shift of the injected fault rate"
    )
    alpha: float = Field(default=DEFAULT_ALPHA, gt=0, lt=1)
    power: float = Field(default=DEFAULT_POWER, gt=0, lt=1)


class CheckPlan(BaseModel):
    """The sample one statistical check needs."""

    model_config = ConfigDict(frozen=True)

    n: int = Field(description="Samples in the check's own unit")
    unit: str
    requests: int = Field(description="Logical requests that yield n samples on average")
    detail: str
    extra: dict[str, Any] = Field(default_factory=dict)


class SamplePlan(BaseModel):
    """Per statistical check, the samples needed; ``requests`` is the largest of them."""

    model_config = ConfigDict(frozen=True)

    alpha: float
    power: float
    per_check_alpha: float
    checks: dict[str, CheckPlan] = Field(default_factory=dict)

    @property
    def requests(self) -> int:
        return max((c.requests for c in self.checks.values()), default=0)

    def n_for(self, check: str) -> int:
        c = self.checks.get(check)
        return c.n if c is not None else 0


def _ceil(x: float) -> int:
    return _MAX_N if not math.isfinite(x) else max(1, math.ceil(x))


def _at_least_one(q: float, power: float) -> int:
    """Smallest n with P(at least one event of probability q in n tries) >= power."""
    if q <= 0:
        return _MAX_N
    if q >= 1:
        return 1
    return _ceil(math.log1p(-power) / math.log1p(-q))


def binomial_n(p0: float, p1: float, alpha: float, power: float) -> int:
    """Samples for a two-sided binomial test of p0 to detect p1 (normal approximation)."""
    from scipy import stats

    if abs(p0 - p1) < 1e-15:
        return _MAX_N
    if p0 >= 1 - 1e-12 or p0 <= 1e-12:  # any contrary outcome rejects at once
        return _at_least_one(abs(p1 - p0), power)
    za = float(stats.norm.isf(alpha / 2))
    zb = float(stats.norm.ppf(power))
    num = za * math.sqrt(p0 * (1 - p0)) + zb * math.sqrt(max(p1 * (1 - p1), 0.0))
    return _ceil((num / (p1 - p0)) ** 2)


def _plan_success(m: GroupModel, goals: DetectionGoals, a: float) -> CheckPlan | None:
    if goals.success_rate_drop is None:
        return None
    p0 = m.success_p
    p1 = max(p0 - goals.success_rate_drop, 0.0)
    n = binomial_n(p0, p1, a, goals.power)
    return CheckPlan(
        n=n,
        unit="requests",
        requests=n,
        detail=f"detect a success rate of {p1:.4f} instead of {p0:.4f}",
    )


def _chi2_n(p0: np.ndarray, p1: np.ndarray, a: float, power: float) -> int:
    """Samples for the χ²/G goodness-of-fit test of p0 to reach ``power`` against p1."""
    from scipy import stats

    keep = p0 > 0
    if (p1[~keep] > 0).any():
        return _at_least_one(float(p1[~keep].sum()), power)
    w2 = float((((p1 - p0)[keep]) ** 2 / p0[keep]).sum())
    df = max(int(keep.sum()) - 1, 1)
    if w2 <= 0:
        return _MAX_N
    crit = float(stats.chi2.isf(a, df))
    lo, hi = 1, 1
    while float(stats.ncx2.sf(crit, df, hi * w2)) < power:
        hi *= 2
        if hi > _MAX_N:
            return _MAX_N
    while lo < hi:
        mid = (lo + hi) // 2
        if float(stats.ncx2.sf(crit, df, mid * w2)) >= power:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _plan_attempts(
    policy: RetryPolicy,
    profile_faults: Any,
    method: str,
    m: GroupModel,
    goals: DetectionGoals,
    a: float,
) -> CheckPlan | None:
    if goals.extra_retries is None:
        return None
    e = goals.extra_retries
    if m.deterministic:
        return CheckPlan(
            n=1,
            unit="requests",
            requests=1,
            detail="deterministic attempt count: one request outside it fails the check",
        )
    more = policy.model_copy(update={"max_retries": policy.max_retries + e})
    m_more = group_model(more, profile_faults, method)
    size = len(m_more.pmf)
    p0 = np.zeros(size)
    p0[: len(m.pmf)] = m.pmf
    n_more = _chi2_n(p0, m_more.pmf, a, goals.power)
    n_fewer = 0
    if policy.max_retries - e >= 0:
        fewer = policy.model_copy(update={"max_retries": policy.max_retries - e})
        m_fewer = group_model(fewer, profile_faults, method)
        p1 = np.zeros(len(m.pmf))
        p1[: len(m_fewer.pmf)] = m_fewer.pmf
        n_fewer = _chi2_n(m.pmf, p1, a, goals.power)
    n = max(n_more, n_fewer)
    return CheckPlan(
        n=n,
        unit="requests",
        requests=n,
        detail=f"detect {e} retr{'y' if e == 1 else 'ies'} more ({n_more} requests) "
        f"or fewer ({n_fewer} requests) than max_retries={policy.max_retries}",
        extra={"n_more": n_more, "n_fewer": n_fewer},
    )


def ks_gap(dist: Any, shortfall: float, epsilon_s: float) -> float:
    """Largest CDF gap between ``dist`` and delays ``shortfall`` short, beyond the ε band."""
    lo, hi = (float(v) for v in dist.support())
    xs = np.linspace(lo - epsilon_s, hi + epsilon_s, 4001)
    alt = dist.cdf(xs / (1 - shortfall))
    gap = np.maximum(alt - dist.cdf(xs + epsilon_s), dist.cdf(xs - epsilon_s) - alt)
    return float(max(gap.max(), 0.0))


def _plan_jitter(
    policy: RetryPolicy, m: GroupModel, goals: DetectionGoals, a: float, epsilon_s: float
) -> CheckPlan | None:
    from scipy import stats

    if goals.delay_shortfall is None:
        return None
    per_index: dict[str, dict[str, float]] = {}
    k_crit = float(stats.kstwobign.isf(a))
    zb = float(stats.norm.ppf(goals.power))
    first: tuple[int, int, int] | None = None
    for k in range(1, policy.max_retries + 1):
        dist = delay_distribution(policy, k)
        if dist is None:
            continue
        gap = ks_gap(dist, goals.delay_shortfall, epsilon_s)
        n_k = _ceil(((k_crit + zb / 2) / gap) ** 2) if gap > 0 else _MAX_N
        reach = m.tail(k + 1)
        req = _ceil(n_k / reach) if reach > 0 else _MAX_N
        per_index[str(k)] = {"n": n_k, "requests": req, "gap": gap}
        if first is None:
            first = (k, n_k, req)
    if first is None:
        return None
    k, n_k, req = first
    return CheckPlan(
        n=n_k,
        unit=f"retries at index {k}",
        requests=req,
        detail=f"detect delays {goals.delay_shortfall:.0%} short at retry {k} "
        f"(KS gap {per_index[str(k)]['gap']:.3f} beyond ε={epsilon_s * 1e3:.2f} ms)",
        extra={"index": k, "per_index": per_index},
    )


def _plan_faults(
    profile_faults: Any, m: GroupModel, goals: DetectionGoals, a: float
) -> CheckPlan | None:
    if goals.fault_rate_shift is None:
        return None
    rho = profile_faults.failure_rate + profile_faults.reset_rate + profile_faults.hang_rate
    mean_attempts = float((np.arange(1, len(m.pmf) + 1) * m.pmf).sum())
    if rho <= 0:
        return CheckPlan(
            n=1, unit="attempts", requests=1, detail="no random faults: any injected one fails"
        )
    n = binomial_n(rho, rho * (1 - goals.fault_rate_shift), a, goals.power)
    return CheckPlan(
        n=n,
        unit="attempts",
        requests=_ceil(n / max(mean_attempts, 1.0)),
        detail=f"detect a fault rate {goals.fault_rate_shift:.0%} below the profile's {rho:.4f}",
    )


def plan(
    policy: RetryPolicy,
    profile: FaultProfile,
    goals: DetectionGoals | None = None,
    alpha: float | None = None,
    power: float | None = None,
    *,
    epsilon_s: float = 0.0,
    method: str = "GET",
    path: str = "/",
    has_idempotency_key: bool = False,
) -> SamplePlan:
    """Samples per statistical check for requests ``method path`` under ``profile``."""
    goals = goals or DetectionGoals()
    alpha = goals.alpha if alpha is None else alpha
    power = goals.power if power is None else power
    goals = goals.model_copy(update={"alpha": alpha, "power": power})
    _, faults = profile.faults_for(method, path)
    m = group_model(policy, faults, method, has_idempotency_key=has_idempotency_key)
    planned_checks = sum(
        g is not None
        for g in (goals.success_rate_drop, goals.extra_retries, goals.fault_rate_shift)
    ) + int(goals.delay_shortfall is not None and _has_jitter_law(policy))
    a = alpha / max(planned_checks, 1)
    checks: dict[str, CheckPlan] = {}
    for name, cp in (
        ("success_rate", _plan_success(m, goals, a)),
        ("attempt_distribution", _plan_attempts(policy, faults, method, m, goals, a)),
        ("jitter_distribution", _plan_jitter(policy, m, goals, a, epsilon_s)),
        ("fault_audit", _plan_faults(faults, m, goals, a)),
    ):
        if cp is not None:
            checks[name] = cp
    return SamplePlan(alpha=alpha, power=power, per_check_alpha=a, checks=checks)


def _has_jitter_law(policy: RetryPolicy) -> bool:
    return any(delay_distribution(policy, k) is not None for k in range(1, policy.max_retries + 1))
