"""Invariant checks on how many attempts a request gets and which failures are retried.

attempts bound, stop on success, non-retryable status (any failure outside retry_on),
non-retryable method, retry when due. Each is a vectorised mask over the sorted attempts.

Traces that overlap a replica's down window (``harness.oracle.down``) may have attempts no
journal shows (sent to a killed replica) and attempts shown out of place (stamped late by a
paused replica). What stays sound:

* attempts bound: unseen attempts only make the true count larger, so more seen attempts than
  allowed is still a violation;
* stop on success / non-retryable failure / non-retryable method: each says "after attempt A
  the SUT sent nothing". An unseen attempt can only add attempts, never remove the one seen
  after A, and an unseen attempt *between* A and the seen one is itself an attempt after A, so
  a seen attempt after A stays a violation — provided A's answer is the one the SUT saw and the
  order is real. So A must not be ``unsure`` (journaled on the replica as it went down: the SUT
  may have seen a reset or its own timeout instead), and the attempt after A must not be
  ``displaced`` (a paused replica's late stamp: it may really have been sent before A);
* retry when due: NOT judged for overlapping traces. The missing retry may be an unseen attempt
  to the down replica, which (when the policy retries connect failures / per-try timeouts) may
  also have used up the retries left, or (when it does not) ended the request by policy.

Reset attempts are left out of non-retryable status, non-retryable method and retry when due
when the adapter marked resets as not judged (``AttemptKinds.unjudged``; the evidence says how
many and why); every other failure is still judged.

A policy that tries each upstream at most once per request (``different_upstream`` and
``upstream_once``: nginx) owes no retry once every upstream replica the SUT can reach was tried
in the request; Kong and HAProxy's redispatch (``different_upstream`` alone) may come back to
an earlier peer, so their retries are not capped. How many replicas the SUT can reach is not
in the journals; it is the number of replicas the run started when ``verify`` is told
(``replicas=``), else the replicas seen across the whole run (``ctx.peers.reachable``, see
``UpstreamPeers``). With the first, an nginx that proxies to one server of a 2-replica run
fails retry_when_due: it declares retries it can never make.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np

from harness.oracle.attempt_kinds import TRIG_STATUS
from harness.oracle.context import CheckContext
from harness.oracle.down import followed
from harness.oracle.journal import FAULT_KINDS
from harness.oracle.results import blind, excused_requests, invariant, not_applicable
from harness.oracle.verdict import CheckKind, CheckResult

INV = CheckKind.INVARIANT


def attempts_bound(ctx: CheckContext) -> CheckResult:
    t = ctx.traces
    m = ctx.policy.max_retries
    bad = np.flatnonzero(t.length - 1 > m)
    evidence = []
    if ctx.policy.different_upstream and ctx.policy.upstream_once:
        evidence.append(
            "policy tries each upstream at most once per request (nginx): retries are also "
            f"capped by the number of upstream peers ({ctx.peers.reachable} "
            f"{ctx.peers.source})"
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


def _unsure_note(ctx: CheckContext, rows: np.ndarray) -> list[str]:
    """Evidence line for attempts left out because their answer may not be what the SUT saw."""
    n = int(ctx.down.unsure[rows].sum()) if rows.size else 0
    if not n:
        return []
    return [
        f"not judged: {n} attempts journaled on a replica as it went down (the SUT may have "
        "seen a reset or its own timeout instead of the journaled answer)"
    ]


def stop_on_success(ctx: CheckContext) -> CheckResult:
    t = ctx.traces
    unsure = ctx.down.unsure
    after = followed(t, ctx.down.displaced)
    s = t.attempts.status
    answered = (s >= 200) & (s < 400)  # journaled; AttemptKinds.success: the ones the SUT saw
    timer = ctx.kinds.timeout_may_have_fired
    bad = t.trace[answered & ~unsure & after & ~timer]
    evidence = _unsure_note(ctx, np.flatnonzero(answered))
    excused = answered & ~unsure & after & timer
    evidence += _timed_out_note(ctx, answered & after & timer)
    # a request with a followed answer the check left out (unsure, or its timer may have
    # fired) was not judged, unless another of its answers was a violation
    n_excused = excused_requests(t.trace[answered & after & (unsure | timer)], bad)
    result = invariant(
        ctx,
        "stop_on_success",
        bad,
        judged=t.n_traces - n_excused,
        eligible=t.n_traces,
        excused=n_excused,
        ok="no attempt followed a successful one",
        bad="an attempt followed a successful answer",
        evidence=evidence,
    )
    return blind(result, ctx.kinds.timer_blind(int(excused.sum())))


def _timed_out_note(ctx: CheckContext, rows: np.ndarray) -> list[str]:
    """An evidence line for followed attempts the SUT may have abandoned at its per-try
    timeout (``AttemptKinds.timeout_may_have_fired``): their journaled outcome is not what it
    saw."""
    n = int(rows.sum())
    if n == 0:
        return []
    return [
        f"not judged: {n} retried attempts whose answer left the backend after the SUT's "
        "per-try timeout may have fired (it retried on the timeout, not on this outcome)"
    ]


def _describe(ctx: CheckContext, rows: np.ndarray) -> str:
    a = ctx.traces.attempts
    kinds = Counter(
        str(int(a.status[i]))
        if ctx.kinds.trigger[i] == TRIG_STATUS
        else str(FAULT_KINDS[a.fault[i]])
        for i in rows[:10000]
    )
    return ", ".join(f"{k}: {v}" for k, v in kinds.most_common())


def non_retryable_status(ctx: CheckContext) -> CheckResult:
    t = ctx.traces
    fail = ctx.kinds.trigger != 0
    every = fail & ~ctx.kinds.trigger_retryable
    seen = every & ~ctx.kinds.unjudged
    judged_rows = np.flatnonzero(seen & ~ctx.down.unsure)
    if judged_rows.size == 0:
        return not_applicable(
            "non_retryable_status",
            INV,
            "no attempt failed in a way outside retry_on: nothing to judge",
        )
    follow = followed(t, ctx.down.displaced)
    timer = follow & ctx.kinds.timeout_may_have_fired
    bad_rows = judged_rows[~timer[judged_rows]]
    bad_rows = bad_rows[follow[bad_rows]]
    eligible = int(np.unique(t.trace[np.flatnonzero(seen)]).size)
    # a request with a failure the check left out (unsure, or followed after its timer may
    # have fired) was not judged, unless another of its failures was a violation
    n_excused = excused_requests(t.trace[seen & (ctx.down.unsure | timer)], t.trace[bad_rows])
    evidence = [f"non-retryable failures seen: {_describe(ctx, judged_rows)}"]
    evidence += _unsure_note(ctx, np.flatnonzero(seen))
    evidence += ctx.kinds.unjudged_note(np.flatnonzero(every))
    evidence += _timed_out_note(ctx, seen & follow & ctx.kinds.timeout_may_have_fired)
    if bad_rows.size:
        evidence.append(f"retried anyway: {_describe(ctx, bad_rows)}")
    excused = int(timer[judged_rows].sum())
    result = invariant(
        ctx,
        "non_retryable_status",
        t.trace[bad_rows],
        judged=eligible - n_excused,
        eligible=eligible,
        excused=n_excused,
        ok="every failure outside retry_on ended its request",
        bad="a failure outside retry_on was retried",
        evidence=evidence,
    )
    return blind(result, ctx.kinds.timer_blind(excused))


def non_retryable_method(ctx: CheckContext) -> CheckResult:
    t = ctx.traces
    if ctx.policy.methods.retryable is None:
        return not_applicable("non_retryable_method", INV, "the policy retries every method")
    every = ctx.kinds.trigger_retryable & ~ctx.kinds.method_ok
    seen = every & ~ctx.kinds.unjudged
    judged_rows = np.flatnonzero(seen & ~ctx.down.unsure)
    eligible = int(np.unique(t.trace[np.flatnonzero(seen)]).size)
    if judged_rows.size == 0:
        return not_applicable(
            "non_retryable_method",
            INV,
            "no request with a non-retryable method met a retryable failure: nothing to judge",
        )
    bad_rows = judged_rows[followed(t, ctx.down.displaced)[judged_rows]]
    a = t.attempts
    methods = Counter(a.methods[ctx.kinds.trace_method[i]] for i in judged_rows[:10000])
    return invariant(
        ctx,
        "non_retryable_method",
        t.trace[bad_rows],
        judged=int(np.unique(t.trace[judged_rows]).size),
        eligible=eligible,
        ok="no request with a non-retryable method was retried",
        bad="a request with a non-retryable method was retried",
        evidence=[
            "non-retryable methods with retryable failures: "
            + ", ".join(f"{k}: {v}" for k, v in methods.most_common()),
            *_unsure_note(ctx, np.flatnonzero(seen)),
            *ctx.kinds.unjudged_note(np.flatnonzero(every)),
        ],
    )


def retry_when_due(ctx: CheckContext) -> CheckResult:
    """A trace that ends in a retryable failure with retries, time and budget left is a defect."""
    t = ctx.traces
    p = ctx.policy
    last = ctx.last
    unjudged = ctx.kinds.unjudged
    due_all = ctx.kinds.retryable & (t.pos < p.max_retries)
    due_rows = np.flatnonzero(due_all & ~unjudged)
    if due_rows.size == 0:
        return not_applicable(
            "retry_when_due",
            INV,
            "no attempt met a retryable failure with retries left: nothing to judge"
            + "".join(f" ({line})" for line in ctx.kinds.unjudged_note(np.flatnonzero(due_all))),
        )
    due_traces = np.unique(t.trace[due_rows])
    n_judged = eligible = int(due_traces.size)
    hidden = 0
    candidates = ctx.kinds.retryable[last] & ~unjudged[last] & (t.length - 1 < p.max_retries)
    excused = ctx.stops.reasons
    excuse = np.zeros(t.n_traces, bool)
    evidence = ctx.kinds.unjudged_note(np.flatnonzero(due_all))
    if ctx.down_windows:
        # the retry was due by the end of its window: it may have gone to a down replica even
        # when the trace (without a client record) ended just before the window began
        _, hi = ctx.delays.next_window
        a = t.attempts
        due_by = a.end_us[last] + np.where(np.isfinite(hi), hi, 0.0) * 1e6
        down = ctx.down.overlap | ctx.down.overlaps(a.end_us[last], due_by.astype(np.int64))
        # every overlapping request is hidden, also one whose due retry was seen: had the SUT
        # left it out, the request would have been excused, so this check could not fail there
        hidden = int(down[due_traces].sum())
        if hidden:
            evidence.append(
                f"not judged: {hidden} requests overlapped a down replica (a missing retry "
                f"there may be an attempt to it, which reaches no journal): {_down_reason(ctx)}"
            )
            n_judged -= hidden
        excuse |= down
    for reason, mask in excused.items():
        hit = int((mask & candidates & ~excuse).sum())
        if hit:
            evidence.append(f"{hit} requests not judged: {reason}")
            n_judged -= hit
        excuse |= mask
    bad = np.flatnonzero(candidates & ~excuse)
    if p.different_upstream and p.upstream_once:
        evidence.append(_peer_note(ctx))
    if n_judged == 0 and bad.size == 0 and hidden == 0:
        return not_applicable(
            "retry_when_due",
            INV,
            "every request that met a retryable failure with retries left was excused: "
            + "; ".join(evidence),
            judged=eligible - hidden,
            eligible=eligible,
        )
    result = invariant(
        ctx,
        "retry_when_due",
        bad,
        judged=n_judged,
        ok="every retryable failure with retries, time and budget left was retried",
        bad="ended on a retryable failure with retries, time and budget left",
        evidence=evidence,
    )
    # excused requests were judged (nothing was owed); hidden ones were not
    return result.model_copy(update={"judged": eligible - hidden, "eligible": eligible})


def _peer_note(ctx: CheckContext) -> str:
    """How a ``different_upstream`` policy's due retries were counted."""
    n, seen = ctx.peers.reachable, ctx.peers.seen
    note = (
        "retries go to a different upstream peer each time (nginx/Kong): a retry is due while "
        f"the request has an untried upstream replica ({n} {_replicas(n)}, "
        f"{ctx.peers.source})"
    )
    if ctx.replicas is not None and seen < n:
        note += (
            f"; only {seen} of the {n} replicas the run started appear in the journals: the SUT "
            "seems to reach fewer upstream servers than the run started (e.g. proxy_pass to one "
            f"server), so the {ctx.policy.max_retries} declared retries cannot happen"
        )
    return note


