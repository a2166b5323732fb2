"""Statistical checks: jitter distribution, success rate, attempt distribution, fault audit.

Each returns a :class:`PendingStat` (hypotheses with p-values) that ``verify`` judges under Holm's
correction, or a NOT_APPLICABLE result. The models assume independent attempt outcomes, drawn
per (route profile, method, idempotency key) group from the fault profile, so:

* traces that may overlap an outage window (time-based faults) are left out, and so are traces
  that may overlap a replica's down window (their attempts may be hidden or out of place). Both
  rules look at a trace's start time alone (could a trace starting then, lasting as long as the
  longest trace, reach the window?): leaving out just the traces that did overlap would keep
  short traces and drop long ones, a bias towards fewer attempts and shorter delays;
* ``fail_first_n`` enters as a deterministic shift (``harness.oracle.model``); a trace outside
  the model's support fails the check outright, like an invariant;
* traces a deadline or budget legitimately cut short make the success and attempt models
  inapplicable (NOT_APPLICABLE with the count), since neither model describes them.

The jitter test is a two-sided Kolmogorov–Smirnov test made tolerant of timing noise: the
empirical CDF of each retry index's delays is compared with the band [F(x - late), F(x + early)]
rather than F itself. ``early`` is the early tolerance (stamp precision + timer tick: no load
makes a delay look shorter), ``late`` the lateness tolerance of the backoff check (max of ε and
the SUT's own forwarding lateness in the same run), and on the late side a share
:data:`LATE_SHARE_ALLOWED` of the delays may lie beyond even that (a burst of late wake-ups on a
loaded machine): a correct system's observed CDF is at least F(x - late) - that share. Delays
moved within the band can only shrink the statistic, so the exact two-sided KS p-value stays
valid (conservative). It catches delays too short (no backoff, half waits) and a law without
jitter (every delay at the window's top).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from fake_backends.profile import Faults
from harness.oracle.context import CheckContext
from harness.oracle.fault_groups import Group
from harness.oracle.journal import FAULT_KINDS, fault_code
from harness.oracle.model import GroupModel, group_model, peer_capped
from harness.oracle.planner import route_label
from harness.oracle.records import FaultKind
from harness.oracle.results import TITLES, Hypothesis, PendingStat, not_applicable
from harness.oracle.tolerances import EARLY_TOLERANCE_S
from harness.oracle.traces import distinct_keys
from harness.oracle.verdict import CheckKind, CheckResult, Outcome
from harness.policy.expectations import delay_distribution

STAT = CheckKind.STATISTICAL
MIN_KS_SAMPLES = 5
MIN_CELL = 5.0
MAX_PLOT_SAMPLES = 2000
StatOut = PendingStat | CheckResult


LATE_SHARE_ALLOWED = 0.25
"""Share of a retry index's delays the jitter test lets lie later than the lateness tolerance."""


class BandedKs(NamedTuple):
    """A banded two-sided KS statistic, its parts and its exact p-value."""

    d: float  # max(d_short, d_long)
    d_short: float  # empirical CDF above F(x + early): delays too short
    d_long: float  # F(x - late) - allowed share above the empirical CDF: delays too long
    p_value: float


def ks_banded(
    x: npt.NDArray[np.float64], dist: Any, early_s: float, late_s: float, late_share: float
) -> BandedKs:
    """Two-sided KS of ``x`` against ``dist`` with the band [F(x - late_s) - late_share,
    F(x + early_s)] in place of F (see the module docstring), and the exact two-sided p-value
    (``scipy.stats.kstwo``, Simard & L'Ecuyer), valid for any band since the banded statistic
    never exceeds the plain one of the true law."""
    from scipy import stats

    n = x.size
    xs = np.sort(x)
    i = np.arange(1, n + 1)
    d_short = float(max((i / n - dist.cdf(xs + early_s)).max(), 0.0))
    d_long = float(max((dist.cdf(xs - late_s) - (i - 1) / n).max() - late_share, 0.0))
    d = max(d_short, d_long)
    return BandedKs(d, d_short, d_long, float(stats.kstwo.sf(d, n)) if d > 0 else 1.0)


class Sized(NamedTuple):
    """The group furthest below its plan (or the smallest): its n, its plan and its label (None
    when only one group was sized), and a line per group short of its own plan."""

    n: int
    n_planned: int
    label: str | None
    below: list[str]


