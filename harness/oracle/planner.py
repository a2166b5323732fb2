"""The one sample-size planner: how many logical requests a run needs to catch a stated deviation.

Every caller uses :func:`plan`: the ``plan`` command and the run's sizing (with the request groups
the load declares, each with its share), ``verify`` (with the groups seen in the journals) and the
tests. A scenario states what it must detect (:class:`DetectionGoals`, the scenario's ``checks``
section); :func:`plan` turns that into a sample size per statistical hypothesis:

* the oracle judges each (route, method, Idempotency-Key) group against its own model, so the
  success rate and the attempt distribution are planned per group, the fault audit per route,
  and the run needs ``n / share`` requests for the smallest group (:attr:`SamplePlan.checks`);
* the delay laws (jitter shape, lateness) do not depend on the group: they are planned per retry
  index over the whole load, and a check is conclusive when any one index reached its plan;
* every hypothesis is planned at α / M, M the number of hypotheses planned (Holm's first step),
  so a plan is never optimistic about the correction;
* a deviation that cannot show in a group (its model predicts success 0, so no drop exists;
  the attempt count cannot change) needs no sample there and asks for none.

Closed forms used:

* success rate: normal approximation of the two-sided binomial test (or, when the model says
  every request succeeds, the chance that at least one failure shows up);
* attempt distribution: "one extra retry" puts mass where the model has none, so one trace there
  suffices (chance >= power); "one retry too few" by the non-central χ² power of the G-test;
* jitter distribution (two-sided; planned for delays too short): the two-sided
  Kolmogorov–Smirnov critical value sqrt(ln(2/α) / 2) against the largest CDF gap Δ between the
  declared law and the law of delays ``delay_shortfall`` short, beyond the early tolerance:
  n = ((K_α + z_power / 2) / Δ)²;
* backoff lateness (delays too long): the one-sided sign test of "at most half the delays are
  later than the declared median by more than the tolerance", against delays ``delay_excess``
  too long, computed exactly from the binomial law;
* fault audit: normal approximation for a relative shift of the total fault rate.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Collection, Sequence
from typing import Any, NamedTuple

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from fake_backends.profile import FaultProfile, Faults
from harness.oracle.model import GroupModel, group_model, peer_capped
from harness.oracle.tolerances import EARLY_TOLERANCE_S
from harness.policy.expectations import delay_distribution, delay_window
from harness.policy.model import Aspect, RetryPolicy

DEFAULT_ALPHA = 0.001
DEFAULT_POWER = 0.9
_MAX_N = 10**9
CONCLUDE_MISS = 1e-3
"""Chance, per planned sample count, that a run sized by
:meth:`SamplePlan.requests_to_conclude` still falls short of it."""
_LATE_MAX_N = 200_000


class Deviations(BaseModel):
    """The deviations a run must detect with the stated power (null: do not plan for it).

    This is the scenario's ``checks.detect`` section.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    extra_retries: int | None = Field(
        default=1, ge=1, description="Retries beyond or below max_retries"
    )
    success_rate_drop: float | None = Field(
        default=0.05, gt=0, le=1, description="Absolute drop of the success rate"
    )
    delay_shortfall: float | None = Field(
        default=0.2, gt=0, lt=1, description="Backoff delays this fraction shorter than declared"
    )
    delay_excess: float | None = Field(
        default=0.5,
        gt=0,
        le=100,
        description="Backoff delays this fraction longer than declared, systematically (a "
        "missing cap, a wrong growth law)",
    )
    fault_rate_shift: float | None = Field(
        default=0.25, gt=0, lt=1, description="Relative shift of the injected fault rate"
    )


