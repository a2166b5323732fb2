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
from harness.oracle.planner import late_reference, late_share_under, sign_test_n
from harness.oracle.records import FaultKind
from harness.oracle.results import Hypothesis, PendingStat, invariant, not_applicable
from harness.oracle.tolerances import EARLY_TOLERANCE_S
from harness.oracle.verdict import CheckKind, CheckResult
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
    prec = EARLY_TOLERANCE_S
    lo, hi, _ = ctx.delays.window
    d = ctx.delays.delay_s[rows]
    after_timeout = ctx.end_not_a_bound[rows - 1]
    short = (d < lo[rows] - prec) & ~after_timeout
    if after_timeout.any():
        evidence.append(
            f"early side not judged for {int(after_timeout.sum())} delays after an attempt that "
            "hung, lost its client, or that the SUT may have abandoned at its per-try timeout "
            "before the answer left (its end stamp is no bound: the delay began unseen)"
        )
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
    tol, tol_source = ctx.lateness_tolerance
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
        f"(early tolerance: stamp precision + timer tick); lateness beyond {tol * 1e3:.1f} ms "
        f"({tol_source}) in most delays of an index "
        f"({'; '.join(seen) or 'no index with a finite window'})",
    )
    data = {
        "per_index": _per_index_data(ctx, rows),
        "epsilon_s": ctx.epsilon_s,
        "lateness_slack_s": ctx.lateness_slack_s,
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
        n_label=f"retry {best[0]}" if len(powered) > 1 else None,
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
        f"smallest deviation it could see: a retry {EARLY_TOLERANCE_S * 1e3:g} ms (early "
        "tolerance: stamp precision + timer tick) earlier than the Retry-After value",
    )
    ra = a.retry_after_s[rows - 1]
    if rule.max_s is not None:
        ra = np.minimum(ra, rule.max_s)
    judged = (ra > 0) & ~ctx.end_not_a_bound[rows - 1]
    d = ctx.delays.delay_s[rows]
    bad = judged & (d < ra - EARLY_TOLERANCE_S)
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
        ok="every retry waited at least the Retry-After value (- early tolerance)",
        bad="a retry came before the Retry-After value",
        evidence=evidence,
        unit="delays",
    )


def _most_beyond(label: str, excess_s: np.ndarray, tol: float, what: str) -> Hypothesis:
    """The one-sided sign test of "at most half of the samples lie beyond ``tol``" on
    ``excess_s`` (seconds past the declared limit): load may make some late, never most
    (issue 8.2); a defect (an ignored timeout or deadline) makes most of them late."""
    from scipy import stats

    n = int(excess_s.size)
    late = int((excess_s > tol).sum())
    pv = float(stats.binom.sf(late - 1, n, 0.5)) if late else 1.0
    return Hypothesis(
        label=label,
        test="sign test (one-sided): at most half the samples beyond the limit + tolerance",
        p_value=pv,
        statistic=late / n if n else 0.0,
        n=n,
        effect=f"{late} of {n} {what} beyond {tol * 1e3:.1f} ms",
    )


def _late_pending(
    ctx: CheckContext,
    name: str,
    hyps: list[Hypothesis],
    suspicious: int,
    n: int,
    summary: str,
    evidence: list[str],
    data: dict[str, Any],
) -> PendingStat:
    """A lateness judgement as a sign test: conclusive when nothing lay beyond the lateness
    slack (maxima: load explains every sample), or when the sample is large enough to reject
    even if every sample were late; otherwise inconclusive ("no power") rather than a pass."""
    need = sign_test_n(1.0, ctx.plan.per_check_alpha, ctx.goals.power)
    no_power = None
    if suspicious and n < need:
        no_power = (
            f"{suspicious} samples beyond the lateness slack, but only {n} to test: fewer than "
            f"the {need} a sign test needs at this α to tell a defect from load"
        )
    return PendingStat(
        name=name,
        hypotheses=hyps,
        n=n,
        n_planned=need if suspicious else 0,
        summary=summary,
        evidence=evidence,
        data=data,
        conclusive=True,
        no_power=no_power,
    )