def sized(ctx: CheckContext, check: str, sizes: list[tuple[str, int]]) -> Sized:
    """:class:`Sized` of ``sizes`` ((group label, n) pairs) against ``check``'s plan."""
    worst: tuple[float, int, int, str] | None = None
    below = []
    for label, n in sizes:
        need = ctx.plan.n_for(check, label)
        ratio = n / need if need > 0 else math.inf
        if worst is None or ratio < worst[0]:
            worst = (ratio, n, need, label)
        if n < need:
            below.append(f"{label} n={n} of {need}")
    if worst is None:
        return Sized(0, 0, None, below)
    return Sized(worst[1], worst[2], worst[3] if len(sizes) > 1 else None, below)


def jitter_distribution(ctx: CheckContext) -> StatOut:
    p = ctx.policy
    laws = {k: delay_distribution(p, k) for k in range(1, p.max_retries + 1)}
    dists: dict[int, Any] = {k: d for k, d in laws.items() if d is not None}
    if not dists:
        return not_applicable(
            "jitter_distribution",
            STAT,
            f"jitter model '{p.backoff.jitter}' gives no continuous law: fixed delays are judged "
            "by the backoff window",
        )
    t = ctx.traces
    plan = ctx.plan.plan_for("jitter_distribution")
    per_plan: dict[str, Any] = plan.extra.get("per_index", {}) if plan is not None else {}
    hyps: list[Hypothesis] = []
    per_index: dict[str, Any] = {}
    evidence: list[str] = []
    near_down = ctx.down.stat_excluded[t.trace]
    # a delay after an attempt the SUT may have abandoned at its per-try timeout began at an
    # unseen instant (measured too short): not a sample of the law
    after_timeout = np.zeros(len(t.pos), bool)
    retry_rows = np.flatnonzero(t.pos >= 1)
    after_timeout[retry_rows] = ctx.end_not_a_bound[retry_rows - 1]
    n_timeout = int((after_timeout & ~near_down & ~ctx.delays.ra_applies).sum())
    if n_timeout:
        evidence.append(
            f"{n_timeout} delays after an attempt that hung, lost its client, or that the SUT "
            "may have abandoned at its per-try timeout left out (they began at an unseen instant)"
        )
    eligible = (t.pos >= 1) & ~ctx.delays.ra_applies & ~near_down & ~after_timeout
    n_down = int(((t.pos >= 1) & ~ctx.delays.ra_applies & near_down).sum())
    if n_down:
        evidence.append(f"{n_down} delays of requests that may overlap a down replica left out")
    # (share of plan, n, planned, index) of the best-sampled index
    best: tuple[float, int, int, int] | None = None
    tol, tol_source = ctx.lateness_tolerance
    for k, dist in dists.items():
        rows = np.flatnonzero(eligible & (t.pos == k))
        x = ctx.delays.delay_s[rows]
        lo, scale = (float(v) for v in (dist.kwds.get("loc", 0.0), dist.kwds.get("scale", 1.0)))
        per_index[str(k)] = {
            "delays_s": [round(float(v), 6) for v in x[:MAX_PLOT_SAMPLES]],
            "dist": str(dist.dist.name),
            "loc": lo,
            "scale": scale,
        }
        need = int(per_plan.get(str(k), {}).get("n", 0))
        if 0 < need < 10**9:
            ratio = x.size / need
            if best is None or ratio > best[0]:
                best = (ratio, int(x.size), need, k)
        if x.size < MIN_KS_SAMPLES:
            if x.size:
                evidence.append(f"retry {k}: only {x.size} delays, not tested")
            continue
        ks = ks_banded(x, dist, EARLY_TOLERANCE_S, tol, LATE_SHARE_ALLOWED)
        mean_ratio = float(np.mean(x) / dist.mean()) if dist.mean() > 0 else float("nan")
        hyps.append(
            Hypothesis(
                label=f"retry {k}",
                test=f"two-sided Kolmogorov–Smirnov vs {dist.dist.name}"
                f"[{lo:.4g}, {lo + scale:.4g}], band −{EARLY_TOLERANCE_S * 1e3:g} ms / "
                f"+{tol * 1e3:.2f} ms with {LATE_SHARE_ALLOWED:.0%} allowed later",
                p_value=ks.p_value,
                statistic=ks.d,
                n=int(x.size),
                effect=f"too short D={ks.d_short:.3f}, too long D={ks.d_long:.3f} (beyond the "
                f"allowed share), mean delay {mean_ratio:.2f}× the model's",
            )
        )
    if not hyps:
        return not_applicable(
            "jitter_distribution",
            STAT,
            "too few retries to test any delay law",
            per_index=per_index,
        )
    n, n_planned = (best[1], best[2]) if best is not None else (0, 0)
    return PendingStat(
        name="jitter_distribution",
        hypotheses=hyps,
        n=n,
        n_planned=n_planned,
        n_label=f"retry {best[3]}" if best is not None and len(per_plan) > 1 else None,
        summary=f"delays vs the declared jitter law at {len(hyps)} retry indices, two-sided (too "
        f"short by more than the early tolerance {EARLY_TOLERANCE_S * 1e3:g} ms; too long by "
        f"more than {tol * 1e3:.2f} ms ({tol_source}) in over {LATE_SHARE_ALLOWED:.0%} of delays)",
        evidence=evidence,
        data={
            "per_index": per_index,
            "judged": int(eligible.sum()),
            "eligible": int(((t.pos >= 1) & ~ctx.delays.ra_applies).sum()),
        },
        # no detection goal for delays (``delay_shortfall: null``): nothing was planned, so the
        # tests that ran decide; a planned index that fell short of its plan is inconclusive
        conclusive=(best[0] >= 1) if best is not None else not per_plan,
    )


