"""Building :class:`CheckResult` values: invariant outcomes, pending statistical tests, Holm.

An invariant check turns its counter-examples into a result at once. A statistical check returns
a :class:`PendingStat` (one or more hypotheses with p-values); ``verify`` runs Holm's step-down
correction over every hypothesis of the run and only then decides the outcomes
(:func:`finish_stat`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.oracle.context import CheckContext
from harness.oracle.verdict import CheckKind, CheckResult, Outcome, Statistic

TITLES: dict[str, str] = {
    "attempts_bound": "Attempts bound",
    "stop_on_success": "Stop on success",
    "non_retryable_status": "Non-retryable failure ends the request",
    "non_retryable_method": "Non-retryable method is not retried",
    "retry_when_due": "Retry when due",
    "backoff_window": "Backoff window",
    "retry_after": "Retry-After honoured",
    "per_try_timeout": "Per-try timeout",
    "overall_deadline": "Overall deadline",
    "retry_budget": "Retry budget",
    "jitter_distribution": "Jitter distribution",
    "success_rate": "Success rate",
    "attempt_distribution": "Attempt distribution",
    "fault_audit": "Fault audit",
    "client_agreement": "Client agreement",
}


def not_applicable(name: str, kind: CheckKind, reason: str, **data: Any) -> CheckResult:
    return CheckResult(
        name=name,
        title=TITLES[name],
        kind=kind,
        outcome=Outcome.NOT_APPLICABLE,
        summary=reason,
        data=dict(data),
        judged=data.get("judged"),
        eligible=data.get("eligible"),
    )


def invariant(
    ctx: CheckContext,
    name: str,
    bad_traces: npt.NDArray[np.int64],
    *,
    judged: int,
    ok: str,
    bad: str,
    evidence: Sequence[str] = (),
    data: dict[str, Any] | None = None,
    unit: str | None = None,
    eligible: int | None = None,
    excused: int = 0,
) -> CheckResult:
    """PASS when ``bad_traces`` is empty, else FAIL naming the first counter-examples.

    The summary states how many were judged, once: "(N judged)" for requests, or
    "(N <unit> judged)" when the check judges something else (delays, hung attempts, retries),
    and how many it excused (see :func:`excused_requests`), when any: "(N judged, M excused)".
    ``ok`` and ``bad`` must not carry those counts themselves.
    """
    bad_traces = np.unique(bad_traces)
    also = f", {excused} excused" if excused else ""
    of_judged = f"{judged} requests ({excused} excused)" if excused else f"{judged} requests"
    if bad_traces.size == 0:
        counted = (f"{judged} {unit} judged" if unit else f"{judged} judged") + also
        return CheckResult(
            name=name,
            title=TITLES[name],
            kind=CheckKind.INVARIANT,
            outcome=Outcome.PASS,
            summary=f"{ok} ({counted})",
            evidence=list(evidence),
            data=data or {},
            judged=judged,
            eligible=eligible if eligible is not None else judged,
        )
    ids, timelines = ctx.examples(bad_traces)
    return CheckResult(
        name=name,
        title=TITLES[name],
        kind=CheckKind.INVARIANT,
        outcome=Outcome.FAIL,
        summary=(
            f"{bad_traces.size} requests ({judged} {unit} judged{also}): {bad}"
            if unit
            else f"{bad_traces.size} of {of_judged}: {bad}"
        ),
        evidence=[*evidence, *timelines],
        request_ids=ids,
        data=data or {},
        judged=judged,
        eligible=eligible if eligible is not None else judged,
    )


def excused_requests(traces: npt.NDArray[np.int64], bad_traces: npt.NDArray[np.int64]) -> int:
    """How many requests a check excused: those with an answer it left out (``traces``: the
    request of each such answer, e.g. one the SUT's per-try timer may have beaten, or one
    journaled as its replica went down), less those it found a violation in anyway
    (``bad_traces``). An excused request was not judged: it counts in ``eligible``, not in
    ``judged`` (docs/VERIFICATION.md "How much was judged")."""
    return int(np.setdiff1d(np.unique(traces), bad_traces).size)


def blind(result: CheckResult, reason: str | None) -> CheckResult:
    """``result`` made INCONCLUSIVE when it PASSed while blind to part of what it judges
    (``reason``, e.g. ``AttemptKinds.timer_blind``); a FAIL stays a FAIL (a violation seen is
    a violation), and no reason leaves it as it is."""
    if reason is None or result.outcome is not Outcome.PASS:
        return result
    return result.model_copy(
        update={
            "outcome": Outcome.INCONCLUSIVE,
            "summary": f"cannot tell: {reason}; {result.summary}",
            "evidence": [*result.evidence, f"inconclusive: {reason}"],
        }
    )


@dataclass
class Hypothesis:
    """One null hypothesis of a statistical check, with its test result."""

    label: str
    test: str
    p_value: float
    statistic: float | None
    n: int
    effect: str | None = None
    rejected: bool = False
    threshold: float = 0.0  # Holm level it was judged at


@dataclass
class PendingStat:
    """A statistical check waiting for Holm's correction."""

    name: str
    hypotheses: list[Hypothesis]
    n: int  # the sample size compared with the plan
    n_planned: int
    summary: str
    evidence: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)
    exact_failures: npt.NDArray[np.int64] | None = None  # traces outside the model's support
    exact_reason: str = ""
    below_plan: list[str] = field(default_factory=list)  # groups/indices short of their plan
    n_label: str | None = None  # the group/index n is of, when more than one was sized
    conclusive: bool | None = None  # None: n >= n_planned decides; else this does
    no_power: str | None = None  # why the check could not see the deviation it must detect
    # a self-check of the harness (fault_audit): a rejection says the harness deviated, which no
    # SUT can cause, so it makes the check INCONCLUSIVE (the run is not judged), never a FAIL
    blames_harness: bool = False