class DetectionGoals(BaseModel):
    """Error rates and deviations of a run: the planner's input and the scenario's ``checks``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    alpha: float = Field(
        default=DEFAULT_ALPHA,
        gt=0,
        le=0.5,
        description="Family-wise false-failure rate of the run: the chance that a correct "
        "system fails any statistical check of one run (Holm's correction over every "
        "hypothesis of the run)",
    )
    power: float = Field(
        default=DEFAULT_POWER,
        gt=0,
        lt=1,
        description="Chance of detecting each deviation in `detect` at the planned size",
    )
    detect: Deviations = Field(default_factory=Deviations)

    @model_validator(mode="before")
    @classmethod
    def _flat_form(cls, v: Any) -> Any:
        """Run folders written before ``detect`` was nested kept the deviations at top level."""
        if isinstance(v, dict) and "detect" not in v:
            flat = {k: v[k] for k in Deviations.model_fields if k in v}
            if flat:
                rest = {k: x for k, x in v.items() if k not in flat}
                return {**rest, "detect": flat}
        return v


class RequestGroup(NamedTuple):
    """One kind of logical request a load sends, and its share of the requests."""

    method: str
    path: str = "/"
    idempotency_key: bool = False
    share: float = 1.0


def group_label(route: str | None, method: str, idempotency_key: bool) -> str:
    """The name of a fault-model group, as checks and plans show it."""
    return f"{route or 'default'} {method}{' +idempotency-key' if idempotency_key else ''}"


def route_label(route: str | None) -> str:
    return f"route {route or 'default'}"


class CheckPlan(BaseModel):
    """The sample one statistical hypothesis (or a check's worst group) needs."""

    model_config = ConfigDict(frozen=True)

    n: int = Field(description="Samples in the check's own unit (0: nothing can show here)")
    unit: str
    requests: int = Field(description="Logical requests that yield n samples on average")
    detail: str
    extra: dict[str, Any] = Field(default_factory=dict)


class SamplePlan(BaseModel):
    """What a run needs: per check the sizing group, and per group what each check needs."""

    model_config = ConfigDict(frozen=True)

    alpha: float
    power: float
    per_check_alpha: float = Field(description="α / M, M the number of planned hypotheses")
    hypotheses: int = 0
    checks: dict[str, CheckPlan] = Field(
        default_factory=dict, description="Per check, the plan of the group needing most requests"
    )
    groups: dict[str, dict[str, CheckPlan]] = Field(
        default_factory=dict, description="Per group (or route, or 'all'), each check's plan"
    )
    shares: dict[str, float] = Field(
        default_factory=dict,
        description="Share of the logical requests per key of ``groups`` ('all': 1)",
    )

    @property
    def requests(self) -> int:
        """Logical requests that yield each check's planned samples *on average*."""
        return max((c.requests for c in self.checks.values()), default=0)

    def requests_to_conclude(self, miss: float = CONCLUDE_MISS) -> int:
        """Logical requests after which every planned sample (each check in each group) is
        reached with probability at least ``1 - miss`` each.

        :attr:`requests` is an expectation: at exactly that size a group's count falls short
        about half the time, and two groups of 50 % can never both reach a plan sized on their
        sum, so the run would be inconclusive. Here each planned count is a sum over requests
        of a 0/1 sample (a request, a delay at retry k) or a small count (attempts), and the
        size is the normal bound ``N·q - z·sqrt(N·v) >= n`` with ``q`` the samples per logical
        request, ``v = q(1-q)`` (``v = q`` for counts above 1 per request) and ``z`` the
        ``1 - miss`` quantile. 0 when nothing is planned.
        """
        from scipy import stats

        z = float(stats.norm.isf(miss))
        worst = 0
        for where, per_check in self.groups.items():
            share = self.shares.get(where, 1.0)
            for cp in per_check.values():
                if cp.n <= 0 or cp.requests <= 0 or cp.requests >= _MAX_N:
                    continue
                q = share * cp.n / cp.requests
                v = q * (1 - q) if q < 1 else q
                root = (z * math.sqrt(v) + math.sqrt(z * z * v + 4 * q * cp.n)) / (2 * q)
                worst = max(worst, _ceil(root * root))
        return max(worst, self.requests)

    def n_for(self, check: str, group: str | None = None) -> int:
        """Samples ``check`` needs in ``group`` (None: its sizing plan); 0 when not planned."""
        c = self.checks.get(check) if group is None else self.groups.get(group, {}).get(check)
        return c.n if c is not None else 0

    def plan_for(self, check: str, group: str = "all") -> CheckPlan | None:
        return self.groups.get(group, {}).get(check)


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


@functools.lru_cache(maxsize=4096)
def sign_test_n(p1: float, alpha: float, power: float) -> int:
    """Samples for the one-sided sign test of P(late) <= 1/2 to reject when P(late) = p1.

    A pure function of its three floats, cached: scipy's vectorised binomial ``isf`` over every
    candidate n takes about 0.3 s, and a run plans the same indices again for each check."""
    from scipy import stats

    if p1 <= 0.5:
        return _MAX_N
    if p1 >= 1 - 1e-12:
        return max(1, math.ceil(math.log2(1 / alpha)))
    ns = np.arange(1, _LATE_MAX_N + 1)
    crit = stats.binom.isf(alpha, ns, 0.5) + 1  # reject when late >= crit
    ok = stats.binom.sf(crit - 1, ns, p1) >= power
    hit = np.flatnonzero(ok)
    return int(ns[hit[0]]) if hit.size else _MAX_N


def _nothing_shows(unit: str, why: str) -> CheckPlan:
    return CheckPlan(n=0, unit=unit, requests=0, detail=why)


def _plan_success(m: GroupModel, goals: DetectionGoals, a: float) -> CheckPlan | None:
    drop = goals.detect.success_rate_drop
    if drop is None:
        return None
    p0 = m.success_p
    p1 = max(p0 - drop, 0.0)
    if p0 - p1 < 1e-12:
        return _nothing_shows(
            "requests",
            f"the model predicts success {p0:.4f}: no drop can show (any success above the "
            "model still fails the test at once)",
        )
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
    faults: Faults,
    method: str,
    idem: bool,
    m: GroupModel,
    goals: DetectionGoals,
    a: float,
) -> CheckPlan | None:
    e = goals.detect.extra_retries
    if e is None:
        return None
    if m.deterministic:
        return CheckPlan(
            n=1,
            unit="requests",
            requests=1,
            detail="deterministic attempt count: one request outside it fails the check",
        )
    more = policy.model_copy(update={"max_retries": policy.max_retries + e})
    m_more = group_model(more, faults, method, has_idempotency_key=idem)
    p0 = np.zeros(len(m_more.pmf))
    p0[: len(m.pmf)] = m.pmf
    n_more = _chi2_n(p0, m_more.pmf, a, goals.power)
    n_fewer = 0
    if policy.max_retries - e >= 0:
        fewer = policy.model_copy(update={"max_retries": policy.max_retries - e})
        m_fewer = group_model(fewer, faults, method, has_idempotency_key=idem)
        p1 = np.zeros(len(m.pmf))
        p1[: len(m_fewer.pmf)] = m_fewer.pmf
        n_fewer = _chi2_n(m.pmf, p1, a, goals.power)
    shows = [x for x in (n_more, n_fewer) if 0 < x < _MAX_N]
    if not shows:
        return _nothing_shows("requests", "the attempt count cannot change in this group")
    n = max(shows)
    return CheckPlan(
        n=n,
        unit="requests",
        requests=n,
        detail=f"detect {e} retr{'y' if e == 1 else 'ies'} more ({n_more} requests) "
        f"or fewer ({n_fewer} requests) than max_retries={policy.max_retries}",
        extra={"n_more": n_more, "n_fewer": n_fewer},
    )


