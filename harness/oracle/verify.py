"""The oracle's entry point: ``verify`` judges one run and returns a :class:`Verdict`.

``verify`` is a pure function of (policy, fault profile, attempt table, client table, α, ε, goals,
checks, dropped count, down windows): it groups attempts into traces, runs every check of
VERIFICATION.md, applies Holm's correction over all statistical hypotheses at the family-wise α,
and sets the outcome: FAIL if any check fails (none can when journal records are missing: a lost
record looks like a violation), else INCONCLUSIVE if any check is inconclusive or not judged,
journal records were dropped, attempts without a request id were journaled (no request
accounts for them), no selected check had anything to judge or the retry policy was never
exercised (no attempt failed and no request was retried), else PASS.

``down_windows`` are the spans in which a replica was down on purpose (chaos: killed or paused).
Traces overlapping one may have attempts no journal shows; each check judges them only as far
as that stays sound (see ``harness.oracle.down`` and the check modules), and a note says how
many requests that concerns.

``replicas`` is the number of backend replicas the run started (the run layer knows it). A
``different_upstream`` policy (nginx/Kong) owes a retry while one of them is untried in the
request; without it the replicas seen in the journals stand in (see ``checks_count``).

Loading a saved run is not the oracle's business: the one offline load path is
``harness.run.verify_run_dir`` (the ``verify RUN_DIR`` command), which reads the run folder and
calls ``verify``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

import numpy as np

from fake_backends.profile import FaultProfile
from harness.errors import BadInput
from harness.oracle import checks_client, checks_count, checks_stats, checks_timing
from harness.oracle.aspects import not_judged_result, resets_irrelevant
from harness.oracle.attempt_kinds import TRIG_RESET
from harness.oracle.context import CheckContext
from harness.oracle.down import describe_windows
from harness.oracle.journal import AttemptTable, ClientTable
from harness.oracle.planner import (
    DEFAULT_ALPHA,
    DetectionGoals,
    RequestGroup,
    SamplePlan,
    plan,
)
from harness.oracle.records import DownWindow
from harness.oracle.results import PendingStat, finish_stat, holm
from harness.oracle.tolerances import EARLY_TOLERANCE_S
from harness.oracle.traces import build_traces
from harness.oracle.verdict import CheckResult, Outcome, Verdict
from harness.policy.model import Aspect, RetryPolicy

_ALL: dict[str, Callable[[CheckContext], CheckResult | PendingStat]] = {
    **checks_count.CHECKS,
    **checks_timing.CHECKS,
    **checks_stats.CHECKS,
    **checks_client.CHECKS,
}
CHECK_NAMES: tuple[str, ...] = tuple(_ALL)


def observed_groups(attempts: AttemptTable) -> list[RequestGroup]:
    """(method, path, idempotency key) of the first attempts seen, with their shares: the groups
    the planner sizes when the oracle judges a run."""
    if len(attempts) == 0:
        return [RequestGroup("GET")]
    first = attempts.attempt == attempts.attempt.min()
    key = (attempts.method[first].astype(np.int64) * len(attempts.paths) + attempts.path[first]) * 2
    key = key + attempts.idem[first]
    values, counts = np.unique(key, return_counts=True)
    total = float(counts.sum())
    out = []
    for v, c in zip(values, counts, strict=True):
        mp = int(v) // 2
        out.append(
            RequestGroup(
                attempts.methods[mp // len(attempts.paths)],
                attempts.paths[mp % len(attempts.paths)],
                bool(int(v) % 2),
                float(c) / total,
            )
        )
    return out


def _irrelevant_aspects(ctx: CheckContext) -> frozenset[Aspect]:
    """Aspects of the policy that cannot matter in this run: resets when none was injected,
    none was journaled and no replica was down (a killed replica resets what it was serving)."""
    none = resets_irrelevant(
        ctx.profile.reset_rate,
        resets_seen=bool((ctx.kinds.trigger == TRIG_RESET).any()),
        down=bool(ctx.down_windows),
    )
    return frozenset({Aspect.RESETS}) if none else frozenset()


def verify(
    policy: RetryPolicy,
    profile: FaultProfile,
    attempts: AttemptTable,
    clients: ClientTable | None,
    *,
    alpha: float = DEFAULT_ALPHA,
    epsilon_s: float,
    lateness_slack_s: float | None = None,
    goals: DetectionGoals | None = None,
    checks: Collection[str] | None = None,
    dropped: int = 0,
    scenario: str | None = None,
    down_windows: Sequence[DownWindow] = (),
    replicas: int | None = None,
) -> Verdict:
    """Judges one run against ``policy``; see the module docstring."""
    if replicas is not None and replicas < 1:
        raise BadInput(f"must be >= 1 (got {replicas})", field="replicas")
    for i, w in enumerate(down_windows):
        if w.end_us is not None and w.end_us < w.start_us:
            raise BadInput(
                f"window of {w.replica} ends before it starts ({w.end_us} < {w.start_us})",
                field=f"down_windows.{i}",
            )
    if not 0 < alpha < 1:
        raise BadInput(f"must be in (0, 1) (got {alpha})", field="alpha")
    if epsilon_s < 0:
        raise BadInput(f"must be >= 0 (got {epsilon_s})", field="epsilon_s")
    slack = epsilon_s if lateness_slack_s is None else lateness_slack_s
    if slack < 0:
        raise BadInput(f"must be >= 0 (got {slack})", field="lateness_slack_s")
    selected = list(CHECK_NAMES if checks is None else checks)
    unknown = [c for c in selected if c not in _ALL]
    if unknown:
        raise BadInput(
            f"unknown check(s) {', '.join(unknown)} (allowed: {', '.join(CHECK_NAMES)})",
            field="checks",
        )
    goals = (goals or DetectionGoals()).model_copy(update={"alpha": alpha})
    reachable = replicas
    if reachable is None and len(attempts):  # as UpstreamPeers.reachable: the replicas seen
        reachable = int(np.unique(attempts.replica).size)
    sample_plan: SamplePlan = plan(
        policy,
        profile,
        observed_groups(attempts),
        goals,
        epsilon_s=epsilon_s,
        checks=selected,
        reachable=reachable,
    )
    traces = build_traces(attempts)
    ctx = CheckContext(
        policy=policy,
        profile=profile,
        traces=traces,
        clients=clients,
        epsilon_s=epsilon_s,
        lateness_slack_s=slack,
        alpha=alpha,
        plan=sample_plan,
        dropped=dropped,
        down_windows=tuple(down_windows),
        replicas=replicas,
        goals=goals,
    )
    done: dict[str, CheckResult] = {}
    pending: list[PendingStat] = []
    if traces.n_traces:
        irrelevant = _irrelevant_aspects(ctx)
        for name in selected:
            unjudged = not_judged_result(name, policy, irrelevant)
            if unjudged is not None:
                done[name] = unjudged
                continue
            out = _ALL[name](ctx)
            if isinstance(out, PendingStat):
                pending.append(out)
            else:
                done[name] = out
    hyps = [h for p in pending for h in p.hypotheses]
    rejected, levels = holm([h.p_value for h in hyps], alpha)
    for h, rej, lvl in zip(hyps, rejected, levels, strict=True):
        h.rejected, h.threshold = rej, lvl
    for p in pending:
        done[p.name] = finish_stat(ctx, p, alpha)
    results = [
        _not_on_missing_records(_judged_enough(done[n]), dropped) for n in selected if n in done
    ]
    notes = _notes(ctx, attempts, pending, sample_plan)
    made = ctx.sut_made if traces.n_traces or clients is not None else None
    n_made = int(made.rows.size) if made is not None else 0
    most_made = clients is not None and len(clients) > 0 and 2 * n_made > len(clients)
    if n_made and made is not None and clients is not None:
        notes.insert(
            0,
            f"the SUT answered {n_made} of {len(clients)} requests itself, without any attempt "
            f"at a backend ({made.describe()})"
            + (
                ": a run where the SUT answers most requests itself is never a pass"
                if most_made
                else ""
            ),
        )
    outcomes = {r.outcome for r in results}
    judged_any = bool(outcomes & {Outcome.PASS, Outcome.FAIL, Outcome.INCONCLUSIVE})
    if traces.n_traces and not judged_any:
        notes.insert(
            0,
            "no selected check had anything to judge"
            + ("" if selected else " (no check was selected)")
            + ": nothing is a pass that was not judged",
        )
    # the retry policy met no failure: no attempt failed and no request was retried, so every
    # retry rule was judged on nothing (a new user's fault-free scenario passed "100% judged")
    unexercised = bool(traces.n_traces) and not (
        bool((~ctx.kinds.success).any()) or bool((traces.length > 1).any()) or n_made
    )
    if unexercised:
        notes.insert(
            0,
            "the retry policy was never exercised: no attempt failed and no request was "
            "retried, so no retry rule had anything to judge (give the backends faults: "
            "backends.profile)",
        )
    if Outcome.FAIL in outcomes:
        outcome = Outcome.FAIL
    elif (
        outcomes & {Outcome.INCONCLUSIVE, Outcome.NOT_JUDGED}
        or dropped > 0
        or traces.n_traces == 0
        or most_made
        or attempts.no_request_id > 0
        or not judged_any
        or unexercised
    ):
        outcome = Outcome.INCONCLUSIVE
    else:
        outcome = Outcome.PASS
    shares = [
        (r.judged_share, r.name)
        for r in results
        if r.judged_share is not None
        and r.outcome in (Outcome.PASS, Outcome.FAIL, Outcome.INCONCLUSIVE)
    ]
    return Verdict(
        scenario=scenario,
        outcome=outcome,
        alpha=alpha,
        epsilon_s=epsilon_s,
        lateness_slack_s=slack,
        traces=traces.n_traces,
        attempts=len(attempts) + attempts.no_request_id,
        untraced_attempts=attempts.no_request_id,
        client_records=len(clients) if clients is not None else 0,
        dropped_attempts=dropped,
        checks=results,
        notes=notes,
        judged_share=min(shares)[0] if shares else None,
        sut_answered=n_made,
        sut_answered_statuses=made.statuses() if made is not None else {},
    )


MIN_JUDGED_SHARE = 0.5
"""A check that judged less than this share of what it was eligible to judge (the rest hidden by
a replica's down window, journaled unsure, or overlapping an outage) cannot vouch for the run:
its PASS becomes INCONCLUSIVE. A FAIL stays a FAIL: a violation seen is a violation."""


def _judged_enough(r: CheckResult) -> CheckResult:
    share = r.judged_share
    if share is None or share >= MIN_JUDGED_SHARE:
        return r
    if r.outcome not in (Outcome.PASS, Outcome.INCONCLUSIVE):
        return r
    return r.model_copy(
        update={
            "outcome": Outcome.INCONCLUSIVE,
            "summary": f"judged only {r.judged} of {r.eligible} eligible ({share:.0%} < "
            f"{MIN_JUDGED_SHARE:.0%}): {r.summary}",
        }
    )


def _not_on_missing_records(r: CheckResult, dropped: int) -> CheckResult:
    """A FAIL judged on a journal that lacks ``dropped`` records becomes INCONCLUSIVE.

    An attempt with no record looks like an answer the SUT made itself, a retry it never sent,
    a longer wait before the next attempt, or counts that disagree with the SUT's own: the
    oracle cannot tell which requests the missing records belong to, so it cannot tell a
    violation from a record the backend lost (a full disk made a correct HAProxy fail four
    checks)."""
    if dropped <= 0 or r.outcome is not Outcome.FAIL:
        return r
    return r.model_copy(
        update={
            "outcome": Outcome.INCONCLUSIVE,
            "summary": f"would fail, but {dropped} attempts have no journal record and may be "
            f"what it saw: {r.summary}",
        }
    )


def _notes(
    ctx: CheckContext, attempts: AttemptTable, pending: Sequence[PendingStat], sp: SamplePlan
) -> list[str]:
    notes = [
        f"timing tolerance ε = {ctx.epsilon_s * 1e3:.3f} ms (the late room of shapes: jitter, "
        f"the lateness floor), lateness slack {ctx.lateness_slack_s * 1e3:.3f} ms (the room of "
        f"single-sample judgements), early tolerance {EARLY_TOLERANCE_S * 1e3:g} ms (everything "
        'early); how each is built: docs/VERIFICATION.md "How ε is built" '
        f"(harness.oracle.tolerances); family-wise α = {ctx.alpha:g} "
        f"over {sum(len(p.hypotheses) for p in pending)} statistical hypotheses (Holm)"
    ]
    if ctx.traces.n_traces == 0:
        notes.append("no traced attempt in the journals: nothing was judged")
    if ctx.dropped > 0:
        notes.append(
            f"{ctx.dropped} attempts have no journal record (over a journal's cap, lost to a "
            "backend's write error, or still being served when its journal was last read): the "
            "journal is incomplete, so this run can neither pass nor fail (a check that saw a "
            "violation is inconclusive: the missing records may be what it saw)"
        )
    if attempts.no_request_id:
        notes.insert(0, _untraced_note(attempts, ctx.clients))
    if ctx.policy.different_upstream:
        notes.append(
            "the policy sends each retry to a different upstream peer: "
            + (
                f"each at most once per request (nginx), so attempt counts are capped by the "
                f"{ctx.peers.reachable} upstream replicas ({ctx.peers.source})"
                if ctx.policy.upstream_once
                else "a retry may come back to a server tried earlier (no cap by replicas)"
            )
        )
    if ctx.traces.n_traces and ctx.fault_groups.outage.any():
        notes.append(
            f"{int(ctx.fault_groups.outage.sum())} requests may overlap an outage window and are "
            "left out of the statistical checks"
        )
    if ctx.down_windows and ctx.traces.n_traces:
        notes.append(_down_note(ctx))
    for name, cp in sp.checks.items():
        notes.append(f"plan {name}: {cp.n} {cp.unit} (~{cp.requests} requests) to {cp.detail}")
    return notes


def _untraced_note(attempts: AttemptTable, clients: ClientTable | None) -> str:
    """Why attempts without a request id make the run inconclusive, and when they came."""
    n = attempts.no_request_id
    note = (
        f"{n} journaled attempts carried no request id: no request accounts for them, so they "
        "could not be judged (a SUT that drops the X-Request-ID header on a retry, or sends "
        "attempts of its own such as health checks to the traffic port); this run cannot pass "
        "(inconclusive at best)"
    )
    at = attempts.untraced_arrival_us
    if clients is not None and len(clients) and at.size:
        starts = np.sort(clients.start_us)
        ends = np.sort(clients.end_us)
        open_ = np.searchsorted(starts, at, side="right") - np.searchsorted(ends, at, side="left")
        inside = int((open_ > 0).sum())
        note += (
            f"; {inside} of the {at.size} with an arrival stamp arrived while a client request "
            "was in flight"
        )
    return note


def _down_note(ctx: CheckContext) -> str:
    d = ctx.down
    t0 = int(d.span_start_us.min())
    n, m = int(d.overlap.sum()), ctx.traces.n_traces
    kinds = {w.kind for w in d.windows}
    why = []
    if "kill" in kinds:
        why.append("attempts to a killed replica fail to connect and reach no journal")
    if "pause" in kinds:
        why.append(
            "a paused replica answers nothing until resumed and journals late what it then serves"
        )
    return (
        f"{n} of {m} requests overlapped a down replica ({describe_windows(d, t0)}; "
        f"times from the first request): {'; '.join(why)}. For those requests a missing retry "
        "is not judged, delays between their seen attempts are not timed, SUT-made answers "
        "(502/503/504, errors) are accepted, attempts journaled on the replica as it went down "
        "are not taken at their word, and requests that may overlap a window are left out of "
        "the statistical checks; attempt bounds, the deadline and what followed a success or a "
        "non-retryable failure are still judged"
    )