def per_try_timeout(ctx: CheckContext) -> CheckResult | PendingStat:
    """Hung attempts, each expected to be abandoned at the per-try timeout. A hung attempt ends
    on the app clock when the backend notices the SUT left, and its arrival trails the SUT's
    send by the forwarding time: neither is a wire-stamped fact, so "held too long" is judged
    as lateness is, by a sign test against the lateness tolerance (most of them beyond it),
    never sample by sample; abandoned early is judged one by one against the lateness
    slack (the largest forwarding time bounds how far the arrival trails the send)."""
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
    slack = ctx.lateness_slack_s
    tol, tol_source = ctx.lateness_tolerance
    ptt = p.per_try_timeout_s
    dur = (a.end_us[rows] - a.arrival_us[rows]) / 1e6
    excuse = np.zeros(rows.size, bool)
    tr = t.trace[rows]
    down = ctx.down.overlap[tr]
    if p.deadline_s is not None:
        # an overlapping trace may have had an unseen first attempt: count from the client's send
        first_us = np.where(down, ctx.down.span_start_us[tr], a.arrival_us[t.start[tr]])
        deadline = first_us / 1e6 + p.deadline_s
        excuse |= a.arrival_us[rows] / 1e6 + ptt >= deadline - slack
        excuse |= down & (ctx.client_row[tr] < 0)
    if ctx.clients is not None:
        row = ctx.client_row[t.trace[rows]]
        has = row >= 0
        c_end = np.full(rows.size, np.inf)
        c_end[has] = ctx.clients.end_us[row[has]] / 1e6
        excuse |= c_end < a.arrival_us[rows] / 1e6 + ptt - slack
    # a hang the backend ended at its own bound before the timeout was a reset to the SUT
    # (attempt_kinds.AttemptKinds.hang_ended_by_bound): nothing to abandon, so not "early"
    bound = ~a.client_gone[rows] & (dur < ptt) & ~excuse
    if bound.any():
        evidence.append(
            f"{int(bound.sum())} hangs ended at the backend's own bound before the timeout "
            "(the SUT saw the connection close, a reset): not judged as abandoned early"
        )
    excuse |= bound
    held = dur - ptt
    # abandoned early: the arrival trails the SUT's send by at most the run's largest
    # forwarding time (in the slack) and the end stamp only errs late, so a hung attempt
    # shorter than the timeout by more than the slack was abandoned early: judged one by one
    early = (ptt - dur > slack) & ~excuse
    hyps = [_most_beyond("held too long", held, tol, "hung attempts held")]
    suspicious = int((held > slack).sum())
    evidence.insert(
        0,
        f"smallest deviation it could see: most hung attempts held or abandoned "
        f"{tol * 1e3:.1f} ms ({tol_source}) off the timeout",
    )
    if excuse.any():
        evidence.append(
            f"{int(excuse.sum())} hung attempts cut short by the deadline or the client left out "
            "of the early side"
        )
    if suspicious:
        evidence.append(
            f"{suspicious} held longer than {ptt:.3f} s + lateness slack {slack * 1e3:.1f} ms "
            "(on a loaded machine single samples may be: judged by the sign test)"
        )
    if early.any():
        evidence.append(
            f"{int(early.sum())} hung attempts abandoned before {ptt:.3f} s - lateness slack "
            f"(shortest {dur[early].min():.3f} s)"
        )
    pending = _late_pending(
        ctx,
        "per_try_timeout",
        hyps,
        suspicious,
        int(rows.size),
        f"hung attempts vs the {ptt:.3f} s per-try timeout: none abandoned before it - lateness "
        f"slack, most not held beyond it + {tol * 1e3:.1f} ms ({int(rows.size)} judged)",
        evidence,
        {"judged": int(rows.size), "eligible": int(hung.sum()), "late_tolerance_s": tol},
    )
    if early.any():
        pending.exact_failures = t.trace[rows[early]]
        pending.exact_reason = f"abandoned a hung attempt before the {ptt:.3f} s per-try timeout"
    return pending