def ks_gap(dist: Any, shortfall: float, band_s: float) -> float:
    """Largest one-sided CDF gap between delays ``shortfall`` short and ``dist`` shifted left by
    ``band_s`` (the precision the oracle grants a delay that looks short)."""
    lo, hi = (float(v) for v in dist.support())
    xs = np.linspace(lo - band_s, hi + band_s, 4001)
    alt = dist.cdf(xs / (1 - shortfall))
    return float(max((alt - dist.cdf(xs + band_s)).max(), 0.0))


def ks_two_sided_critical(a: float) -> float:
    """Asymptotic critical value of sqrt(n)·D (two-sided KS) at level ``a`` (the bound
    P(sqrt(n)·D > t) <= 2·exp(-2t²), Dvoretzky–Kiefer–Wolfowitz–Massart)."""
    return math.sqrt(math.log(2 / a) / 2)


def retries_at(models: Sequence[tuple[GroupModel, float]], k: int) -> float:
    """Expected retries at index k per logical request of the load."""
    return sum(share * m.tail(k + 1) for m, share in models)


def late_reference(policy: RetryPolicy, k: int) -> float | None:
    """The delay a late retry k is measured against: the declared law's median, or the window's
    upper edge when there is no law; None when the window has no upper edge."""
    dist = delay_distribution(policy, k)
    if dist is not None:
        return float(dist.median())
    w = delay_window(policy, k)
    return w.hi_s if math.isfinite(w.hi_s) else None