def _models(ctx: CheckContext) -> list[tuple[Group, GroupModel, npt.NDArray[np.int64]]]:
    """(group, model, included traces) for each group, outage and cut-short traces left out."""
    groups, gid = ctx.fault_groups.groups
    keep = ~ctx.fault_groups.outage & ~ctx.stops.cut_short & ~ctx.down.stat_excluded
    out = []
    policy = peer_capped(ctx.policy, ctx.peers.reachable)  # as the NO_PEER excuse does
    for g_idx, g in enumerate(groups):
        m = group_model(policy, g.faults, g.method, has_idempotency_key=g.idem)
        out.append((g, m, np.flatnonzero(keep & (gid == g_idx))))
    return out


def _exclusions(ctx: CheckContext) -> tuple[list[str], str | None]:
    notes = []
    n_out = int(ctx.fault_groups.outage.sum())
    if n_out:
        notes.append(f"{n_out} requests that may overlap an outage window left out")
    n_down = int(ctx.down.stat_excluded.sum())
    if n_down:
        notes.append(f"{n_down} requests that may overlap a down replica left out")
    n_cut = int(ctx.stops.cut_short.sum())
    if n_cut:
        return notes, (
            f"{n_cut} requests were stopped early by the deadline or the budget: the "
            "independent-attempts model does not describe them"
        )
    return notes, None


def _unmodelled(name: str, ctx: CheckContext, reason: str) -> CheckResult:
    """The model cannot describe the run: INCONCLUSIVE when the plan asked for samples of
    ``name`` (a planned check that could not be judged is no pass), else NOT_APPLICABLE."""
    if ctx.plan.n_for(name) > 0:
        return CheckResult(
            name=name,
            title=TITLES[name],
            kind=STAT,
            outcome=Outcome.INCONCLUSIVE,
            summary=f"planned but not judged: {reason}",
        )
    return not_applicable(name, STAT, reason)


def _client_success(ctx: CheckContext) -> npt.NDArray[np.bool_]:
    """Per trace: success as the client saw it (its record's status), else the last attempt's."""
    ok = np.asarray(ctx.kinds.success[ctx.last]).copy()
    if ctx.clients is None:
        return ok
    row = ctx.client_row
    has = row >= 0
    st = ctx.clients.status[row[has]]
    ok[has] = (st >= 200) & (st < 400)
    return ok