def overall_deadline(ctx: CheckContext) -> CheckResult | PendingStat:
    """No attempt starts after the deadline. An attempt's arrival trails the SUT's send by the
    forwarding time, which load lengthens, so the attempts that arrived after the deadline are
    judged as lateness is: a sign test of "most of them lie beyond the lateness tolerance"
    (a SUT that ignores its deadline keeps retrying long after it), never one by one."""
    p = ctx.policy
    if p.deadline_s is None:
        return not_applicable("overall_deadline", INV, "the policy declares no overall deadline")
    t = ctx.traces
    a = t.attempts
    tol, tol_source = ctx.lateness_tolerance
    slack = ctx.lateness_slack_s
    limit_us = a.arrival_us[t.start] + p.deadline_s * 1e6
    # a displaced attempt (late stamp of a paused replica) may have been sent in time; an unseen
    # earlier first attempt would only move the limit earlier, so the rest stays sound
    displaced = ctx.down.displaced
    after = np.flatnonzero((a.arrival_us > limit_us[t.trace]) & ~displaced)
    over = (a.arrival_us[after] - limit_us[t.trace[after]]) / 1e6
    bad: list[np.ndarray] = []
    evidence = [
        f"smallest deviation it could see: most attempts that arrived after the deadline "
        f"arriving {tol * 1e3:.1f} ms ({tol_source}) past it"
    ]
    if displaced.any():
        evidence.append(
            f"not judged: {int(displaced.sum())} attempts journaled late by a paused replica"
        )
    hyps = []
    if after.size:
        hyps.append(_most_beyond("attempts after the deadline", over, tol, "attempts"))
        evidence.append(
            f"{after.size} attempts arrived after the deadline of {p.deadline_s:.3f} s "
            f"(worst by {over.max() * 1e3:.1f} ms; {int((over > slack).sum())} beyond the "
            f"lateness slack {slack * 1e3:.1f} ms)"
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
                f"{bound_s:.3f} s (+ the lateness tolerance, by a sign test)"
            )
        )
    no_power = None
    if ctx.clients is not None and bound_s is not None:
        no_power = _client_waits(ctx, bound_s, evidence, bad)
    pending = _late_pending(
        ctx,
        "overall_deadline",
        hyps,
        int((over > slack).sum()),
        int(after.size),
        f"attempts after the {p.deadline_s:.3f} s deadline: {after.size}, most within "
        f"{tol * 1e3:.1f} ms of it ({t.n_traces} requests judged)",
        evidence,
        {"judged": t.n_traces, "eligible": t.n_traces, "late_tolerance_s": tol},
    )
    if bad:
        pending.exact_failures = np.concatenate(bad)
        pending.exact_reason = f"overran the {p.deadline_s:.3f} s deadline (client's wait)"
    if no_power is not None and pending.no_power is None:
        pending.no_power = no_power
    return pending


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
    tol, tol_source = _client_wait_tolerance(ctx, has, latency)
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


def _client_wait_tolerance(
    ctx: CheckContext, has: np.ndarray, latency: np.ndarray
) -> tuple[float, str]:
    """The lateness tolerance for a client's wait (seconds, and where it comes from).

    A client's wait holds more than the SUT's own forwarding: the answer's way back through the
    SUT and the load generator's own time on both ends (Locust's Python, which a loaded machine
    stretches). Each request of the run shows that overhead: its client's wait minus the span
    its attempts took at the backends (first arrival to last end). The tolerance is the larger
    of the run's lateness tolerance and the 90th percentile of that overhead, so a correct SUT's
    deadline answers land beyond it in about one request in ten, and a SUT that ignores its
    deadline (the client waits a per-try timeout or a retry longer) in most."""
    tol, source = ctx.lateness_tolerance
    t = ctx.traces
    a = t.attempts
    span = (a.end_us[ctx.last[has]] - a.arrival_us[t.start[has]]) / 1e6
    overhead = np.clip(latency - span, 0.0, None)
    if overhead.size == 0:
        return tol, source
    p90 = float(np.percentile(overhead, 90))
    if p90 <= tol:
        return tol, source
    return p90, (
        f"the client's own round trip in this run: 90th percentile of {overhead.size} clients' "
        f"wait minus their attempts' span at the backends, {p90 * 1e3:.1f} ms > {tol * 1e3:.1f} "
        f"ms ({source})"
    )


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
    eps = ctx.lateness_slack_s * 1e6
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