def late_share_under(policy: RetryPolicy, k: int, excess: float, tol_s: float) -> float:
    """P(a delay ``excess`` too long lies beyond the reference + tol) at retry k."""
    ref = late_reference(policy, k)
    if ref is None:
        return 0.0
    dist = delay_distribution(policy, k)
    if dist is None:
        return 1.0 if excess * ref > tol_s else 0.0
    return float(dist.sf((ref + tol_s) / (1 + excess)))


def _indexed_plan(
    name: str,
    per_index: dict[int, tuple[int, float, str]],
    models: Sequence[tuple[GroupModel, float]],
    unit: str,
    what: str,
) -> CheckPlan | None:
    """The index that needs the fewest requests decides; every index's numbers in ``extra``."""
    if not per_index:
        return None
    rows: dict[str, dict[str, Any]] = {}
    best: tuple[int, int, int] | None = None
    for k, (n_k, gap, note) in per_index.items():
        reach = retries_at(models, k)
        req = _ceil(n_k / reach) if reach > 0 and n_k < _MAX_N else _MAX_N
        rows[str(k)] = {"n": n_k, "requests": req, "gap": gap, "note": note}
        if req < _MAX_N and (best is None or req < best[2]):
            best = (k, n_k, req)
    if best is None:
        return CheckPlan(
            n=0,
            unit=unit,
            requests=0,
            detail=f"{what} cannot show at any retry index",
            extra={"per_index": rows},
        )
    k, n_k, req = best
    return CheckPlan(
        n=n_k,
        unit=f"{unit} at retry {k}",
        requests=req,
        detail=f"{what} at retry {k} ({rows[str(k)]['note']}); any retry index that reaches its "
        "plan makes the check conclusive",
        extra={"index": k, "per_index": rows},
    )


def _plan_jitter(
    policy: RetryPolicy, models: Sequence[tuple[GroupModel, float]], goals: DetectionGoals, a: float
) -> CheckPlan | None:
    from scipy import stats

    short = goals.detect.delay_shortfall
    if short is None:
        return None
    k_crit = ks_two_sided_critical(a)
    zb = float(stats.norm.ppf(goals.power))
    per_index: dict[int, tuple[int, float, str]] = {}
    for k in range(1, policy.max_retries + 1):
        dist = delay_distribution(policy, k)
        if dist is None:
            continue
        gap = ks_gap(dist, short, EARLY_TOLERANCE_S)
        n_k = _ceil(((k_crit + zb / 2) / gap) ** 2) if gap > 0 else _MAX_N
        per_index[k] = (n_k, gap, f"KS gap {gap:.3f} on the short side of a two-sided test")
    return _indexed_plan(
        "jitter_distribution", per_index, models, "delays", f"detect delays {short:.0%} short"
    )


