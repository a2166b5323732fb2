"""Invariant checks with a timing tolerance ε: backoff window, Retry-After, per-try timeout,
overall deadline, retry budget.

Delay k is measured on the backends' clock: arrival of attempt k minus the end of attempt k-1.
It therefore includes the SUT's own hops, which the measured ε must cover.

Traces that overlap a replica's down window (``harness.oracle.down``) may hide attempts sent to
the down replica, so the delay between two seen attempts may really be two delays around an
unseen one, and the retry index of a seen attempt is unknown: backoff window and Retry-After do
not judge the delays of such traces (counted as not judged). Per-try timeout and overall
deadline judge single attempts and stay sound with care: attempts journaled on the replica as it
went down (``unsure``: a paused replica stamps them late) are not judged; an unseen earlier
first attempt only makes the deadline tighter, so a seen attempt past the deadline measured
from the first seen one is still past it; the "abandoned early" excuse measures the deadline
from the client's send time (and is granted when there is no client record). The retry budget
is judged only on retries whose budget window lies clear of every down window.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from harness.oracle.budget import budget_times, count_in, limit
from harness.oracle.context import CheckContext
from harness.oracle.journal import fault_code
from harness.oracle.planner import (
    STAMP_PRECISION_S,
    late_reference,
    late_share_under,
    sign_test_n,
)
from harness.oracle.records import FaultKind
from harness.oracle.results import Hypothesis, PendingStat, invariant, not_applicable
from harness.oracle.verdict import CheckKind, CheckResult, Outcome
from harness.policy.expectations import delay_window

INV = CheckKind.INVARIANT
MAX_PLOT_SAMPLES = 2000


def _per_index_data(ctx: CheckContext, rows: np.ndarray) -> dict[str, Any]:
    """Delays per retry index (first samples) and the plain backoff window, for plots."""
    out: dict[str, Any] = {}
    pos = ctx.traces.pos[rows]
    for k in np.unique(pos):
        sel = rows[pos == k][:MAX_PLOT_SAMPLES]
        w = delay_window(ctx.policy, int(k))
        out[str(int(k))] = {
            "delays_s": [round(float(x), 6) for x in ctx.delays.delay_s[sel]],
            "lo_s": w.lo_s,
            "hi_s": w.hi_s if np.isfinite(w.hi_s) else None,
            "nominal_s": w.nominal_s if np.isfinite(w.nominal_s) else None,
        }
    return out


def _down_delays(ctx: CheckContext, retry: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Rows of ``retry`` outside traces that overlap a down window, and an evidence line."""
    down = ctx.down.overlap[ctx.traces.trace[retry]]
    if not down.any():
        return retry, []
    n_req = int(np.unique(ctx.traces.trace[retry[down]]).size)
    note = (
        f"not judged: {int(down.sum())} delays of {n_req} requests that overlapped a down replica "
        "(a delay between two seen attempts may span an unseen attempt to it)"
    )
    return retry[~down], [note]


def lateness_tolerance(ctx: CheckContext) -> tuple[float, str]:
    """How late a delay may be before it counts as late, and where that number comes from.

    The larger of the measured timing tolerance ε and the 90th percentile of the SUT's own
    forwarding lateness in the same run (client send to the first attempt's arrival): a SUT
    whose threads wake late under load forwards late too, and that is the machine, not the
    policy.
    """
    eps = ctx.epsilon_s
    fwd = ctx.forwarding_lateness_s
    if fwd.size >= 20:
        p90 = float(np.quantile(fwd, 0.9))
        if p90 > eps:
            return p90, (
                f"the SUT's own forwarding lateness in this run (90th percentile of "
                f"{fwd.size} first attempts: {p90 * 1e3:.1f} ms > ε={eps * 1e3:.1f} ms)"
            )
    return eps, f"the measured timing tolerance ε={eps * 1e3:.1f} ms"