def holm(p_values: Sequence[float], alpha: float) -> tuple[list[bool], list[float]]:
    """Holm's step-down procedure: (rejected, the level each p-value was compared with).

    Sorted ascending, p_(i) is compared with alpha / (m - i + 1) (i from 1); testing stops at the
    first non-rejection, and later hypotheses keep the level they would have been judged at.
    """
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    rejected = [False] * m
    level = [0.0] * m
    going = True
    for rank, i in enumerate(order):
        level[i] = alpha / (m - rank)
        if going and p_values[i] <= level[i]:
            rejected[i] = True
        else:
            going = False
    return rejected, level


def finish_stat(ctx: CheckContext, p: PendingStat, alpha: float) -> CheckResult:
    """Decides a statistical check once Holm has marked its hypotheses."""
    exact = p.exact_failures if p.exact_failures is not None else np.zeros(0, np.int64)
    worst = min(p.hypotheses, key=lambda h: h.p_value / max(h.threshold, 1e-300), default=None)
    stat = None
    if worst is not None:
        stat = Statistic(
            test=worst.test,
            statistic=worst.statistic,
            p_value=worst.p_value,
            n=p.n,
            n_planned=p.n_planned,
            alpha=worst.threshold,
            effect=worst.effect,
            label=worst.label if len(p.hypotheses) > 1 else None,
            n_label=p.n_label,
        )
    evidence = [
        f"{h.label}: {h.test}, n={h.n}, p={h.p_value:.3g} vs Holm level {h.threshold:.3g}"
        + (f", {h.effect}" if h.effect else "")
        + (" -> REJECTED" if h.rejected else "")
        for h in sorted(p.hypotheses, key=lambda h: h.p_value)
    ]
    request_ids: list[str] = []
    if exact.size:
        ids, timelines = ctx.examples(np.unique(exact))
        request_ids = ids
        evidence = [f"{np.unique(exact).size} requests {p.exact_reason}", *timelines, *evidence]
        outcome = Outcome.FAIL
        summary = f"{np.unique(exact).size} requests {p.exact_reason}; {p.summary}"
    elif any(h.rejected for h in p.hypotheses):
        outcome = Outcome.FAIL
        bad = [h.label for h in p.hypotheses if h.rejected]
        summary = f"rejected at family-wise α={alpha:g}: {', '.join(bad)}; {p.summary}"
    elif p.no_power is not None:
        outcome = Outcome.INCONCLUSIVE
        summary = f"no power: {p.no_power}; {p.summary}"
    elif (p.conclusive is False) or (p.conclusive is None and (p.below_plan or p.n < p.n_planned)):
        outcome = Outcome.INCONCLUSIVE
        short = "; ".join(p.below_plan) if p.below_plan else f"n={p.n}"
        summary = f"{short} below the planned {p.n_planned}: {p.summary}"
        if p.below_plan:
            summary = f"below plan: {short}: {p.summary}"
    else:
        outcome = Outcome.PASS
        summary = p.summary
    if p.blames_harness and outcome is Outcome.FAIL:
        outcome = Outcome.INCONCLUSIVE
        summary = (
            f"the harness's own check failed, not the SUT: {summary} (the statistical checks "
            "built on the profile are not to be trusted in this run; a repeat at the same seed "
            "points to a harness fault)"
        )
    return CheckResult(
        name=p.name,
        title=TITLES[p.name],
        kind=CheckKind.STATISTICAL,
        outcome=outcome,
        summary=summary,
        evidence=[*p.evidence, *evidence],
        request_ids=request_ids,
        stat=stat,
        data=p.data,
        judged=p.data.get("judged"),
        eligible=p.data.get("eligible"),
    )
