"""Invariant checks on how many attempts a request gets and which failures are retried.

attempts bound, stop on success, non-retryable status (any failure outside retry_on),
non-retryable method, retry when due. Each is a vectorised mask over the sorted attempts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np

from harness.oracle.context import TRIG_STATUS, CheckContext
from harness.oracle.journal import FAULT_KINDS
from harness.oracle.results import invariant, not_applicable
from harness.oracle.verdict import CheckKind, CheckResult

INV = CheckKind.INVARIANT


def attempts_bound(ctx: CheckContext) -> CheckResult:
    t = ctx.traces
    m = ctx.policy.max_retries
    bad = np.flatnonzero(t.length - 1 > m)
    evidence = []
    if ctx.policy.different_upstream:
        evidence.append(
            "policy retries on a different upstream each time (nginx/Kong): retries are also "
            f"capped by the number of upstream peers ({len(t.attempts.replicas)} seen)"
        )
    most = int(t.length.max()) - 1 if t.n_traces else 0
    return invariant(
        ctx,
        "attempts_bound",
        bad,
        judged=t.n_traces,
        ok=f"no request had more than max_retries={m} retries (most seen: {most})",
        bad=f"more than max_retries={m} retries (most seen: {most})",
        evidence=evidence,
    )


def stop_on_success(ctx: CheckContext) -> CheckResult:
    t = ctx.traces
    bad = t.trace[ctx.success & ~t.is_last]
    return invariant(
        ctx,
        "stop_on_success",
        bad,
        judged=t.n_traces,
        ok="no attempt followed a successful one",
        bad="an attempt followed a successful answer",
    )


def _describe(ctx: CheckContext, rows: np.ndarray) -> str:
    a = ctx.traces.attempts
    kinds = Counter(
        str(int(a.status[i])) if ctx.trigger[i] == TRIG_STATUS else str(FAULT_KINDS[a.fault[i]])
        for i in rows[:10000]
    )
    return ", ".join(f"{k}: {v}" for k, v in kinds.most_common())


def non_retryable_status(ctx: CheckContext) -> CheckResult:
    t = ctx.traces
    fail = ctx.trigger != 0
    judged_rows = np.flatnonzero(fail & ~ctx.trigger_retryable)
    if judged_rows.size == 0:
        return not_applicable(
            "non_retryable_status",
            INV,
            "no attempt failed in a way outside retry_on: nothing to judge",
        )
    bad_rows = judged_rows[~t.is_last[judged_rows]]
    evidence = [f"non-retryable failures seen: {_describe(ctx, judged_rows)}"]
    if bad_rows.size:
        evidence.append(f"retried anyway: {_describe(ctx, bad_rows)}")
    return invariant(
        ctx,
        "non_retryable_status",
        t.trace[bad_rows],
        judged=int(np.unique(t.trace[judged_rows]).size),
        ok="every failure outside retry_on ended its request",
        bad="a failure outside retry_on was retried",
        evidence=evidence,
    )


def non_retryable_method(ctx: CheckContext) -> CheckResult:
    t = ctx.traces
    if ctx.policy.methods.retryable is None:
        return not_applicable("non_retryable_method", INV, "the policy retries every method")
    judged_rows = np.flatnonzero(ctx.trigger_retryable & ~ctx.method_ok)
    if judged_rows.size == 0:
        return not_applicable(
            "non_retryable_method",
            INV,
            "no request with a non-retryable method met a retryable failure: nothing to judge",
        )
    bad_rows = judged_rows[~t.is_last[judged_rows]]
    a = t.attempts
    methods = Counter(a.methods[ctx.trace_method[i]] for i in judged_rows[:10000])
    return invariant(
        ctx,
        "non_retryable_method",
        t.trace[bad_rows],
        judged=int(np.unique(t.trace[judged_rows]).size),
        ok="no request with a non-retryable method was retried",
        bad="a request with a non-retryable method was retried",
        evidence=[
            "non-retryable methods with retryable failures: "
            + ", ".join(f"{k}: {v}" for k, v in methods.most_common())
        ],
    )


def retry_when_due(ctx: CheckContext) -> CheckResult:
    """A trace that ends in a retryable failure with retries, time and budget left is a defect."""
    t = ctx.traces
    p = ctx.policy
    last = ctx.last
    due_rows = np.flatnonzero(ctx.retryable & (t.pos < p.max_retries))
    if due_rows.size == 0:
        return not_applicable(
            "retry_when_due",
            INV,
            "no attempt met a retryable failure with retries left: nothing to judge",
        )
    n_judged = int(np.unique(t.trace[due_rows]).size)
    candidates = ctx.retryable[last] & (t.length - 1 < p.max_retries)
    excused = ctx.stop_excuses
    excuse = np.zeros(t.n_traces, bool)
    evidence = []
    for reason, mask in excused.items():
        hit = int((mask & candidates & ~excuse).sum())
        if hit:
            evidence.append(f"{hit} requests not judged: {reason}")
        excuse |= mask
    bad = np.flatnonzero(candidates & ~excuse)
    return invariant(
        ctx,
        "retry_when_due",
        bad,
        judged=n_judged,
        ok="every retryable failure with retries, time and budget left was retried",
        bad="ended on a retryable failure with retries, time and budget left",
        evidence=evidence,
    )


CHECKS: dict[str, Callable[[CheckContext], CheckResult]] = {
    "attempts_bound": attempts_bound,
    "stop_on_success": stop_on_success,
    "non_retryable_status": non_retryable_status,
    "non_retryable_method": non_retryable_method,
    "retry_when_due": retry_when_due,
}