def backoff_window(ctx: CheckContext) -> CheckResult | PendingStat:
    """Early delays are judged one by one against the stamp precision; late delays by index,
    with a sign test on the share later than the declared median + tolerance (load makes some
    retries late, never most of them by more than the SUT's own forwarding is late)."""
    from scipy import stats

    t = ctx.traces
    rows = np.flatnonzero(t.pos >= 1)
    if rows.size == 0:
        return not_applicable("backoff_window", INV, "no retry in the run: no delay to judge")
    eligible = int(rows.size)
    rows, evidence = _down_delays(ctx, rows)
    if rows.size == 0:
        return not_applicable("backoff_window", INV, evidence[0], judged=0, eligible=eligible)
    prec = STAMP_PRECISION_S
    lo, hi, _ = ctx.delays.window
    d = ctx.delays.delay_s[rows]
    short = d < lo[rows] - prec
    if short.any():
        gap = np.where(short, lo[rows] - d, -np.inf)
        worst = int(np.argmax(gap))
        r = int(rows[worst])
        evidence.append(
            f"{int(short.sum())} delays shorter than their window (no load makes a retry early); "
            f"worst: retry {int(t.pos[r])} waited {d[worst] * 1e3:.2f} ms, window "
            f"[{lo[r] * 1e3:.2f}, {hi[r] * 1e3:.2f}] ms - stamp precision {prec * 1e3:g} ms"
        )
    if ctx.delays.ra_applies[rows].any():
        evidence.append(
            f"{int(ctx.delays.ra_applies[rows].sum())} delays followed an honoured Retry-After "
            "and were judged against it (early side only)"
        )
    if ctx.policy.different_upstream:
        evidence.append(
            "retries go to a different upstream peer (nginx/Kong): delays are immediate"
        )
    tol, tol_source = lateness_tolerance(ctx)
    excess = ctx.goals.detect.delay_excess
    a = ctx.plan.per_check_alpha
    hyps: list[Hypothesis] = []
    seen: list[str] = []
    powered: list[tuple[int, int, int]] = []  # (k, n, n needed) at indices with power
    plain = rows[~ctx.delays.ra_applies[rows]]
    has_delay = False  # some index declares a positive delay, so a lateness goal applies
    for k in range(1, ctx.policy.max_retries + 1):
        ref = late_reference(ctx.policy, k)
        if ref is None or ref <= 0:  # no upper edge, or an immediate retry: no law to miss
            continue
        x = ctx.delays.delay_s[plain[t.pos[plain] == k]]
        if x.size == 0:
            continue
        late = int((x > ref + tol).sum())
        pv = float(stats.binom.sf(late - 1, x.size, 0.5)) if late else 1.0
        median_late = float(np.median(x) - ref)
        hyps.append(
            Hypothesis(
                label=f"retry {k} late",
                test="sign test (one-sided): at most half the delays later than the declared "
                "median + tolerance",
                p_value=pv,
                statistic=late / x.size,
                n=int(x.size),
                effect=f"{late} of {x.size} later than {ref * 1e3:.1f} ms + {tol * 1e3:.1f} ms; "
                f"median {median_late * 1e3:+.1f} ms from {ref * 1e3:.1f} ms",
            )
        )
        seen.append(f"retry {k}: {tol / ref:.0%} of {ref * 1e3:.0f} ms")
        has_delay = True
        if excess is not None and excess * ref > tol:
            need = sign_test_n(late_share_under(ctx.policy, k, excess, tol), a, ctx.goals.power)
            powered.append((k, int(x.size), need))
    judged = int(rows.size)
    if not seen and not (lo[rows] > 0).any():
        return not_applicable(
            "backoff_window",
            INV,
            "every retry is immediate (window [0, 0] ms): no delay can be early, and an "
            "immediate retry has no declared delay to be late against",
            judged=judged,
            eligible=eligible,
        )
    evidence.insert(
        0,
        f"smallest deviation it could see: a delay {prec * 1e3:g} ms shorter than its window "
        f"(stamp precision); lateness beyond {tol * 1e3:.1f} ms ({tol_source}) in most delays of "
        f"an index ({'; '.join(seen) or 'no index with a finite window'})",
    )
    data = {
        "per_index": _per_index_data(ctx, rows),
        "epsilon_s": ctx.epsilon_s,
        "precision_s": prec,
        "late_tolerance_s": tol,
        "judged": judged,
        "eligible": eligible,
    }
    no_power = None
    conclusive = True
    if excess is not None and has_delay:
        if not powered:
            no_power = (
                f"the lateness tolerance {tol * 1e3:.1f} ms ({tol_source}) is as large as the "
                f"{excess:.0%} excess it must detect at every retry index with delays"
            )
        else:
            conclusive = any(n >= need for _, n, need in powered)
    best = max(powered, key=lambda p: p[1] / max(p[2], 1), default=(0, 0, 0))
    return PendingStat(
        name="backoff_window",
        hypotheses=hyps,
        n=best[1],
        n_planned=best[2],
        summary=f"no delay shorter than its window - {prec * 1e3:g} ms, lateness tested at "
        f"{len(hyps)} retry indices against {tol * 1e3:.1f} ms ({judged} delays judged)",
        evidence=evidence,
        data=data,
        exact_failures=t.trace[rows[short]],
        exact_reason="retried before their backoff window opened",
        conclusive=conclusive,
        no_power=no_power,
        below_plan=[f"retry {k} n={n} of {need}" for k, n, need in powered if n < need]
        if not conclusive
        else [],
    )