def success_rate(ctx: CheckContext) -> StatOut:
    """Judged from the client's view over every request: a traced request by its client's
    status, and a request the SUT answered itself (no attempt at any backend) as what the
    client got. The independent-attempts model gives the latter no chance, so a SUT that
    answers many requests itself shows here as a rate far below the model's."""
    from scipy import stats

    notes, inapplicable = _exclusions(ctx)
    if inapplicable:
        return _unmodelled("success_rate", ctx, inapplicable)
    success = _client_success(ctx)
    made = ctx.sut_made
    hyps: list[Hypothesis] = []
    best: dict[str, Any] = {}
    sizes: list[tuple[str, int]] = []  # every group is judged against its own plan
    judged = 0
    models = _models(ctx)
    for g, m, traces in models:
        own = made.steady_rows_of(g.method, g.idem, first=g is _first_group(models, g))
        n = int(traces.size) + int(own.size)
        if n == 0:
            continue
        judged += n
        sizes.append((g.key, n))
        s = int(success[traces].sum()) + int(made.success[own].sum())
        p0 = float(min(max(m.success_p, 0.0), 1.0))
        res = stats.binomtest(s, n, p0)
        hyps.append(
            Hypothesis(
                label=g.key,
                test="exact binomial (two-sided)",
                p_value=float(res.pvalue),
                statistic=s / n,
                n=n,
                effect=f"success rate {s / n:.4f} vs model {p0:.4f} ({s / n - p0:+.4f})"
                + (f", {own.size} answered by the SUT itself" if own.size else ""),
            )
        )
        if n > best.get("n", -1):
            ci = res.proportion_ci(confidence_level=1 - ctx.alpha)
            best = {
                "successes": s,
                "n": n,
                "expected_p": p0,
                "ci": [float(ci.low), float(ci.high)],
                "group": g.key,
            }
    if made.steady.size:
        notes.append(
            f"{made.steady.size} requests the SUT answered itself (no attempt at any backend) "
            f"counted as the client saw them: {made.describe(made.steady)}"
        )
    eligible = ctx.traces.n_traces + int(made.rows.size)
    if not hyps:
        return not_applicable(
            "success_rate",
            STAT,
            "no request outside outages to judge",
            judged=0,
            eligible=eligible,
        )
    size = sized(ctx, "success_rate", sizes)
    return PendingStat(
        name="success_rate",
        hypotheses=hyps,
        n=size.n,
        n_planned=size.n_planned,
        n_label=size.label,
        below_plan=size.below,
        summary=f"success rate {best['successes'] / best['n']:.4f} vs the model's "
        f"{best['expected_p']:.4f} ({best['group']}, as the client saw it)",
        evidence=notes,
        data={**best, "judged": judged, "eligible": eligible},
    )


def _first_group(models: list[tuple[Group, GroupModel, Any]], g: Group) -> Group:
    """The first group with ``g``'s method and key: SUT-made answers (no path known) go there."""
    return next(x for x, _, _ in models if x.method == g.method and x.idem == g.idem)


