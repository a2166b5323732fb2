"""Client agreement: what the load generator saw matches the backends' traces.

* every trace has a client record and every client record a trace (a request the SUT answered
  without reaching any backend, or a retry layer minting new request ids, shows up here);
* the client's status equals the last attempt's status, except for documented mappings: a
  reset/hang/upstream error (no status) may reach the client as 502/503/504 or as a client-side
  error; a request that legitimately ended by giving up may end in a SUT-made 502/503/504:
  its last attempt was a retryable failure and no retry was left (max_retries + 1 attempts:
  urllib3's MaxRetryError under raise_on_status) or the deadline or budget stopped it (the
  excuses retry_when_due grants: KubeRay's 502 on its deadline, Envoy); an answer the SUT's
  per-try timer may have beaten (``AttemptKinds.timeout_may_have_fired``), or, under a deadline
  that cuts an attempt in flight, the deadline's timer (for a client that waited the deadline),
  may reach the client as the SUT's 502/503/504 or error; the evidence counts these.
  A 502 after 1 of 4 allowed attempts, or a 200 after a final 503, stays a mismatch; a client
  that gave up before the last attempt ended sees an error;
* no attempt lies outside the client's request ([start - ε, end + ε]): an attempt after the
  client had its answer is a retry the client never waited for (a hidden or duplicate retry).

Around a replica's down window (``harness.oracle.down``) the journals may miss the attempt the
client's answer came from: for a request overlapping a window the SUT's own answers (502, 503,
504, or a client-side error) are accepted whatever the last seen attempt said, and so is the
status of the last attempt whose place in the order is known or of an attempt a paused replica
journaled late; a client request answered 502/503/504 (or with an error) without any journaled
attempt is accepted when it overlaps a window (every try may have gone to the down replica).
A status the SUT could not have made or relayed (a 200 after a seen 503 last) is still a
mismatch. Attempts a paused replica journaled late are not held to the client's time span.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np

from harness.oracle.attempt_kinds import timer_may_have_fired
from harness.oracle.context import CheckContext
from harness.oracle.down import overlaps_spans
from harness.oracle.journal import NO_STATUS
from harness.oracle.results import TITLES, blind, excused_requests, invariant, not_applicable
from harness.oracle.stop_excuses import BUDGET, DEADLINE
from harness.oracle.tolerances import EARLY_TOLERANCE_S
from harness.oracle.verdict import CheckKind, CheckResult, Outcome

INV = CheckKind.INVARIANT
GATEWAY_STATUSES = np.array([502, 503, 504])


def client_agreement(ctx: CheckContext) -> CheckResult:
    c = ctx.clients
    if c is None:
        return not_applicable("client_agreement", INV, "no client records were given")
    t = ctx.traces
    a = t.attempts
    row = ctx.client_row
    has = row >= 0
    eps_us = ctx.lateness_slack_s * 1e6
    evidence: list[str] = []
    bad_parts: list[np.ndarray] = []

    missing = np.flatnonzero(~has)
    if missing.size:
        evidence.append(f"{missing.size} traces have no client record")
        bad_parts.append(missing)

    traced = {a.request_ids[int(i)] for i in np.unique(a.rid)}  # ids with an attempt
    orphans = [i for i, rid in enumerate(c.request_ids) if rid not in traced]
    if orphans and ctx.down_windows:
        # Overlapping a down window, a request may have tried only the replica going down, and
        # an attempt served just before a kill can miss its journal (the record is written as
        # the answer leaves; a container's or pod's journal is pulled, not shared): whatever the
        # client saw, 200 included, it is not judged.
        o = np.array(orphans, np.int64)
        near = overlaps_spans(c.start_us[o], c.end_us[o], ctx.down.affected)
        if near.any():
            statuses = Counter(int(x) if x != NO_STATUS else "error" for x in c.status[o[near]])
            evidence.append(
                f"not judged: {int(near.sum())} client requests overlapping a down "
                f"replica reached no journal (every try may have gone to it): "
                f"{dict(statuses.most_common(5))}"
            )
            orphans = [int(i) for i in o[~near]]
    orphan_answered = [i for i in orphans if c.status[i] != NO_STATUS]
    orphan_ids = [c.request_ids[i] for i in orphan_answered[:10]]
    if orphans:
        errs = Counter(c.error[i] or "no error" for i in orphans if c.status[i] == NO_STATUS)
        if errs:
            evidence.append(
                f"{sum(errs.values())} client requests never reached a backend and saw no "
                f"status (not judged): {dict(errs.most_common(5))}"
            )
        if orphan_answered:
            statuses = Counter(int(c.status[i]) for i in orphan_answered)
            evidence.append(
                f"{len(orphan_answered)} client requests were answered without any backend "
                f"attempt: statuses {dict(statuses.most_common(5))}; e.g. {', '.join(orphan_ids)}"
            )

    idx = np.flatnonzero(has)
    r = row[idx]
    last = ctx.last[idx]
    s_last = a.status[last]
    s_client = c.status[r]
    same = s_client == s_last
    # no answer the SUT saw: a reset or hang, or an answer that may have come after the SUT
    # abandoned the attempt at its per-try timeout (AttemptKinds.timeout_may_have_fired, the
    # rule stop_on_success excuses with)
    unseen = (s_last == NO_STATUS) | ctx.kinds.timeout_may_have_fired[last]
    no_status = unseen & (np.isin(s_client, GATEWAY_STATUSES) | (s_client == NO_STATUS))
    gave_up = (s_client == NO_STATUS) & (c.end_us[r] <= a.end_us[last] + eps_us)
    sut_gave_up = ~same & ctx.stops.gave_up[idx] & np.isin(s_client, GATEWAY_STATUSES)
    down_map = np.zeros(idx.size, bool)
    if ctx.down_windows:
        down_map = _down_accepts(ctx, idx, s_client)
    cut = ~same & _deadline_cut(ctx, r, last, s_client)
    if cut.any():
        evidence.append(
            f"{int(cut.sum())} answers ended within the lateness slack of the deadline, which "
            "cuts an attempt in flight: the SUT may not have had them when it fired "
            "(accepted as the deadline's answer): " + _pairs(s_last[cut], s_client[cut])
        )
    mapped = ~same & (no_status | gave_up | sut_gave_up | down_map | cut)
    # accepted only because the per-try timer may have beaten the answer
    timer_only = mapped & (s_last != NO_STATUS) & ~(gave_up | sut_gave_up | down_map | cut)
    # accepted only because a timer (per-try or the deadline's) may have beaten the answer:
    # the check cannot tell what the SUT saw, so such a request is excused, not judged
    timer_or_cut = timer_only | (cut & (s_last != NO_STATUS) & ~(gave_up | sut_gave_up | down_map))
    mismatch = ~(same | mapped)
    accepted = sut_gave_up & ~(no_status | gave_up | down_map)
    if accepted.any():
        evidence.append(
            f"{int(accepted.sum())} SUT-made give-up answers accepted (last attempt a "
            f"retryable failure; {_gave_up_reasons(ctx, idx[accepted])}): "
            + _pairs(s_last[accepted], s_client[accepted])
        )
    if mapped.any():
        evidence.append(
            "documented mappings (last attempt -> client): "
            + _pairs(s_last[mapped], s_client[mapped])
        )
    if mismatch.any():
        evidence.append(
            f"{int(mismatch.sum())} client statuses differ from the last attempt: "
            + _pairs(s_last[mismatch], s_client[mismatch])
        )
        bad_parts.append(idx[mismatch])

    crow = row[t.trace]
    att = np.flatnonzero((crow >= 0) & ~ctx.down.displaced)
    early = a.arrival_us[att] < c.start_us[crow[att]] - eps_us
    late = a.arrival_us[att] > c.end_us[crow[att]] + eps_us
    # a client that gave up (no status: its own timeout, a broken connection) left a SUT that
    # may keep serving the request (HAProxy without `option abortonclose`, its default): the
    # attempts after it left are evidence, not a retry nobody waited for
    left = late & (c.status[crow[att]] == NO_STATUS)
    late &= ~left
    if early.any():
        evidence.append(f"{int(early.sum())} attempts arrived before their client sent the request")
    if left.any():
        evidence.append(
            f"{int(left.sum())} attempts arrived after their client had given up without an "
            "answer (the SUT kept serving the request; not a violation)"
        )
    if late.any():
        evidence.append(
            f"{int(late.sum())} attempts arrived after their client had its answer "
            "(a retry nobody waited for)"
        )
    bad_parts.append(t.trace[att[early | late]])

    bad = np.concatenate(bad_parts) if bad_parts else np.zeros(0, np.int64)
    eligible = t.n_traces + len(c.request_ids) - len(traced & set(c.request_ids))
    n_excused = excused_requests(idx[timer_or_cut], bad)
    result = invariant(
        ctx,
        "client_agreement",
        bad,
        judged=t.n_traces - n_excused,
        excused=n_excused,
        ok="client records and traces agree",
        bad="client records and traces disagree",
        evidence=evidence,
    )
    judged = t.n_traces - n_excused + len(orphan_answered)
    if not orphan_answered:
        result = result.model_copy(update={"judged": judged, "eligible": eligible})
        return blind(result, ctx.kinds.timer_blind(int(timer_only.sum())))
    statuses = Counter(int(c.status[i]) for i in orphan_answered)
    lead = (
        f"{len(orphan_answered)} of {len(c)} client requests were answered by the SUT without "
        f"any backend attempt (statuses {dict(statuses.most_common(5))})"
    )
    return CheckResult(
        name="client_agreement",
        title=TITLES["client_agreement"],
        kind=INV,
        outcome=Outcome.FAIL,
        summary=lead if result.outcome is not Outcome.FAIL else f"{lead}; {result.summary}",
        evidence=result.evidence,
        request_ids=[*orphan_ids, *result.request_ids][:20],
        judged=judged,
        eligible=eligible,
    )


def _deadline_cut(
    ctx: CheckContext, r: np.ndarray, last: np.ndarray, s_client: np.ndarray
) -> np.ndarray:
    """Clients answered by a deadline that cuts the attempt in flight (``deadline_cuts_attempts``:
    Envoy's route timeout, KubeRay's request context) while the last attempt's answer was on
    its way: the deadline's timer (armed no earlier than the client's send) may have fired
    before the SUT read the answer (``attempt_kinds.timer_may_have_fired``, the one rule and
    tolerance of the per-try timeout too), the client waited at least the deadline (less the
    early tolerance: the load generator stamps its start before the request leaves,
    ``scenarios/locust_support/user.py``, so a wait the SUT's deadline ended cannot look
    shorter), and it saw a gateway status or an error. An answer well inside the deadline
    turned into a 504, or a 504 that came before the deadline, stays a mismatch.

    (6632e2e had let the client's wait fall short of the deadline by the lateness slack, on
    the belief that Locust stamps a cold request's start late; user.py contradicts it, and the
    case that prompted it, request 3ea-0-1 of the proxy sweep's limits seed 1002, was the
    proxy's per-try timeout after a late connect: it began the try ~318 ms before the backend
    stamped the request's arrival, so its 300 ms timer fired before the 200 left; the per-try
    rule, armed from the previous attempt's end, now accepts that 504.)"""
    p = ctx.policy
    c = ctx.clients
    if c is None or p.deadline_s is None or not p.deadline_cuts_attempts:
        return np.zeros(r.size, bool)
    a = ctx.traces.attempts
    near = timer_may_have_fired(c.start_us[r], p.deadline_s, a.end_us[last], ctx.lateness_slack_s)
    waited = c.end_us[r] - c.start_us[r] >= (p.deadline_s - EARLY_TOLERANCE_S) * 1e6
    gateway = np.isin(s_client, GATEWAY_STATUSES) | (s_client == NO_STATUS)
    return np.asarray(near & waited & gateway, bool)


def _pairs(last: np.ndarray, client: np.ndarray) -> str:
    """The most common (last attempt -> client) status pairs, for evidence."""
    pairs = Counter((int(x), int(y)) for x, y in zip(last[:10000], client[:10000], strict=True))
    return ", ".join(
        f"{x if x >= 0 else 'none'}->{y if y >= 0 else 'error'}: {n}"
        for (x, y), n in pairs.most_common(6)
    )


def _gave_up_reasons(ctx: CheckContext, traces: np.ndarray) -> str:
    """Why the SUT legitimately gave up on ``traces``, with counts."""
    t = ctx.traces
    m = ctx.policy.max_retries
    parts = []
    exhausted = int((t.length[traces] == m + 1).sum())
    if exhausted:
        parts.append(f"{exhausted} used all {m + 1} attempts")
    cut = ctx.stops.cut_short[traces]
    for reason in (DEADLINE, BUDGET):
        mask = ctx.stops.reasons.get(reason)
        if mask is not None:
            n = int((cut & mask[traces]).sum())
            if n:
                parts.append(f"{n} stopped as {reason}")
    return "; ".join(parts)


def _down_accepts(ctx: CheckContext, idx: np.ndarray, s_client: np.ndarray) -> np.ndarray:
    """For traces ``idx`` (with client statuses ``s_client``): overlapping a down window, the
    client's status is one the SUT made or could have relayed from an attempt the journals
    may place last."""
    t = ctx.traces
    a = t.attempts
    down = ctx.down.overlap[idx]
    ok = down & (np.isin(s_client, GATEWAY_STATUSES) | (s_client == NO_STATUS))
    displaced = ctx.down.displaced
    if displaced.any():
        # the last attempt whose place is known, and any late-journaled one, may be the last
        pos = np.where(displaced, -1, t.pos)
        last_known = np.full(t.n_traces, -1, np.int64)
        np.maximum.at(last_known, t.trace, pos)
        lk = last_known[idx]
        has = lk >= 0
        rel = np.full(idx.size, NO_STATUS - 1, np.int64)
        rel[has] = a.status[t.start[idx[has]] + lk[has]]
        ok |= down & (s_client == rel)
        rows = np.flatnonzero(displaced)
        late = set(zip(t.trace[rows].tolist(), a.status[rows].tolist(), strict=True))
        ask = np.flatnonzero(down & ~ok)
        ok[ask] = [(int(idx[j]), int(s_client[j])) in late for j in ask]
    return np.asarray(ok)


CHECKS: dict[str, Callable[[CheckContext], CheckResult]] = {"client_agreement": client_agreement}