def _replicas(n: int) -> str:
    return "replica" if n == 1 else "replicas"


def _down_reason(ctx: CheckContext) -> str:
    """Why a missing retry in a trace overlapping a down window cannot be judged."""
    p = ctx.policy
    kinds = {w.kind for w in ctx.down_windows}
    parts = []
    if "kill" in kinds:
        if p.retry_on.connect_failure:
            parts.append(
                "an attempt to a killed replica fails to connect and is journaled nowhere; the "
                "policy retries connect failures, so such unseen attempts may have used the "
                "retries that look left"
            )
        else:
            parts.append(
                "the due retry may have gone to a killed replica, failed to connect (journaled "
                "nowhere) and, as the policy does not retry connect failures, ended the request"
            )
    if "pause" in kinds:
        if p.per_try_timeout_s is not None and p.retry_on.per_try_timeout:
            parts.append(
                "attempts to a paused replica are abandoned at the per-try timeout and journaled "
                "late or never; they may have used the retries that look left"
            )
        else:
            parts.append(
                "the due retry may have gone to a paused replica and ended there (timed out or "
                "abandoned) with its late record out of place or missing"
            )
    return "; ".join(parts)


CHECKS: dict[str, Callable[[CheckContext], CheckResult]] = {
    "attempts_bound": attempts_bound,
    "stop_on_success": stop_on_success,
    "non_retryable_status": non_retryable_status,
    "non_retryable_method": non_retryable_method,
    "retry_when_due": retry_when_due,
}