def _plan_lateness(
    policy: RetryPolicy,
    models: Sequence[tuple[GroupModel, float]],
    goals: DetectionGoals,
    a: float,
    tol_s: float,
) -> CheckPlan | None:
    excess = goals.detect.delay_excess
    if excess is None or policy.backoff.minimum_only:
        return None
    per_index: dict[int, tuple[int, float, str]] = {}
    for k in range(1, policy.max_retries + 1):
        ref = late_reference(policy, k)
        if ref is None or ref <= 0:
            continue
        p1 = late_share_under(policy, k, excess, tol_s)
        per_index[k] = (
            sign_test_n(p1, a, goals.power),
            p1,
            f"{p1:.0%} of delays beyond {ref * 1e3:.0f} ms + {tol_s * 1e3:.0f} ms",
        )
    return _indexed_plan(
        "backoff_window", per_index, models, "delays", f"detect delays {excess:.0%} too long"
    )


def _plan_faults(
    faults: Faults, mean_attempts: float, goals: DetectionGoals, a: float
) -> CheckPlan:
    rho = faults.failure_rate + faults.reset_rate + faults.hang_rate
    shift = goals.detect.fault_rate_shift or 0.0
    if rho <= 0:
        return CheckPlan(
            n=1, unit="attempts", requests=1, detail="no random faults: any injected one fails"
        )
    n = binomial_n(rho, rho * (1 - shift), a, goals.power)
    return CheckPlan(
        n=n,
        unit="attempts",
        requests=_ceil(n / max(mean_attempts, 1.0)),
        detail=f"detect a fault rate {shift:.0%} below the profile's {rho:.4f}",
    )


def _mean_attempts(m: GroupModel) -> float:
    return float((np.arange(1, len(m.pmf) + 1) * m.pmf).sum())


PLANNED_CHECKS = (
    "success_rate",
    "attempt_distribution",
    "jitter_distribution",
    "backoff_window",
    "fault_audit",
)


def may_cut_short(policy: RetryPolicy) -> bool:
    """Whether the policy's budget or deadline can stop a request that still has retries left.

    A budget always can. A deadline can when it is shorter than the longest the declared
    retries may take: every delay window's upper edge, plus one per-try timeout per attempt when
    one is declared. Such requests are outside the independent-attempts models, so the success
    rate and attempt distribution are not planned for the policy (nothing is sized for them; a
    run where requests were cut short reports them not applicable, with the reason).
    """
    if policy.budget is not None:
        return True
    if policy.deadline_s is None:
        return False
    longest = sum(delay_window(policy, k).hi_s for k in range(1, policy.max_retries + 1))
    if policy.per_try_timeout_s is not None:
        longest += (policy.max_retries + 1) * policy.per_try_timeout_s
    return not policy.deadline_s >= longest