def pool_cells(
    observed: npt.NDArray[np.float64], expected: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Merges adjacent cells (left to right) until each expected count is at least MIN_CELL."""
    obs_bins: list[float] = []
    exp_bins: list[float] = []
    o_acc = e_acc = 0.0
    for o, e in zip(observed, expected, strict=True):
        o_acc += float(o)
        e_acc += float(e)
        if e_acc >= MIN_CELL:
            obs_bins.append(o_acc)
            exp_bins.append(e_acc)
            o_acc = e_acc = 0.0
    if e_acc > 0 or o_acc > 0:
        if exp_bins:
            obs_bins[-1] += o_acc
            exp_bins[-1] += e_acc
        else:
            obs_bins.append(o_acc)
            exp_bins.append(e_acc)
    return np.array(obs_bins), np.array(exp_bins)


def attempt_distribution(ctx: CheckContext) -> StatOut:
    from scipy import stats

    notes, inapplicable = _exclusions(ctx)
    if inapplicable:
        return _unmodelled("attempt_distribution", ctx, inapplicable)
    t = ctx.traces
    size = max(int(t.length.max()) if t.n_traces else 1, ctx.policy.max_retries + 1)
    total_obs = np.zeros(size)
    total_exp = np.zeros(size)
    hyps: list[Hypothesis] = []
    exact: list[npt.NDArray[np.int64]] = []
    n_main = 0
    sizes: list[tuple[str, int]] = []
    evidence = list(notes)
    for g, m, traces in _models(ctx):
        n = int(traces.size)
        if n == 0:
            continue
        n_main = max(n_main, n)
        sizes.append((g.key, n))  # each group against its own plan
        lengths = t.length[traces]
        pmf = np.zeros(size)
        pmf[: m.pmf.size] = m.pmf
        obs = np.bincount(lengths - 1, minlength=size)[:size].astype(np.float64)
        total_obs += obs
        total_exp += n * pmf
        outside = pmf[lengths - 1] <= 1e-15
        if outside.any():
            exact.append(traces[outside])
        inside = ~outside
        n_in = int(inside.sum())
        support = pmf > 1e-15
        if n_in == 0 or support.sum() < 2:
            if m.deterministic:
                evidence.append(
                    f"{g.key}: attempt count is deterministic ({int(np.argmax(pmf)) + 1})"
                )
            continue
        o = np.bincount(lengths[inside] - 1, minlength=size)[:size][support].astype(np.float64)
        e = n_in * pmf[support] / pmf[support].sum()
        o_b, e_b = pool_cells(o, e)
        if o_b.size < 2:
            evidence.append(f"{g.key}: too few requests for a goodness-of-fit test ({n_in})")
            continue
        g_stat, pv = stats.power_divergence(o_b, e_b, lambda_="log-likelihood")
        mean_obs = float((lengths[inside]).mean())
        mean_exp = float((np.arange(1, size + 1)[support] * e).sum() / n_in)
        hyps.append(
            Hypothesis(
                label=g.key,
                test=f"G-test ({o_b.size} cells after pooling expected < {MIN_CELL:g})",
                p_value=float(pv),
                statistic=float(g_stat),
                n=n_in,
                effect=f"mean attempts {mean_obs:.4f} vs model {mean_exp:.4f}",
            )
        )
    bad = np.concatenate(exact) if exact else np.zeros(0, np.int64)
    if not hyps and bad.size == 0 and n_main == 0:
        return not_applicable("attempt_distribution", STAT, "no request outside outages to judge")
    n_total = max(total_obs.sum(), 1.0)
    last_used = max(int(np.flatnonzero(total_obs + total_exp > 0).max()) + 1, 1)
    planned = sized(ctx, "attempt_distribution", sizes)
    return PendingStat(
        name="attempt_distribution",
        hypotheses=hyps,
        n=planned.n,
        n_planned=planned.n_planned,
        n_label=planned.label,
        below_plan=planned.below,
        summary="attempts per request vs the truncated-geometric model",
        evidence=evidence,
        data={
            "attempts": list(range(1, last_used + 1)),
            "observed": [int(v) for v in total_obs[:last_used]],
            "expected": [float(v) for v in (total_exp / n_total)[:last_used]],
            "judged": int(total_obs.sum()),
            "eligible": t.n_traces,
        },
        exact_failures=bad,
        exact_reason="made a number of attempts the model gives no chance",
    )


_CATEGORIES = ("reset", "hang", "status", "none")


def fault_audit(ctx: CheckContext) -> StatOut:
    """What the backends injected, per route profile, against the profile's rates and mix.

    A self-check of the harness: each attempt's fault is a pure function of (seed, replica,
    request id, attempt index) (:mod:`fake_backends.decision`), drawn when the attempt arrives,
    so no SUT can bias the draws (which attempts it makes depends only on earlier answers). A
    deviation is therefore the harness's (or chance at the stated α) and makes the check
    INCONCLUSIVE, never a FAIL of the SUT (``PendingStat.blames_harness``)."""
    from scipy import stats

    t = ctx.traces
    a = t.attempts
    fault = a.fault
    first_n_code = fault_code(FaultKind.FIRST_N)
    outage_code = fault_code(FaultKind.OUTAGE)
    # route profile per attempt
    key = a.method.astype(np.int64) * len(a.paths) + a.path
    uniq = distinct_keys(key)
    names: dict[str, int] = {}
    route_faults: list[tuple[str, Faults]] = []
    per_uniq = np.zeros(int(uniq.max()) + 1 if uniq.size else 1, np.int64)
    for u in uniq:
        method, path = a.methods[int(u) // len(a.paths)], a.paths[int(u) % len(a.paths)]
        route, faults = ctx.profile.faults_for(method, path)
        name = route or "default"
        if name not in names:
            names[name] = len(route_faults)
            route_faults.append((name, faults))
        per_uniq[u] = names[name]
    route_of = per_uniq[key]
    # attempts of requests that may overlap a down replica: left out (hidden or misplaced)
    clear = ~ctx.down.stat_excluded[t.trace]
    hyps: list[Hypothesis] = []
    exact: list[npt.NDArray[np.int64]] = []
    evidence: list[str] = []
    sizes: list[tuple[str, int]] = []
    cat_code = {
        fault_code(FaultKind.RESET): 0,
        fault_code(FaultKind.HANG): 1,
        fault_code(FaultKind.STATUS): 2,
    }
    lut = np.full(len(FAULT_KINDS), 3, np.int64)
    for c, i in cat_code.items():
        lut[c] = i
    for r_idx, (name, faults) in enumerate(route_faults):
        in_route = (route_of == r_idx) & clear
        n_fn = faults.fail_first_n
        forced = in_route & (fault == first_n_code)
        should_force = in_route & (a.attempt < n_fn) & (fault != outage_code)
        wrong = forced != should_force
        if wrong.any():
            exact.append(t.trace[wrong])
            evidence.append(
                f"{name}: {int(wrong.sum())} attempts disagree with fail_first_n={n_fn}"
            )
        drawn = in_route & (fault != first_n_code) & (fault != outage_code) & ~should_force
        n = int(drawn.sum())
        if n == 0:
            continue
        sizes.append((route_label(None if name == "default" else name), n))
        probs = np.array(
            [
                faults.reset_rate,
                faults.hang_rate,
                faults.failure_rate,
                max(0.0, 1 - faults.reset_rate - faults.hang_rate - faults.failure_rate),
            ]
        )
        obs = np.bincount(lut[fault[drawn]], minlength=4).astype(np.float64)
        impossible = (probs <= 0) & (obs > 0)
        if impossible.any():
            cats = [_CATEGORIES[i] for i in np.flatnonzero(impossible)]
            rows = np.flatnonzero(drawn & (probs[lut[fault]] <= 0))
            exact.append(t.trace[rows])
            evidence.append(f"{name}: injected {', '.join(cats)} the profile never allows")
        support = probs > 0
        observed_rates = ", ".join(
            f"{c} {o / n:.4f} (profile {p:.4f})"
            for c, o, p in zip(_CATEGORIES, obs, probs, strict=True)
        )
        if support.sum() >= 2:
            o = obs[support]
            e = o.sum() * probs[support] / probs[support].sum()
            g, pv = stats.power_divergence(o, e, lambda_="log-likelihood")
            hyps.append(
                Hypothesis(
                    label=f"{name}: fault kinds",
                    test="G-test (multinomial: reset, hang, status, none)",
                    p_value=float(pv),
                    statistic=float(g),
                    n=n,
                    effect=observed_rates,
                )
            )
        statuses = np.array(sorted(faults.failure_status), np.int64)
        st_rows = drawn & (fault == fault_code(FaultKind.STATUS))
        st = a.status[st_rows]
        unknown = ~np.isin(st, statuses)
        if unknown.any():
            exact.append(t.trace[np.flatnonzero(st_rows)[unknown]])
            evidence.append(f"{name}: injected statuses outside the profile's failure_status")
        if statuses.size >= 2 and st.size:
            weights = np.array([faults.failure_status[int(s)] for s in statuses])
            o = np.array([(st == s).sum() for s in statuses], np.float64)
            e = o.sum() * weights
            g, pv = stats.power_divergence(o[weights > 0], e[weights > 0], lambda_="log-likelihood")
            hyps.append(
                Hypothesis(
                    label=f"{name}: status mix",
                    test="G-test (multinomial over failure_status)",
                    p_value=float(pv),
                    statistic=float(g),
                    n=int(st.size),
                    effect=", ".join(
                        f"{s}: {int(c)} ({w:.2f} expected)"
                        for s, c, w in zip(statuses, o, weights, strict=True)
                    ),
                )
            )
    n_forced = int((fault == first_n_code).sum())
    n_outage = int((fault == outage_code).sum())
    if not clear.all():
        evidence.append(
            f"{int((~clear).sum())} attempts of requests that may overlap a down replica left out"
        )
    if n_forced or n_outage:
        evidence.append(
            f"deterministic faults not in the draw: {n_forced} fail_first_n, {n_outage} outage"
        )
    bad = np.concatenate(exact) if exact else np.zeros(0, np.int64)
    if not hyps and bad.size == 0:
        return not_applicable(
            "fault_audit", STAT, "the profile draws no random faults: nothing to audit"
        )
    size = sized(ctx, "fault_audit", sizes)
    return PendingStat(
        name="fault_audit",
        hypotheses=hyps,
        n=size.n,
        n_planned=size.n_planned,
        n_label=size.label,
        below_plan=size.below,
        summary="the backends injected faults at the profile's rates and mix",
        evidence=evidence,
        exact_failures=bad,
        exact_reason="received faults the profile does not allow (a harness fault, not the SUT's)",
        data={"judged": int(clear.sum()), "eligible": int(clear.size)},
        blames_harness=True,
    )


CHECKS: dict[str, Callable[[CheckContext], StatOut]] = {
    "jitter_distribution": jitter_distribution,
    "success_rate": success_rate,
    "attempt_distribution": attempt_distribution,
    "fault_audit": fault_audit,
}