def retry_after(ctx: CheckContext) -> CheckResult:
    rule = ctx.policy.retry_after
    if not rule.honoured:
        return not_applicable("retry_after", INV, "the policy does not honour Retry-After")
    t = ctx.traces
    a = t.attempts
    rows = np.flatnonzero(ctx.delays.ra_applies)
    if rows.size == 0:
        return not_applicable(
            "retry_after", INV, "no retried answer carried a Retry-After the policy honours"
        )
    eligible = int(rows.size)
    rows, evidence = _down_delays(ctx, rows)
    if rows.size == 0:
        return not_applicable("retry_after", INV, evidence[0], judged=0, eligible=eligible)
    evidence.insert(
        0,
        f"smallest deviation it could see: a retry {ctx.epsilon_s * 1e3:.1f} ms (ε) earlier "
        "than the Retry-After value",
    )
    ra = a.retry_after_s[rows - 1]
    if rule.max_s is not None:
        ra = np.minimum(ra, rule.max_s)
    judged = ra > 0
    d = ctx.delays.delay_s[rows]
    bad = judged & (d < ra - ctx.epsilon_s)
    if bad.any():
        gap = np.where(bad, ra - d, -np.inf)
        w = int(np.argmax(gap))
        evidence.append(
            f"{int(bad.sum())} retries came early; worst: waited {d[w]:.3f} s after "
            f"Retry-After {ra[w]:.3f} s"
        )
    return invariant(
        ctx,
        "retry_after",
        t.trace[rows[bad]],
        judged=int(judged.sum()),
        eligible=eligible - int(rows.size) + int(judged.sum()),
        ok="every retry waited at least the Retry-After value (- ε)",
        bad="a retry came before the Retry-After value",
        evidence=evidence,
        unit="delays",
    )


def per_try_timeout(ctx: CheckContext) -> CheckResult:
    p = ctx.policy
    if p.per_try_timeout_s is None:
        return not_applicable("per_try_timeout", INV, "the policy declares no per-try timeout")
    t = ctx.traces
    a = t.attempts
    hung = a.fault == fault_code(FaultKind.HANG)
    rows = np.flatnonzero(hung & ~ctx.down.unsure)
    evidence = []
    n_unsure = int((hung & ctx.down.unsure).sum())
    if n_unsure:
        evidence.append(
            f"not judged: {n_unsure} hung attempts journaled on a replica as it went down "
            "(their stamps may be late)"
        )
    if rows.size == 0:
        reason = evidence[0] if evidence else "no attempt hung: nothing to judge"
        return not_applicable("per_try_timeout", INV, reason, judged=0, eligible=int(hung.sum()))
    eps = ctx.epsilon_s
    ptt = p.per_try_timeout_s
    dur = (a.end_us[rows] - a.arrival_us[rows]) / 1e6
    late = dur > ptt + eps
    early = dur < ptt - eps
    excuse = np.zeros(rows.size, bool)
    tr = t.trace[rows]
    down = ctx.down.overlap[tr]
    if p.deadline_s is not None:
        # an overlapping trace may have had an unseen first attempt: count from the client's send
        first_us = np.where(down, ctx.down.span_start_us[tr], a.arrival_us[t.start[tr]])
        deadline = first_us / 1e6 + p.deadline_s
        excuse |= a.arrival_us[rows] / 1e6 + ptt >= deadline - eps
        excuse |= down & (ctx.client_row[tr] < 0)
    if ctx.clients is not None:
        row = ctx.client_row[t.trace[rows]]
        has = row >= 0
        c_end = np.full(rows.size, np.inf)
        c_end[has] = ctx.clients.end_us[row[has]] / 1e6
        excuse |= c_end < a.arrival_us[rows] / 1e6 + ptt - eps
    early &= ~excuse
    # a hang the backend ended at its own bound before the timeout was a reset to the SUT
    # (attempt_kinds.AttemptKinds.hang_ended_by_bound): nothing to abandon, so not "early"
    bound = early & ~a.client_gone[rows]
    if bound.any():
        early &= ~bound
        evidence.append(
            f"{int(bound.sum())} hangs ended at the backend's own bound before the timeout "
            "(the SUT saw the connection close, a reset): not judged as abandoned early"
        )
    evidence.insert(
        0,
        f"smallest deviation it could see: a hung attempt held or abandoned {eps * 1e3:.1f} ms "
        "(ε) off the timeout",
    )
    if late.any():
        evidence.append(
            f"{int(late.sum())} hung attempts held longer than {ptt:.3f} s + ε "
            f"(longest {dur[late].max():.3f} s)"
        )
    if early.any():
        evidence.append(
            f"{int(early.sum())} hung attempts abandoned before {ptt:.3f} s - ε "
            f"(shortest {dur[early].min():.3f} s)"
        )
    return invariant(
        ctx,
        "per_try_timeout",
        t.trace[rows[late | early]],
        judged=int(rows.size),
        eligible=int(hung.sum()),
        ok=f"every hung attempt was abandoned at {ptt:.3f} s ± ε",
        bad=f"a hung attempt was not abandoned at the per-try timeout {ptt:.3f} s ± ε",
        evidence=evidence,
        unit="hung attempts",
    )