def plan(
    policy: RetryPolicy,
    profile: FaultProfile,
    groups: Sequence[RequestGroup] | None = None,
    goals: DetectionGoals | None = None,
    *,
    epsilon_s: float = 0.0,
    checks: Collection[str] | None = None,
    reachable: int | None = None,
) -> SamplePlan:
    """Samples per check and group for a load of ``groups`` (default: GET / alone).

    ``epsilon_s`` is the lateness tolerance the backoff check will grant (0 when not yet known).
    ``checks`` restricts the plan to the checks that will run. Shares need not sum to 1 (they
    are normalised); a group with share 0 is left out. ``reachable``: the upstream replicas a
    ``different_upstream`` policy can try (its retries are capped by them,
    :func:`~harness.oracle.model.peer_capped`); None: not known.
    """
    from harness.oracle.aspects import resets_irrelevant, wholly_unjudged  # (import cycle)

    goals = goals or DetectionGoals()
    policy = peer_capped(policy, reachable)
    wanted = set(PLANNED_CHECKS if checks is None else checks)
    # no samples for a check that an unmodelled construct makes not judged as a whole
    no_resets = resets_irrelevant(profile.reset_rate, resets_seen=False, down=False)
    wanted -= wholly_unjudged(
        wanted, policy, frozenset({Aspect.RESETS}) if no_resets else frozenset()
    )
    if may_cut_short(policy):  # the independent-attempts models do not describe such requests
        wanted -= {"success_rate", "attempt_distribution"}
    grouped: dict[str, tuple[str | None, str, bool, Faults, float]] = {}
    for g in groups if groups is not None else [RequestGroup("GET")]:
        if g.share <= 0:
            continue
        route, faults = profile.faults_for(g.method, g.path)
        label = group_label(route, g.method.upper(), g.idempotency_key)
        share = grouped[label][4] + g.share if label in grouped else g.share
        grouped[label] = (route, g.method.upper(), g.idempotency_key, faults, share)
    total = sum(v[4] for v in grouped.values()) or 1.0
    models: dict[str, tuple[GroupModel, float]] = {}
    routes: dict[str, tuple[Faults, float, float]] = {}  # faults, share, attempts per request
    cut = may_cut_short(policy)
    for label, (route, method, idem, faults, share) in grouped.items():
        m = group_model(policy, faults, method, has_idempotency_key=idem)
        models[label] = (m, share / total)
        r = route_label(route)
        f, s, att = routes.get(r, (faults, 0.0, 0.0))
        # requests cut short make fewer attempts than the model: count only the first one
        per_request = 1.0 if cut else _mean_attempts(m)
        routes[r] = (f, s + share / total, att + share / total * per_request)

    def count(flags: Collection[bool]) -> int:
        return sum(bool(x) for x in flags)

    late_indices = sum(
        (late_reference(policy, k) or 0.0) > 0 for k in range(1, policy.max_retries + 1)
    )
    jitter_indices = sum(
        delay_distribution(policy, k) is not None for k in range(1, policy.max_retries + 1)
    )
    m_hyp = (
        len(models)
        * count(
            (
                "success_rate" in wanted and goals.detect.success_rate_drop is not None,
                "attempt_distribution" in wanted and goals.detect.extra_retries is not None,
            )
        )
        + (
            len(routes)
            if "fault_audit" in wanted and goals.detect.fault_rate_shift is not None
            else 0
        )
        + (
            jitter_indices
            if "jitter_distribution" in wanted and goals.detect.delay_shortfall is not None
            else 0
        )
        + (
            late_indices
            if "backoff_window" in wanted
            and goals.detect.delay_excess is not None
            and not policy.backoff.minimum_only
            else 0
        )
    )
    a = goals.alpha / max(m_hyp, 1)
    per_group: dict[str, dict[str, CheckPlan]] = {}
    shares: dict[str, float] = {}
    sizing: dict[str, CheckPlan] = {}

    def size(check: str, where: str, cp: CheckPlan | None, share: float) -> None:
        if cp is None or check not in wanted:
            return
        per_group.setdefault(where, {})[check] = cp
        shares[where] = share
        if cp.n == 0 or cp.requests >= _MAX_N:
            return
        needed = _ceil(cp.requests / share)
        if check not in sizing or needed > sizing[check].requests:
            sizing[check] = cp.model_copy(
                update={
                    "requests": needed,
                    "detail": f"{cp.detail}; {where} is {share:.0%} of requests"
                    if share < 1
                    else cp.detail,
                }
            )

    for label, (_, method, idem, faults, _) in grouped.items():
        m, share = models[label]
        size("success_rate", label, _plan_success(m, goals, a), share)
        size(
            "attempt_distribution",
            label,
            _plan_attempts(policy, faults, method, idem, m, goals, a),
            share,
        )
    if goals.detect.fault_rate_shift is not None:
        for r, (faults, share, att) in routes.items():
            size("fault_audit", r, _plan_faults(faults, att / share, goals, a), share)
    pooled = list(models.values())
    size("jitter_distribution", "all", _plan_jitter(policy, pooled, goals, a), 1.0)
    size("backoff_window", "all", _plan_lateness(policy, pooled, goals, a, epsilon_s), 1.0)
    return SamplePlan(
        alpha=goals.alpha,
        power=goals.power,
        per_check_alpha=a,
        hypotheses=m_hyp,
        checks=sizing,
        groups=per_group,
        shares=shares,
    )