def overall_deadline(ctx: CheckContext) -> CheckResult:
    p = ctx.policy
    if p.deadline_s is None:
        return not_applicable("overall_deadline", INV, "the policy declares no overall deadline")
    t = ctx.traces
    a = t.attempts
    eps_us = ctx.epsilon_s * 1e6
    limit_us = a.arrival_us[t.start] + p.deadline_s * 1e6 + eps_us
    # a displaced attempt (late stamp of a paused replica) may have been sent in time; an unseen
    # earlier first attempt would only move the limit earlier, so the rest stays sound
    displaced = ctx.down.displaced
    late_rows = np.flatnonzero((a.arrival_us > limit_us[t.trace]) & ~displaced)
    bad = [t.trace[late_rows]]
    evidence = [
        f"smallest deviation it could see: an attempt {ctx.epsilon_s * 1e3:.1f} ms (ε) past "
        "the deadline"
    ]
    if displaced.any():
        evidence.append(
            f"not judged: {int(displaced.sum())} attempts journaled late by a paused replica"
        )
    if late_rows.size:
        over = (a.arrival_us[late_rows] - limit_us[t.trace[late_rows]]) / 1e6
        evidence.append(
            f"{late_rows.size} attempts started after the deadline of {p.deadline_s:.3f} s + ε "
            f"(worst by {over.max() * 1e3:.1f} ms)"
        )
    # the client's wait: bounded by the deadline when it cuts attempts in flight; when it only
    # stops NEW attempts (nginx, Caddy, Traefik), an attempt started just before it may run its
    # per-try timeout, and with no per-try timeout nothing bounds the wait
    bound_s: float | None = p.deadline_s
    if not p.deadline_cuts_attempts:
        bound_s = None if p.per_try_timeout_s is None else p.deadline_s + p.per_try_timeout_s
        evidence.append(
            "the deadline stops new attempts but does not cut one in flight: "
            + (
                "client waits are not judged against it (no per-try timeout bounds the last "
                "attempt)"
                if bound_s is None
                else f"client waits are judged against deadline + per-try timeout = "
                f"{bound_s:.3f} s (+ the lateness tolerance)"
            )
        )
    no_power = None
    if ctx.clients is not None and bound_s is not None:
        no_power = _client_waits(ctx, bound_s, evidence, bad)
    result = invariant(
        ctx,
        "overall_deadline",
        np.concatenate(bad),
        judged=t.n_traces,
        ok=f"no attempt started after the {p.deadline_s:.3f} s deadline (+ ε)",
        bad=f"the {p.deadline_s:.3f} s deadline was overrun",
        evidence=evidence,
    )
    if no_power is None or result.outcome is Outcome.FAIL:
        return result
    return result.model_copy(
        update={"outcome": Outcome.INCONCLUSIVE, "summary": f"no power: {no_power}"}
    )


def _client_waits(
    ctx: CheckContext, bound_s: float, evidence: list[str], bad: list[np.ndarray]
) -> str | None:
    """The clients' waits against ``bound_s``, judged like all lateness (issue 8.2): never one
    by one (a loaded machine's timers wake late in bursts), but by a one-sided sign test among
    the requests that outlived the bound: are most of them later than it by more than the
    lateness tolerance? A violation adds the late requests to ``bad``; returns why the test
    could not decide (too few requests outlived the bound for any verdict), else None."""
    from scipy import stats

    c = ctx.clients
    assert c is not None
    row = ctx.client_row
    has = np.flatnonzero(row >= 0)
    latency = (c.end_us[row[has]] - c.start_us[row[has]]) / 1e6
    outlived = latency > bound_s
    n = int(outlived.sum())
    if n == 0:
        return None
    what = "the deadline" if ctx.policy.deadline_cuts_attempts else "deadline + per-try timeout"
    tol, tol_source = lateness_tolerance(ctx)
    beyond = latency > bound_s + tol
    k = int(beyond.sum())
    a = ctx.plan.per_check_alpha
    pv = float(stats.binom.sf(k - 1, n, 0.5)) if k else 1.0
    evidence.append(
        f"{n} clients waited longer than {what} ({bound_s:.3f} s), {k} of them by more than "
        f"{tol * 1e3:.1f} ms ({tol_source}); worst {latency.max():.3f} s; sign test (one-sided: "
        f"at most half of them beyond the tolerance) p = {pv:.3g} at α = {a:.3g}"
    )
    if pv < a:
        bad.append(has[beyond])
        return None
    if 2 * k > n and 0.5**n >= a:
        return (
            f"{k} of the {n} clients that waited longer than {what} waited beyond the "
            f"tolerance, but {n} requests cannot show a systematic overrun at α = {a:.3g}"
        )
    return None


def retry_budget(ctx: CheckContext) -> CheckResult:
    b = ctx.policy.budget
    if b is None:
        return not_applicable("retry_budget", INV, "the policy declares no retry budget")
    t = ctx.traces
    a = t.attempts
    rows = np.flatnonzero(t.pos >= 1)
    if rows.size == 0:
        return not_applicable("retry_budget", INV, "no retry in the run: nothing to judge")
    bt = budget_times(ctx.traces)
    eps = ctx.epsilon_s * 1e6
    w = b.window_s * 1e6
    evidence = []
    eligible = int(rows.size)
    if ctx.down_windows:
        # windows with hidden or misplaced attempts would count too few retries AND too few
        # requests (a request whose every attempt went to a killed replica counts for nothing)
        clear_lo = np.minimum(a.arrival_us[rows] - w, a.end_us[rows - 1]) - eps
        near = ctx.down.overlaps(clear_lo.astype(np.int64), a.arrival_us[rows] + int(eps))
        if near.any():
            evidence.append(
                f"not judged: {int(near.sum())} retries whose budget window meets a down window"
            )
            rows = rows[~near]
        if rows.size == 0:
            return not_applicable("retry_budget", INV, evidence[0], judged=0, eligible=eligible)
    at = a.arrival_us[rows]
    bad_mask = np.zeros(rows.size, bool)
    if b.ratio is not None or b.min_per_s > 0:
        retries = count_in(bt.retries, at - w + eps, at)
        requests = count_in(bt.requests, at - w - eps, at + eps)
        allowed = limit(b, requests) + 1  # slack: one retry for the window edge
        over = retries > allowed
        if over.any():
            worst = int(np.argmax(retries - allowed))
            evidence.append(
                f"{int(over.sum())} retries arrived in a {b.window_s:g} s window already over "
                f"budget; worst: {int(retries[worst])} retries with "
                f"{int(requests[worst])} requests "
                f"(allowed {allowed[worst] - 1:.1f} + 1 slack)"
            )
        bad_mask |= over
    if b.max_concurrent_retries is not None:
        starts = a.end_us[rows - 1]
        begun = np.searchsorted(bt.inflight_start, starts, side="right")
        finished = np.searchsorted(bt.inflight_end, starts + eps, side="left")
        conc = begun - finished
        over_c = conc > b.max_concurrent_retries
        if over_c.any():
            evidence.append(
                f"{int(over_c.sum())} retries began with more than {b.max_concurrent_retries} "
                f"retries in flight (most: {int(conc.max())})"
            )
        bad_mask |= over_c
    return invariant(
        ctx,
        "retry_budget",
        t.trace[rows[bad_mask]],
        judged=int(rows.size),
        eligible=eligible,
        ok="retries stayed within the budget in every window",
        bad="retries exceeded the budget",
        evidence=evidence,
        unit="retries",
    )


CHECKS: dict[str, Callable[[CheckContext], CheckResult | PendingStat]] = {
    "backoff_window": backoff_window,
    "retry_after": retry_after,
    "per_try_timeout": per_try_timeout,
    "overall_deadline": overall_deadline,
    "retry_budget": retry_budget,
}
